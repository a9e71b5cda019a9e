/**
 * Training options: their defaults, and the checks that refuse bad values
 * before any work starts, naming the option.
 * @module
 */
import { BACKEND_NAMES, type BackendName } from "../ops/runtime/backend.ts";
import type { DistanceName, GanLossName } from "../ops/losses.ts";
import { checkImageSize, type GeneratorKind } from "../models/discogan.ts";

/** Everything a training run is configured by; saved as the run's `options.json`. */
export interface TrainOptions {
  /** Folder of domain A images (unpaired). */
  dataA?: string;
  /** Folder of domain B images (unpaired). */
  dataB?: string;
  /** Folder of side-by-side A|B images (paired mode). */
  paired?: string;
  /** Image side in pixels. */
  imageSize: number;
  /** Side images are resized to before a random crop of `imageSize`. */
  loadSize: number;
  /** Random horizontal flips. */
  flip: boolean;
  /** Images per domain per iteration. */
  batchSize: number;
  /** Iterations to train (overrides `epochs` when both are given). */
  iterations?: number;
  /** Epochs to train, an epoch being one pass over the larger domain. */
  epochs?: number;
  /** Adam learning rate. */
  lr: number;
  /** Adam beta1. */
  beta1: number;
  /** Adam beta2. */
  beta2: number;
  /** Weight of the cycle reconstruction loss. */
  lambdaCycle: number;
  /** Weight of the pixelwise loss (paired mode). */
  lambdaPixelwise: number;
  /** Weight of the identity loss (0: DiscoGAN's objective). */
  lambdaIdentity: number;
  /** On a NaN or infinite loss: stop the run, or skip the batch (networks untouched). */
  onNonFinite: "stop" | "skip";
  /** Adversarial loss. */
  ganLoss: GanLossName;
  /** Distance of the cycle loss. */
  cycleLoss: DistanceName;
  /** Distance of the pixelwise loss. */
  pixelwiseLoss: DistanceName;
  /** Generator architecture. */
  generator: GeneratorKind;
  /** Generator base width. */
  ngf: number;
  /** Discriminator base width. */
  ndf: number;
  /** Residual blocks of the ResNet generator. */
  nResidualBlocks: number;
  /** TF.js backend. */
  backend: BackendName;
  /** Seed of the initialisation, the data order and the dropout masks. */
  seed: number;
  /** Iterations between sample grids (0: never). */
  sampleEvery: number;
  /** Iterations between checkpoints (0: only at the end). */
  checkpointEvery: number;
  /** Checkpoints kept on disk (the newest). */
  keepCheckpoints: number;
  /** Batches decoded ahead of training. */
  prefetch: number;
  /** The run directory. */
  runDir: string;
}

/** The defaults: sized so the default dataset shows colour within minutes on 2 CPU cores. */
export const DEFAULT_TRAIN_OPTIONS: Readonly<TrainOptions> = {
  imageSize: 64,
  loadSize: 64,
  flip: true,
  batchSize: 8,
  iterations: 2000,
  lr: 2e-4,
  beta1: 0.5,
  beta2: 0.999,
  lambdaCycle: 10,
  lambdaPixelwise: 1,
  lambdaIdentity: 0,
  onNonFinite: "stop",
  ganLoss: "bce",
  cycleLoss: "l2",
  pixelwiseLoss: "l2",
  generator: "unet",
  ngf: 16,
  ndf: 16,
  nResidualBlocks: 9,
  backend: "auto",
  seed: 0,
  sampleEvery: 100,
  checkpointEvery: 500,
  keepCheckpoints: 3,
  prefetch: 3,
  runDir: "",
};

/**
 * A bad option value; the message names the option (as on the command line) and what works.
 *
 * @example
 * ```ts
 * import { OptionError } from "./options.ts";
 * const e = new OptionError("--batch-size", "expected a whole number >= 1, got 0");
 * console.log(e.message, e.option);
 * ```
 */
export class OptionError extends Error {
  /** The option's command-line name, e.g. "--batch-size". */
  readonly option: string;
  /** Builds the error for `option` with the `problem` described. */
  constructor(option: string, problem: string) {
    super(`${option}: ${problem}`);
    this.option = option;
    this.name = "OptionError";
  }
}

/**
 * The command-line name of an option: `batchSize` -> `--batch-size`.
 *
 * @example
 * ```ts
 * import { flagName } from "./options.ts";
 * console.log(flagName("lambdaCycle")); // "--lambda-cycle"
 * ```
 */
export function flagName(key: string): string {
  return "--" + key.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
}

const GAN_LOSSES: readonly GanLossName[] = ["bce", "lsgan", "hinge"];
const DISTANCES: readonly DistanceName[] = ["l2", "l1", "cosine", "hinge"];
const GENERATORS: readonly GeneratorKind[] = ["unet", "resnet"];

/**
 * Fills defaults and checks every value; throws an {@link OptionError} naming
 * the first bad option.
 *
 * @example
 * ```ts
 * import { resolveTrainOptions } from "./options.ts";
 * const o = resolveTrainOptions({ dataA: "a", dataB: "b", batchSize: 4, runDir: "runs/x" });
 * console.log(o.ngf); // 16
 * resolveTrainOptions({ batchSize: 0 }); // throws "--batch-size: expected a whole number >= 1, got 0"
 * ```
 */
export function resolveTrainOptions(partial: Partial<TrainOptions>): TrainOptions {
  const o = { ...DEFAULT_TRAIN_OPTIONS, ...withoutUndefined(partial) } as TrainOptions;
  if (partial.epochs !== undefined && partial.iterations === undefined) delete o.iterations;
  if (partial.loadSize === undefined) o.loadSize = o.imageSize;
  const int = (key: keyof TrainOptions, min: number, max = Number.MAX_SAFE_INTEGER) => {
    const v = o[key];
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
      throw new OptionError(flagName(key), `expected a whole number ${range}, got ${show(v)}`);
    }
  };
  const real = (key: keyof TrainOptions, min: number, max: number, open = false) => {
    const v = o[key];
    if (typeof v !== "number" || !Number.isFinite(v) || v < min || v > max || (open && v === min)) {
      throw new OptionError(
        flagName(key),
        `expected a number ${open ? ">" : ">="} ${min} and <= ${max}, got ${show(v)}`,
      );
    }
  };
  const oneOf = <T>(key: keyof TrainOptions, allowed: readonly T[]) => {
    if (!allowed.includes(o[key] as T)) {
      throw new OptionError(
        flagName(key),
        `expected one of ${allowed.join(", ")}, got ${show(o[key])}`,
      );
    }
  };
  int("imageSize", 1, 4096);
  try {
    checkImageSize(o.imageSize, o.generator);
  } catch (e) {
    throw new OptionError("--image-size", (e as Error).message);
  }
  int("loadSize", o.imageSize, 8192);
  int("batchSize", 1, 4096);
  if (o.iterations !== undefined) int("iterations", 1);
  if (o.epochs !== undefined) int("epochs", 1);
  real("lr", 0, 1, true);
  real("beta1", 0, 0.999999);
  real("beta2", 0, 0.999999);
  real("lambdaCycle", 0, 1e6);
  real("lambdaPixelwise", 0, 1e6);
  real("lambdaIdentity", 0, 1e6);
  oneOf("onNonFinite", ["stop", "skip"]);
  oneOf("ganLoss", GAN_LOSSES);
  oneOf("cycleLoss", DISTANCES);
  oneOf("pixelwiseLoss", DISTANCES);
  oneOf("generator", GENERATORS);
  oneOf("backend", BACKEND_NAMES);
  int("ngf", 1, 1024);
  int("ndf", 1, 1024);
  int("nResidualBlocks", 0, 64);
  int("seed", 0, 2 ** 31 - 1);
  int("sampleEvery", 0);
  int("checkpointEvery", 0);
  int("keepCheckpoints", 1);
  int("prefetch", 1, 64);
  if (o.paired !== undefined && (o.dataA !== undefined || o.dataB !== undefined)) {
    throw new OptionError("--paired", "cannot be combined with --data-a/--data-b");
  }
  if ((o.dataA === undefined) !== (o.dataB === undefined)) {
    throw new OptionError(
      o.dataA === undefined ? "--data-a" : "--data-b",
      "give both --data-a and --data-b",
    );
  }
  for (const key of ["dataA", "dataB", "paired", "runDir"] as const) {
    if (
      o[key] !== undefined && (typeof o[key] !== "string" || (o[key] === "" && key !== "runDir"))
    ) {
      throw new OptionError(flagName(key), `expected a path, got ${show(o[key])}`);
    }
  }
  return o;
}

function show(v: unknown): string {
  return typeof v === "string" ? `"${v}"` : String(v);
}

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
