/**
 * A whole training run, as `deno task train` runs it: data, networks, the
 * RxJS graph, and the sinks writing the run directory.
 * @module
 */
import { lastValueFrom, map, Subject, takeWhile, tap } from "rxjs";
import { type Tensor4D, tf } from "../ops/tf.ts";
import { useBackend } from "../ops/runtime/backend.ts";
import { createDiscoGan, disposeDiscoGan } from "../models/discogan.ts";
import { type BatchSource, pairedSource, unpairedSource } from "./batch_source.ts";
import { listCheckpoints, loadCheckpoint } from "./checkpoint.ts";
import { ensureDefaultDataset } from "./default_dataset.ts";
import { decodeImage, listImages, type SkippedImage } from "./image_folder.ts";
import { createTrainingState, type TrainingState } from "./iteration.ts";
import {
  discoGanSteps,
  nonFiniteGuard,
  NonFiniteLossError,
  pullBatches,
  type TensorBatch,
  toSinks,
} from "./operators.ts";
import { OptionError, resolveTrainOptions, type TrainOptions } from "./options.ts";
import type { IterationRecord, Sink } from "./record.ts";
import {
  createRunDir,
  defaultRunDir,
  readRunOptions,
  type RunDir,
  runDirPaths,
} from "./run_dir.ts";
import { checkpointSink } from "./sinks/checkpoint_sink.ts";
import { metricsSink } from "./sinks/metrics_sink.ts";
import { progressSink } from "./sinks/progress_sink.ts";
import { fromBytes, sampleSink } from "./sinks/sample_sink.ts";

/** How a run is driven, beyond its options. */
export interface TrainHooks {
  /** Continue the run in this directory from its newest checkpoint. */
  resume?: string;
  /** Stops training after the current iteration; a checkpoint is saved. */
  signal?: AbortSignal;
  /** More sinks, after the built-in ones. */
  sinks?: Sink[];
  /** Transforms each batch before its step (extra augmentation; fault injection in tests). */
  mapBatch?: (batch: TensorBatch) => TensorBatch;
  /** No progress bar. */
  quiet?: boolean;
  /** Where messages go (default: stderr). */
  log?: (message: string) => void;
}

/** What a run ended with. */
export interface TrainResult {
  /** The run directory. */
  runDir: string;
  /** The options in force. */
  options: TrainOptions;
  /** The training state (networks and optimizers) at the end. */
  state: TrainingState;
  /** The last iteration's record, if any ran. */
  last?: IterationRecord;
  /** The number of iterations the run was to reach. */
  totalIterations: number;
}

/**
 * Options the built-in dataset trains with unless given: CycleGAN's identity
 * loss. Its line art is black on white, which looks as plausible inverted to a
 * PatchGAN; without this term both generators first learn to swap figure and
 * ground (seen at 500 iterations), with it the colours land on the shapes
 * within 100.
 */
export const DEFAULT_DATASET_PRESET: Partial<TrainOptions> = { lambdaIdentity: 5 };

/** Number of images in each sample grid. */
export const SAMPLE_COUNT = 4;

async function sampleImages(
  dir: string,
  size: number,
  half?: "left" | "right",
): Promise<Tensor4D> {
  // The first files that decode: broken ones are the source's to report.
  const images = [];
  for (const file of await listImages(dir)) {
    if (images.length === SAMPLE_COUNT) break;
    const image = await decodeImage(file, { size, half }).catch(() => null);
    if (image) images.push(image);
  }
  return fromBytes(images, size);
}

/**
 * Trains as configured, writing options, metrics, samples and checkpoints to
 * the run directory. With no data options it trains on the default dataset.
 *
 * @example
 * ```ts
 * import { train } from "./train.ts";
 * const { runDir, last } = await train({ iterations: 10, ngf: 8, ndf: 8, batchSize: 2 });
 * console.log(runDir, last?.losses);
 * ```
 */
export async function train(
  partial: Partial<TrainOptions>,
  hooks: TrainHooks = {},
): Promise<TrainResult> {
  const log = hooks.log ?? ((m: string) => console.error(m));
  let o: TrainOptions, run: RunDir;
  if (hooks.resume) {
    // A resumed run keeps its options; only the length may be extended.
    const saved = await readRunOptions(hooks.resume);
    o = resolveTrainOptions({
      ...saved,
      runDir: hooks.resume,
      ...(partial.iterations !== undefined
        ? { iterations: partial.iterations, epochs: undefined }
        : {}),
      ...(partial.epochs !== undefined ? { epochs: partial.epochs, iterations: undefined } : {}),
    });
    run = runDirPaths(hooks.resume);
  } else {
    const builtIn = !partial.dataA && !partial.dataB && !partial.paired;
    o = resolveTrainOptions({
      ...(builtIn ? DEFAULT_DATASET_PRESET : {}),
      ...partial,
      runDir: partial.runDir || defaultRunDir(),
    });
  }

  let samplesA: string, samplesB: string;
  if (o.paired) {
    samplesA = samplesB = o.paired;
  } else if (o.dataA && o.dataB) {
    [samplesA, samplesB] = [o.dataA, o.dataB];
  } else {
    const data = await ensureDefaultDataset({
      onProgress: (done, total) => done === total && log(`default dataset ready (${total} emoji)`),
    });
    o.dataA = data.trainA;
    o.dataB = data.trainB;
    [samplesA, samplesB] = [data.testA, data.testB];
  }
  const backend = await useBackend(o.backend);
  if (o.onNonFinite === "skip" && backend === "webgpu") {
    throw new OptionError(
      "--on-non-finite",
      "skip reads each loss synchronously, which webgpu cannot: use stop, or another --backend",
    );
  }

  const models = createDiscoGan({
    imageSize: o.imageSize,
    generator: o.generator,
    ngf: o.ngf,
    ndf: o.ndf,
    nResidualBlocks: o.nResidualBlocks,
    seed: o.seed,
  });
  const state = createTrainingState(models, {
    seed: o.seed,
    adam: { lr: o.lr, beta1: o.beta1, beta2: o.beta2 },
    losses: {
      ganLoss: o.ganLoss,
      cycleLoss: o.cycleLoss,
      pixelwiseLoss: o.pixelwiseLoss,
      lambdaCycle: o.lambdaCycle,
      lambdaPixelwise: o.lambdaPixelwise,
      lambdaIdentity: o.lambdaIdentity,
      skipNonFinite: o.onNonFinite === "skip",
      paired: o.paired !== undefined,
    },
  });
  let startBatch = 0;
  if (hooks.resume) {
    const latest = (await listCheckpoints(run!.checkpoints)).at(-1);
    if (latest) {
      startBatch = (await loadCheckpoint(latest, state)).nextBatch;
      log(`resuming ${run!.root} from ${latest}`);
    } else log(`no checkpoint in ${run!.checkpoints}: starting ${run!.root} from the beginning`);
  }

  // Files left out (unreadable, broken, too large): one warning each, counted in the metrics.
  let skippedImages = 0;
  const onSkip = (s: SkippedImage) => {
    skippedImages++;
    log(`warning: skipping ${s.path}: ${s.reason}`);
  };
  const sourceOptions = {
    onSkip,
    batchSize: o.batchSize,
    size: o.imageSize,
    loadSize: o.loadSize,
    flip: o.flip,
    seed: o.seed,
    prefetch: o.prefetch,
    startBatch,
  };
  const source: BatchSource = o.paired
    ? await pairedSource(o.paired, sourceOptions)
    : await unpairedSource(o.dataA as string, o.dataB as string, sourceOptions);
  const total = o.iterations ?? (o.epochs as number) * source.batchesPerEpoch;
  // Only now, with the data found and readable, is anything written.
  if (!hooks.resume) {
    run = await createRunDir(o.runDir, o).catch((e) => {
      source.close();
      throw e;
    });
  }
  const realA = await sampleImages(samplesA, o.imageSize, o.paired ? "left" : undefined);
  const realB = await sampleImages(samplesB, o.imageSize, o.paired ? "right" : undefined);

  const sinks: Sink[] = [
    await metricsSink(run!.metrics, state.iteration, () => ({ skipped_images: skippedImages })),
    sampleSink(run!.samples, models, realA, realB, o.sampleEvery),
    checkpointSink(run!.checkpoints, state, { every: o.checkpointEvery, keep: o.keepCheckpoints }),
    ...(hooks.quiet ? [] : [progressSink(total)]),
    ...(hooks.sinks ?? []),
  ];
  log(
    `training ${run!.root}: ${o.generator} ngf ${o.ngf}, ndf ${o.ndf}, ${o.imageSize} px, ` +
      `batch ${o.batchSize}, iterations ${state.iteration}..${total}, backend ${backend}, ` +
      `${source.imagesA} A and ${source.imagesB} B images`,
  );

  let last: IterationRecord | undefined;
  try {
    if (state.iteration < total && !hooks.signal?.aborted) {
      // The graph: demand -> pulled batch -> step -> sinks -> demand for the next.
      const demand$ = new Subject<void>();
      const done$ = pullBatches(source, demand$).pipe(
        map(hooks.mapBatch ?? ((b) => b)),
        discoGanSteps(state),
        nonFiniteGuard((r) =>
          log(
            `iteration ${r.iteration}: non-finite loss or gradient; batch skipped, networks untouched`,
          )
        ),
        toSinks(sinks),
        tap((r) => (last = r)),
        takeWhile((r) => r.iteration < total && !hooks.signal?.aborted, true),
        tap((r) => {
          if (r.iteration < total && !hooks.signal?.aborted) queueMicrotask(() => demand$.next());
        }),
      );
      const finished = lastValueFrom(done$, { defaultValue: undefined });
      demand$.next();
      await finished;
    }
  } catch (e) {
    // No final checkpoint: the state may be what went wrong.
    for (const sink of sinks) await sink.close?.(undefined);
    if (e instanceof NonFiniteLossError) {
      const good = (await listCheckpoints(run!.checkpoints)).at(-1);
      throw new Error(
        `${e.message}: training stopped. ` +
          (good ? `The last good checkpoint is ${good}. ` : "No checkpoint was written yet. ") +
          `Lower --lr, or pass --on-non-finite skip, then continue with --resume ${run!.root}.`,
        { cause: e },
      );
    }
    throw e;
  } finally {
    source.close();
  }
  // Closing writes the last sample grid and checkpoint: the sample images are still needed.
  for (const sink of sinks) await sink.close?.(last);
  tf.dispose([realA, realB]);
  return { runDir: run!.root, options: o, state, last, totalIterations: total };
}

/**
 * Releases a finished run's networks and optimizer state.
 *
 * @example
 * ```ts
 * import { disposeTrainResult, train } from "./train.ts";
 * disposeTrainResult(await train({ iterations: 2, ngf: 4, ndf: 4 }, { quiet: true }));
 * ```
 */
export function disposeTrainResult(result: TrainResult): void {
  result.state.gOptimizer.dispose();
  result.state.dOptimizer.dispose();
  disposeDiscoGan(result.state.models);
}
