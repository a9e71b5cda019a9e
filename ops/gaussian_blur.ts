/**
 * A Gaussian blur of each channel of an NHWC image, with its gradient: what
 * the cycle term's `--cycle-blur` applies to a translation on its way back.
 * @module
 */
import { type Tensor4D, tf } from "./tf.ts";
import { replicationPad2d } from "./padding.ts";

/**
 * The normalised 1-D Gaussian of standard deviation `sigma` pixels, cut at
 * `ceil(2·sigma)` pixels either side of the centre.
 *
 * @example
 * ```ts
 * import { gaussianKernel } from "./gaussian_blur.ts";
 * console.log(gaussianKernel(1).length); // 5
 * ```
 */
export function gaussianKernel(sigma: number): Float32Array {
  if (!(sigma > 0)) throw new RangeError(`blur sigma must be > 0, got ${sigma}`);
  const radius = Math.ceil(2 * sigma);
  const weights = new Float32Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) {
    sum += weights[i + radius] = Math.exp(-(i * i) / (2 * sigma * sigma));
  }
  return weights.map((w) => w / sum);
}

/**
 * Blurs each channel of `x` (NHWC) by a Gaussian of `sigma` pixels, as two
 * 1-D passes; the border is extended by replication, so a flat image stays
 * flat. Differentiable (convolutions and padding). `sigma` 0 returns `x`.
 * PyTorch's equal: `F.conv2d(F.pad(x, [r] * 4, mode="replicate"), k, groups=C)`
 * with each pass's kernel (scripts/torch/objective.py).
 *
 * @example
 * ```ts
 * import { tf } from "./tf.ts";
 * import { gaussianBlur } from "./gaussian_blur.ts";
 * const y = gaussianBlur(tf.ones([1, 8, 8, 3]), 1);
 * console.log(y.shape); // [1, 8, 8, 3]
 * ```
 */
export function gaussianBlur(x: Tensor4D, sigma: number): Tensor4D {
  if (sigma === 0) return x;
  const weights = gaussianKernel(sigma);
  const k = weights.length, radius = (k - 1) / 2, c = x.shape[3];
  // One kernel per channel: the diagonal of a [k, 1, C, C] (then [1, k, C, C]) filter.
  const filter = new Float32Array(k * c * c);
  for (let i = 0; i < k; i++) {
    for (let ch = 0; ch < c; ch++) filter[(i * c + ch) * c + ch] = weights[i];
  }
  return tf.tidy(() => {
    const padded = replicationPad2d(x, radius);
    const down = tf.conv2d(padded, tf.tensor4d(filter, [k, 1, c, c]), 1, "valid");
    return tf.conv2d(down, tf.tensor4d(filter, [1, k, c, c]), 1, "valid") as Tensor4D;
  });
}
