/**
 * The PatchGAN discriminator of the spec: one logit per patch, an H/8 x W/8 map.
 * @module
 */
import { leakyRelu } from "../ops/leaky_relu.ts";
import { type Tensor4D, tf } from "../ops/tf.ts";
import { conv2d } from "../ops/conv.ts";
import { instanceNormAct } from "../ops/norm_act.ts";
import { convPadding } from "../ops/padding.ts";
import { type Network, param, ParamBuilder } from "./network.ts";

/** Widths of the PatchGAN discriminator. */
export interface PatchGanOptions {
  /** Image channels (3). */
  channels?: number;
  /** Base width `ndf` (64 = PyTorch-GAN's network). */
  ndf: number;
  /** Initialisation seed. */
  seed?: number;
}

/** The image side the PatchGAN needs: three halvings, so a multiple of 8. */
export const PATCHGAN_SIZE_MULTIPLE = 8;

/**
 * Throws a RangeError unless `h`×`w` is an image size the PatchGAN can judge.
 *
 * @example
 * ```ts
 * import { checkPatchGanSize } from "./patchgan.ts";
 * checkPatchGanSize(40); // fine; 36 would throw
 * ```
 */
export function checkPatchGanSize(h: number, w: number = h): void {
  const m = PATCHGAN_SIZE_MULTIPLE;
  if (h % m || w % m || h <= 0 || w <= 0) {
    throw new RangeError(
      `image size ${h}x${w} does not work with the PatchGAN discriminator: its three ` +
        `halvings need sides that are a multiple of ${m} (${m}, ${2 * m}, ${3 * m}, ${4 * m}, ...)`,
    );
  }
}

/**
 * Builds the discriminator: three stride-2 convs (the last two instance-
 * normalised), LeakyReLU(0.2), then ZeroPad2d((1,0,1,0)) and a 4x4 conv to one
 * channel. Parameters `model.{0,2,5,9}.{weight,bias}`. Outputs raw logits.
 *
 * @example
 * ```ts
 * import { tf } from "../ops/tf.ts";
 * import { patchGanDiscriminator } from "./patchgan.ts";
 * const d = patchGanDiscriminator({ ndf: 8 });
 * console.log(d.apply(tf.zeros([2, 128, 128, 3])).shape); // [2, 16, 16, 1]
 * ```
 */
export function patchGanDiscriminator(options: PatchGanOptions): Network {
  const { channels = 3, ndf, seed = 1000 } = options;
  const builder = new ParamBuilder("patchgan", seed);
  builder.conv("model.0", channels, ndf, 4);
  builder.conv("model.2", ndf, 2 * ndf, 4);
  builder.conv("model.5", 2 * ndf, 4 * ndf, 4);
  builder.conv("model.9", 4 * ndf, 1, 4);
  const params = builder.params;
  // One scope per block: the conv's output, which the norm's backward pass
  // does not keep, is freed as soon as it is normalised.
  const block = (x: Tensor4D, name: string, normalize: boolean) =>
    tf.tidy(() => {
      const y = conv2d(x, param(params, `${name}.weight`), param(params, `${name}.bias`), 2, 1);
      return normalize ? instanceNormAct(y, "leakyRelu", 0.2) : leakyRelu(y, 0.2);
    });
  return {
    kind: "patchgan",
    params,
    apply: (x) =>
      tf.tidy(() => {
        const h = block(
          block(block(x, "model.0", false), "model.2", true),
          "model.5",
          true,
        );
        const pad = convPadding([1, 0, 1, 0], 1);
        return conv2d(
          h,
          param(params, "model.9.weight"),
          param(params, "model.9.bias"),
          1,
          pad,
        );
      }),
  };
}
