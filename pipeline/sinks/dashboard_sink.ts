/**
 * The live dashboard of the run being trained (`--dashboard PORT`): starts a
 * dashboard server (pipeline/dashboard.ts) for the run and feeds it each
 * record of the loss stream and each new sample grid. A dashboard that cannot
 * start (the port is taken) is reported and left out; one that fails later
 * never stops or slows the run: publishing only queues bytes for clients.
 * @module
 */
import { type Dashboard, runName, startDashboard } from "../dashboard.ts";
import type { IterationRecord, Sink } from "../record.ts";

/** Where the dashboard serves and what it serves. */
export interface DashboardSinkOptions {
  /** The run directory. */
  root: string;
  /** TCP port (0: a free one). */
  port: number;
  /** Address to bind (127.0.0.1 unless told otherwise). */
  host: string;
  /** Iterations the run is to reach, for the progress and ETA. */
  total: number;
  /** Iterations between sample grids (as the sample sink writes them; 0: none). */
  sampleEvery: number;
  /** Where to say the address, or why there is no dashboard. */
  log: (message: string) => void;
}

/**
 * A sink serving the run's live dashboard; undefined when the server cannot
 * start (the reason goes to `log`; the run goes on).
 *
 * @example
 * ```ts
 * import { dashboardSink } from "./dashboard_sink.ts";
 * const sink = await dashboardSink({
 *   root: await Deno.makeTempDir(), port: 0, host: "127.0.0.1", total: 10, sampleEvery: 5,
 *   log: console.log,
 * });
 * await sink?.close?.(undefined);
 * ```
 */
export async function dashboardSink(o: DashboardSinkOptions): Promise<Sink | undefined> {
  let dashboard: Dashboard;
  try {
    dashboard = await startDashboard(undefined, { port: o.port, host: o.host });
  } catch (e) {
    o.log(`dashboard: not started (${(e as Error).message}); training goes on without it`);
    return undefined;
  }
  dashboard.addRun(o.root, o.total);
  o.log(`dashboard: ${dashboard.url}run/${encodeURIComponent(runName(o.root))}/`);
  let lastGrid = -1;
  const grid = (iteration: number) => {
    if (iteration === lastGrid) return;
    lastGrid = iteration;
    dashboard.sample(o.root, iteration);
  };
  return {
    write(r: IterationRecord) {
      // The metrics.jsonl line of this record, as the page reads the file's.
      dashboard.publish(o.root, {
        iteration: r.iteration,
        epoch: r.epoch,
        ...r.losses,
        sec_per_iter: r.secondsPerIteration,
        images_per_sec: r.imagesPerSecond,
      });
      if (o.sampleEvery > 0 && r.iteration % o.sampleEvery === 0) grid(r.iteration);
    },
    async close(last) {
      // The sample sink writes a last grid as it closes, before this one.
      if (last && o.sampleEvery > 0) grid(last.iteration);
      dashboard.end(o.root);
      await dashboard.close();
    },
  };
}
