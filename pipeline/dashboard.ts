/**
 * The live dashboard: a read-only web server (127.0.0.1 unless told
 * otherwise) over one folder of runs, or over the run being trained.
 *
 * - `/`: every run with its state (running, finished, stopped), last losses
 *   and progress, and their generator and discriminator losses overlaid.
 * - `/run/NAME/`: the run's report page, live: each iteration arrives as a
 *   Server-Sent Event (`/run/NAME/events`) and is appended to the charts; each
 *   new sample grid is shown as it is written (`/run/NAME/samples/iter_….png`).
 *
 * The run being trained publishes its records here straight from the loss
 * stream ({@link Dashboard.publish}); a run of another process is followed
 * through file-system events on its `metrics.jsonl` and `samples/`. Nothing
 * else is served: a name is looked up among the runs, a file name must be a
 * sample grid's, and its real path must lie in that run's `samples/`; anything
 * else is a 404. Publishing never waits on a client: a client that falls
 * behind is dropped.
 * @module
 */
import { basename, dirname, join, resolve } from "node:path";
import { readMetrics } from "./sinks/metrics_sink.ts";
import { escapeHtml, readReportData, reportHtml, uplotFiles } from "./report.ts";
import { readRunOptions } from "./run_dir.ts";
import { readLockHolder } from "./run_lock.ts";
import { type LocalServerOptions, serveLocal } from "./local_server.ts";
import { sampleIteration, sampleName } from "./sinks/sample_sink.ts";

/** Where and how to serve (port 0: any free one; host: 127.0.0.1 unless given). */
export type DashboardOptions = LocalServerOptions;

/** A running dashboard. */
export interface Dashboard {
  /** The address it serves, e.g. `http://127.0.0.1:8080/`. */
  readonly url: string;
  /** Serves run directory `root` too (the run being trained); `total`: its iteration count. */
  addRun(root: string, total?: number): void;
  /** Sends one iteration's metrics line (as in metrics.jsonl) to the run's live pages. */
  publish(root: string, line: Record<string, unknown>): void;
  /** Tells the run's live pages of a new sample grid at `iteration`. */
  sample(root: string, iteration: number): void;
  /** Tells the run's live pages that the run has stopped. */
  end(root: string): void;
  /** Stops serving. */
  close(): Promise<void>;
}

/** One run the dashboard knows. */
interface RunEntry {
  root: string;
  total?: number;
  clients: Set<ReadableStreamDefaultController<Uint8Array>>;
  /** Published by the trainer itself (no file watching needed). */
  live: boolean;
  watcher?: { close(): void };
  ended: boolean;
}

// Events a client may have queued before it is dropped as too slow.
const MAX_QUEUED = 256;

/**
 * Starts a dashboard over `runsDir` (each subfolder with an `options.json` is
 * a run, and so is `runsDir` itself if it has one), or over no folder (then
 * only runs added with {@link Dashboard.addRun}).
 *
 * @example
 * ```ts
 * import { startDashboard } from "./dashboard.ts";
 * const dashboard = await startDashboard(await Deno.makeTempDir(), { port: 0 });
 * console.log((await fetch(dashboard.url)).status); // 200
 * await dashboard.close();
 * ```
 */
export async function startDashboard(
  runsDir: string | undefined,
  options: DashboardOptions,
): Promise<Dashboard> {
  const runs = new Map<string, RunEntry>();
  const encoder = new TextEncoder();

  const discover = async () => {
    if (!runsDir) return;
    const candidates = [runsDir];
    for await (const e of Deno.readDir(runsDir)) {
      if (e.isDirectory) candidates.push(join(runsDir, e.name));
    }
    for (const root of candidates) {
      const name = runName(root);
      if (runs.has(name)) continue;
      const isRun = await Deno.stat(join(root, "options.json")).then(() => true, () => false);
      if (isRun) runs.set(name, { root, clients: new Set(), live: false, ended: false });
    }
  };

  const send = (entry: RunEntry, event: string, data: unknown) => {
    const bytes = encoder.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    for (const c of entry.clients) {
      try {
        if ((c.desiredSize ?? 0) < -MAX_QUEUED) throw new Error("client too slow");
        c.enqueue(bytes);
      } catch {
        entry.clients.delete(c); // gone or too slow: dropped, the run goes on
        try {
          c.close();
        } catch {
          // already closed
        }
      }
    }
  };
  const sampleEvent = (entry: RunEntry, iteration: number) => ({
    iteration,
    src: `/run/${encodeURIComponent(runName(entry.root))}/samples/${sampleName(iteration)}`,
  });

  // A run of another process: follow its files while someone is watching.
  const follow = async (entry: RunEntry) => {
    if (entry.live || entry.watcher) return;
    const metricsPath = join(entry.root, "metrics.jsonl");
    let offset = await Deno.stat(metricsPath).then((s) => s.size, () => 0);
    let pending = "";
    const watcher = Deno.watchFs(entry.root, { recursive: true });
    entry.watcher = watcher;
    (async () => {
      for await (const event of watcher) {
        for (const path of event.paths) {
          if (path === resolve(metricsPath) || path === metricsPath) {
            const file = await Deno.open(metricsPath).catch(() => undefined);
            if (!file) continue;
            try {
              await file.seek(offset, Deno.SeekMode.Start);
              const buf = new Uint8Array(1 << 16);
              for (let n; (n = await file.read(buf)) !== null;) {
                offset += n;
                pending += new TextDecoder().decode(buf.subarray(0, n));
              }
            } finally {
              file.close();
            }
            const lines = pending.split("\n");
            pending = lines.pop() ?? "";
            for (const line of lines) {
              try {
                if (line.trim()) send(entry, "record", JSON.parse(line));
              } catch {
                // a torn line: skipped
              }
            }
          } else if (event.kind === "rename" || event.kind === "create") {
            const iteration = sampleIteration(basename(path));
            if (iteration !== undefined && basename(dirname(path)) === "samples") {
              send(entry, "sample", sampleEvent(entry, iteration));
            }
          }
        }
      }
    })().catch(() => {});
  };
  const unfollow = (entry: RunEntry) => {
    if (entry.clients.size === 0 && entry.watcher) {
      entry.watcher.close();
      entry.watcher = undefined;
    }
  };

  const page = (body: string, type = "text/html; charset=utf-8", status = 200) =>
    new Response(body, { status, headers: { "content-type": type, "cache-control": "no-store" } });
  const notFound = () => page("not found\n", "text/plain", 404);

  const handle = async (req: Request): Promise<Response> => {
    if (req.method !== "GET") return page("read-only\n", "text/plain", 405);
    const segments = new URL(req.url).pathname.split("/").slice(1);
    let parts: string[];
    try {
      parts = segments.map(decodeURIComponent);
    } catch {
      return notFound();
    }
    if (parts.some((p) => p === "." || p === ".." || p.includes("/") || p.includes("\\"))) {
      return notFound();
    }
    // The folder is read again for the index and for a name not seen yet (a
    // run started since), not for every image and event request.
    if (parts.length === 1 && parts[0] === "") {
      await discover();
      return page(await indexHtml(runs));
    }
    if (parts.length === 2 && parts[0] === "api" && parts[1] === "runs") {
      await discover();
      return page(JSON.stringify(await runSummaries(runs)), "application/json");
    }
    const name = parts[0] === "run" ? parts[1] ?? "" : undefined;
    if (name !== undefined && !runs.has(name)) await discover();
    const entry = name === undefined ? undefined : runs.get(name);
    if (!entry) return notFound();
    const base = `/run/${encodeURIComponent(parts[1])}/`;
    if (parts.length === 3 && parts[2] === "") {
      const data = await readReportData(entry.root);
      const total = entry.total ?? (data.options.iterations as number | undefined);
      return page(
        await reportHtml(data, { events: `${base}events`, samples: `${base}samples/`, total }),
      );
    }
    if (parts.length === 3 && parts[2] === "events") {
      let controller!: ReadableStreamDefaultController<Uint8Array>;
      const stream = new ReadableStream<Uint8Array>({
        start(c) {
          controller = c;
          entry.clients.add(c);
          c.enqueue(encoder.encode(": connected\n\n"));
          if (entry.ended) c.enqueue(encoder.encode("event: end\ndata: {}\n\n"));
        },
        cancel() {
          entry.clients.delete(controller);
          unfollow(entry);
        },
      });
      await follow(entry);
      return new Response(stream, {
        headers: { "content-type": "text/event-stream", "cache-control": "no-store" },
      });
    }
    if (parts.length === 4 && parts[2] === "samples" && sampleIteration(parts[3]) !== undefined) {
      const dir = join(entry.root, "samples");
      try {
        const [real, realDir] = await Promise.all([
          Deno.realPath(join(dir, parts[3])),
          Deno.realPath(dir),
        ]);
        // A link out of the run's samples/ is not followed.
        if (!real.startsWith(realDir + "/")) return notFound();
        return new Response(await Deno.readFile(real), {
          headers: { "content-type": "image/png", "cache-control": "no-store" },
        });
      } catch {
        return notFound();
      }
    }
    return notFound();
  };

  // The runs there now (a missing folder fails here, before anything is served).
  await discover();
  const server = serveLocal(handle, options);
  const byRoot = (root: string) =>
    [...runs.values()].find((r) => resolve(r.root) === resolve(root));
  return {
    url: server.url,
    addRun(root, total) {
      runs.set(runName(root), { root, total, clients: new Set(), live: true, ended: false });
    },
    publish(root, line) {
      const entry = byRoot(root);
      if (entry?.clients.size) send(entry, "record", line);
    },
    sample(root, iteration) {
      const entry = byRoot(root);
      if (entry?.clients.size) send(entry, "sample", sampleEvent(entry, iteration));
    },
    end(root) {
      const entry = byRoot(root);
      if (!entry) return;
      entry.ended = true;
      send(entry, "end", {});
    },
    async close() {
      for (const entry of runs.values()) {
        entry.watcher?.close();
        for (const c of entry.clients) {
          try {
            c.close();
          } catch {
            // already closed
          }
        }
        entry.clients.clear();
      }
      await server.close();
    },
  };
}

/**
 * The name a run directory has on the dashboard (its folder's name).
 *
 * @example
 * ```ts
 * import { runName } from "./dashboard.ts";
 * console.log(runName("runs/2026-11-28_061200/")); // "2026-11-28_061200"
 * ```
 */
export function runName(root: string): string {
  return basename(resolve(root));
}

/** A run as the index lists it. */
export interface RunSummary {
  /** Folder name. */
  name: string;
  /** running (a live process holds its lock), finished (reached its iterations) or stopped. */
  state: "running" | "finished" | "stopped";
  /** Last iteration logged. */
  iteration: number;
  /** Iterations the run was asked for, when known. */
  total?: number;
  /** The last metrics line's losses. */
  last: Record<string, number>;
  /** Iterations and the d and g losses, for the overlay. */
  curve: { iteration: number[]; d: number[]; g: number[] };
}

async function runSummaries(runs: Map<string, RunEntry>): Promise<RunSummary[]> {
  const out: RunSummary[] = [];
  for (const [name, entry] of runs) {
    const metrics = await readMetrics(join(entry.root, "metrics.jsonl")).catch(() => []);
    const options = await readRunOptions(entry.root).catch(() => undefined);
    const total = entry.total ?? options?.iterations;
    const lastLine: Record<string, unknown> = metrics.at(-1) ?? {};
    const iteration = (lastLine.iteration as number | undefined) ?? 0;
    const last: Record<string, number> = {};
    for (const [k, v] of Object.entries(lastLine)) {
      if (typeof v === "number" && /^(d|g)(_|$)/.test(k)) last[k] = v;
    }
    const running = entry.live ? !entry.ended : await lockHeld(entry.root);
    out.push({
      name,
      state: running
        ? "running"
        : total !== undefined && iteration >= total
        ? "finished"
        : "stopped",
      iteration,
      total,
      last,
      curve: {
        iteration: metrics.map((m) => m.iteration),
        d: metrics.map((m) => (m.d as number | undefined) ?? NaN),
        g: metrics.map((m) => (m.g as number | undefined) ?? NaN),
      },
    });
  }
  return out;
}

// Whether the run's lock note names a live process of this machine (the
// dashboard reads the note; it never takes the lock).
async function lockHeld(root: string): Promise<boolean> {
  const holder = await readLockHolder(root);
  if (!holder?.pid || holder.host !== Deno.hostname()) return false;
  return await Deno.stat(`/proc/${holder.pid}`).then(() => true, () => false);
}

async function indexHtml(runs: Map<string, RunEntry>): Promise<string> {
  const summaries = await runSummaries(runs);
  const esc = escapeHtml;
  const rows = summaries.map((r) =>
    `<tr data-run="${esc(r.name)}"><td><a href="/run/${encodeURIComponent(r.name)}/">${
      esc(r.name)
    }</a></td><td>${r.state}</td><td>${r.iteration}${r.total ? ` / ${r.total}` : ""}</td><td>${
      esc(Object.entries(r.last).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(", "))
    }</td></tr>`
  ).join("\n");
  const { js, css } = await uplotFiles();
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>DiscoGAN runs</title>
<style>${css}
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse}th,td{text-align:left;padding:3px 10px;border-bottom:1px solid #eee}
</style></head><body>
<h1>Runs</h1>
<table id="runs"><tr><th>run</th><th>state</th><th>iteration</th><th>last losses</th></tr>
${rows}
</table>
<h2>Losses of every run</h2>
<div id="overlay-g"></div><div id="overlay-d"></div>
<script>${js}</script>
<script>
const RUNS = ${
    JSON.stringify(summaries.map((r) => ({ name: r.name, curve: r.curve }))).replace(
      /</g,
      "\\u003c",
    )
  };
const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"];
function overlay(id, key) {
  if (!RUNS.length) return;
  const data = uPlot.join(RUNS.map((r) => [r.curve.iteration, r.curve[key].map((v) => (Number.isFinite(v) ? v : null))]));
  const series = [{ label: "iteration" }].concat(RUNS.map((r, i) => ({ label: r.name, stroke: COLOURS[i % COLOURS.length], spanGaps: true })));
  new uPlot({ title: key, width: 900, height: 300, series, scales: { x: { time: false } } }, data, document.getElementById(id));
}
overlay("overlay-g", "g");
overlay("overlay-d", "d");
</script></body></html>
`;
}
