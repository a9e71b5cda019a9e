// One (backend, configuration) of `deno task bench`, in its own process so that
// its peak RSS is its own and a crash (wasm's 4 GiB cap) takes only it down.
//
// Prints JSON lines on stdout, one per event, for scripts/bench.ts to follow:
//   {"event":"ready","backend":"wasm","setupSeconds":1.2}
//   {"event":"iteration","index":0,"warmup":true,"seconds":6.4}   (one per iteration)
//   {"event":"done","seconds":[...],"median":6.3,"flops":...,"peakRssBytes":...}
//   {"event":"too-slow","firstSeconds":130.2,"budget":120,"peakRssBytes":...}
//   {"event":"error","message":"...","peakRssBytes":...}
//
// deno run -A scripts/bench_worker.ts --backend wasm --image-size 64 --batch-size 1 \
//   [--ngf 64 --ndf 64 --generator unet --discriminator patchgan --iterations 5 --warmup 2
//    --budget 120]
import { type BackendName, useBackend } from "../ops/runtime/backend.ts";
import { setOneDnnPrecision } from "../ops/runtime/onednn/conv_kernels.ts";
import { tf } from "../ops/tf.ts";
import { createDiscoGan, type DiscriminatorKind, type GeneratorKind } from "../models/discogan.ts";
import { discoGanIteration } from "../pipeline/iteration.ts";
import { createTrainingState } from "../pipeline/training_state.ts";
import { type FlagKind, parseFlags } from "./cli_args.ts";
import { iterationFlops } from "./bench_flops.ts";
import { setUpsampleForm } from "../ops/upsample_conv.ts";

/** Peak resident set size of this process (VmHWM), in bytes; null where /proc is absent. */
export function peakRssBytes(): number | null {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(Deno.readTextFileSync("/proc/self/status"));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux: fall back to the current RSS, the best Deno offers
  }
  try {
    return Deno.memoryUsage().rss;
  } catch {
    return null;
  }
}

/** Size of the wasm backend's heap (capped at 4 GiB), or null on other backends. */
function wasmHeapBytes(): number | null {
  try {
    if (tf.getBackend() !== "wasm") return null;
    const b = tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } };
    return b.wasm?.HEAPU8?.length ?? null;
  } catch {
    return null;
  }
}

function emit(event: Record<string, unknown>): void {
  // Synchronous, so that the line is out even if the process dies right after.
  Deno.stdout.writeSync(new TextEncoder().encode(JSON.stringify(event) + "\n"));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The onednn backend with its convolutions in bf16 (`--precision bf16`): a bench column. */
export const BF16_BACKEND = "onednn-bf16";

const FLAGS: Record<string, FlagKind> = {
  backend: "string",
  imageSize: "number",
  batchSize: "number",
  ngf: "number",
  ndf: "number",
  generator: "string",
  discriminator: "string",
  iterations: "number",
  warmup: "number",
  budget: "number",
};

async function main(): Promise<void> {
  const { values: v } = parseFlags(Deno.args, FLAGS);
  const bf16 = v.backend === BF16_BACKEND;
  const backend = (bf16 ? "onednn" : v.backend ?? "wasm") as BackendName;
  const imageSize = (v.imageSize ?? 64) as number;
  const batchSize = (v.batchSize ?? 1) as number;
  const ngf = (v.ngf ?? 64) as number, ndf = (v.ndf ?? 64) as number;
  const generator = (v.generator ?? "unet") as GeneratorKind;
  const discriminator = (v.discriminator ?? "patchgan") as DiscriminatorKind;
  const iterations = Math.max(1, (v.iterations ?? 5) as number);
  const warmup = Math.max(0, (v.warmup ?? 2) as number);
  const budget = (v.budget ?? Infinity) as number;

  const t0 = performance.now();
  const active = await useBackend(backend);
  setOneDnnPrecision(bf16 ? "bf16" : "fp32");
  // Dropout on, as in training (createTrainingState's default).
  const models = createDiscoGan({ imageSize, ngf, ndf, generator, discriminator });
  const state = createTrainingState(models, { seed: 1 });
  const shape: [number, number, number, number] = [batchSize, imageSize, imageSize, 3];
  const batch = {
    realA: tf.randomUniform(shape, -1, 1, "float32", 1) as tf.Tensor4D,
    realB: tf.randomUniform(shape, -1, 1, "float32", 2) as tf.Tensor4D,
  };
  await batch.realA.data();
  await batch.realB.data();
  emit({
    event: "ready",
    backend: active,
    tfBackend: tf.getBackend(),
    setupSeconds: (performance.now() - t0) / 1000,
  });

  const timed: number[] = [];
  let losses: Record<string, number | boolean> = {};
  for (let i = 0; i < warmup + iterations; i++) {
    const start = performance.now();
    // Awaited: the losses are read back, so GPU work is inside the timing.
    losses = { ...await discoGanIteration(state, batch) };
    const seconds = (performance.now() - start) / 1000;
    const isWarmup = i < warmup;
    emit({ event: "iteration", index: i, warmup: isWarmup, seconds });
    if (!isWarmup) timed.push(seconds);
    if (i === 0 && seconds > budget) {
      emit({ event: "too-slow", firstSeconds: seconds, budget, peakRssBytes: peakRssBytes() });
      return;
    }
  }
  // Training's peak, read before the counting iteration below adds its own.
  const peak = peakRssBytes();
  // One more iteration, watched: the convolutions' FLOPs (for the share of
  // peak). The work PyTorch does, for both columns of % of peak: the
  // upsampling blocks as upsample then convolve, not our sub-pixel form.
  const form = setUpsampleForm("direct");
  const flops = await iterationFlops(() => discoGanIteration(state, batch));
  setUpsampleForm(form);
  emit({
    event: "done",
    backend: active,
    seconds: timed,
    median: median(timed),
    flops,
    losses,
    numTensors: tf.memory().numTensors,
    wasmHeapBytes: wasmHeapBytes(),
    peakRssBytes: peak,
  });
}

if (import.meta.main) {
  try {
    await main();
  } catch (e) {
    const err = e as Error;
    let message = String(err?.message ?? e).slice(0, 2000);
    // wasm's heap stops at 4 GiB; a failure next to it is that cap, whatever it says.
    const heap = wasmHeapBytes();
    if (heap !== null && heap > 3.8 * 2 ** 30) {
      message += ` (wasm heap at ${(heap / 2 ** 30).toFixed(2)} GiB: out of memory)`;
    }
    emit({
      event: "error",
      name: err?.name,
      message,
      wasmHeapBytes: heap,
      peakRssBytes: peakRssBytes(),
    });
  }
  // The backends may keep handles (GPU device, wasm threads) open: leave now.
  Deno.exit(0);
}
