/**
 * What an iteration reads and updates: the four networks, one Adam per side,
 * and the objective's settings, whose rows (kind, default, range, help) are
 * declared here once.
 * @module
 */
import type { Tensor4D, Variable } from "../ops/tf.ts";
import { Adam, type AdamOptions, DISCOGAN_ADAM } from "../ops/adam.ts";
import { type DistanceName, DISTANCES, GAN_LOSSES, type GanLossName } from "../ops/losses.ts";
import {
  type DiscoGanModels,
  type DiscriminatorKind,
  DISCRIMINATORS,
  ROLE_NAMES,
} from "../models/discogan.ts";
import { type OptionTable, resolveOptions } from "../models/options.ts";
import { isPaperSize, paperWidths } from "../models/paper_generator.ts";
import { FakePool } from "./fake_pool.ts";

/** The terms of the objective and their weights: the objective rows of the options table. */
export interface ObjectiveOptions {
  /** Adversarial loss. */
  ganLoss: GanLossName;
  /** Distance of the cycle reconstruction term (DiscoGAN's: l2, the MSE). */
  cycleLoss: DistanceName;
  /** Distance of the pixelwise translation term (paired data only). */
  pixelwiseLoss: DistanceName;
  /** Weight of the cycle term. */
  lambdaCycle: number;
  /** Weight of the pixelwise term; used only when `paired`. */
  lambdaPixelwise: number;
  /**
   * Weight of the identity term `|G_AB(b) - b|₁ + |G_BA(a) - a|₁` (CycleGAN's,
   * not DiscoGAN's: it keeps colours and figure/ground from flipping).
   */
  lambdaIdentity: number;
  /**
   * Share of feature matching in the adversarial term: `(1 - x)·GAN + x·FM`
   * (the paper's code: 0.9). FM: per chosen discriminator layer, the mean
   * squared difference of the batch means of real and fake features, summed.
   */
  featureMatching: number;
  /** The discriminator layers feature matching compares, e.g. "2,3,4" (level 1 is the first conv). */
  featureLayers: string;
  /**
   * The paper's weighting, when set: the generators minimise
   * `(1 - rate)·adversarial + rate·λ_cycle·cycle`, with `rate` =
   * {@link startingRate} for the first {@link ganCurriculum} iterations and this
   * after. Unset: `adversarial + λ_cycle·cycle`.
   */
  defaultRate?: number;
  /** The reconstruction rate of the first {@link ganCurriculum} iterations (default: `defaultRate`). */
  startingRate?: number;
  /** Iterations that use {@link startingRate}. */
  ganCurriculum: number;
  /**
   * Standard deviation of Gaussian noise added to each translation before it
   * is translated back for the cycle term (0: none). A generator pair can
   * meet the cycle loss by hiding the input in faint patterns of its output
   * (CycleGAN's "steganography"), free to change what is visible; noise the
   * size of those patterns takes that channel away, so the input must survive
   * in what the discriminator sees. Seeded by iteration, so runs resume exactly.
   */
  cycleNoise: number;
  /**
   * Size of each discriminator's pool of past fakes (CycleGAN's 50; see
   * {@link FakePool}); 0: the discriminators see only the newest fakes.
   */
  poolSize: number;
}

/**
 * The objective options: kind, default, range and help of each, declared once.
 *
 * @example
 * ```ts
 * import { OBJECTIVE_OPTIONS } from "./training_state.ts";
 * console.log(OBJECTIVE_OPTIONS.lambdaCycle.default); // 10
 * ```
 */
export const OBJECTIVE_OPTIONS: OptionTable<ObjectiveOptions> = {
  ganLoss: {
    kind: "choice",
    default: "bce",
    choices: Object.keys(GAN_LOSSES),
    help: "adversarial loss",
    group: "Training",
  },
  cycleLoss: {
    kind: "choice",
    default: "l2",
    choices: Object.keys(DISTANCES),
    help: "distance of the cycle loss",
    group: "Training",
  },
  pixelwiseLoss: {
    kind: "choice",
    default: "l2",
    choices: Object.keys(DISTANCES),
    help: "distance of the pixelwise loss (paired data)",
    group: "Training",
  },
  lambdaCycle: {
    kind: "real",
    default: 10,
    min: 0,
    max: 1e6,
    help: "weight of the cycle loss",
    group: "Training",
  },
  lambdaPixelwise: {
    kind: "real",
    default: 1,
    min: 0,
    max: 1e6,
    help: "weight of the pixelwise loss (paired data)",
    group: "Training",
  },
  lambdaIdentity: {
    kind: "real",
    default: 0,
    min: 0,
    max: 1e6,
    help: "weight of CycleGAN's identity loss (0 = DiscoGAN's objective)",
    group: "Training",
  },
  featureMatching: {
    kind: "real",
    default: 0,
    min: 0,
    max: 1,
    help: "share of feature matching in the adversarial term, (1-x)·GAN + x·FM " +
      "(the paper's 0.9; needs a discriminator with features: paper)",
    group: "Training",
    check: (v: number, o) => {
      const d = o.discriminator as DiscriminatorKind | undefined;
      if (v > 0 && d !== undefined && !DISCRIMINATORS[d]?.features) {
        throw new Error(`needs a discriminator that returns its features (paper), not ${d}`);
      }
    },
  },
  featureLayers: {
    kind: "text",
    default: "2,3,4",
    help: "discriminator layers feature matching compares (2 = the second conv)",
    group: "Training",
    check: (v: string, o) => {
      if (!/^\d+(,\d+)*$/.test(v) || featureLayerList(v).some((l) => l < 2)) {
        throw new Error(`expected layer numbers from 2 up, comma-separated, got "${v}"`);
      }
      // Found here rather than at the first iteration: the paper discriminator
      // has one level per halving down to 4x4.
      const size = o.imageSize as number | undefined;
      if (
        (o.featureMatching as number) > 0 && o.discriminator === "paper" &&
        size !== undefined && isPaperSize(size)
      ) {
        const levels = paperWidths(1, size).length;
        const missing = featureLayerList(v).find((l) => l > levels);
        if (missing !== undefined) {
          throw new Error(
            `layer ${missing} does not exist at image size ${size}: the paper discriminator has ` +
              `layers 2..${levels} there (one more per doubling of the size); choose among them`,
          );
        }
      }
    },
  },
  defaultRate: {
    kind: "real",
    min: 0,
    max: 1,
    help: "the paper's weighting: (1-rate)·adversarial + rate·λ_cycle·cycle, rate after the " +
      "curriculum (unset: adversarial + λ_cycle·cycle)",
    group: "Training",
  },
  startingRate: {
    kind: "real",
    default: (o) => o.defaultRate as number,
    min: 0,
    max: 1,
    help: "rate during the first --gan-curriculum iterations (default: --default-rate)",
    group: "Training",
  },
  ganCurriculum: {
    kind: "int",
    default: 0,
    min: 0,
    help: "iterations that use --starting-rate",
    group: "Training",
  },
  cycleNoise: {
    kind: "real",
    default: 0,
    min: 0,
    max: 2,
    help: "std of Gaussian noise added to translations before they are translated back for " +
      "the cycle term (keeps the generators from hiding the input in faint detail); 0: none",
    group: "Training",
  },
  poolSize: {
    kind: "int",
    default: 0,
    min: 0,
    max: 10000,
    help: "show each discriminator a pool of up to N past fakes (CycleGAN's 50); 0: off",
    group: "Training",
  },
};

/**
 * The layer numbers of a `featureLayers` option: "2,3,4" -> [2, 3, 4].
 *
 * @example
 * ```ts
 * import { featureLayerList } from "./training_state.ts";
 * console.log(featureLayerList("3,4")); // [3, 4]
 * ```
 */
export function featureLayerList(layers: string): number[] {
  return layers.split(",").map(Number);
}

/** Adam's settings that a run chooses: the optimizer rows of the options table. */
export interface OptimizerOptions {
  /** Learning rate. */
  lr: number;
  /** Decay of the first moment. */
  beta1: number;
  /** Decay of the second moment. */
  beta2: number;
  /** Adam's L2 weight decay (PyTorch's `weight_decay`: `grad + wd·param`). */
  weightDecay: number;
  /**
   * With N > 1, the discriminators alone are stepped on iterations
   * `i % N == 0` and the generators alone on the others (the paper's code:
   * 3); 1 steps both every iteration.
   */
  dUpdateInterval: number;
  /**
   * Decay the learning rate linearly to 0 over the last N iterations of the
   * run (CycleGAN's `n_epochs_decay`, counted in iterations); 0: constant.
   */
  lrDecayIterations: number;
}

/**
 * The optimizer options; their defaults are DiscoGAN's Adam ({@link DISCOGAN_ADAM}).
 *
 * @example
 * ```ts
 * import { OPTIMIZER_OPTIONS } from "./training_state.ts";
 * console.log(OPTIMIZER_OPTIONS.lr.default); // 0.0002
 * ```
 */
export const OPTIMIZER_OPTIONS: OptionTable<OptimizerOptions> = {
  lr: {
    kind: "real",
    default: DISCOGAN_ADAM.lr,
    min: 0,
    max: 1,
    aboveMin: true,
    help: "Adam's learning rate",
    group: "Training",
  },
  beta1: {
    kind: "real",
    default: DISCOGAN_ADAM.beta1,
    min: 0,
    max: 0.999999,
    help: "Adam's beta1",
    group: "Training",
  },
  beta2: {
    kind: "real",
    default: DISCOGAN_ADAM.beta2,
    min: 0,
    max: 0.999999,
    help: "Adam's beta2",
    group: "Training",
  },
  weightDecay: {
    kind: "real",
    default: 0,
    min: 0,
    max: 1,
    help: "Adam's L2 weight decay (the paper's code: 1e-5)",
    group: "Training",
  },
  dUpdateInterval: {
    kind: "int",
    default: 1,
    min: 1,
    max: 1000,
    help: "step D alone on every N-th iteration and G alone on the others (the paper's 3); " +
      "1: both each iteration",
    group: "Training",
  },
  lrDecayIterations: {
    kind: "int",
    default: 0,
    min: 0,
    help: "decay the learning rate linearly to 0 over the last N iterations (0: constant)",
    group: "Training",
  },
};

/**
 * The learning rate of iteration `iteration` (0-based) of a run of `total`:
 * `lr`, then over the last `decay` iterations a straight line down to 0.
 *
 * @example
 * ```ts
 * import { learningRate } from "./training_state.ts";
 * console.log(learningRate(2e-4, 950, 1000, 100)); // 0.0001
 * ```
 */
export function learningRate(lr: number, iteration: number, total: number, decay: number): number {
  if (decay <= 0 || !Number.isFinite(total)) return lr;
  return lr * Math.min(1, Math.max(0, total - iteration) / decay);
}

/** The objective an iteration computes: its options, and two facts of the run. */
export interface LossOptions extends ObjectiveOptions {
  /**
   * Leave the networks and optimizers untouched by a step whose loss or
   * gradients are not finite (a "skipped" batch). Costs one reduction over the
   * gradients and a synchronous read per step. Default false.
   */
  skipNonFinite: boolean;
  /** Whether A and B images of a batch correspond (pix2pix layout). Default false. */
  paired: boolean;
}

/**
 * Defaults of {@link LossOptions}: those of {@link OBJECTIVE_OPTIONS}, unpaired, no guard.
 *
 * @example
 * ```ts
 * import { DEFAULT_LOSS_OPTIONS } from "./training_state.ts";
 * console.log(DEFAULT_LOSS_OPTIONS.ganLoss); // "bce"
 * ```
 */
export const DEFAULT_LOSS_OPTIONS: Readonly<LossOptions> = {
  ...resolveOptions(OBJECTIVE_OPTIONS, {}),
  skipNonFinite: false,
  paired: false,
};

/** Everything an iteration reads and updates. */
export interface TrainingState {
  /** The four networks. */
  models: DiscoGanModels;
  /** Adam over G_AB and G_BA. */
  gOptimizer: Adam;
  /** Adam over D_A and D_B. */
  dOptimizer: Adam;
  /** How the optimizers step: learning rate, betas, weight decay, the D update interval. */
  optimizer: OptimizerOptions;
  /** The objective. */
  losses: LossOptions;
  /** Seed of the dropout masks. */
  seed: number;
  /** Dropout in the generator passes (PyTorch's `train()`); off reproduces `eval()`. */
  dropout: boolean;
  /** Iterations completed. */
  iteration: number;
  /** The iteration count the run is to reach (for a decaying learning rate); unset: open-ended. */
  totalIterations?: number;
  /** The discriminators' pools of past fakes (capacity 0 when `poolSize` is 0). */
  pools: { a: FakePool; b: FakePool };
}

/** A batch: NHWC images in [-1, 1]; paired batches correspond row by row. */
export interface Batch {
  /** Images of domain A. */
  realA: Tensor4D;
  /** Images of domain B. */
  realB: Tensor4D;
}

/**
 * Parameters of the given networks as one map, keyed `role.name` with the
 * networks' file names (e.g. `g_ab.final.2.bias`).
 *
 * @example
 * ```ts
 * import { createDiscoGan } from "../models/discogan.ts";
 * import { networkParams } from "./training_state.ts";
 * const models = createDiscoGan({ ngf: 4, ndf: 4 });
 * console.log(networkParams(models, ["gAB", "gBA"]).has("g_ba.final.2.bias")); // true
 * ```
 */
export function networkParams(
  models: DiscoGanModels,
  which: readonly (keyof DiscoGanModels)[],
): Map<string, Variable> {
  const out = new Map<string, Variable>();
  for (const key of which) {
    for (const [name, v] of models[key].params) out.set(`${ROLE_NAMES[key]}.${name}`, v);
  }
  return out;
}

/** What {@link createTrainingState} is configured by; every part optional. */
export interface TrainingStateOptions {
  /** The objective (the rest from {@link DEFAULT_LOSS_OPTIONS}); other keys are ignored. */
  losses?: Partial<LossOptions>;
  /** Adam's settings and the step schedule (the rest from their rows); other keys are ignored. */
  adam?: Partial<AdamOptions & OptimizerOptions>;
  /** Seed of the dropout masks. Default 0. */
  seed?: number;
  /** Dropout in the generator passes. Default true. */
  dropout?: boolean;
}

/**
 * Builds the training state: networks plus one Adam per side. The settings are
 * checked against their option rows; a resolved run's options can be passed
 * whole as `losses` and `adam`.
 *
 * @example
 * ```ts
 * import { createDiscoGan } from "../models/discogan.ts";
 * import { createTrainingState } from "./training_state.ts";
 * const state = createTrainingState(createDiscoGan({ ngf: 8, ndf: 8 }));
 * console.log(state.iteration); // 0
 * ```
 */
export function createTrainingState(
  models: DiscoGanModels,
  options: TrainingStateOptions = {},
): TrainingState {
  const given = options.losses ?? {};
  const objective = resolveOptions(OBJECTIVE_OPTIONS, pick(given, OBJECTIVE_OPTIONS));
  const optimizer = resolveOptions(OPTIMIZER_OPTIONS, pick(options.adam ?? {}, OPTIMIZER_OPTIONS));
  const adam = (): AdamOptions => ({
    lr: optimizer.lr,
    beta1: optimizer.beta1,
    beta2: optimizer.beta2,
    eps: options.adam?.eps ?? DISCOGAN_ADAM.eps,
  });
  return {
    models,
    gOptimizer: new Adam(networkParams(models, ["gAB", "gBA"]), adam()),
    dOptimizer: new Adam(networkParams(models, ["dA", "dB"]), adam()),
    optimizer,
    losses: {
      ...objective,
      skipNonFinite: given.skipNonFinite ?? DEFAULT_LOSS_OPTIONS.skipNonFinite,
      paired: given.paired ?? DEFAULT_LOSS_OPTIONS.paired,
    },
    seed: options.seed ?? 0,
    dropout: options.dropout ?? true,
    iteration: 0,
    pools: { a: new FakePool(objective.poolSize), b: new FakePool(objective.poolSize) },
  };
}

function pick<T>(from: object, table: OptionTable<T>): Partial<T> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(table)) out[key] = (from as Record<string, unknown>)[key];
  return out as Partial<T>;
}
