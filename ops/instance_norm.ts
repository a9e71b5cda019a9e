/**
 * Instance normalisation as PyTorch's `InstanceNorm2d(affine=False)`.
 * @module
 */
import { type Tensor, type Tensor4D, tf } from "./tf.ts";

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
  return normalize(eps)(x);
}

// The gradient written out, instead of autodiff through tf.moments: with
// x̂ = (x - mean)·r and r = 1/sqrt(var + eps), the input gradient is
// dx = r · (dy - mean(dy) - x̂ · mean(dy · x̂)), means over H and W. A few
// element-wise passes and two reductions instead of about a dozen.
const normalizers = new Map<number, (x: Tensor4D) => Tensor4D>();

function normalize(eps: number): (x: Tensor4D) => Tensor4D {
  let f = normalizers.get(eps);
  if (!f) {
    f = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
      const [x, save] = args as [Tensor4D, tf.GradSaveFunc];
      const { mean, variance } = tf.moments(x, [1, 2], true);
      const r = tf.rsqrt(tf.add(variance, eps));
      const xHat = tf.mul(tf.sub(x, mean), r) as Tensor4D;
      save([xHat, r]);
      const gradFunc = (dy: Tensor4D, saved: Tensor[]) => {
        const [xh, rr] = saved;
        const meanDyXh = tf.mean(tf.mul(dy, xh), [1, 2], true);
        // Centred last (mean(t) = mean(dy), as mean(x̂) = 0): the gradient then
        // sums to zero over H and W as exactly as floats allow, which is what
        // keeps the gradients of biases before a norm at rounding noise.
        const t = tf.sub(dy, tf.mul(xh, meanDyXh));
        return tf.mul(tf.sub(t, tf.mean(t, [1, 2], true)), rr);
      };
      return { value: xHat, gradFunc };
    }) as (x: Tensor4D) => Tensor4D;
    normalizers.set(eps, f);
  }
  return f;
}
