/**
 * A whole training run, as `deno task train` runs it: data, networks, the
 * RxJS graph, and the sinks writing the run directory.
 * @module
 */
import { type Tensor4D, tf } from "../ops/tf.ts";
import { useBackend } from "../ops/runtime/backend.ts";
import { applyPrecision } from "./precision.ts";
import { createDiscoGan, disposeDiscoGan } from "../models/discogan.ts";
import { type BatchSource, pairedSource, unpairedSource } from "./batch_source.ts";
import { listCheckpoints, loadCheckpoint } from "./checkpoint.ts";
import { ensureDefaultDataset } from "./default_dataset.ts";
import { decodeImage, listImages, type SkippedImage } from "./image_folder.ts";
import { fromBytes } from "./image_tensors.ts";
import { createTrainingState, type TrainingState } from "./training_state.ts";
import { NonFiniteLossError, type TensorBatch } from "./operators.ts";
import { OptionError, resolveTrainOptions, type TrainOptions } from "./options.ts";
import type { IterationRecord, Sink } from "./record.ts";
import { lockRunDir, type RunLock } from "./run_lock.ts";
import { checkMemoryFits } from "./memory_check.ts";
import { dataChanges, dataManifest, readDataManifest, writeDataManifest } from "./data_manifest.ts";
import {
  createRunDir,
  defaultRunDir,
  readRunOptions,
  type RunDir,
  runDirPaths,
} from "./run_dir.ts";
import { runTraining } from "./run_training.ts";
import { createRunSinks } from "./sinks/run_sinks.ts";

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

async function sampleBatch(
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
  const o = await runOptions(partial, hooks.resume);
  const samples = await dataFolders(o, log);
  const backend = await useBackend(o.backend);
  applyPrecision(o.precision, backend);
  if (o.onNonFinite === "skip" && backend === "webgpu") {
    throw new OptionError(
      "--on-non-finite",
      "skip reads each loss synchronously, which webgpu cannot: use stop, or another --backend",
    );
  }

  const state = createTrainingState(createDiscoGan(o), {
    seed: o.seed,
    adam: o,
    losses: { ...o, skipNonFinite: o.onNonFinite === "skip", paired: o.paired !== undefined },
  });
  // Before anything is written: sizes that will not fit are refused.
  if (o.memoryCheck !== false) {
    await checkMemoryFits(state.models, o, backend).catch((e) => {
      disposeDiscoGan(state.models);
      throw e;
    });
  }
  let run = hooks.resume ? runDirPaths(hooks.resume) : undefined;
  // One writer per run directory (pipeline/run_lock.ts): a resume locks it
  // before reading its checkpoint, a new run as soon as it is created.
  let lock = run ? await takeLock(run.root, log) : undefined;
  // Until the try below: a failure lets go of the lock.
  const releasing = <T>(p: Promise<T>) =>
    p.catch((e) => {
      lock?.release();
      throw e;
    });
  let startBatch = 0;
  if (run) {
    const latest = (await releasing(listCheckpoints(run.checkpoints))).at(-1);
    if (latest) {
      startBatch = (await releasing(loadCheckpoint(latest, state))).nextBatch;
      log(`resuming ${run.root} from ${latest}`);
    } else log(`no checkpoint in ${run.checkpoints}: starting ${run.root} from the beginning`);
  }

  // Files left out (unreadable, broken, too large): one warning each, counted in the metrics.
  let skippedImages = 0;
  const source = await releasing(batchSource(o, startBatch, (s) => {
    skippedImages++;
    log(`warning: skipping ${s.path}: ${s.reason}`);
  }));
  const total = o.iterations ?? (o.epochs as number) * source.batchesPerEpoch;
  state.totalIterations = total;
  let last: IterationRecord | undefined;
  try {
    // Only now, with the data found and readable, is anything written.
    if (!run) {
      run = await createRunDir(o.runDir as string, o);
      lock = await takeLock(run.root, log);
    }
    await recordData(run.root, o, source, hooks.resume !== undefined, log);
    const sampleImages = {
      realA: await sampleBatch(samples.a, o.imageSize, o.paired ? "left" : undefined),
      realB: await sampleBatch(samples.b, o.imageSize, o.paired ? "right" : undefined),
    };
    const sinks: Sink[] = [
      ...await createRunSinks({
        run,
        options: o,
        state,
        totalIterations: total,
        sampleImages,
        quiet: hooks.quiet ?? false,
        skippedImages: () => skippedImages,
        log,
      }),
      ...(hooks.sinks ?? []),
    ];
    log(
      `training ${run.root}: ${o.generator} ngf ${o.ngf}, ndf ${o.ndf}, ${o.imageSize} px, ` +
        `batch ${o.batchSize}, iterations ${state.iteration}..${total}, backend ${backend}, ` +
        `${source.imagesA} A and ${source.imagesB} B images`,
    );
    if (needsPresetHint(o) && hooks.resume === undefined) log(PRESET_HINT);
    last = await runTraining(source, state, sinks, {
      iterations: total,
      signal: hooks.signal,
      mapBatch: hooks.mapBatch,
      onSkippedBatch: (r) =>
        log(
          `iteration ${r.iteration}: non-finite loss or gradient; batch skipped, networks untouched`,
        ),
    }).finally(() => tf.dispose([sampleImages.realA, sampleImages.realB]));
  } catch (e) {
    if (e instanceof NonFiniteLossError && run) throw await nonFiniteStop(e, run);
    throw e;
  } finally {
    await source.close();
    lock?.release();
  }
  return { runDir: run.root, options: o, state, last, totalIterations: total };
}

// Writes the run's data.json; on a resume, first says how the files changed.
async function recordData(
  root: string,
  o: TrainOptions,
  source: BatchSource,
  resumed: boolean,
  log: (m: string) => void,
): Promise<void> {
  if (!source.files) return;
  const roots = o.paired
    ? { a: o.paired, b: o.paired }
    : { a: o.dataA as string, b: o.dataB as string };
  const now = dataManifest(roots, source.files);
  const before = resumed ? await readDataManifest(root) : undefined;
  for (const line of before ? dataChanges(before, now) : []) {
    log(`data changed since the run last started: ${line}; the data order follows the new files`);
  }
  await writeDataManifest(root, now);
}

// Said once at the start of a run on the user's own unpaired data with the default networks:
// the U-Net's skips carry each input's shape through, which is right for colour and texture and
// wrong where the relation is in shape or pose (the learning benchmarks, README).
const PRESET_HINT = "note: no --preset, so the U-Net generator (pytorch-gan): it keeps each " +
  "input's shape and learns colour and texture; where the domains differ in shape or pose, " +
  "train with --preset shape (README: presets)";

function needsPresetHint(o: TrainOptions): boolean {
  return o.dataA !== undefined && o.preset === undefined && o.generator === "unet";
}

async function takeLock(root: string, log: (m: string) => void): Promise<RunLock> {
  const lock = await lockRunDir(root);
  const dead = lock.takenOverFrom;
  if (dead) {
    log(
      `${root}: process ${dead.pid} (since ${dead.since}) stopped without finishing; taking over`,
    );
  }
  return lock;
}

// A resumed run keeps its options (only its length may change); a new one gets
// the built-in dataset's preset when it names no data, and a dated directory.
async function runOptions(
  partial: Partial<TrainOptions>,
  resume: string | undefined,
): Promise<TrainOptions> {
  if (resume) {
    const saved = await readRunOptions(resume);
    return resolveTrainOptions({
      ...saved,
      runDir: resume,
      ...(partial.iterations !== undefined
        ? { iterations: partial.iterations, epochs: undefined }
        : {}),
      ...(partial.epochs !== undefined ? { epochs: partial.epochs, iterations: undefined } : {}),
    });
  }
  const builtIn = !partial.dataA && !partial.dataB && !partial.paired;
  return resolveTrainOptions(
    { ...partial, runDir: partial.runDir || defaultRunDir() },
    builtIn ? DEFAULT_DATASET_PRESET : {},
  );
}

// The folders of the sample grids' images; fills in the default dataset's
// training folders when the options name no data.
async function dataFolders(
  o: TrainOptions,
  log: (m: string) => void,
): Promise<{ a: string; b: string }> {
  if (o.paired) return { a: o.paired, b: o.paired };
  if (o.dataA && o.dataB) return { a: o.dataA, b: o.dataB };
  const data = await ensureDefaultDataset({
    onProgress: (done, total) => done === total && log(`default dataset ready (${total} emoji)`),
  });
  o.dataA = data.trainA;
  o.dataB = data.trainB;
  return { a: data.testA, b: data.testB };
}

function batchSource(
  o: TrainOptions,
  startBatch: number,
  onSkip: (s: SkippedImage) => void,
): Promise<BatchSource> {
  const options = {
    onSkip,
    batchSize: o.batchSize,
    size: o.imageSize,
    loadSize: o.loadSize,
    flip: o.flip,
    seed: o.seed,
    prefetch: o.prefetch,
    startBatch,
  };
  return o.paired
    ? pairedSource(o.paired, options)
    : unpairedSource(o.dataA as string, o.dataB as string, options);
}

async function nonFiniteStop(e: NonFiniteLossError, run: RunDir): Promise<Error> {
  const good = (await listCheckpoints(run.checkpoints)).at(-1);
  return new Error(
    `${e.message}: training stopped. ` +
      (good ? `The last good checkpoint is ${good}. ` : "No checkpoint was written yet. ") +
      `Lower --lr, or pass --on-non-finite skip, then continue with --resume ${run.root}.`,
    { cause: e },
  );
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
