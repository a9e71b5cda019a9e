/**
 * The padding forms of the spec: PyTorch's `ZeroPad2d` and `ReflectionPad2d`
 * on NHWC tensors.
 * @module
 */
import { type Tensor4D, tf } from "./tf.ts";

/** Left, right, top, bottom: the order of PyTorch's `ZeroPad2d((l, r, t, b))`. */
export type Pad4 = readonly [
  left: number,
  right: number,
  top: number,
  bottom: number,
];

/**
 * Zero padding in PyTorch's argument order, on an NHWC tensor.
 *
 * @example
 * ```ts
 * import { tf } from "./tf.ts";
 * import { zeroPad2d } from "./padding.ts";
 * const y = zeroPad2d(tf.ones([1, 2, 2, 1]), [1, 0, 1, 0]); // PatchGAN's ZeroPad2d((1,0,1,0))
 * console.log(y.shape); // [1, 3, 3, 1]
 * ```
 */
export function zeroPad2d(x: Tensor4D, [l, r, t, b]: Pad4): Tensor4D {
  return tf.pad(x, [[0, 0], [t, b], [l, r], [0, 0]]);
}

/**
 * Reflection padding (`ReflectionPad2d(p)`): the border row is not repeated.
 *
 * @example
 * ```ts
 * import { tf } from "./tf.ts";
 * import { reflectionPad2d } from "./padding.ts";
 * console.log(reflectionPad2d(tf.ones([1, 8, 8, 3]), 3).shape); // [1, 14, 14, 3]
 * ```
 */
export function reflectionPad2d(x: Tensor4D, p: number): Tensor4D {
  return tf.mirrorPad(x, [[0, 0], [p, p], [p, p], [0, 0]], "reflect");
}

/**
 * Explicit padding for `tf.conv2d` equal to `ZeroPad2d(pad4)` followed by a
 * convolution with symmetric padding `p`: one op instead of a pad and a conv.
 *
 * @example
 * ```ts
 * import { convPadding } from "./padding.ts";
 * // ZeroPad2d((1,0,1,0)) then Conv2d(k=4, padding=1): 2 top, 1 bottom, 2 left, 1 right
 * console.log(convPadding([1, 0, 1, 0], 1)); // [[0,0],[2,1],[2,1],[0,0]]
 * ```
 */
export function convPadding(
  [l, r, t, b]: Pad4,
  p: number,
): [[0, 0], [number, number], [number, number], [0, 0]] {
  return [[0, 0], [t + p, b + p], [l + p, r + p], [0, 0]];
}
