/**
 * Instance normalisation as PyTorch's `InstanceNorm2d(affine=False)`.
 * @module
 */
import { type Tensor4D, tf } from "./tf.ts";

/** PyTorch's default epsilon for `InstanceNorm2d`. */
export const INSTANCE_NORM_EPS = 1e-5;

/**
 * Normalises each sample and channel over H and W with the biased variance:
 * `(x - mean) / sqrt(var + eps)` on an NHWC tensor.
 *
 * @example
 * ```ts
 * import { tf } from "./tf.ts";
 * import { instanceNorm } from "./instance_norm.ts";
 * const y = instanceNorm(tf.randomNormal([2, 4, 4, 3]));
 * tf.moments(y, [1, 2]).mean.print(); // ~0 for every sample and channel
 * ```
 */
export function instanceNorm(
  x: Tensor4D,
  eps: number = INSTANCE_NORM_EPS,
): Tensor4D {
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, [1, 2], true);
    return tf.mul(
      tf.sub(x, mean),
      tf.rsqrt(tf.add(variance, eps)),
    ) as Tensor4D;
  });
}
