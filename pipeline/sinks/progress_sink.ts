/**
 * A console progress bar with losses, rate and time left.
 * @module
 */
import type { IterationRecord, Sink } from "../record.ts";

/**
 * Formats seconds as `1h02m`, `3m05s` or `42s`.
 *
 * @example
 * ```ts
 * import { formatDuration } from "./progress_sink.ts";
 * console.log(formatDuration(185), formatDuration(3720)); // "3m05s" "1h02m"
 * ```
 */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.round(seconds);
  if (s >= 3600) {
    return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, "0")}m`;
  }
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}

/**
 * The progress line for a record, e.g. `[=====>    ] 120/2000 ... ETA 16m20s`.
 *
 * @example
 * ```ts
 * import { progressLine } from "./progress_sink.ts";
 * import type { IterationRecord } from "../record.ts";
 * declare const r: IterationRecord;
 * console.error(progressLine(r, 2000, 0.7));
 * ```
 */
export function progressLine(r: IterationRecord, total: number, secPerIter: number): string {
  const width = 24;
  const done = Math.min(width, Math.floor((r.iteration / total) * width));
  const bar = "=".repeat(done) + (done < width ? ">" : "") +
    " ".repeat(Math.max(0, width - done - 1));
  const l = r.losses;
  return `[${bar}] ${r.iteration}/${total} ep ${r.epoch} | D ${l.d.toFixed(3)} G ${
    l.g.toFixed(3)
  } ` +
    `(gan ${l.g_gan.toFixed(3)} cyc ${l.g_cycle.toFixed(3)}) | ${secPerIter.toFixed(2)} s/it ` +
    `${r.imagesPerSecond.toFixed(1)} img/s | ETA ${
      formatDuration((total - r.iteration) * secPerIter)
    }`;
}

/**
 * Prints progress to stderr: one line redrawn in place on a terminal, else a
 * line every `every` iterations (and the last).
 *
 * @example
 * ```ts
 * import { progressSink } from "./progress_sink.ts";
 * const sink = progressSink(2000);
 * ```
 */
export function progressSink(total: number, options: { every?: number } = {}): Sink {
  const tty = Deno.stderr.isTerminal();
  const every = options.every ?? Math.max(1, Math.round(total / 100));
  const encoder = new TextEncoder();
  let smoothed = 0;
  return {
    write(r) {
      // Exponential average of seconds per iteration: a steady ETA.
      smoothed = smoothed === 0
        ? r.secondsPerIteration
        : 0.9 * smoothed + 0.1 * r.secondsPerIteration;
      const line = progressLine(r, total, smoothed);
      if (tty) Deno.stderr.writeSync(encoder.encode(`\r\x1b[2K${line}`));
      else if (r.iteration % every === 0 || r.iteration === total) console.error(line);
    },
    close() {
      if (tty) Deno.stderr.writeSync(encoder.encode("\n"));
    },
  };
}
