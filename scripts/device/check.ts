// The device kit's checks (scripts/device/run.sh runs them on a GPU machine):
//
//   check.ts adapter                  the WebGPU adapter, what we asked of it, a conv vs cpu
//   check.ts full-width [--image-size 128 --batch-size 1 --ngf 64 --ndf 64]
//                                     one iteration on webgpu against the cpu backend
//   check.ts run --out DIR [--kit DIR] [--dry] [--deadline S] [--python PATH]
//                [--configs LIST --ngf N --ndf N --iterations N --warmup N --budget S]
//                                     all of it: adapter, the parity tests on webgpu, the
//                                     full-width iteration, then the bench on webgpu beside
//                                     PyTorch (CUDA when it has it); DIR/device.json and
//                                     DIR/device.md, rewritten after every step
//
// Each step runs in a process of its own, under a time limit taken from what
// is left of --deadline, so the whole run ends in time and a step that hangs
// costs only its share. Peak GPU memory comes from nvidia-smi, sampled every
// 200 ms while each bench process runs (over the level before it started).
// With --kit, the children are the kit's bundles (check.js, bench_worker.js,
// webgpu_test.js) run with the kit's deno.json and --cached-only: nothing is
// fetched. --dry shrinks everything for a CPU machine (lavapipe, PyTorch CPU).
import { failedMeasurement, measure, type Measurement, type TorchInfo } from "../bench.ts";
import { type FlagKind, parseFlags } from "../cli_args.ts";
import { gpuAdapterInfo, useBackend } from "../../ops/runtime/backend.ts";
import { webGpuDevice } from "../../ops/runtime/webgpu_device.ts";
import { tf } from "../../ops/tf.ts";
import { compareIteration, type IterationComparison } from "./full_width.ts";

const FLAGS: Record<string, FlagKind> = {
  out: "string",
  kit: "string",
  repo: "string",
  dry: "boolean",
  deadline: "number",
  python: "string",
  configs: "string",
  ngf: "number",
  ndf: "number",
  iterations: "number",
  warmup: "number",
  budget: "number",
  imageSize: "number",
  batchSize: "number",
};

/** The bench's configurations: image side x batch. */
const CONFIGS = "64x1,64x4,128x1,128x4,256x1,256x8";

function emit(event: Record<string, unknown>): void {
  Deno.stdout.writeSync(new TextEncoder().encode(JSON.stringify(event) + "\n"));
}

// ---------------------------------------------------------------- adapter

async function adapterCheck(): Promise<void> {
  const info = await gpuAdapterInfo();
  // A convolution on cpu and on webgpu from the same values.
  const x = Float32Array.from({ length: 64 * 64 * 16 }, (_, i) => Math.sin(i) * 0.5);
  const w = Float32Array.from({ length: 3 * 3 * 16 * 32 }, (_, i) => Math.cos(i) * 0.1);
  const conv = async () => {
    const y = tf.conv2d(tf.tensor4d(x, [1, 64, 64, 16]), tf.tensor4d(w, [3, 3, 16, 32]), 1, "same");
    return (await y.data()) as Float32Array;
  };
  await useBackend("cpu");
  const ref = await conv();
  const t0 = performance.now();
  await useBackend("webgpu");
  const ours = await conv();
  const seconds = (performance.now() - t0) / 1000;
  let maxAbsDiff = 0;
  for (let i = 0; i < ref.length; i++) {
    maxAbsDiff = Math.max(maxAbsDiff, Math.abs(ref[i] - ours[i]));
  }
  const gpu = webGpuDevice();
  const limits = (gpu?.device as unknown as { limits?: Record<string, number> })?.limits;
  emit({
    event: "adapter",
    adapter: gpu?.adapter,
    hardware: info?.hardware ?? false,
    request: gpu?.request,
    deviceLimits: limits
      ? Object.fromEntries(
        Object.keys(gpu?.request.requiredLimits ?? {}).map((k) => [k, Number(limits[k])]),
      )
      : null,
    smoke: { op: "conv2d [1,64,64,16] * [3,3,16,32]", maxAbsDiff, seconds },
  });
}

// ---------------------------------------------------------------- children

interface ChildResult {
  code: number | null;
  signal: string | null;
  timedOut: boolean;
  seconds: number;
  stdout: string;
  stderr: string;
}

async function runChild(
  command: string,
  args: string[],
  o: { timeoutS: number; env?: Record<string, string>; cwd?: string },
): Promise<ChildResult> {
  const t0 = performance.now();
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(command, {
      args,
      env: o.env,
      cwd: o.cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    const stderr = `cannot start ${command}: ${(e as Error).message}`;
    return { code: null, signal: null, timedOut: false, seconds: 0, stdout: "", stderr };
  }
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }, Math.max(1, o.timeoutS) * 1000);
  const out = await child.output();
  clearTimeout(timer);
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return {
    code: out.signal ? null : out.code,
    signal: out.signal,
    timedOut,
    seconds: (performance.now() - t0) / 1000,
    stdout: decode(out.stdout),
    stderr: decode(out.stderr),
  };
}

/** The last JSON line of `stdout` whose "event" is `event` (ours or Python's json.dumps). */
function lastEvent(stdout: string, event: string): Record<string, unknown> | null {
  for (const line of stdout.split("\n").reverse()) {
    if (!line.startsWith("{")) continue;
    try {
      const parsed = JSON.parse(line);
      if (parsed?.event === event) return parsed;
    } catch {
      // not a JSON line
    }
  }
  return null;
}

function tail(text: string, lines = 12): string {
  return text.trim().split("\n").slice(-lines).join("\n");
}

// ---------------------------------------------------------------- GPU memory

/** nvidia-smi's memory.used of GPU 0, every 200 ms, with the time it was read. */
class GpuMemorySampler {
  readonly samples: [number, number][] = [];
  #child: Deno.ChildProcess | null = null;

  start(): boolean {
    try {
      this.#child = new Deno.Command("nvidia-smi", {
        args: [
          "--query-gpu=memory.used",
          "--format=csv,noheader,nounits",
          "-i",
          "0",
          "-lms",
          "200",
        ],
        stdin: "null",
        stdout: "piped",
        stderr: "null",
      }).spawn();
    } catch {
      return false; // no nvidia-smi: no GPU memory column
    }
    (async () => {
      let buffered = "";
      for await (const chunk of this.#child!.stdout.pipeThrough(new TextDecoderStream())) {
        buffered += chunk;
        let nl;
        while ((nl = buffered.indexOf("\n")) >= 0) {
          const mib = Number(buffered.slice(0, nl).trim());
          buffered = buffered.slice(nl + 1);
          if (Number.isFinite(mib)) this.samples.push([performance.now(), mib]);
        }
      }
    })().catch(() => {});
    return true;
  }

  /** MiB above the level just before `t0`, at the highest sample in [t0, t1]; null without samples. */
  peakAbove(t0: number, t1: number): number | null {
    const inside = this.samples.filter(([t]) => t >= t0 && t <= t1).map(([, m]) => m);
    if (!inside.length) return null;
    const before = this.samples.filter(([t]) => t < t0 && t >= t0 - 3000).map(([, m]) => m);
    const base = before.length ? Math.min(...before) : Math.min(...this.samples.map(([, m]) => m));
    return Math.max(...inside) - base;
  }

  stop(): void {
    try {
      this.#child?.kill("SIGTERM");
    } catch {
      // already gone
    }
  }
}

// ---------------------------------------------------------------- run

interface Step {
  name: string;
  status: "ok" | "failed" | "timed out" | "skipped";
  seconds: number;
  message?: string;
}

interface BenchPair {
  config: string;
  imageSize: number;
  batchSize: number;
  webgpu: Measurement | null;
  pytorch: Measurement | null;
  /** webgpu s/iter over PyTorch's. */
  ratio: number | null;
  /** Peak GPU memory over the idle level while each process ran (nvidia-smi), MiB. */
  webgpuPeakGpuMiB: number | null;
  pytorchPeakGpuMiB: number | null;
  /** torch.cuda.max_memory_allocated, MiB (tensors only, no context or cache). */
  pytorchAllocatorPeakMiB: number | null;
}

interface ParityResult {
  passed: number;
  failed: number;
  tests: { name: string; ok: boolean; time: string }[];
  output: string;
}

interface DeviceReport {
  date: string;
  dry: boolean;
  settings: Record<string, unknown>;
  machine: Record<string, unknown>;
  steps: Step[];
  adapter: Record<string, unknown> | null;
  parity: ParityResult | null;
  fullWidth: IterationComparison | null;
  torch: TorchInfo | null;
  bench: BenchPair[];
  notes: string[];
  totalSeconds?: number;
}

function fmt(x: number | null | undefined, digits = 3): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return "–";
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(digits);
}

function cell(m: Measurement | null): string {
  if (!m) return "–";
  return m.status === "ok" ? fmt(m.secondsPerIteration) : m.status;
}

/** device.md: the bench table, the parity numbers, the steps and notes. */
function markdown(r: DeviceReport): string {
  const torchDev = r.torch?.device === "cuda" ? "PyTorch CUDA" : `PyTorch ${r.torch?.device ?? ""}`;
  const head = [
    "config",
    "webgpu s/it",
    "webgpu img/s",
    `${torchDev} s/it`,
    `${torchDev} img/s`,
    "ratio (webgpu/PyTorch)",
    "webgpu peak GPU MiB",
    "PyTorch peak GPU MiB",
    "PyTorch allocator peak MiB",
  ];
  const rows = r.bench.map((b) => [
    b.config,
    cell(b.webgpu),
    fmt(b.webgpu?.imagesPerSecond, 2),
    cell(b.pytorch),
    fmt(b.pytorch?.imagesPerSecond, 2),
    b.ratio === null ? "–" : `${b.ratio.toFixed(2)}x`,
    b.webgpuPeakGpuMiB === null ? "–" : String(b.webgpuPeakGpuMiB),
    b.pytorchPeakGpuMiB === null ? "–" : String(b.pytorchPeakGpuMiB),
    b.pytorchAllocatorPeakMiB === null ? "–" : String(b.pytorchAllocatorPeakMiB),
  ]);
  const table = [head, head.map((_, i) => (i ? "---:" : ":---")), ...rows]
    .map((c) => `| ${c.join(" | ")} |`).join("\n");
  const a = r.adapter as {
    adapter?: { name?: string };
    hardware?: boolean;
    request?: unknown;
    smoke?: { maxAbsDiff?: number };
  } | null;
  const s = r.settings;
  const fw = r.fullWidth;
  const lines = [
    `# Device check${r.dry ? " (dry run)" : ""}, ${r.date}`,
    "",
    `- GPU: ${r.machine.gpu ?? "none (nvidia-smi absent)"}; CPU: ${r.machine.cpu}, ` +
    `${r.machine.cores} cores; Deno ${r.machine.deno}, TF.js ${r.machine.tfjs}`,
    ...(r.machine.setup ? [`- setup: ${r.machine.setup}`] : []),
    `- WebGPU adapter: ${a?.adapter?.name ?? "none"}${a && !a.hardware ? " (software)" : ""}; ` +
    `asked for ${JSON.stringify(a?.request ?? null)}`,
    r.torch
      ? `- PyTorch ${r.torch.torch} on ${r.torch.device} (${r.torch.deviceName})`
      : "- PyTorch: none",
    "",
    `## Bench: U-Net + PatchGAN, ngf ${s.ngf}, ndf ${s.ndf}, dropout on; median of ` +
    `${s.iterations} after ${s.warmup} warm-up; images/s = 2 x batch / s`,
    "",
    table,
    "",
    "## Parity on webgpu",
    "",
    `- adapter smoke test (conv2d vs cpu): max |diff| ${
      a?.smoke?.maxAbsDiff?.toExponential(2) ?? "–"
    }`,
    `- fixture tests (tests/webgpu_test.ts, ngf 6 / ndf 8 vs PyTorch): ` +
    (r.parity
      ? `${r.parity.passed} passed, ${r.parity.failed} failed` +
        (r.parity.tests.length
          ? ` (${
            r.parity.tests.map((t) => `${t.name}: ${t.ok ? "ok" : "FAILED"} ${t.time}`).join("; ")
          })`
          : "")
      : "not run"),
    fw
      ? `- one iteration at ngf ${fw.ngf} / ndf ${fw.ndf}, ${fw.imageSize}x${fw.batchSize}, ` +
        `webgpu vs ${fw.reference}: ${fw.pass ? "pass" : "FAIL"}; losses rel diff ` +
        `${fw.lossRelDiff.toExponential(2)}, D gradients rel diff ` +
        `${fw.gradRelDiff.value.toExponential(2)} of the largest (${fw.gradRelDiff.param}; L2 ` +
        `${fw.gradRelDiff.l2.toExponential(2)}), weights within 1e-6 ` +
        `${(100 * fw.weights.within1e6).toFixed(3)}% of ${fw.weights.elements}, max |diff| ` +
        `${fw.weights.maxAbsDiff.toExponential(2)}; ${fw.reference} ${
          fmt(fw.seconds.reference)
        } s, ` +
        `webgpu ${fmt(fw.seconds.backend)} s (first iteration)` +
        (fw.problems.length ? `; ${fw.problems.join("; ")}` : "")
      : "- full-width iteration: not run",
    "",
    "## Steps",
    "",
    ...r.steps.map((st) =>
      `- ${st.name}: ${st.status} (${st.seconds.toFixed(1)} s)` +
      (st.message ? ` ${st.message.split("\n").join(" / ").slice(0, 300)}` : "")
    ),
    ...(r.notes.length ? ["", "## Notes", "", ...r.notes.map((n) => `- ${n}`)] : []),
    "",
    `Total ${fmt(r.totalSeconds ?? null, 1)} s.`,
    "",
  ];
  return lines.join("\n");
}

async function findPython(given: string | undefined): Promise<string | null> {
  for (const p of given ? [given] : ["python3", "/usr/bin/python3", "python"]) {
    const r = await runChild(p, ["-c", "import torch"], { timeoutS: 60 });
    if (r.code === 0) return p;
  }
  return null;
}

function gpuName(): Promise<string | null> {
  return runChild("nvidia-smi", [
    "--query-gpu=name,driver_version,memory.total",
    "--format=csv,noheader",
    "-i",
    "0",
  ], { timeoutS: 20 }).then((r) => (r.code === 0 ? r.stdout.trim() : null));
}

async function runAll(v: Record<string, string | number | boolean | undefined>): Promise<void> {
  const started = performance.now();
  const dry = v.dry === true;
  const deadline = ((v.deadline as number | undefined) ?? (dry ? 900 : 450)) * 1000;
  const left = () => (deadline - (performance.now() - started)) / 1000;
  const out = v.out as string | undefined;
  if (!out) throw new Error("run: --out DIR is required");
  await Deno.mkdir(out, { recursive: true });
  const here = new URL(".", import.meta.url).pathname;
  const kit = v.kit as string | undefined;
  const repo = (v.repo as string | undefined) ?? Deno.cwd();
  // The kit's bundles, or the sources beside this file.
  const self = kit ? `${kit}/check.js` : `${here}check.ts`;
  const worker = kit ? `${kit}/bench_worker.js` : `${here}../bench_worker.ts`;
  const parityTest = kit ? `${kit}/webgpu_test.js` : `${here}../../tests/webgpu_test.ts`;
  const denoFlags = kit ? ["--cached-only", "--config", `${kit}/deno.json`] : [];
  const deno = Deno.execPath();
  const settings = {
    configs: (v.configs as string | undefined) ?? CONFIGS,
    ngf: (v.ngf as number | undefined) ?? (dry ? 4 : 64),
    ndf: (v.ndf as number | undefined) ?? (dry ? 4 : 64),
    iterations: (v.iterations as number | undefined) ?? (dry ? 1 : 3),
    warmup: (v.warmup as number | undefined) ?? 1,
    budget: (v.budget as number | undefined) ?? (dry ? 120 : 60),
    fullWidth: dry
      ? { imageSize: 64, batchSize: 1, ngf: 16, ndf: 16 }
      : { imageSize: 128, batchSize: 1, ngf: 64, ndf: 64 }, // see full_width.ts: not 64 px
    deadlineSeconds: deadline / 1000,
    kit: kit ?? null,
    repo,
  };
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const report: DeviceReport = {
    date: new Date().toISOString(),
    dry,
    settings,
    machine: {
      gpu: await gpuName(),
      cpu: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? Deno.build.arch,
      cores: navigator.hardwareConcurrency,
      deno: Deno.version.deno,
      tfjs: tf.version_core,
      setup: Deno.env.get("DEVICE_KIT_SETUP") ?? null,
    },
    steps: [],
    adapter: null,
    parity: null,
    fullWidth: null,
    torch: null,
    bench: [],
    notes: [],
  };
  const save = async () => {
    report.totalSeconds = (performance.now() - started) / 1000;
    await Deno.writeTextFile(`${out}/device.json`, JSON.stringify(report, null, 2) + "\n");
    await Deno.writeTextFile(`${out}/device.md`, markdown(report));
  };
  const log = (s: string) =>
    console.error(`[${((performance.now() - started) / 1000).toFixed(0)} s] ${s}`);
  const step = async (
    name: string,
    capS: number,
    body: (timeoutS: number) => Promise<Omit<Step, "name" | "seconds">>,
  ) => {
    const timeoutS = Math.min(capS, left() - 5);
    const t0 = performance.now();
    let s: Omit<Step, "name" | "seconds">;
    if (timeoutS < 10) s = { status: "skipped", message: "out of time" };
    else {
      log(`${name} (up to ${timeoutS.toFixed(0)} s)`);
      try {
        s = await body(timeoutS);
      } catch (e) {
        s = { status: "failed", message: (e as Error).message };
      }
    }
    const done: Step = { name, seconds: (performance.now() - t0) / 1000, ...s };
    report.steps.push(done);
    log(`${name}: ${done.status}${done.message ? " " + done.message.split("\n")[0] : ""}`);
    await save();
  };
  const childStatus = (r: ChildResult): Omit<Step, "name" | "seconds"> =>
    r.timedOut
      ? { status: "timed out", message: tail(r.stderr + "\n" + r.stdout, 6) }
      : { status: "failed", message: tail(r.stderr + "\n" + r.stdout, 12) };
  const env = { DISCOGAN_REQUIRE_NATIVE: "1" };

  await step("adapter", 60, async (timeoutS) => {
    const r = await runChild(deno, ["run", "-A", ...denoFlags, self, "adapter"], {
      timeoutS,
      env,
      cwd: repo,
    });
    report.adapter = lastEvent(r.stdout, "adapter");
    if (!report.adapter) return childStatus(r);
    if (!report.adapter.hardware && !dry) {
      return { status: "failed", message: "the only WebGPU adapter is a software one" };
    }
    return { status: "ok" };
  });

  await step("parity tests on webgpu (fixture widths)", 120, async (timeoutS) => {
    const fixtures = [
      `${repo}/tests/fixtures/parity`,
      `${repo}/shared/fixtures/parity`,
      `${repo}/../shared/fixtures/parity`,
    ].find((d) => {
      try {
        return Deno.statSync(`${d}/inputs.safetensors`).isFile;
      } catch {
        return false;
      }
    });
    if (!fixtures) return { status: "failed", message: "no parity fixtures (inputs.safetensors)" };
    const r = await runChild(deno, ["test", "-A", ...denoFlags, parityTest], {
      timeoutS,
      env: { ...env, DISCOGAN_FIXTURES: fixtures },
      cwd: repo,
    });
    const tests = [...r.stdout.matchAll(/^(.+?) \.\.\. (ok|FAILED)(?: \(([^)]*)\))?$/gm)].map((
      m,
    ) => ({
      name: m[1],
      ok: m[2] === "ok",
      time: m[3] ?? "",
    }));
    const summary = /(\d+) passed.*?\| (\d+) failed/.exec(r.stdout);
    report.parity = {
      passed: summary ? Number(summary[1]) : tests.filter((t) => t.ok).length,
      failed: summary ? Number(summary[2]) : tests.filter((t) => !t.ok).length,
      tests,
      output: tail(r.stdout + "\n" + r.stderr, 40),
    };
    return r.code === 0 && report.parity.passed > 0 ? { status: "ok" } : childStatus(r);
  });

  await step("full-width iteration, webgpu vs cpu", 120, async (timeoutS) => {
    const fw = settings.fullWidth;
    const r = await runChild(deno, [
      "run",
      "-A",
      ...denoFlags,
      self,
      "full-width",
      "--image-size",
      String(fw.imageSize),
      "--batch-size",
      String(fw.batchSize),
      "--ngf",
      String(fw.ngf),
      "--ndf",
      String(fw.ndf),
    ], { timeoutS, env, cwd: repo });
    const e = lastEvent(r.stdout, "full-width");
    if (!e) return childStatus(r);
    const { event: _, ...comparison } = e;
    report.fullWidth = comparison as unknown as IterationComparison;
    return report.fullWidth.pass
      ? { status: "ok" }
      : { status: "failed", message: report.fullWidth.problems.join("; ") };
  });

  await step("bench", Infinity, async () => {
    const python = await findPython(v.python as string | undefined);
    const torchScript = `${repo}/scripts/torch/bench.py`;
    const threads = String(navigator.hardwareConcurrency);
    const torchArgs = ["--threads", threads];
    if (python) {
      const r = await runChild(python, [torchScript, "--info", ...torchArgs], {
        timeoutS: 60,
        cwd: repo,
      });
      const info = lastEvent(r.stdout, "info");
      if (info) {
        const { event: _, ...rest } = info;
        report.torch = rest as TorchInfo;
      } else report.notes.push(`PyTorch --info failed: ${tail(r.stderr, 3)}`);
    } else report.notes.push("PyTorch skipped: no python3 that imports torch");
    if (report.torch && report.torch.device !== "cuda" && !dry) {
      report.notes.push("PyTorch has no CUDA device here: its column is on the CPU");
    }
    const sampler = new GpuMemorySampler();
    if (!sampler.start()) report.notes.push("no nvidia-smi: no peak GPU memory");
    const common = [
      "--generator",
      "unet",
      "--discriminator",
      "patchgan",
      "--ngf",
      String(settings.ngf),
      "--ndf",
      String(settings.ndf),
      "--iterations",
      String(settings.iterations),
      "--warmup",
      String(settings.warmup),
    ];
    const timed = async (
      command: string,
      args: string[],
      batchSize: number,
    ): Promise<{ m: Measurement; peak: number | null }> => {
      const room = left() - 10;
      if (room < 20) return { m: failedMeasurement("skipped: out of time"), peak: null };
      const budget = Math.min(settings.budget, room / 2);
      const t0 = performance.now();
      const m = await measure(command, [...args, "--budget", String(Math.floor(budget))], {
        batchSize,
        budget,
        setupLimit: Math.min(120, room),
        cwd: repo,
      });
      await new Promise((r) => setTimeout(r, 250)); // one more sample after the end
      return { m, peak: sampler.peakAbove(t0, performance.now()) };
    };
    try {
      for (const config of settings.configs.split(",").map((c) => c.trim()).filter(Boolean)) {
        const [imageSize, batchSize] = config.split("x").map(Number);
        const size = ["--image-size", String(imageSize), "--batch-size", String(batchSize)];
        const ours = await timed(
          deno,
          ["run", "-A", ...denoFlags, worker, "--backend", "webgpu", ...size, ...common],
          batchSize,
        );
        log(`  ${config} webgpu: ${cell(ours.m)} s/it ${ours.m.message?.split("\n")[0] ?? ""}`);
        const theirs = python
          ? await timed(python, [torchScript, ...size, ...common, ...torchArgs], batchSize)
          : null;
        if (theirs) {
          log(
            `  ${config} pytorch: ${cell(theirs.m)} s/it ${theirs.m.message?.split("\n")[0] ?? ""}`,
          );
        }
        const allocated = theirs?.m.details?.peakGpuBytes as number | undefined;
        report.bench.push({
          config,
          imageSize,
          batchSize,
          webgpu: ours.m,
          pytorch: theirs?.m ?? null,
          ratio: ours.m.secondsPerIteration && theirs?.m.secondsPerIteration
            ? ours.m.secondsPerIteration / theirs.m.secondsPerIteration
            : null,
          webgpuPeakGpuMiB: ours.peak,
          pytorchPeakGpuMiB: theirs?.peak ?? null,
          pytorchAllocatorPeakMiB: allocated === undefined ? null : Math.round(allocated / 2 ** 20),
        });
        await save();
      }
    } finally {
      sampler.stop();
    }
    const bad = report.bench.filter((b) =>
      b.webgpu?.status !== "ok" || (python && b.pytorch?.status !== "ok")
    );
    return bad.length
      ? {
        status: "failed",
        message: bad.map((b) =>
          `${b.config}: ${
            [b.webgpu, b.pytorch].filter((m) => m && m.status !== "ok")
              .map((m) => m!.message ?? m!.status).join("; ")
          }`
        ).join(" | "),
      }
      : { status: "ok" };
  });
  await save();
  console.log(markdown(report));
}

async function main(): Promise<void> {
  const { values: v, positionals } = parseFlags(Deno.args, FLAGS);
  const mode = positionals[0];
  if (mode === "adapter") await adapterCheck();
  else if (mode === "full-width") {
    const result = await compareIteration({
      backend: "webgpu",
      reference: "cpu",
      imageSize: (v.imageSize as number | undefined) ?? 128,
      batchSize: (v.batchSize as number | undefined) ?? 1,
      ngf: (v.ngf as number | undefined) ?? 64,
      ndf: (v.ndf as number | undefined) ?? 64,
    });
    emit({ event: "full-width", ...result });
  } else if (mode === "run") await runAll(v);
  else {
    throw new Error(
      `usage: check.ts adapter | full-width [...] | run --out DIR [...] (got "${mode ?? ""}")`,
    );
  }
}

if (import.meta.main) {
  try {
    await main();
    Deno.exit(0); // a GPU device keeps the process alive
  } catch (e) {
    console.error(e);
    Deno.exit(1);
  }
}
