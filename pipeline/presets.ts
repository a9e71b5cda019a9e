/**
 * Presets: named sets of training options, so that a user need not know them
 * all. A preset expands to explicit options, all recorded in `options.json`;
 * options given on the command line override it.
 * @module
 */
import type { PresetName, TrainOptions } from "./options.ts";

// The seed's objective (PyTorch-GAN's discogan): GAN + 10·cycle, both sides every iteration.
const SEED_OBJECTIVE: Partial<TrainOptions> = {
  ganLoss: "bce",
  cycleLoss: "l2",
  lambdaCycle: 10,
  featureMatching: 0,
  dUpdateInterval: 1,
  weightDecay: 0,
};

// The official code's image translation settings (image_translation.py).
const PAPER: Partial<TrainOptions> = {
  generator: "paper",
  discriminator: "paper",
  norm: "batch",
  bottleneck: false,
  ngf: 64,
  ndf: 64,
  batchSize: 64,
  ganLoss: "bce",
  cycleLoss: "l2",
  lambdaCycle: 1,
  featureMatching: 0.9,
  featureLayers: "2,3,4",
  startingRate: 0.01,
  defaultRate: 0.5,
  ganCurriculum: 10000,
  dUpdateInterval: 3,
  weightDecay: 1e-5,
  lr: 2e-4,
  beta1: 0.5,
  beta2: 0.999,
  flip: false,
};

/**
 * The presets:
 * - `pytorch-gan`: the defaults, PyTorch-GAN's networks (U-Net generator,
 *   PatchGAN discriminator) and objective (GAN + 10·cycle): colour and texture;
 * - `shape`: the ResNet generator and the paper's whole-image discriminator
 *   with InstanceNorm, the same objective with feature matching 0.5 (on layers
 *   2-4), cycle noise 0.2 and a pool of 50 past fakes: shape and pose (it
 *   learned the rotation benchmark's relation, where the U-Net kept the input's
 *   shape, and is the best glyph preset);
 * - `paper`: the official code's image translation (SKTBrain/DiscoGAN
 *   `image_translation.py`): encoder-decoder without skips, whole-image
 *   discriminator, BatchNorm, feature matching 0.9, reconstruction rate 0.01
 *   for 10000 iterations then 0.5, D stepped every third iteration, weight
 *   decay 1e-5, widths 64, batch 64;
 * - `paper-angle`: its angle experiments (`angle_pairing.py`): the paper preset
 *   with the 1x1x100 bottleneck, rate 0.9 throughout, feature matching on
 *   layers 3-4.
 *
 * @example
 * ```ts
 * import { PRESETS } from "./presets.ts";
 * console.log(PRESETS.paper.generator); // "paper"
 * ```
 */

export const PRESETS: Readonly<Record<PresetName, Partial<TrainOptions>>> = {
  "pytorch-gan": { generator: "unet", discriminator: "patchgan", ...SEED_OBJECTIVE },
  // What learned the rotation benchmark's relation and scored best on glyphs (README,
  // learning benchmarks): a generator without skips and a discriminator that judges the
  // whole image, for tasks that change shape or pose. The seed's objective, plus three
  // terms that glyphs needed (18% to 32% at 1000 iterations) and rotation kept its target
  // with: feature matching, noise on the cycle's way back, a pool of past fakes.
  shape: {
    generator: "resnet",
    discriminator: "paper",
    norm: "instance",
    ...SEED_OBJECTIVE,
    featureMatching: 0.5,
    cycleNoise: 0.2,
    poolSize: 50,
  },
  paper: PAPER,
  "paper-angle": {
    ...PAPER,
    bottleneck: true,
    featureLayers: "3,4",
    startingRate: 0.9,
    defaultRate: 0.9,
  },
};
