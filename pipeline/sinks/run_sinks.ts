/**
 * The sinks every `train` run writes its run directory with, in order. A new
 * built-in sink is its own file plus one entry here.
 * @module
 */
import { type Tensor4D, tf } from "../../ops/tf.ts";
import type { TrainOptions } from "../options.ts";
import type { Sink } from "../record.ts";
import type { RunDir } from "../run_dir.ts";
import type { TrainingState } from "../training_state.ts";
import { checkpointSink } from "./checkpoint_sink.ts";
import { metricsSink } from "./metrics_sink.ts";
import { progressSink } from "./progress_sink.ts";
import { sampleSink } from "./sample_sink.ts";
import { tensorboardSink } from "./tensorboard_sink.ts";
import { reportSink } from "./report_sink.ts";
import { dashboardSink } from "./dashboard_sink.ts";
import { join } from "node:path";

/** What a run's sinks are made from. */
export interface RunContext {
  /** The run directory's paths. */
  run: RunDir;
  /** The run's options, resolved. */
  options: TrainOptions;
  /** The networks and optimizers being trained. */
  state: TrainingState;
  /** The iteration count the run is to reach. */
  totalIterations: number;
  /** The fixed images of the sample grids, A and B. */
  sampleImages: { realA: Tensor4D; realB: Tensor4D };
  /** No progress bar. */
  quiet: boolean;
  /** Images the data source has left out so far. */
  skippedImages: () => number;
  /** Messages for the user (e.g. the dashboard's address). Default: standard error. */
  log?: (message: string) => void;
}

/** Makes one sink for a run, or none (undefined) when the run does not want it. */
export type RunSinkFactory = (context: RunContext) => Sink | undefined | Promise<Sink | undefined>;

/**
 * The built-in sinks, in the order each record reaches them: metrics (one
 * JSONL line), sample grids, TensorBoard (with `--tensorboard`; after the
 * grids, which it logs), checkpoints, the HTML report (at each checkpoint and
 * at the end), the live dashboard (with `--dashboard PORT`), the progress bar.
 *
 * @example
 * ```ts
 * import { RUN_SINKS } from "./run_sinks.ts";
 * console.log(RUN_SINKS.length); // 7
 * ```
 */
export const RUN_SINKS: readonly RunSinkFactory[] = [
  (c) =>
    metricsSink(c.run.metrics, c.state.iteration, () => ({ skipped_images: c.skippedImages() })),
  (c) =>
    sampleSink(
      c.run.samples,
      c.state.models,
      c.sampleImages.realA,
      c.sampleImages.realB,
      c.options.sampleEvery,
    ),
  (c) =>
    c.options.tensorboard
      ? tensorboardSink(join(c.run.root, "tb"), c.options, c.run.samples)
      : undefined,
  (c) =>
    checkpointSink(c.run.checkpoints, c.state, {
      every: c.options.checkpointEvery,
      keep: c.options.keepCheckpoints,
    }),
  (c) => reportSink(c.run.root, c.options.checkpointEvery, tf.getBackend(), c.log),
  (c) =>
    c.options.dashboard > 0
      ? dashboardSink({
        root: c.run.root,
        port: c.options.dashboard,
        host: c.options.dashboardHost,
        total: c.totalIterations,
        sampleEvery: c.options.sampleEvery,
        log: c.log ?? ((m) => console.error(m)),
      })
      : undefined,
  (c) => (c.quiet ? undefined : progressSink(c.totalIterations)),
];

/**
 * Makes the sinks of {@link RUN_SINKS} for a run.
 *
 * @example
 * ```ts
 * import { createRunSinks, type RunContext } from "./run_sinks.ts";
 * declare const context: RunContext;
 * const sinks = await createRunSinks(context);
 * ```
 */
export async function createRunSinks(context: RunContext): Promise<Sink[]> {
  const sinks: Sink[] = [];
  for (const make of RUN_SINKS) {
    const sink = await make(context);
    if (sink) sinks.push(sink);
  }
  return sinks;
}
