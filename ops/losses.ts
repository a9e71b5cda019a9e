/**
 * Adversarial losses on discriminator logits, and distances for the cycle and
 * pixelwise terms. Every loss is a mean over all elements, as PyTorch's
 * default `reduction="mean"`.
 * @module
 */
import { type Scalar, type Tensor, tf } from "./tf.ts";

/**
 * Stable binary cross-entropy on logits `x` with a constant target `y`:
 * `mean(max(x, 0) - x·y + log(1 + exp(-|x|)))`. Never a sigmoid then a log.
 *
 * @example
 * ```ts
 * import { tf } from "./tf.ts";
 * import { bceWithLogits } from "./losses.ts";
 * bceWithLogits(tf.zeros([2, 1, 8, 8]), 1).print(); // log 2 = 0.6931
 * ```
 */
export function bceWithLogits(x: Tensor, y: number): Scalar {
  return tf.tidy(() =>
    tf.mean(
      tf.add(
        tf.sub(tf.relu(x), tf.mul(x, y)),
        tf.log1p(tf.exp(tf.neg(tf.abs(x)))),
      ),
    )
  );
}

/** The adversarial losses offered: DiscoGAN's BCE, least squares (LSGAN), hinge. */
export type GanLossName = "bce" | "lsgan" | "hinge";

/** The two sides of an adversarial loss, on raw discriminator outputs. */
export interface GanLoss {
  /** Loss of the discriminator for outputs on real (`true`) or fake images. */
  discriminator(logits: Tensor, real: boolean): Scalar;
  /** Loss of the generator whose fakes received these outputs. */
  generator(logits: Tensor): Scalar;
}

/**
 * The adversarial losses, by `--gan-loss` name: a new one is one entry here
 * (and its name in {@link GanLossName}). BCE uses the non-saturating generator
 * form `-log D(G(x))`; hinge uses `mean(relu(1 ∓ D))` for D and `-mean(D(G(x)))`
 * for G.
 *
 * @example
 * ```ts
 * import { GAN_LOSSES } from "./losses.ts";
 * console.log(Object.keys(GAN_LOSSES)); // ["bce", "lsgan", "hinge"]
 * ```
 */
export const GAN_LOSSES: Readonly<Record<GanLossName, GanLoss>> = {
  bce: {
    discriminator: (x, real) => bceWithLogits(x, real ? 1 : 0),
    generator: (x) => bceWithLogits(x, 1),
  },
  lsgan: {
    discriminator: (x, real) => tf.tidy(() => tf.mean(tf.square(tf.sub(x, real ? 1 : 0)))),
    generator: (x) => tf.tidy(() => tf.mean(tf.square(tf.sub(x, 1)))),
  },
  hinge: {
    discriminator: (x, real) => tf.tidy(() => tf.mean(tf.relu(real ? tf.sub(1, x) : tf.add(1, x)))),
    generator: (x) => tf.tidy(() => tf.neg(tf.mean(x))),
  },
};

/**
 * The adversarial loss by name (an entry of {@link GAN_LOSSES}).
 *
 * @example
 * ```ts
 * import { tf } from "./tf.ts";
 * import { ganLoss } from "./losses.ts";
 * const loss = ganLoss("lsgan");
 * loss.discriminator(tf.ones([1, 1, 8, 8]), true).print(); // 0: perfectly real
 * ```
 */
export function ganLoss(name: GanLossName): GanLoss {
  return GAN_LOSSES[name];
}

/** Distances offered for the reconstruction and pixelwise terms. */
export type DistanceName = "l2" | "l1" | "cosine" | "hinge";

/** Margin of the hinge distance, in pixel units of the [-1, 1] range. */
export const HINGE_MARGIN = 0.1;

/** A distance between two batches of images: one scalar. */
export type Distance = (a: Tensor, b: Tensor) => Scalar;

/**
 * A distance between two image batches, as a scalar:
 * - `l2`: mean squared error (DiscoGAN's reconstruction loss),
 * - `l1`: mean absolute error,
 * - `cosine`: mean over the batch of `1 - cos(a_i, b_i)`, each image flattened,
 * - `hinge`: `mean(max(0, |a - b| - margin))`, which ignores differences below
 *   the margin ({@link HINGE_MARGIN}).
 *
 * @example
 * ```ts
 * import { tf } from "./tf.ts";
 * import { distance } from "./losses.ts";
 * distance("l1")(tf.zeros([1, 2, 2, 3]), tf.ones([1, 2, 2, 3])).print(); // 1
 * ```
 */
export function distance(name: DistanceName): Distance {
  return DISTANCES[name];
}

/**
 * The distances, by name: a new one is one entry here (and its name in
 * {@link DistanceName}).
 *
 * @example
 * ```ts
 * import { DISTANCES } from "./losses.ts";
 * console.log(Object.keys(DISTANCES)); // ["l2", "l1", "cosine", "hinge"]
 * ```
 */
export const DISTANCES: Readonly<Record<DistanceName, Distance>> = {
  l2: (a, b) => tf.tidy(() => tf.mean(tf.squaredDifference(a, b))),
  l1: (a, b) => tf.tidy(() => tf.mean(tf.abs(tf.sub(a, b)))),
  cosine: (a, b) =>
    tf.tidy(() => {
      const n = a.shape[0];
      const fa = tf.reshape(a, [n, -1]), fb = tf.reshape(b, [n, -1]);
      const dot = tf.sum(tf.mul(fa, fb), 1);
      const norms = tf.mul(tf.norm(fa, 2, 1), tf.norm(fb, 2, 1));
      // eps as torch.nn.functional.cosine_similarity: no division by zero.
      return tf.mean(tf.sub(1, tf.div(dot, tf.maximum(norms, 1e-8))));
    }),
  hinge: (a, b) => tf.tidy(() => tf.mean(tf.relu(tf.sub(tf.abs(tf.sub(a, b)), HINGE_MARGIN)))),
};
