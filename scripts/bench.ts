// `deno task bench`: seconds per DiscoGAN iteration, images/s and peak RSS for
// each configuration on each available backend, with PyTorch side by side.
//
// Every (backend, configuration) runs in its own process (scripts/bench_worker.ts),
// and so does every PyTorch configuration (scripts/torch/bench.py): peak RSS is
// per configuration, and a crash (wasm's 4 GiB cap) is recorded, not fatal.
// The table is printed once at the end; the same data go to a JSON file.
import { OptionError } from "../pipeline/options.ts";
import { BACKEND_NAMES, gpuAdapterInfo } from "../ops/runtime/backend.ts";
import { loadOneDnn } from "../ops/runtime/onednn/onednn.ts";
import { loadOpenBlas } from "../ops/runtime/openblas/openblas.ts";
import {
  checkImageSize,
  type DiscriminatorKind,
  DISCRIMINATORS,
  type GeneratorKind,
  GENERATORS,
} from "../models/discogan.ts";
import { tf } from "../ops/tf.ts";
import { type FlagKind, parseFlags } from "./cli_args.ts";
import { BF16_BACKEND } from "./bench_worker.ts";

const HELP = `Benchmark one DiscoGAN training iteration (U-Net + PatchGAN unless asked otherwise,
dropout on), beside PyTorch running the same networks.

Usage: deno task bench [options]

  --configs LIST       image size x batch size, comma-separated
                       (default 64x1,64x4,128x1,128x4,256x1)
  --ngf N --ndf N      generator / discriminator widths (default 64, 64: full width)
  --generator NAME     unet | resnet | paper (default unet)
  --discriminator NAME patchgan | paper (default patchgan); the paper networks use BatchNorm
  --backends LIST      wasm,blas,onednn,cpu,webgpu,onednn-bf16 (default: wasm; blas when
                       OpenBLAS loads, onednn when oneDNN does; webgpu when a hardware
                       GPU adapter exists; cpu and onednn-bf16 only when asked).
                       onednn-bf16 is onednn with --precision bf16
  --iterations N       timed iterations, the median is reported (default 5)
  --repeats N          rounds per configuration, ours and PyTorch alternating; each side
                       reports its fastest round (its lowest median) and its highest peak
                       RSS over all rounds (default 1)
  --warmup N           untimed iterations first (default 2)
  --budget S           seconds one configuration's first iteration may take; slower
                       ones are recorded as "too slow (> S s)" (default 120)
  --out PATH           JSON results (default runs/bench-DATE.json)
  --no-torch           skip PyTorch
  --python PATH        interpreter with torch (default /usr/bin/python3)
  --torch-threads N    torch.set_num_threads on CPU (default 2)
  --torch-blas MODE    auto | openmp | system: the BLAS PyTorch loads (default auto: the
                       OpenMP OpenBLAS when installed; see scripts/torch/bench.py)
  --help               this text`;

const FLAGS: Record<string, FlagKind> = {
  configs: "string",
  ngf: "number",
  ndf: "number",
  generator: "string",
  discriminator: "string",
  backends: "string",
  iterations: "number",
  repeats: "number",
  warmup: "number",
  budget: "number",
  out: "string",
  torch: "boolean",
  python: "string",
  torchThreads: "number",
  torchBlas: "string",
  help: "boolean",
};

/** The configurations run by default: image side x batch size. */
export const DEFAULT_CONFIGS = "64x1,64x4,128x1,128x4,256x1";

/** One image size and batch size. */
export interface BenchConfig {
  /** "64x4". */
  name: string;
  /** Image side in pixels. */
  imageSize: number;
  /** Images per domain per iteration. */
  batchSize: number;
}

/** What one process measured (or why it measured nothing). */
export interface Measurement {
  /** "ok", "too slow", "out of memory" or "error". */
  status: "ok" | "too slow" | "out of memory" | "error";
  /** Median seconds per timed iteration (ok only). */
  secondsPerIteration: number | null;
  /** 2 x batch / seconds: images of both domains per second (ok only). */
  imagesPerSecond: number | null;
  /** Peak RSS of the process (VmHWM), bytes. */
  peakRssBytes: number | null;
  /** Every timed iteration, seconds. */
  seconds: number[];
  /** Every warm-up iteration, seconds. */
  warmupSeconds: number[];
  /** Setup before the first iteration (backend, networks), seconds. */
  setupSeconds: number | null;
  /** What went wrong, for the statuses other than ok. */
  message?: string;
  /** Extra fields the process reported (losses, device, BLAS...). */
  details?: Record<string, unknown>;
}

/**
 * A measurement with no result yet: status "error" until a run fills it in.
 *
 * @example
 * ```ts
 * import { failedMeasurement } from "./bench.ts";
 * console.log(failedMeasurement("skipped: out of time").status); // "error"
 * ```
 */
export function failedMeasurement(message?: string): Measurement {
  return {
    status: "error",
    secondsPerIteration: null,
    imagesPerSecond: null,
    peakRssBytes: null,
    seconds: [],
    warmupSeconds: [],
    setupSeconds: null,
    ...(message === undefined ? {} : { message }),
  };
}

/** A row of the table: one backend on one configuration, with PyTorch beside it. */
export interface BenchRow extends Measurement {
  /** "64x4". */
  config: string;
  /** Image side. */
  imageSize: number;
  /** Batch size. */
  batchSize: number;
  /** Our backend. */
  backend: string;
  /** PyTorch on the same configuration; null with --no-torch or without torch. */
  pytorch: Measurement | null;
  /** Our seconds per iteration / PyTorch's, when both ran. */
  ratio: number | null;
}

/** Parses "64x1,64x4" into configurations; throws an OptionError naming the bad one. */
export function parseConfigs(
  text: string,
  generator: GeneratorKind = "unet",
  discriminator: DiscriminatorKind = "patchgan",
): BenchConfig[] {
  const out: BenchConfig[] = [];
  for (const raw of text.split(",").map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\d+)\s*[xX]\s*(\d+)$/.exec(raw);
    if (!m) {
      throw new OptionError("--configs", `"${raw}" is not IMAGExBATCH (e.g. 64x4)`);
    }
    const imageSize = Number(m[1]), batchSize = Number(m[2]);
    try {
      checkImageSize(imageSize, generator, discriminator);
    } catch (e) {
      throw new OptionError("--configs", (e as Error).message);
    }
    if (batchSize < 1) throw new OptionError("--configs", `"${raw}": batch size must be >= 1`);
    out.push({ name: `${imageSize}x${batchSize}`, imageSize, batchSize });
  }
  if (!out.length) throw new OptionError("--configs", "no configuration given");
  return out;
}

const OOM =
  /out of memory|\bOOM\b|Cannot enlarge memory|Array buffer allocation failed|allocation failed|bad_alloc|RangeError|Invalid typed array length|Failed to allocate|memory access out of bounds/i;

function vmHwmOf(pid: number): number | null {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Runs one measuring process and follows its JSON event lines. The process is
 * killed when its first iteration runs past `budget` seconds (recorded as too
 * slow), when a later iteration takes over twice the budget, or when setup
 * takes over `setupLimit` seconds.
 */
export async function measure(
  command: string,
  args: string[],
  opts: {
    batchSize: number;
    budget: number;
    env?: Record<string, string>;
    cwd?: string;
    setupLimit?: number;
  },
): Promise<Measurement> {
  const child = new Deno.Command(command, {
    args,
    cwd: opts.cwd,
    env: opts.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const result = failedMeasurement();
  let finished = false; // a terminal event arrived
  let killedFor: string | null = null;
  const setupLimit = opts.setupLimit ?? 600;
  // Milliseconds the process may stay silent before it is killed, and why.
  let deadline = { at: performance.now() + setupLimit * 1000, why: "setup" };
  const timer = setInterval(() => {
    if (performance.now() < deadline.at || finished || killedFor) return;
    killedFor = deadline.why;
    result.peakRssBytes = vmHwmOf(child.pid);
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }, 200);

  let stderr = "";
  const stderrDone = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      stderr = (stderr + chunk).slice(-20_000);
    }
  })();
  const otherLines: string[] = [];
  let buffered = "";
  const onEvent = (e: Record<string, unknown>) => {
    const { event, ...rest } = e;
    if (event === "ready") {
      result.setupSeconds = rest.setupSeconds as number;
      result.details = { ...result.details, ...rest };
      deadline = { at: performance.now() + opts.budget * 1000, why: "first" };
    } else if (event === "iteration") {
      (rest.warmup ? result.warmupSeconds : result.seconds).push(rest.seconds as number);
      const limit = Math.max(2 * opts.budget, 60);
      deadline = { at: performance.now() + limit * 1000, why: "later" };
    } else if (event === "done") {
      finished = true;
      const { seconds: _s, median: med, peakRssBytes, ...more } = rest;
      result.status = "ok";
      result.secondsPerIteration = med as number;
      result.imagesPerSecond = (2 * opts.batchSize) / (med as number);
      result.peakRssBytes = peakRssBytes as number | null;
      result.details = { ...result.details, ...more };
    } else if (event === "too-slow") {
      finished = true;
      result.status = "too slow";
      result.message = `first iteration ${(rest.firstSeconds as number).toFixed(1)} s > ${rest
        .budget as number} s`;
      result.peakRssBytes = rest.peakRssBytes as number | null;
    } else if (event === "error") {
      finished = true;
      result.message = `${rest.name ?? "Error"}: ${rest.message}`;
      result.status = OOM.test(result.message) ? "out of memory" : "error";
      result.peakRssBytes = rest.peakRssBytes as number | null;
    }
  };
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    buffered += chunk;
    let nl;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      let parsed: unknown = null;
      if (line.startsWith("{")) {
        try {
          parsed = JSON.parse(line);
        } catch {
          parsed = null;
        }
      }
      if (parsed && typeof parsed === "object" && "event" in parsed) {
        onEvent(parsed as Record<string, unknown>);
      } else if (line) otherLines.push(line);
    }
  }
  const status = await child.status;
  await stderrDone;
  clearInterval(timer);

  if (killedFor === "first") {
    result.status = "too slow";
    result.message = `first iteration still running after ${opts.budget} s`;
  } else if (killedFor) {
    result.status = "error";
    result.message = killedFor === "setup"
      ? `no first iteration: setup ran past ${setupLimit} s`
      : `an iteration ran past ${Math.max(2 * opts.budget, 60)} s`;
  } else if (!finished) {
    // Died without a last word: a wasm abort, V8's heap limit, the OOM killer...
    const tail = (stderr + "\n" + otherLines.join("\n")).trim().split("\n").slice(-6).join("\n");
    const how = status.signal
      ? `killed by ${status.signal}${
        status.signal === "SIGKILL" ? " (the kernel's OOM killer?)" : ""
      }`
      : `exit code ${status.code}`;
    result.message = `${how}${tail ? ": " + tail : ""}`.slice(0, 2000);
    result.status = OOM.test(tail) || status.signal === "SIGKILL" ? "out of memory" : "error";
  }
  if (result.status === "ok" && !result.seconds.length) {
    result.status = "error";
    result.message = "no timed iteration";
  }
  if (result.status === "ok" && result.seconds.length) {
    result.secondsPerIteration = median(result.seconds);
    result.imagesPerSecond = (2 * opts.batchSize) / result.secondsPerIteration;
  }
  return result;
}

/** Machine, runtime and library facts printed above the table. */
export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryBytes: number | null;
  os: string;
  deno: string;
  tfjs: string;
  gpuAdapter: { name: string; hardware: boolean } | null;
  openBlas: { path: string; threads: number; config: string } | null;
  oneDnn: { path: string; version: string } | null;
  systemBlas: string | null;
  /** 1-minute load average when the bench started (other work skews the numbers). */
  loadAverage: number | null;
}

function readText(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
}

async function machineInfo(): Promise<MachineInfo> {
  const cpuinfo = readText("/proc/cpuinfo");
  const cpu = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? Deno.build.arch;
  const flags = /^flags\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.split(/\s+/) ?? [];
  const simd = ["avx512f", "avx2", "fma"].filter((f) => flags.includes(f));
  const mem = /^MemTotal:\s+(\d+)\s+kB/m.exec(readText("/proc/meminfo"));
  const blas = loadOpenBlas();
  const dnnl = loadOneDnn();
  let systemBlas: string | null = null;
  for (const dir of [`/usr/lib/${Deno.build.arch}-linux-gnu`, "/usr/lib64", "/usr/lib"]) {
    try {
      systemBlas = Deno.realPathSync(`${dir}/libblas.so.3`);
      break;
    } catch {
      // not there
    }
  }
  return {
    cpu: simd.length ? `${cpu} (${simd.join(", ")})` : cpu,
    cores: navigator.hardwareConcurrency,
    memoryBytes: mem ? Number(mem[1]) * 1024 : null,
    os: `${Deno.build.os} ${Deno.osRelease()} ${Deno.build.arch}`,
    deno: Deno.version.deno,
    tfjs: tf.version_core,
    gpuAdapter: await gpuAdapterInfo(),
    openBlas: blas
      ? { path: blas.path, threads: blas.getNumThreads(), config: blas.getConfig() }
      : null,
    oneDnn: dnnl ? { path: dnnl.path, version: dnnl.version } : null,
    systemBlas,
    loadAverage: loadAverage(),
  };
}

function loadAverage(): number | null {
  const n = Number(readText("/proc/loadavg").split(" ")[0]);
  return readText("/proc/loadavg") && Number.isFinite(n) ? n : null;
}

/** PyTorch's versions, device and BLAS, as `scripts/torch/bench.py --info` reports them. */
export type TorchInfo = Record<string, unknown> & {
  torch: string;
  device: string;
  deviceName: string;
  threads: number;
  blas: string;
  blasChoice: string;
};

async function torchInfo(
  python: string,
  script: string,
  extra: string[],
): Promise<TorchInfo | string> {
  try {
    const out = await new Deno.Command(python, {
      args: [script, "--info", ...extra],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    const line = text.split("\n").find((l) => l.includes('"event": "info"'));
    if (out.success && line) {
      const { event: _, ...info } = JSON.parse(line);
      return info as TorchInfo;
    }
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-1)[0];
    return `${python} cannot run PyTorch (${err || `exit code ${out.code}`})`;
  } catch (e) {
    return `${python}: ${(e as Error).message}`;
  }
}

function fmtSeconds(s: number | null): string {
  if (s === null || !Number.isFinite(s)) return "–";
  return s >= 100 ? s.toFixed(0) : s >= 10 ? s.toFixed(1) : s >= 1 ? s.toFixed(2) : s.toFixed(3);
}

function fmtBytes(b: number | null): string {
  if (b === null || !Number.isFinite(b)) return "–";
  return b >= 2 ** 30 ? `${(b / 2 ** 30).toFixed(2)} GiB` : `${(b / 2 ** 20).toFixed(0)} MiB`;
}

function fmtStatus(m: Measurement, budget: number): string {
  if (m.status === "ok") return fmtSeconds(m.secondsPerIteration);
  if (m.status === "too slow") return `too slow (> ${budget} s)`;
  return m.status; // "out of memory", "error": the message is in the notes
}

/** The result table (markdown), one row per backend per configuration. */
export function formatTable(rows: BenchRow[], budget: number, peakGflops?: number | null): string {
  const header = [
    "config",
    "backend",
    "s/iter",
    "images/s",
    "peak RSS",
    "% fp32 peak",
    "PyTorch s/iter",
    "PyTorch RSS",
    "PyTorch % peak",
    "ratio (ours/PyTorch)",
  ];
  // The convolutions' FLOPs of an iteration at this configuration (any backend counted them).
  const flopsOf = (config: string) =>
    rows.map((r) => r.details?.flops).find((f, i) => rows[i].config === config && f) as
      | number
      | undefined;
  const share = (config: string, m: Measurement | null) => {
    const flops = flopsOf(config);
    if (!m?.secondsPerIteration || !flops || !peakGflops) return "–";
    return `${(100 * flops / m.secondsPerIteration / 1e9 / peakGflops).toFixed(0)}%`;
  };
  const body = rows.map((r) => [
    r.config,
    r.backend,
    fmtStatus(r, budget),
    r.imagesPerSecond === null ? "–" : r.imagesPerSecond.toFixed(2),
    fmtBytes(r.peakRssBytes),
    share(r.config, r),
    r.pytorch ? fmtStatus(r.pytorch, budget) : "–",
    r.pytorch ? fmtBytes(r.pytorch.peakRssBytes) : "–",
    share(r.config, r.pytorch),
    r.ratio === null ? "–" : `${r.ratio.toFixed(1)}x`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) =>
    "| " + cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(" | ") +
    " |";
  const rule = "|" + widths.map((w, i) => (i < 2 ? ":" : "-") + "-".repeat(w) + (i < 2 ? "-" : ":"))
    .join("|") +
    "|";
  return [line(header), rule, ...body.map(line)].join("\n");
}

/** One sgemm library's best speed, GFLOP/s, on n x n x n products. */
export interface SgemmPeak {
  gflops: number;
  /** The library that reached it. */
  library: "oneDNN" | "OpenBLAS";
  n: number;
  repeats: number;
}

/**
 * The fp32 peak this machine reaches in practice: the best of a few n x n x n
 * single-precision matrix products by oneDNN's sgemm and by OpenBLAS', each
 * on all its threads (a library can mis-dispatch: OpenBLAS took one of our
 * machines for a "Prescott" and ran at a third of oneDNN's speed). Null when
 * neither loads.
 *
 * @example
 * ```ts
 * import { sgemmPeak } from "./bench.ts";
 * const peak = sgemmPeak(256, 2);
 * console.log(peak ? `${peak.gflops.toFixed(0)} GFLOP/s by ${peak.library}` : "no sgemm");
 * ```
 */
export function sgemmPeak(n = 1536, repeats = 5): SgemmPeak | null {
  const a = new Float32Array(n * n).map((_, i) => (i % 7) / 7);
  const b = new Float32Array(n * n).map((_, i) => (i % 5) / 5);
  const c = new Float32Array(n * n);
  const best = (product: () => void) => {
    product(); // warm-up: threads up, pages touched
    let seconds = Infinity;
    for (let i = 0; i < repeats; i++) {
      const t0 = performance.now();
      product();
      seconds = Math.min(seconds, (performance.now() - t0) / 1000);
    }
    return (2 * n ** 3) / seconds / 1e9;
  };
  const found: SgemmPeak[] = [];
  const dnnl = loadOneDnn(), blas = loadOpenBlas();
  if (dnnl) {
    found.push({ gflops: best(() => dnnl.sgemm(n, n, n, a, b, c)), library: "oneDNN", n, repeats });
  }
  if (blas) {
    const gflops = best(() => blas.sgemm(false, false, n, n, n, 1, a, b, 0, c));
    found.push({ gflops, library: "OpenBLAS", n, repeats });
  }
  return found.sort((p, q) => q.gflops - p.gflops)[0] ?? null;
}

/**
 * One side's result over the rounds of a configuration: the round with the
 * lowest median (the one least slowed by the rest of the machine), with the
 * highest peak RSS of any round and every round's median in
 * `details.roundMedians`. A single round comes back as it is; with no round
 * that ran, the last one (or an error).
 *
 * @example
 * ```ts
 * import { failedMeasurement, fastestRound } from "./bench.ts";
 * const ok = (s: number, rss: number) => ({
 *   ...failedMeasurement(),
 *   status: "ok" as const,
 *   secondsPerIteration: s,
 *   peakRssBytes: rss,
 * });
 * const m = fastestRound([ok(0.6, 700), ok(0.5, 650)]);
 * console.log(m.secondsPerIteration, m.peakRssBytes); // 0.5 700
 * ```
 */
export function fastestRound(rounds: Measurement[]): Measurement {
  if (rounds.length <= 1) return rounds[0] ?? failedMeasurement("no round ran");
  const ran = rounds.filter((m) => m.status === "ok" && m.secondsPerIteration !== null);
  if (!ran.length) return rounds[rounds.length - 1];
  const best = ran.reduce((a, b) => (b.secondsPerIteration! < a.secondsPerIteration! ? b : a));
  const rss = rounds.map((m) => m.peakRssBytes).filter((b): b is number => b !== null);
  return {
    ...best,
    peakRssBytes: rss.length ? Math.max(...rss) : best.peakRssBytes,
    details: { ...best.details, roundMedians: rounds.map((m) => m.secondsPerIteration) },
  };
}

function timestamp(): string {
  return new Date().toISOString().replace(/\..*$/, "").replace(/:/g, "-");
}

async function main(): Promise<void> {
  const { values: v, positionals } = parseFlags(Deno.args, FLAGS);
  if (v.help) {
    console.log(HELP);
    return;
  }
  if (positionals.length) {
    throw new OptionError(positionals[0], "unexpected argument; options start with --");
  }
  const choice = <K extends string>(key: string, table: Record<K, unknown>, def: K): K => {
    const name = (v[key] as string | undefined) ?? def;
    if (!(name in table)) {
      throw new OptionError(`--${key}`, `unknown "${name}": choose from ${Object.keys(table)}`);
    }
    return name as K;
  };
  const generator = choice<GeneratorKind>("generator", GENERATORS, "unet");
  const discriminator = choice<DiscriminatorKind>("discriminator", DISCRIMINATORS, "patchgan");
  const configs = parseConfigs(
    (v.configs as string | undefined) ?? DEFAULT_CONFIGS,
    generator,
    discriminator,
  );
  const positive = (key: string, def: number, min: number) => {
    const n = (v[key] as number | undefined) ?? def;
    if (!Number.isInteger(n) || n < min) {
      const flag = "--" + key.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
      throw new OptionError(flag, `expected a whole number >= ${min}, got ${n}`);
    }
    return n;
  };
  const ngf = positive("ngf", 64, 1), ndf = positive("ndf", 64, 1);
  const iterations = positive("iterations", 5, 1), warmup = positive("warmup", 2, 0);
  const repeats = positive("repeats", 1, 1);
  const torchThreads = positive("torchThreads", 2, 1);
  const budget = (v.budget as number | undefined) ?? 120;
  if (!(budget > 0)) throw new OptionError("--budget", `expected seconds > 0, got ${budget}`);
  const torchBlas = (v.torchBlas as string | undefined) ?? "auto";
  if (!["auto", "openmp", "system"].includes(torchBlas)) {
    throw new OptionError("--torch-blas", `expected auto, openmp or system, got "${torchBlas}"`);
  }
  const root = new URL("..", import.meta.url).pathname;
  const python = (v.python as string | undefined) ?? "/usr/bin/python3";

  const machine = await machineInfo();
  const notes: string[] = [];
  let backends: string[];
  if (v.backends !== undefined) {
    backends = (v.backends as string).split(",").map((s) => s.trim()).filter(Boolean);
    const known = [...BACKEND_NAMES.filter((n) => n !== "auto"), BF16_BACKEND];
    for (const b of backends) {
      if (!known.includes(b)) {
        throw new OptionError("--backends", `unknown backend "${b}": choose from ${known}`);
      }
    }
    if (!backends.length) throw new OptionError("--backends", "no backend given");
  } else {
    backends = ["wasm"];
    if (machine.openBlas) backends.push("blas");
    else notes.push("blas skipped: OpenBLAS did not load (apt-get install libopenblas0-pthread)");
    if (machine.oneDnn) backends.push("onednn");
    else notes.push("onednn skipped: oneDNN did not load (apt-get install libdnnl2)");
    if (machine.gpuAdapter?.hardware) backends.push("webgpu");
    else if (machine.gpuAdapter) {
      notes.push(
        `webgpu skipped: the only adapter is a software one (${machine.gpuAdapter.name}); ` +
          "ask for it with --backends webgpu",
      );
    }
  }

  // The machine's fp32 peak, as the % of peak columns use it: the faster sgemm,
  // timed at the start of this run and again at its end, the higher of the two
  // (a neighbour on the host can slow the machine for minutes).
  const peakAtStart = sgemmPeak();
  const torchScript = `${root}scripts/torch/bench.py`;
  const torchArgs = ["--threads", String(torchThreads), "--blas", torchBlas];
  let torch: TorchInfo | null = null;
  if (v.torch === false) notes.push("PyTorch skipped (--no-torch)");
  else {
    const info = await torchInfo(python, torchScript, torchArgs);
    if (typeof info === "string") notes.push(`PyTorch skipped: ${info}`);
    else torch = info;
  }

  const rows: BenchRow[] = [];
  const pytorch: Record<string, Measurement> = {};
  const progress = (what: string, m: Measurement) =>
    console.error(
      `  ${what.padEnd(18)} ${fmtStatus(m, budget).padStart(10)} s/iter  ${
        fmtBytes(m.peakRssBytes)
      }${m.message ? "  " + m.message.split("\n")[0].slice(0, 160) : ""}`,
    );
  console.error(
    `bench: ${configs.map((c) => c.name).join(", ")} on ${backends.join(", ")}` +
      `${torch ? " + PyTorch" : ""}; ${generator} + ${discriminator}, ngf ${ngf}, ndf ${ndf}, ` +
      `${warmup} warm-up + ` +
      `${iterations} timed iterations, budget ${budget} s`,
  );
  const common = [
    "--generator",
    generator,
    "--discriminator",
    discriminator,
    "--ngf",
    String(ngf),
    "--ndf",
    String(ndf),
    "--iterations",
    String(iterations),
    "--warmup",
    String(warmup),
    "--budget",
    String(budget),
  ];
  for (const c of configs) {
    const size = ["--image-size", String(c.imageSize), "--batch-size", String(c.batchSize)];
    const rounds = new Map<string, Measurement[]>();
    const record = (side: string, m: Measurement) => {
      const n = (rounds.get(side)?.length ?? 0) + 1;
      progress(`${c.name} ${side}${repeats > 1 ? ` (${n})` : ""}`, m);
      rounds.set(side, [...rounds.get(side) ?? [], m]);
    };
    const worker = `${root}scripts/bench_worker.ts`;
    for (let round = 0; round < repeats; round++) {
      for (const backend of backends) {
        record(
          backend,
          await measure(
            Deno.execPath(),
            ["run", "-A", worker, "--backend", backend, ...size, ...common],
            { batchSize: c.batchSize, budget, cwd: root },
          ),
        );
      }
      if (torch) {
        record(
          "pytorch",
          await measure(python, [torchScript, ...size, ...common, ...torchArgs], {
            batchSize: c.batchSize,
            budget,
            cwd: root,
          }),
        );
      }
    }
    const ours = backends.map((b) => [b, fastestRound(rounds.get(b) ?? [])] as const);
    const pt = torch ? fastestRound(rounds.get("pytorch") ?? []) : null;
    if (pt) pytorch[c.name] = pt;
    for (const [backend, m] of ours) {
      const ratio = m.secondsPerIteration !== null && pt?.secondsPerIteration
        ? m.secondsPerIteration / pt.secondsPerIteration
        : null;
      rows.push({
        config: c.name,
        imageSize: c.imageSize,
        batchSize: c.batchSize,
        backend,
        ...m,
        pytorch: pt,
        ratio,
      });
    }
  }

  const peakAtEnd = sgemmPeak();
  const peak = [peakAtStart, peakAtEnd].sort((p, q) => (q?.gflops ?? 0) - (p?.gflops ?? 0))[0];
  if (!peak) notes.push("no % of peak: neither oneDNN nor OpenBLAS loaded, so no sgemm to time");
  const header = [
    `DiscoGAN iteration (${generator} + ${discriminator}, ngf ${ngf}, ndf ${ndf}, dropout on): ` +
    `median of ${iterations} after ${warmup} warm-up${
      repeats > 1 ? `, the fastest of ${repeats} alternating rounds per side` : ""
    }; images/s = 2 x batch / s`,
    `CPU: ${machine.cpu}, ${machine.cores} cores, ${fmtBytes(machine.memoryBytes)}; ${machine.os}` +
    (machine.loadAverage === null
      ? ""
      : `; load average ${machine.loadAverage} at start, ${loadAverage()} at end`),
    `Deno ${machine.deno}, TF.js ${machine.tfjs}; GPU adapter: ${
      machine.gpuAdapter
        ? `${machine.gpuAdapter.name}${machine.gpuAdapter.hardware ? "" : " (software)"}`
        : "none"
    }`,
    `blas backend: ${
      machine.openBlas
        ? `${machine.openBlas.path} (${machine.openBlas.threads} threads; ${machine.openBlas.config})`
        : "OpenBLAS not loaded"
    }; onednn backend: ${
      machine.oneDnn ? `oneDNN ${machine.oneDnn.version} (${machine.oneDnn.path})` : "not loaded"
    }`,
    peak
      ? `fp32 peak: ${
        peak.gflops.toFixed(1)
      } GFLOP/s, the best of ${peak.repeats} ${peak.library} sgemm ` +
        `calls of ${peak.n}x${peak.n}x${peak.n} on all its threads (the faster of oneDNN's and ` +
        `OpenBLAS'; ${peakAtStart?.gflops.toFixed(1)} at the start of this run, ` +
        `${peakAtEnd?.gflops.toFixed(1)} at its end, the higher taken); % of peak counts the ` +
        `convolutions' FLOPs, as PyTorch runs them`
      : "fp32 peak: not measured",
    torch
      ? `PyTorch ${torch.torch} on ${torch.device}${
        torch.device === "cuda" ? ` (${torch.deviceName})` : `, ${torch.threads} threads`
      }; BLAS: ${torch.blas} [${torch.blasChoice}]; system libblas.so.3 -> ${
        machine.systemBlas ?? "none"
      }`
      : "PyTorch: –",
  ];
  const table = formatTable(rows, budget, peak?.gflops);
  const failures = rows.filter((r) => r.status !== "ok" && r.status !== "too slow")
    .map((r) => `${r.config} ${r.backend}: ${r.message}`)
    .concat(
      Object.entries(pytorch).filter(([, m]) => m.status !== "ok" && m.status !== "too slow")
        .map(([c, m]) => `${c} pytorch: ${m.message}`),
    );
  const out = (v.out as string | undefined) ?? `${root}runs/bench-${timestamp()}.json`;
  const dir = out.includes("/") ? out.slice(0, out.lastIndexOf("/")) : "";
  if (dir) await Deno.mkdir(dir, { recursive: true });
  const json = {
    date: new Date().toISOString(),
    args: Deno.args,
    settings: {
      configs: configs.map((c) => c.name),
      generator,
      discriminator,
      ngf,
      ndf,
      iterations,
      repeats,
      warmup,
      budget,
      backends,
      torchThreads,
      torchBlas,
    },
    machine: { ...machine, loadAverageAtEnd: loadAverage() },
    peak,
    peakAtStart,
    peakAtEnd,
    torch,
    notes,
    rows,
    pytorch,
    table,
  };
  await Deno.writeTextFile(out, JSON.stringify(json, null, 2) + "\n");
  console.log(["", ...header, "", table, ""].join("\n"));
  for (const n of [...notes, ...failures]) console.log(`note: ${n.split("\n").join(" / ")}`);
  console.log(`results: ${out}`);
}

if (import.meta.main) {
  try {
    await main();
    Deno.exit(0); // a backend probe (Vulkan, wasm) may keep the process alive
  } catch (e) {
    console.error(e instanceof OptionError ? `bench: ${e.message}` : e);
    Deno.exit(e instanceof OptionError ? 2 : 1);
  }
}
