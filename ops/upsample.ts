/**
 * Nearest-neighbour upsampling by 2 with a gradient that is right for every
 * batch size and backend.
 *
 * tfjs 4.22's cpu kernel for `ResizeNearestNeighborGrad` is wrong for batch
 * items after the first, so the gradient here is written with a reshape and a
 * sum: every output pixel comes from exactly one input pixel, so the input
 * gradient is the sum of the 2x2 block it was copied to.
 * @module
 */
import { type Tensor, type Tensor4D, tf } from "./tf.ts";

const upsample = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
  const x = args[0] as Tensor4D;
  const [n, h, w, c] = x.shape;
  const value = tf.image.resizeNearestNeighbor(x, [2 * h, 2 * w], false, false);
  const gradFunc = (dy: Tensor4D) => tf.sum(tf.reshape(dy, [n, h, 2, w, 2, c]), [2, 4]);
  return { value, gradFunc };
}) as (x: Tensor4D) => Tensor4D;

/**
 * `Upsample(scale_factor=2, mode="nearest")` on an NHWC tensor.
 *
 * @example
 * ```ts
 * import { tf } from "./tf.ts";
 * import { upsampleNearest2x } from "./upsample.ts";
 * upsampleNearest2x(tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1])).print();
 * ```
 */
export function upsampleNearest2x(x: Tensor4D): Tensor4D {
  return upsample(x);
}
