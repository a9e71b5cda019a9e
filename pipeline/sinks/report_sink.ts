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
 * (0: only at the end) and at the end; `backend` is shown as the one that trained.
 *
 * @example
 * ```ts
 * import { reportSink } from "./report_sink.ts";
 * const sink = reportSink(await Deno.makeTempDir(), 500);
 * await sink.close?.(undefined); // writes report.html
 * ```
 */
export function reportSink(root: string, every: number, backend?: string): Sink {
  return {
    async write(r: IterationRecord) {
      if (every > 0 && r.iteration % every === 0) await writeReport(root, backend);
    },
    async close() {
      await writeReport(root, backend);
    },
  };
}
