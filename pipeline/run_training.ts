/**
 * The training graph, wired once: demand → pulled batch → step → non-finite
 * guard → sinks → demand for the next batch, until the iteration count is
 * reached or the signal fires; then every sink is closed.
 * @module
 */
import { lastValueFrom, map, Subject, takeWhile, tap } from "rxjs";
import type { OperatorFunction } from "./rx.ts";
import type { BatchSource } from "./batch_source.ts";
import type { TrainingState } from "./training_state.ts";
import {
  discoGanSteps,
  nonFiniteGuard,
  pullBatches,
  type TensorBatch,
  toSinks,
} from "./operators.ts";
import type { IterationRecord, Sink } from "./record.ts";

/** How long a graph runs, and what it runs. */
export interface RunTrainingOptions {
  /**
   * The iteration count to reach: training stops once `state.iteration` equals
   * it (a fresh state trains this many; a resumed one the rest).
   */
  iterations: number;
  /** Stops after the current iteration; the sinks are closed as at the end. */
  signal?: AbortSignal;
  /** The step operator. Default {@link discoGanSteps} on `state`. */
  steps?: OperatorFunction<TensorBatch, IterationRecord>;
  /** Transforms each batch before its step (extra augmentation; fault injection in tests). */
  mapBatch?: (batch: TensorBatch) => TensorBatch;
  /** Called for each batch the step skipped (a non-finite loss under `skipNonFinite`). */
  onSkippedBatch?: (record: IterationRecord) => void;
}

/**
 * Trains `state` on batches pulled from `source`, one step at a time, each
 * record handed to every sink in order. Resolves with the last record
 * (undefined if no iteration ran) after closing every sink with it; on an
 * error (a non-finite loss included) the sinks are closed with `undefined`, so
 * no final checkpoint is written from a state that may be what went wrong,
 * and the error is thrown. The source stays open: it is the caller's.
 *
 * @example
 * ```ts
 * import { createDiscoGan } from "../models/discogan.ts";
 * import { createTrainingState } from "./training_state.ts";
 * import { unpairedSource } from "./batch_source.ts";
 * import { runTraining } from "./run_training.ts";
 * const state = createTrainingState(createDiscoGan({ ngf: 8, ndf: 8 }));
 * const source = await unpairedSource("a", "b", { batchSize: 2, size: 64, seed: 0 });
 * const sinks = [{ write: (r: { iteration: number }) => console.log(r.iteration) }];
 * const last = await runTraining(source, state, sinks, { iterations: 20 });
 * await source.close();
 * ```
 */
export async function runTraining(
  source: BatchSource,
  state: TrainingState,
  sinks: readonly Sink[],
  options: RunTrainingOptions,
): Promise<IterationRecord | undefined> {
  const { iterations, signal } = options;
  const more = (done: number) => done < iterations && !signal?.aborted;
  let last: IterationRecord | undefined;
  try {
    if (more(state.iteration)) {
      // RxJS has no back-pressure: each batch is asked for once the previous
      // record has passed every sink.
      const demand$ = new Subject<void>();
      const done = lastValueFrom(
        pullBatches(source, demand$).pipe(
          map(options.mapBatch ?? ((b) => b)),
          options.steps ?? discoGanSteps(state),
          nonFiniteGuard(options.onSkippedBatch),
          toSinks(sinks),
          tap((r) => (last = r)),
          takeWhile((r) => more(r.iteration), true),
          tap((r) => more(r.iteration) && queueMicrotask(() => demand$.next())),
        ),
        { defaultValue: undefined },
      );
      demand$.next();
      await done;
    }
  } catch (e) {
    for (const sink of sinks) await sink.close?.(undefined);
    throw e;
  }
  for (const sink of sinks) await sink.close?.(last);
  return last;
}
