/**
 * The run's `metrics.jsonl`: one JSON line per iteration.
 * @module
 */
import { dirname } from "node:path";
import { writeFileAtomic } from "../../ops/formats/atomic_write.ts";
import type { IterationRecord, Sink } from "../record.ts";

/** One line of `metrics.jsonl`. */
export interface MetricsLine {
  /** Iterations completed. */
  iteration: number;
  /** Epoch. */
  epoch: number;
  /** Seconds this iteration took. */
  sec_per_iter: number;
  /** Images per second. */
  images_per_sec: number;
  /** When it was written (ISO 8601). */
  time: string;
  /** True when the batch was skipped for a non-finite loss (losses are then null). */
  skipped?: boolean;
  /** Every loss term by name (d, d_a, d_b, g, g_gan, g_cycle, g_pixelwise, g_identity). */
  [loss: string]: number | string | boolean | undefined;
}

/**
 * Reads `metrics.jsonl`, keeping whole lines of iterations up to `upTo`:
 * a line torn by a kill, or lines past the checkpoint a run resumes from, are
 * dropped so the resumed run's lines follow without gaps or duplicates.
 *
 * @example
 * ```ts
 * import { readMetrics } from "./metrics_sink.ts";
 * const lines = await readMetrics("runs/example/metrics.jsonl");
 * console.log(lines.at(-1)?.g);
 * ```
 */
export async function readMetrics(path: string, upTo = Infinity): Promise<MetricsLine[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  const lines: MetricsLine[] = [];
  for (const raw of text.split("\n")) {
    if (!raw.trim()) continue;
    try {
      const line = JSON.parse(raw) as MetricsLine;
      const last = lines.at(-1)?.iteration ?? 0;
      if (Number.isInteger(line.iteration) && line.iteration > last && line.iteration <= upTo) {
        lines.push(line);
      }
    } catch {
      // a torn last line
    }
  }
  return lines;
}

/**
 * Appends each record to `path`, with the fields `extra` returns at that
 * moment. Opening first rewrites the file (atomically) without lines past
 * `resumeFrom`, so a resumed run continues it cleanly.
 *
 * @example
 * ```ts
 * import { metricsSink } from "./metrics_sink.ts";
 * const sink = await metricsSink("/tmp/metrics.jsonl", 0);
 * await sink.write({
 *   iteration: 1, epoch: 0, secondsPerIteration: 1.5, imagesPerSecond: 2.7,
 *   losses: { d: 0.69, d_a: 0.69, d_b: 0.69, g: 4.5, g_gan: 0.7, g_cycle: 0.35 },
 * });
 * ```
 */
export async function metricsSink(
  path: string,
  resumeFrom: number,
  extra: () => Record<string, number> = () => ({}),
): Promise<Sink> {
  await Deno.mkdir(dirname(path), { recursive: true });
  const kept = await readMetrics(path, resumeFrom);
  await writeFileAtomic(path, kept.map((l) => JSON.stringify(l) + "\n").join(""));
  const file = await Deno.open(path, { append: true, create: true });
  const encoder = new TextEncoder();
  return {
    async write(r: IterationRecord) {
      const line: MetricsLine = {
        iteration: r.iteration,
        epoch: r.epoch,
        ...r.losses,
        sec_per_iter: round(r.secondsPerIteration),
        images_per_sec: round(r.imagesPerSecond),
        ...extra(),
        time: new Date().toISOString(),
      };
      // One write of one whole line: a kill can tear at most this line.
      const bytes = encoder.encode(JSON.stringify(line) + "\n");
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
    },
    async close() {
      await file.sync().catch(() => {});
      file.close();
    },
  };
}

function round(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}
