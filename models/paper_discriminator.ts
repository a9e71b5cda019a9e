/**
 * The discriminator of the DiscoGAN paper's official code (SKTBrain/DiscoGAN):
 * the generator's encoder, then a 4x4 conv to one logit per image, with the
 * encoder's features for the feature-matching loss.
 *
 * Parameter names are those of one PyTorch `nn.Sequential` named `main`
 * (tests/fixtures/paper/make_fixtures.py builds it). At 64 px with BatchNorm,
 * `c` image channels and width `ndf`:
 *
 * | index | module | state_dict entries |
 * |---|---|---|
 * | 0, 1 | Conv2d(c, ndf, 4, 2, 1), LeakyReLU(0.2) | `main.0.weight` |
 * | 2, 3, 4 | Conv2d(ndf, 2ndf), BatchNorm2d, LeakyReLU | `main.2.weight`, `main.3.{weight,bias,running_mean,running_var,num_batches_tracked}` |
 * | 5, 6, 7 | Conv2d(2ndf, 4ndf), BatchNorm2d, LeakyReLU | `main.5.weight`, `main.6.*` |
 * | 8, 9, 10 | Conv2d(4ndf, 8ndf), BatchNorm2d, LeakyReLU | `main.8.weight`, `main.9.*` |
 * | 11 | Conv2d(8ndf, 1, 4, 1, 0) | `main.11.weight` |
 *
 * All convolutions are bias-free. Each image doubling adds one encoder level
 * (widths capped at 8·ndf) and shifts the last conv by three. The official
 * code ends in a sigmoid; here the logits are returned and the loss applies
 * it. With `norm: "instance"` only the conv weights remain.
 * @module
 */
import { type Tensor4D, tf } from "../ops/tf.ts";
import type { ApplyOptions } from "./network.ts";
import {
  checkPaperInput,
  paperLayers,
  type PaperNetwork,
  type PaperNorm,
  paperStack,
  paperWidths,
} from "./paper_generator.ts";

/** Options of {@link paperDiscriminator}. */
export interface PaperDiscriminatorOptions {
  /** Image channels (3). */
  channels?: number;
  /** Base width `ndf` (64, the paper's). */
  ndf?: number;
  /** Image side (64, the paper's); see `checkPaperSize`. */
  imageSize?: number;
  /** Normalisation: "batch" (the paper's, default) or "instance". */
  norm?: PaperNorm;
  /** Initialisation seed (1000). */
  seed?: number;
}

/**
 * The paper's discriminator: logits `[N, 1, 1, 1]` from `apply`, and from
 * `applyWithFeatures` the features of the encoder too.
 *
 * @example
 * ```ts
 * import { tf } from "../ops/tf.ts";
 * import { paperDiscriminator } from "./paper_discriminator.ts";
 * const d = paperDiscriminator({ ndf: 8 });
 * const { logits, features } = d.applyWithFeatures(tf.zeros([2, 64, 64, 3]));
 * console.log(logits.shape, features.map((f) => f.shape[3])); // [2, 1, 1, 1] [16, 32, 64]
 * ```
 */
export interface PaperDiscriminator extends PaperNetwork {
  /**
   * The logits and the post-activation outputs of every encoder level after
   * the first (levels 2, 3, 4 at 64 px), for feature matching.
   */
  applyWithFeatures(
    x: Tensor4D,
    options?: ApplyOptions,
  ): { logits: Tensor4D; features: Tensor4D[] };
}

/**
 * Builds the paper's discriminator: stride-2 convs down to 4x4 (LeakyReLU
 * 0.2, no norm on the first), then Conv 4x4 stride 1 pad 0 to one raw logit
 * per image. `training: true` runs BatchNorm on batch statistics and updates
 * its running buffers once per call; otherwise it uses them.
 *
 * @throws {RangeError} For an image size `checkPaperSize` refuses.
 *
 * @example
 * ```ts
 * import { tf } from "../ops/tf.ts";
 * import { paperDiscriminator } from "./paper_discriminator.ts";
 * const d = paperDiscriminator({ ndf: 8, imageSize: 128 });
 * console.log(d.apply(tf.zeros([2, 128, 128, 3]), { training: true }).shape); // [2, 1, 1, 1]
 * ```
 */
export function paperDiscriminator(
  options: PaperDiscriminatorOptions = {},
): PaperDiscriminator {
  const { channels = 3, ndf = 64, imageSize = 64, norm = "batch", seed = 1000 } = options;
  const levels = paperWidths(ndf, imageSize).length;
  const layers = paperLayers({ role: "discriminator", channels, width: ndf, imageSize });
  const stack = paperStack("paper-discriminator", seed, layers, norm);
  const applyWithFeatures = (x: Tensor4D, opts: ApplyOptions = {}) => {
    checkPaperInput(x, imageSize, channels);
    return tf.tidy(() => {
      const outputs = stack.run(x, opts.training ?? false);
      return { logits: outputs[levels], features: outputs.slice(1, levels) };
    });
  };
  return {
    kind: "paper-discriminator",
    params: stack.params,
    buffers: stack.buffers,
    imageSize,
    norm,
    applyWithFeatures,
    apply: (x, opts) => tf.tidy(() => applyWithFeatures(x, opts).logits),
  };
}
