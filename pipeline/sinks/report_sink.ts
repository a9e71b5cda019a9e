/**
 * Keeps `RUN_DIR/report.html` current: rewritten at every checkpoint and when
 * the run stops (see `pipeline/report.ts`). It comes after the checkpoint sink,
 * so a report lists the checkpoint just written.
 * @module
 */
import { writeReport } from "../report.ts";
import type { IterationRecord, Sink } from "../record.ts";

/**
 * A sink writing the report of run directory `root` every `every` iterations
 * (0: only at the end) and at the end; `backend` is shown as the one that
 * trained. A report that cannot be written is a warning to `log`, not an error.
 *
 * @example
 * ```ts
 * import { reportSink } from "./report_sink.ts";
 * const sink = reportSink(await Deno.makeTempDir(), 500);
 * await sink.close?.(undefined); // writes report.html
 * ```
 */
export function reportSink(
  root: string,
  every: number,
  backend?: string,
  log: (message: string) => void = (m) => console.error(m),
): Sink {
  // A report is a view of what the run wrote: failing to write one (a full
  // disk) is reported and never stops the run or hides the run's own error.
  const write = async () => {
    try {
      await writeReport(root, backend);
    } catch (e) {
      log(`warning: report not written: ${(e as Error).message}`);
    }
  };
  return {
    async write(r: IterationRecord) {
      if (every > 0 && r.iteration % every === 0) await write();
    },
    async close() {
      await write();
    },
  };
}
