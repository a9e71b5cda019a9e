/**
 * The RxJS operators of the training graph: pulled batches in, one step at a
 * time, the loss stream out to sinks.
 * @module
 */
import { concatMap, map } from "rxjs";
import type { Observable, OperatorFunction } from "./rx.ts";
import { type Tensor4D, tf } from "../ops/tf.ts";
import type { BatchSource, HostBatch } from "./batch_source.ts";
import {
  discoGanIteration,
  type DiscriminatorLosses,
  discriminatorStep,
  generatorPasses,
  generatorStep,
  type IterationLosses,
} from "./iteration.ts";
import type { Batch, TrainingState } from "./training_state.ts";
import type { IterationRecord, Sink } from "./record.ts";

/** A batch on the device, with where it came from and how long it was waited for. */
export interface TensorBatch extends Batch {
  /** Epoch of the batch. */
  epoch: number;
  /** Index of the batch in the source. */
  index: number;
  /** Seconds the trainer waited for it. */
  waitSeconds: number;
}

/**
 * Batches pulled from `source`, one per `demand$` value. RxJS has no back-
 * pressure: a source that pushed would be read as fast as it decodes, so the
 * graph asks for each batch when it is ready for it. The source itself keeps
 * a bounded number of batches decoding ahead.
 *
 * @example
 * ```ts
 * import { Subject } from "rxjs";
 * import { pullBatches } from "./operators.ts";
 * import { unpairedSource } from "./batch_source.ts";
 * const source = await unpairedSource("a", "b", { batchSize: 4, size: 64, seed: 0 });
 * const demand$ = new Subject<void>();
 * pullBatches(source, demand$).subscribe((b) => console.log(b.index));
 * demand$.next(); // decodes... then logs 0
 * ```
 */
export function pullBatches(
  source: BatchSource,
  demand$: Observable<unknown>,
): Observable<TensorBatch> {
  return demand$.pipe(
    concatMap(async () => {
      const start = performance.now();
      const host = await source.next();
      return { ...toTensors(host), waitSeconds: (performance.now() - start) / 1000 };
    }),
  );
}

/**
 * Host images to NHWC tensors.
 *
 * @example
 * ```ts
 * import { toTensors } from "./operators.ts";
 * const n = 64 * 64 * 3;
 * const batch = toTensors({ a: new Float32Array(n), b: new Float32Array(n), shape: [1, 64, 64, 3], index: 0, epoch: 0 });
 * console.log(batch.realA.shape); // [1, 64, 64, 3]
 * ```
 */
export function toTensors(host: HostBatch): Omit<TensorBatch, "waitSeconds"> {
  return {
    realA: tf.tensor4d(host.a, host.shape),
    realB: tf.tensor4d(host.b, host.shape),
    epoch: host.epoch,
    index: host.index,
  };
}

function record(
  state: TrainingState,
  batch: TensorBatch,
  losses: IterationLosses,
  started: number,
): IterationRecord {
  const seconds = (performance.now() - started) / 1000 + batch.waitSeconds;
  tf.dispose([batch.realA, batch.realB]);
  return {
    iteration: state.iteration,
    epoch: batch.epoch,
    losses,
    secondsPerIteration: seconds,
    imagesPerSecond: (2 * batch.realA.shape[0]) / seconds,
  };
}

/**
 * The fused training step: {@link discoGanIteration} on each batch, strictly
 * one at a time (`concatMap`), emitting the loss record.
 *
 * @example
 * ```ts
 * import { of } from "rxjs";
 * import { tf } from "../ops/tf.ts";
 * import { createDiscoGan } from "../models/discogan.ts";
 * import { createTrainingState } from "./training_state.ts";
 * import { discoGanSteps } from "./operators.ts";
 * const state = createTrainingState(createDiscoGan({ ngf: 4, ndf: 4 }));
 * const zeros = () => tf.zeros([1, 64, 64, 3]) as tf.Tensor4D;
 * of({ realA: zeros(), realB: zeros(), epoch: 0, index: 0, waitSeconds: 0 })
 *   .pipe(discoGanSteps(state))
 *   .subscribe((r) => console.log(r.losses));
 * ```
 */
export function discoGanSteps(
  state: TrainingState,
): OperatorFunction<TensorBatch, IterationRecord> {
  return concatMap(async (batch) => {
    const started = performance.now();
    const losses = await discoGanIteration(state, batch);
    return record(state, batch, losses, started);
  });
}

/** A batch after the discriminator step, on its way to the generator step. */
export interface JudgedBatch extends TensorBatch {
  /** The discriminator step's losses. */
  discriminator: DiscriminatorLosses;
  /** When the discriminator step began. */
  started: number;
  /** Lets the next discriminator step start; called by the generator step. */
  release: () => void;
}

// Two concatMaps in a row each run one item at a time, but not one *iteration*
// at a time: fed eagerly, the discriminator step of batch k+1 would run during
// the generator step of batch k. The discriminator step waits for this.
const iterationDone = new WeakMap<TrainingState, Promise<void>>();

/**
 * The discriminator step as its own operator: the generator passes (no gradients), then
 * {@link discriminatorStep}. Follow it with {@link generatorSteps} on the same
 * state (each discriminator step waits for the previous generator step); the pair
 * computes exactly what {@link discoGanSteps} does (the dropout masks depend
 * only on seed and iteration) at the cost of running the generators twice.
 *
 * @example
 * ```ts
 * import type { Observable } from "rxjs";
 * import { createDiscoGan } from "../models/discogan.ts";
 * import { createTrainingState } from "./training_state.ts";
 * import { discriminatorSteps, generatorSteps, type TensorBatch } from "./operators.ts";
 * const state = createTrainingState(createDiscoGan({ ngf: 4, ndf: 4 }));
 * declare const batches$: Observable<TensorBatch>;
 * batches$.pipe(discriminatorSteps(state), generatorSteps(state));
 * ```
 */
export function discriminatorSteps(
  state: TrainingState,
): OperatorFunction<TensorBatch, JudgedBatch> {
  return concatMap(async (batch) => {
    await iterationDone.get(state);
    let release = () => {};
    iterationDone.set(state, new Promise((resolve) => (release = resolve)));
    const started = performance.now();
    const fakes = tf.tidy(() => {
      const t = generatorPasses(state, batch, state.dropout);
      return { fakeA: tf.keep(t.fakeA) as Tensor4D, fakeB: tf.keep(t.fakeB) as Tensor4D };
    });
    const discriminator = await discriminatorStep(state, batch, fakes);
    tf.dispose([fakes.fakeA, fakes.fakeB]);
    return { ...batch, discriminator, started, release };
  });
}

/**
 * The generator step as its own operator; see {@link discriminatorSteps}.
 *
 * @example
 * ```ts
 * import type { Observable } from "rxjs";
 * import { createDiscoGan } from "../models/discogan.ts";
 * import { createTrainingState } from "./training_state.ts";
 * import { discriminatorSteps, generatorSteps, type TensorBatch } from "./operators.ts";
 * const state = createTrainingState(createDiscoGan({ ngf: 4, ndf: 4 }));
 * declare const batches$: Observable<TensorBatch>;
 * batches$.pipe(discriminatorSteps(state), generatorSteps(state)).subscribe((r) => console.log(r.losses));
 * ```
 */
export function generatorSteps(
  state: TrainingState,
): OperatorFunction<JudgedBatch, IterationRecord> {
  return concatMap(async ({ release, ...batch }) => {
    try {
      const g = await generatorStep(state, batch);
      state.iteration++;
      return record(state, batch, { ...batch.discriminator, ...g }, batch.started);
    } finally {
      release();
    }
  });
}

/**
 * Hands each record to every sink in order, waiting for each, before the
 * record moves on (and so before the next step starts).
 *
 * @example
 * ```ts
 * import { of } from "rxjs";
 * import { toSinks } from "./operators.ts";
 * import type { IterationRecord } from "./record.ts";
 * declare const r: IterationRecord;
 * of(r).pipe(toSinks([{ write: (x) => console.log(x.iteration) }])).subscribe();
 * ```
 */
export function toSinks(
  sinks: readonly Sink[],
): OperatorFunction<IterationRecord, IterationRecord> {
  return concatMap(async (r) => {
    for (const sink of sinks) await sink.write(r);
    return r;
  });
}

/**
 * A loss went NaN or infinite and the run was set to stop.
 *
 * @example
 * ```ts
 * import { NonFiniteLossError } from "./operators.ts";
 * import type { IterationRecord } from "./record.ts";
 * declare const r: IterationRecord;
 * console.log(new NonFiniteLossError(r).message); // "iteration 12: non-finite loss (g=NaN)"
 * ```
 */
export class NonFiniteLossError extends Error {
  /** The iteration whose losses were not finite. */
  readonly iteration: number;
  /** Builds the error for a record, naming the non-finite losses. */
  constructor(record: IterationRecord) {
    const bad = Object.entries(record.losses)
      .filter(([, v]) => typeof v === "number" && !Number.isFinite(v))
      .map(([k, v]) => `${k}=${v}`);
    super(`iteration ${record.iteration}: non-finite loss (${bad.join(", ")})`);
    this.name = "NonFiniteLossError";
    this.iteration = record.iteration;
  }
}

/**
 * Whether every loss of a record is a finite number.
 *
 * @example
 * ```ts
 * import { lossesFinite } from "./operators.ts";
 * import type { IterationRecord } from "./record.ts";
 * declare const r: IterationRecord;
 * if (!lossesFinite(r)) console.warn(`iteration ${r.iteration} diverged`);
 * ```
 */
export function lossesFinite(record: IterationRecord): boolean {
  return Object.values(record.losses).every((v) => typeof v !== "number" || Number.isFinite(v));
}

/**
 * Stops the stream with a {@link NonFiniteLossError} at the first record with
 * a NaN or infinite loss, before any sink sees it; records of batches the step
 * skipped (`losses.skipped`, see `skipNonFinite`) pass, after `onSkip`.
 *
 * @example
 * ```ts
 * import { of } from "rxjs";
 * import { nonFiniteGuard } from "./operators.ts";
 * import type { IterationRecord } from "./record.ts";
 * declare const r: IterationRecord;
 * of(r).pipe(nonFiniteGuard((s) => console.warn(`skipped batch ${s.iteration}`))).subscribe();
 * ```
 */
export function nonFiniteGuard(
  onSkip: (record: IterationRecord) => void = () => {},
): OperatorFunction<IterationRecord, IterationRecord> {
  return map((r) => {
    if (r.losses.skipped) onSkip(r);
    else if (!lossesFinite(r)) throw new NonFiniteLossError(r);
    return r;
  });
}
