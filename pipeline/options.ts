/**
 * The options of a training run: one table, joined from the rows each layer
 * declares (networks in `models/discogan.ts`, objective and optimizer in
 * `pipeline/training_state.ts`, data and output here). The command line's
 * flags and `--help`, the defaults, the checks and `options.json` all follow
 * from it.
 * @module
 */
import { BACKEND_NAMES, type BackendName } from "../ops/runtime/backend.ts";
import type { ConvPrecision } from "../ops/runtime/onednn/conv_kernels.ts";
import { NETWORK_OPTIONS, type NetworkOptions } from "../models/discogan.ts";
import {
  checkOption,
  flagName,
  OptionError,
  type OptionSpec,
  type OptionTable,
  resolveOptions,
} from "../models/options.ts";
import {
  OBJECTIVE_OPTIONS,
  type ObjectiveOptions,
  OPTIMIZER_OPTIONS,
  type OptimizerOptions,
} from "./training_state.ts";
import { PRESETS } from "./presets.ts";

export { flagName, OptionError, type OptionSpec, type OptionTable };

/** The presets: named sets of options, expanded before explicit ones. */
export type PresetName = "pytorch-gan" | "shape" | "paper" | "paper-angle";

/**
 * Everything a training run is configured by; saved as the run's
 * `options.json`. The networks', objective's and optimizer's fields are
 * declared (and documented) with their rows.
 */
export interface TrainOptions extends NetworkOptions, ObjectiveOptions, OptimizerOptions {
  /** The preset the run started from (its options are all written out beside it). */
  preset?: PresetName;
  /** Folder of domain A images (unpaired). */
  dataA?: string;
  /** Folder of domain B images (unpaired). */
  dataB?: string;
  /** Folder of side-by-side A|B images (paired mode). */
  paired?: string;
  /** Side images are resized to before a random crop of `imageSize`. */
  loadSize: number;
  /** Random horizontal flips. */
  flip: boolean;
  /** Batches decoded ahead of training. */
  prefetch: number;
  /** Images per domain per iteration. */
  batchSize: number;
  /** Iterations to train (overrides `epochs` when both are given). */
  iterations?: number;
  /** Epochs to train, an epoch being one pass over the larger domain. */
  epochs?: number;
  /** On a NaN or infinite loss: stop the run, or skip the batch (networks untouched). */
  onNonFinite: "stop" | "skip";
  /** TF.js backend. */
  backend: BackendName;
  /** What the convolutions compute in: fp32, or bf16 inputs with fp32 sums (`onednn` only). */
  precision: ConvPrecision;
  /** Refuse, before training, sizes whose estimated memory exceeds what the backend can use. */
  memoryCheck: boolean;
  /** The run directory (`train` picks runs/DATE_TIME when it is not given). */
  runDir?: string;
  /** Iterations between sample grids (0: never). */
  sampleEvery: number;
  /** Iterations between checkpoints (0: only at the end). */
  checkpointEvery: number;
  /** Checkpoints kept on disk (the newest). */
  keepCheckpoints: number;
  /** Write TensorBoard event files to `RUN_DIR/tb/`. */
  tensorboard: boolean;
  /** Serve a live dashboard of the run on this port (0: none). */
  dashboard: number;
  /** The address the dashboard binds. */
  dashboardHost: string;
}

const DATA_GROUP = "Data", TRAINING = "Training", OUTPUT = "Output";
const DEFAULT_ITERATIONS = 2000;

/**
 * Every option of a training run, in `--help` order: kind, default, range or
 * choices, help. A new option is one row here (or in the table of the layer
 * that owns it, referenced here) and one field of {@link TrainOptions}.
 *
 * @example
 * ```ts
 * import { TRAIN_OPTIONS } from "./options.ts";
 * console.log(TRAIN_OPTIONS.batchSize.default); // 8
 * ```
 */
export const TRAIN_OPTIONS: OptionTable<TrainOptions> = {
  preset: {
    kind: "choice",
    choices: Object.keys(PRESETS),
    help: "a named set of options, expanded first (explicit options override it): " +
      "pytorch-gan = the defaults (colour, texture); shape = ResNet generator and " +
      "whole-image discriminator, with feature matching, cycle noise and a pool of fakes " +
      "(shape, pose, letters); paper = the paper's networks and objective; " +
      "paper-angle = its angle experiments",
    group: "Preset",
  },
  dataA: {
    kind: "path",
    help: "folder of domain A images (any format sharp reads)",
    group: DATA_GROUP,
  },
  dataB: { kind: "path", help: "folder of domain B images", group: DATA_GROUP },
  paired: {
    kind: "path",
    help: "folder of side-by-side A|B images (enables the pixelwise loss)",
    group: DATA_GROUP,
    check: (_: string, o) => {
      if (o.dataA !== undefined || o.dataB !== undefined) {
        throw new Error("cannot be combined with --data-a/--data-b");
      }
    },
  },
  imageSize: NETWORK_OPTIONS.imageSize,
  loadSize: {
    kind: "int",
    default: (o) => o.imageSize as number,
    min: 1,
    max: 8192,
    help: "resize to N, then random-crop --image-size (default: the image size)",
    group: DATA_GROUP,
    check: (v: number, o) => {
      if (v < (o.imageSize as number)) {
        throw new Error(`expected a whole number from ${o.imageSize} to 8192, got ${v}`);
      }
    },
  },
  flip: { kind: "boolean", default: true, help: "no random horizontal flips", group: DATA_GROUP },
  prefetch: {
    kind: "int",
    default: 3,
    min: 1,
    max: 64,
    help: "batches decoded ahead",
    group: DATA_GROUP,
  },
  batchSize: {
    kind: "int",
    default: 8,
    min: 1,
    max: 4096,
    help: "images per domain per iteration",
    group: TRAINING,
  },
  iterations: {
    kind: "int",
    // Epochs given alone decide the length.
    default: (o) => (o.epochs === undefined ? DEFAULT_ITERATIONS : undefined) as number,
    min: 1,
    help: `iterations to train (default ${DEFAULT_ITERATIONS})`,
    group: TRAINING,
  },
  epochs: {
    kind: "int",
    min: 1,
    help: "or epochs (passes over the larger domain)",
    group: TRAINING,
  },
  lr: OPTIMIZER_OPTIONS.lr,
  beta1: OPTIMIZER_OPTIONS.beta1,
  beta2: OPTIMIZER_OPTIONS.beta2,
  lambdaCycle: OBJECTIVE_OPTIONS.lambdaCycle,
  lambdaPixelwise: OBJECTIVE_OPTIONS.lambdaPixelwise,
  lambdaIdentity: OBJECTIVE_OPTIONS.lambdaIdentity,
  ganLoss: OBJECTIVE_OPTIONS.ganLoss,
  cycleLoss: OBJECTIVE_OPTIONS.cycleLoss,
  pixelwiseLoss: OBJECTIVE_OPTIONS.pixelwiseLoss,
  featureMatching: OBJECTIVE_OPTIONS.featureMatching,
  featureLayers: OBJECTIVE_OPTIONS.featureLayers,
  defaultRate: OBJECTIVE_OPTIONS.defaultRate,
  startingRate: OBJECTIVE_OPTIONS.startingRate,
  ganCurriculum: OBJECTIVE_OPTIONS.ganCurriculum,
  cycleNoise: OBJECTIVE_OPTIONS.cycleNoise,
  poolSize: OBJECTIVE_OPTIONS.poolSize,
  weightDecay: OPTIMIZER_OPTIONS.weightDecay,
  dUpdateInterval: OPTIMIZER_OPTIONS.dUpdateInterval,
  lrDecayIterations: OPTIMIZER_OPTIONS.lrDecayIterations,
  seed: NETWORK_OPTIONS.seed,
  onNonFinite: {
    kind: "choice",
    default: "stop",
    choices: ["stop", "skip"],
    help: "on a NaN/infinite loss stop the run (the last good checkpoint stays), " +
      "or skip the batch",
    group: TRAINING,
  },
  generator: NETWORK_OPTIONS.generator,
  discriminator: NETWORK_OPTIONS.discriminator,
  norm: NETWORK_OPTIONS.norm,
  bottleneck: NETWORK_OPTIONS.bottleneck,
  ngf: NETWORK_OPTIONS.ngf,
  ndf: NETWORK_OPTIONS.ndf,
  nResidualBlocks: NETWORK_OPTIONS.nResidualBlocks,
  backend: {
    kind: "choice",
    default: "auto",
    choices: BACKEND_NAMES,
    help: "TF.js backend",
    group: "Networks",
  },
  precision: {
    kind: "choice",
    default: "fp32",
    choices: ["fp32", "bf16"],
    help: "bf16: the onednn convolutions read bfloat16 inputs and filters and sum in fp32; " +
      "weights, Adam and losses stay fp32 (needs the onednn backend)",
    group: "Networks",
  },
  memoryCheck: {
    kind: "boolean",
    default: true,
    help: "train even when the memory estimate exceeds what the backend can use",
    group: "Networks",
  },
  runDir: {
    kind: "path",
    help: "where options.json, metrics.jsonl, samples/, checkpoints/ go (default runs/DATE_TIME)",
    group: OUTPUT,
  },
  sampleEvery: {
    kind: "int",
    default: 100,
    min: 0,
    help: "sample grid every N iterations, 0 never",
    group: OUTPUT,
  },
  checkpointEvery: {
    kind: "int",
    default: 500,
    min: 0,
    help: "checkpoint every N iterations, 0 only at the end",
    group: OUTPUT,
  },
  keepCheckpoints: {
    kind: "int",
    default: 3,
    min: 1,
    help: "newest checkpoints kept",
    group: OUTPUT,
  },
  tensorboard: {
    kind: "boolean",
    default: false,
    help: "write TensorBoard event files to RUN_DIR/tb/: losses, timing, sample grids, options",
    group: OUTPUT,
  },
  dashboard: {
    kind: "int",
    default: 0,
    min: 0,
    max: 65535,
    help: "serve a live dashboard of the run at http://127.0.0.1:PORT/ (0: none; e.g. 8080)",
    group: OUTPUT,
  },
  dashboardHost: {
    kind: "text",
    default: "127.0.0.1",
    help: "address the dashboard binds (another than 127.0.0.1 exposes it to the network)",
    group: OUTPUT,
  },
};

/**
 * The defaults of every option that has one.
 *
 * @example
 * ```ts
 * import { DEFAULT_TRAIN_OPTIONS } from "./options.ts";
 * console.log(DEFAULT_TRAIN_OPTIONS.ngf); // 16
 * ```
 */
export const DEFAULT_TRAIN_OPTIONS: Readonly<TrainOptions> = resolveOptions(TRAIN_OPTIONS, {});

/**
 * Fills defaults and checks every value; throws an {@link OptionError} naming
 * the first bad option. Each layer overrides the one before: the table's
 * defaults, `base` (a caller's own defaults, e.g. a benchmark's or a data
 * set's), the preset's options, then `partial`. Undefined values count as not
 * given.
 *
 * @example
 * ```ts
 * import { resolveTrainOptions } from "./options.ts";
 * const o = resolveTrainOptions({ dataA: "a", dataB: "b", batchSize: 4, runDir: "runs/x" });
 * console.log(o.ngf); // 16
 * console.log(resolveTrainOptions({ preset: "paper" }, { ngf: 8 }).ngf); // 64: the preset wins
 * resolveTrainOptions({ batchSize: 0 }); // throws "--batch-size: expected a whole number from 1 to 4096, got 0"
 * ```
 */
export function resolveTrainOptions(
  partial: Partial<TrainOptions>,
  base: Partial<TrainOptions> = {},
): TrainOptions {
  const given = definedOnly(partial);
  if (given.preset !== undefined) checkOption("preset", TRAIN_OPTIONS.preset, given.preset, given);
  const o = resolveOptions(TRAIN_OPTIONS, {
    ...definedOnly(base),
    ...(given.preset ? PRESETS[given.preset] : {}),
    ...given,
  });
  if ((o.dataA === undefined) !== (o.dataB === undefined)) {
    throw new OptionError(
      o.dataA === undefined ? "--data-a" : "--data-b",
      "give both --data-a and --data-b",
    );
  }
  return o;
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
