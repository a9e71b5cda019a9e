/**
 * Microbenchmark: stock tfjs-backend-cpu convolution kernels vs the OpenBLAS
 * ones from `conv_kernels.ts`, on DiscoGAN-sized (64 px) layers, plus the
 * fused Adam step on 29M parameters.
 *
 * ```sh
 * deno run -A scripts/bench_conv.ts [--threads N] [--no-stock] [--batch 1,4]
 *   [--budget-ms 250] [--max-stock-ms 2000] [--no-adam]
 * ```
 *
 * Each timing is the median over as many calls as fit in the budget, after
 * one warm-up call (a single call if the first one exceeds the budget). Stock
 * timings at batch B > 1 whose batch-1 time times B exceeds `--max-stock-ms`
 * (default 2000) are extrapolated linearly and marked "(est.)"; the stock
 * `Conv2DBackpropFilter` takes tens of seconds on the big layers. GFLOP/s counts 2·M·K·Co multiply-adds for
 * every kernel (M = N·OH·OW, K = KH·KW·Ci).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { loadOpenBlas, openBlasLoadError } from "../ops/runtime/openblas/openblas.ts";
import {
  blasKernelStats,
  registerBlasKernels,
  unregisterBlasKernels,
} from "../ops/runtime/openblas/conv_kernels.ts";
import { adamUpdateInPlace } from "../ops/runtime/adam_kernel.ts";

interface Layer {
  name: string;
  /** Spatial size and channels of the conv input. */
  hw: number;
  ci: number;
  co: number;
  k: number;
  s: number;
}

const LAYERS: Layer[] = [
  { name: "enc1 64px 3->64", hw: 64, ci: 3, co: 64, k: 4, s: 2 },
  { name: "enc2 32px 64->128", hw: 32, ci: 64, co: 128, k: 4, s: 2 },
  { name: "enc4 8px 256->512", hw: 8, ci: 256, co: 512, k: 4, s: 2 },
  { name: "4px 512->512", hw: 4, ci: 512, co: 512, k: 4, s: 2 },
  // conv2dTranspose [B,8,8,1024] -> [B,16,16,256] is the transpose of a conv
  // [B,16,16,256] -> [B,8,8,1024]: its forward is Conv2DBackpropInput.
  {
    name: "convT 8px 1024->256 (as conv)",
    hw: 16,
    ci: 256,
    co: 1024,
    k: 4,
    s: 2,
  },
];

function flag(name: string): boolean {
  return Deno.args.includes(name);
}
function option(name: string, def: string): string {
  const i = Deno.args.indexOf(name);
  return i >= 0 && i + 1 < Deno.args.length ? Deno.args[i + 1] : def;
}

const budgetMs = Number(option("--budget-ms", "250"));
const batches = option("--batch", "1,4").split(",").map(Number);
const threads = option("--threads", "");
const maxStockMs = Number(option("--max-stock-ms", "2000"));

/** Median ms per call; the first call doubles as warm-up unless it is slow. */
function timeIt(fn: () => tf.Tensor): number {
  const once = () => {
    const t0 = performance.now();
    const out = fn();
    out.dataSync();
    out.dispose();
    return performance.now() - t0;
  };
  const first = once();
  if (first > budgetMs) return first;
  const samples: number[] = [];
  const t0 = performance.now();
  do samples.push(once()); while (performance.now() - t0 < budgetMs);
  samples.sort((a, b) => a - b);
  return samples[samples.length >> 1];
}

type Kernels = Record<string, () => tf.Tensor>;

function kernelsFor(
  l: Layer,
  b: number,
): { flops: number; ks: Kernels; tensors: tf.Tensor[] } {
  const xShape: [number, number, number, number] = [b, l.hw, l.hw, l.ci];
  const wShape: [number, number, number, number] = [l.k, l.k, l.ci, l.co];
  const x = tf.randomNormal(xShape) as tf.Tensor4D;
  const w = tf.randomNormal(wShape) as tf.Tensor4D;
  const oh = Math.ceil(l.hw / l.s);
  const dy = tf.randomNormal([b, oh, oh, l.co]) as tf.Tensor4D;
  const attrs = { strides: l.s, pad: "same", dataFormat: "NHWC" };
  const run = (name: string, inputs: tf.NamedTensorMap, extra: object) => () =>
    tf.engine().runKernel(name, inputs, {
      ...attrs,
      ...extra,
    } as unknown as tf.NamedAttrMap) as tf.Tensor;
  return {
    tensors: [x, w, dy],
    flops: 2 * b * oh * oh * l.k * l.k * l.ci * l.co,
    ks: {
      Conv2D: run("Conv2D", { x, filter: w }, { dilations: 1 }),
      BackpropInput: run("Conv2DBackpropInput", { dy, filter: w }, {
        inputShape: xShape,
      }),
      BackpropFilter: run("Conv2DBackpropFilter", { x, dy }, {
        filterShape: wShape,
      }),
    },
  };
}

async function main(): Promise<void> {
  await tf.setBackend("cpu");
  const blas = loadOpenBlas();
  if (!blas) throw new Error(openBlasLoadError() ?? "no OpenBLAS");
  if (threads) blas.setNumThreads(Number(threads));
  console.log(
    `OpenBLAS ${blas.path} threads=${blas.getNumThreads()}\n${blas.getConfig()}`,
  );
  const stock = !flag("--no-stock");
  console.log(
    "| layer | B | kernel | GFLOP | stock ms | blas ms | stock GFLOP/s | blas GFLOP/s | speedup |",
  );
  console.log("|---|---|---|---|---|---|---|---|---|");
  const stockAt1 = new Map<string, number>();
  for (const b of batches) {
    for (const l of LAYERS) {
      const { flops, ks, tensors } = kernelsFor(l, b);
      for (const [kname, fn] of Object.entries(ks)) {
        unregisterBlasKernels();
        // Stock kernels scale linearly in the batch; extrapolate slow ones.
        const key = `${l.name}/${kname}`;
        const prev = stockAt1.get(key);
        const est = prev !== undefined && prev * b > maxStockMs;
        const tStock = !stock ? NaN : est ? prev! * b : timeIt(fn);
        if (b === 1) stockAt1.set(key, tStock);
        if (!registerBlasKernels()) throw new Error("register failed");
        blasKernelStats(true);
        const tBlas = timeIt(fn);
        const st = blasKernelStats(true);
        if (Object.values(st).some((c) => c.fallback > 0)) {
          throw new Error(`${kname} fell back to stock`);
        }
        const g = (t: number) => (flops / t / 1e6).toFixed(1);
        console.log(
          `| ${l.name} | ${b} | ${kname} | ${(flops / 1e9).toFixed(3)} | ${tStock.toFixed(1)} | ${
            tBlas.toFixed(2)
          } | ${stock ? g(tStock) : "-"} | ${g(tBlas)} | ${
            stock ? (tStock / tBlas).toFixed(0) + "x" : "-"
          } |`,
        );
      }
      tf.dispose(tensors);
    }
  }
  unregisterBlasKernels();

  if (!flag("--no-adam")) {
    const n = 29_000_000;
    const p = new Float32Array(n), g = new Float32Array(n);
    const m = new Float32Array(n), v = new Float32Array(n);
    for (let i = 0; i < n; i++) g[i] = Math.sin(i) * 1e-2;
    adamUpdateInPlace(p, g, m, v, 1, 2e-4, 0.5, 0.999, 1e-8); // warm-up
    const reps = 3;
    const t0 = performance.now();
    for (let t = 2; t < 2 + reps; t++) {
      adamUpdateInPlace(p, g, m, v, t, 2e-4, 0.5, 0.999, 1e-8);
    }
    const ms = (performance.now() - t0) / reps;
    console.log(
      `adamUpdateInPlace 29M params: ${ms.toFixed(1)} ms/step (${
        (n * 28 / ms / 1e6).toFixed(1)
      } GB/s of the 28 B/param moved)`,
    );
  }
}

if (import.meta.main) await main();
