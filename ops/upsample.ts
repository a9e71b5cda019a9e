/**
 * Nearest-neighbour upsampling by 2 with a gradient that is right for every
 * batch size and backend.
 *
 * tfjs 4.22's cpu kernel for `ResizeNearestNeighborGrad` is wrong for batch
 * items after the first, so the gradient here is our own: every output pixel
 * comes from exactly one input pixel, so the input gradient is the sum of the
 * 2x2 block it was copied to. On the cpu backends one pass over the backend's
 * arrays does it; elsewhere a reshape and a sum.
 * @module
 */
import { type Tensor, type Tensor4D, tf } from "./tf.ts";
import { takeArray } from "./runtime/array_pool.ts";
import { cpuFloat32 } from "./runtime/cpu_data.ts";

const upsample = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
  const x = args[0] as Tensor4D;
  const [n, h, w, c] = x.shape;
  const value = tf.image.resizeNearestNeighbor(x, [2 * h, 2 * w], false, false);
  const gradFunc = (dy: Tensor4D) => {
    const g = dy.dtype === "float32" ? cpuFloat32(dy) : null;
    // The generic sum over the reshape's axes 2 and 4 took 10-14 ms on a
    // 2x64x64x128 gradient at full width (ResNet, 64 px); this loop about 0.6.
    if (g) return tf.tensor4d(sumBlocks(g, n, h, w, c), x.shape);
    return tf.sum(tf.reshape(dy, [n, h, 2, w, 2, c]), [2, 4]) as Tensor4D;
  };
  return { value, gradFunc };
}) as (x: Tensor4D) => Tensor4D;

// The sum of each 2x2 block of an [n, 2h, 2w, c] array, in float64 and rounded
// once, as the reduction it replaces.
function sumBlocks(g: Float32Array, n: number, h: number, w: number, c: number): Float32Array {
  const out = takeArray(n * h * w * c);
  const row = 2 * w * c;
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < h; y++) {
      const top = (b * 2 * h + 2 * y) * row, bottom = top + row;
      let o = (b * h + y) * w * c;
      for (let x = 0; x < w; x++) {
        const t = top + 2 * x * c, u = bottom + 2 * x * c;
        for (let k = 0; k < c; k++) out[o + k] = g[t + k] + g[t + c + k] + g[u + k] + g[u + c + k];
        o += c;
      }
    }
  }
  return out;
}

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
