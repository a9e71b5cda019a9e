/**
 * A run's report: `RUN_DIR/report.html`, one self-contained page (it opens
 * from disk, with no network): every loss term against the iteration, raw and
 * smoothed, the discriminator and generator terms side by side; seconds per
 * iteration and images/s; the sample grids, newest first, with a slider; the
 * options, the data, the checkpoints kept and any benchmark report of the run.
 * Charts are uPlot's, inlined with its stylesheet.
 * @module
 */
import { createRequire } from "node:module";
import { basename, join } from "node:path";
import { writeFileAtomic } from "../ops/formats/atomic_write.ts";
import { encodeBase64 } from "../ops/formats/base64.ts";
import { listCheckpoints } from "./checkpoint.ts";
import { readDataManifest } from "./data_manifest.ts";
import { readRunOptions, runDirPaths } from "./run_dir.ts";
import { sampleIteration, sampleName } from "./sinks/sample_sink.ts";
import { type MetricsLine, readMetrics } from "./sinks/metrics_sink.ts";

/** The metrics keys that are not loss terms. */
const NOT_LOSSES = new Set([
  "iteration",
  "epoch",
  "sec_per_iter",
  "images_per_sec",
  "skipped_images",
  "time",
  "skipped",
]);

/** The sample grids the report embeds at most (the newest). */
export const REPORT_MAX_GRIDS = 40;

/** What a report shows, read from a run directory. */
export interface ReportData {
  /** The run directory's name. */
  name: string;
  /** Iterations, and each numeric series by metrics key, one value per line of metrics.jsonl. */
  series: { iteration: number[]; [key: string]: number[] };
  /** The loss terms among the series: discriminator terms, generator terms. */
  losses: { d: string[]; g: string[] };
  /** Sample grids, newest first: iteration and PNG. */
  grids: { iteration: number; png: Uint8Array }[];
  /** The run's options. */
  options: Record<string, unknown>;
  /** Files per domain, when the run recorded them. */
  data?: { a: { root: string; count: number }; b: { root: string; count: number } };
  /** Images left out so far. */
  skippedImages: number;
  /** Checkpoint folder names kept. */
  checkpoints: string[];
  /** A learning benchmark's report.json found in the run directory or its parent. */
  benchmark?: unknown;
  /** The backend that trained, when the writer knows it (the run's own report sink does). */
  backend?: string;
}

/**
 * Reads what the report of run directory `root` shows.
 *
 * @example
 * ```ts
 * import { readReportData } from "./report.ts";
 * const data = await readReportData("runs/2026-11-28_061200");
 * console.log(data.series.iteration.length);
 * ```
 */
export async function readReportData(root: string): Promise<ReportData> {
  const run = runDirPaths(root);
  const metrics: MetricsLine[] = await readMetrics(run.metrics).catch(() => []);
  const keys = new Set<string>();
  for (const m of metrics) {
    for (const [k, v] of Object.entries(m)) if (typeof v === "number") keys.add(k);
  }
  const series: ReportData["series"] = { iteration: metrics.map((m) => m.iteration) };
  for (const k of keys) {
    if (k !== "iteration") series[k] = metrics.map((m) => (m[k] as number | undefined) ?? NaN);
  }
  const lossKeys = [...keys].filter((k) => !NOT_LOSSES.has(k));
  const grids: ReportData["grids"] = [];
  const names = await Array.fromAsync(Deno.readDir(run.samples)).catch(() => []);
  const found = names.map((e) => sampleIteration(e.name))
    .filter((i): i is number => i !== undefined)
    .sort((a, b) => b - a)
    .slice(0, REPORT_MAX_GRIDS);
  for (const iteration of found) {
    const png = await Deno.readFile(join(run.samples, sampleName(iteration))).catch(() =>
      undefined
    );
    if (png) grids.push({ iteration, png });
  }
  const options: Record<string, unknown> = { ...await readRunOptions(root).catch(() => ({})) };
  const manifest = await readDataManifest(root);
  const benchmark = await readJson(join(root, "report.json")) ??
    await readJson(join(root, "..", "report.json"));
  return {
    name: basename(root),
    series,
    losses: {
      d: lossKeys.filter((k) => k.startsWith("d")),
      g: lossKeys.filter((k) => !k.startsWith("d")),
    },
    grids,
    options,
    data: manifest && {
      a: { root: manifest.a.root, count: manifest.a.files.length },
      b: { root: manifest.b.root, count: manifest.b.files.length },
    },
    skippedImages: metrics.at(-1)?.skipped_images as number | undefined ?? 0,
    checkpoints: (await listCheckpoints(run.checkpoints)).map((p) => basename(p)),
    benchmark,
  };
}

async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch {
    return undefined;
  }
}

let uplotCache: Promise<{ js: string; css: string }> | undefined;

/**
 * uPlot's browser build and stylesheet (from the npm package), as pages inline them.
 *
 * @example
 * ```ts
 * import { uplotFiles } from "./report.ts";
 * const { js, css } = await uplotFiles();
 * console.log(js.includes("uPlot"), css.length > 0); // true true
 * ```
 */
export function uplotFiles(): Promise<{ js: string; css: string }> {
  uplotCache ??= (async () => {
    // The import makes Deno install the package; the page needs its files.
    await import("uplot");
    const require = createRequire(import.meta.url);
    const read = (file: string) => Deno.readTextFile(require.resolve(`uplot/dist/${file}`));
    return { js: await read("uPlot.iife.min.js"), css: await read("uPlot.min.css") };
  })();
  return uplotCache;
}

/**
 * The report of `data` as one HTML page.
 *
 * @example
 * ```ts
 * import { readReportData, reportHtml } from "./report.ts";
 * const html = await reportHtml(await readReportData("runs/2026-11-28_061200"));
 * console.log(html.startsWith("<!doctype html>")); // true
 * ```
 */
export async function reportHtml(
  data: ReportData,
  live?: { events: string; samples: string; total?: number },
): Promise<string> {
  const { js, css } = await uplotFiles();
  // A live page loads its grids from the server; a report carries them.
  const grids = data.grids.map((g) => ({
    iteration: g.iteration,
    src: live
      ? `${live.samples}${sampleName(g.iteration)}`
      : `data:image/png;base64,${encodeBase64(g.png)}`,
  }));
  const payload = { series: data.series, losses: data.losses, grids, live };
  const rows = (o: Record<string, unknown>) =>
    Object.entries(o).map(([k, v]) =>
      `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(show(v))}</td></tr>`
    )
      .join("");
  const last = data.series.iteration.at(-1) ?? 0;
  const dataRows: Record<string, unknown> = data.data
    ? {
      "domain A": `${data.data.a.count} images in ${data.data.a.root}`,
      "domain B": `${data.data.b.count} images in ${data.data.b.root}`,
      "skipped images": data.skippedImages,
    }
    : { "skipped images": data.skippedImages };
  if (data.backend) dataRows.backend = data.backend;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>${escapeHtml(data.name)}: DiscoGAN run report</title>
<style>${css}
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
.charts{display:flex;flex-wrap:wrap;gap:1em}
table{border-collapse:collapse}th,td{text-align:left;padding:2px 8px;border-bottom:1px solid #eee;vertical-align:top}
#grid img{max-width:100%;image-rendering:pixelated;border:1px solid #ccc}
pre{background:#f6f6f6;padding:.6em;overflow:auto;max-height:30em}
</style></head><body>
<h1>${escapeHtml(data.name)}</h1>
<p>${data.series.iteration.length} iterations logged (last: ${last}); generated ${
    escapeHtml(new Date().toISOString())
  }.${live ? ' Live: <span id="live">waiting for the next iteration</span>.' : ""}</p>
<h2>Losses</h2>
<p>Thin lines: every iteration; thick: a debiased exponential moving average (TensorBoard's
smoothing, weight 1 - 10 / iterations logged, from 0.6 to 0.98).</p>
<div class="charts"><div id="chart-d"></div><div id="chart-g"></div></div>
<h2>Speed</h2>
<div class="charts"><div id="chart-speed"></div><div id="chart-images"></div></div>
<h2>Sample grids</h2>
<p id="grid-caption"></p>
<input id="grid-slider" type="range" min="0" max="${Math.max(0, grids.length - 1)}" value="0">
<div id="grid"></div>
<h2>Data</h2><table>${rows(dataRows)}</table>
<h2>Checkpoints kept</h2><p>${escapeHtml(data.checkpoints.join(", ") || "none yet")}</p>
<h2>Options</h2><table>${rows(data.options)}</table>
${
    data.benchmark === undefined
      ? ""
      : `<h2>Benchmark report</h2><pre>${escapeHtml(JSON.stringify(data.benchmark, null, 2))}</pre>`
  }
<script>${js}</script>
<script>
const DATA = ${JSON.stringify(payload).replace(/</g, "\\u003c")};
${PAGE_SCRIPT}
</script>
</body></html>
`;
}

// The page's own script: charts, the grid slider and, on a live page, the
// updates of the run's event stream. Plain browser JavaScript, so the page
// needs nothing but itself.
const PAGE_SCRIPT = `
const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"];
// TensorBoard's smoothing: an exponential moving average, debiased so that it
// starts at the first values instead of lagging from 0.
function smooth(values, weight) {
  let ema = 0, n = 0;
  return values.map((v) => {
    if (!Number.isFinite(v)) return null;
    ema = weight * ema + (1 - weight) * v;
    n++;
    return ema / (1 - Math.pow(weight, n));
  });
}
// Heavier smoothing for longer runs: about the last 1/10 of the run, between 0.6 and 0.98.
const weight = () => Math.min(0.98, Math.max(0.6, 1 - 10 / DATA.series.iteration.length));
const charts = [];
function columnsOf(c) {
  const columns = [DATA.series.iteration];
  for (const k of c.keys) {
    const values = DATA.series[k] || [];
    columns.push(values.map((v) => (Number.isFinite(v) ? v : null)));
    if (c.smoothed) columns.push(smooth(values, weight()));
  }
  return columns;
}
function chart(id, title, keys, smoothed) {
  const series = [{ label: "iteration" }];
  keys.forEach((k, i) => {
    const colour = COLOURS[i % COLOURS.length];
    series.push({ label: k, stroke: colour, width: smoothed ? 0.6 : 1.5, alpha: smoothed ? 0.35 : 1 });
    if (smoothed) series.push({ label: k + " (smoothed)", stroke: colour, width: 2 });
  });
  const el = document.getElementById(id);
  const c = { el, keys, smoothed };
  c.plot = new uPlot({ title, width: 560, height: 300, series, scales: { x: { time: false } } }, columnsOf(c), el);
  el.dataset.points = String(DATA.series.iteration.length);
  charts.push(c);
}
chart("chart-d", "discriminator", DATA.losses.d, true);
chart("chart-g", "generator", DATA.losses.g, true);
chart("chart-speed", "seconds per iteration", ["sec_per_iter"], false);
chart("chart-images", "images per second", ["images_per_sec"], false);
const slider = document.getElementById("grid-slider");
const holder = document.getElementById("grid");
const caption = document.getElementById("grid-caption");
function addGrid(g, first) {
  const img = new Image();
  img.src = g.src;
  img.alt = "sample grid at iteration " + g.iteration;
  img.dataset.iteration = String(g.iteration);
  if (first) holder.prepend(img); else holder.appendChild(img);
}
function showGrid(i) {
  [...holder.children].forEach((img, k) => (img.hidden = k !== i));
  const g = DATA.grids[i];
  slider.max = String(Math.max(0, DATA.grids.length - 1));
  caption.textContent = g
    ? "iteration " + g.iteration + " (" + (i + 1) + " of " + DATA.grids.length + ", newest first); rows: held-out images; columns: A, G_AB(A), G_BA(G_AB(A)) | B, G_BA(B), G_AB(G_BA(B))"
    : "no sample grid yet";
}
DATA.grids.forEach((g) => addGrid(g, false));
slider.addEventListener("input", () => showGrid(Number(slider.value)));
showGrid(0);
if (DATA.live) {
  // A record per iteration, a sample per new grid: appended, and the charts redrawn.
  const events = new EventSource(DATA.live.events);
  const status = document.getElementById("live");
  events.addEventListener("record", (e) => {
    const m = JSON.parse(e.data);
    const n = DATA.series.iteration.length;
    for (const [k, v] of Object.entries(m)) {
      if (typeof v !== "number") continue;
      if (!DATA.series[k]) DATA.series[k] = new Array(n).fill(NaN);
      DATA.series[k].push(v);
    }
    for (const k of Object.keys(DATA.series)) {
      if (DATA.series[k].length === n) DATA.series[k].push(NaN);
    }
    for (const c of charts) {
      c.plot.setData(columnsOf(c));
      c.el.dataset.points = String(DATA.series.iteration.length);
    }
    const total = DATA.live.total;
    const left = total ? (total - m.iteration) * (m.sec_per_iter || 0) : 0;
    status.textContent = "iteration " + m.iteration + (total ? " of " + total + ", about " + Math.round(left) + " s left" : "");
  });
  events.addEventListener("sample", (e) => {
    const g = JSON.parse(e.data);
    DATA.grids.unshift(g);
    addGrid(g, true);
    slider.value = "0";
    showGrid(0);
  });
  events.addEventListener("end", () => { status.textContent += " (finished)"; events.close(); });
}
`;

function show(v: unknown): string {
  return typeof v === "string" ? v : JSON.stringify(v);
}

/**
 * `s` with the characters HTML gives meaning to (`& < > " '`) escaped.
 *
 * @example
 * ```ts
 * import { escapeHtml } from "./report.ts";
 * console.log(escapeHtml("<a>")); // "&#60;a&#62;"
 * ```
 */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Writes `RUN_DIR/report.html` (atomically) and returns its path; `backend`,
 * when given, is shown as the backend that trained.
 *
 * @example
 * ```ts
 * import { writeReport } from "./report.ts";
 * console.log(await writeReport("runs/2026-11-28_061200")); // runs/2026-11-28_061200/report.html
 * ```
 */
export async function writeReport(root: string, backend?: string): Promise<string> {
  const path = join(root, "report.html");
  await writeFileAtomic(path, await reportHtml({ ...await readReportData(root), backend }));
  return path;
}
