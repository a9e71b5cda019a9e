/**
 * Convolutions with bias, in PyTorch's terms, on NHWC tensors.
 * @module
 */
import { type Tensor, type Tensor4D, tf } from "./tf.ts";

/** Padding accepted by {@link conv2d}: a symmetric pixel count or an explicit NHWC pad. */
export type ConvPadding = number | [
  [0, 0],
  [number, number],
  [number, number],
  [0, 0],
];

/**
 * `Conv2d(k, stride, padding)` with bias. Weight `[kh, kw, in, out]`.
 *
 * @example
 * ```ts
 * import { tf } from "./tf.ts";
 * import { conv2d } from "./conv.ts";
 * const y = conv2d(tf.ones([1, 8, 8, 3]), tf.ones([4, 4, 3, 2]), tf.zeros([2]), 2, 1);
 * console.log(y.shape); // [1, 4, 4, 2]
 * ```
 */
export function conv2d(
  x: Tensor4D,
  weight: Tensor,
  bias: Tensor,
  stride: number,
  padding: ConvPadding,
): Tensor4D {
  const pad = typeof padding === "number"
    ? [[0, 0], [padding, padding], [padding, padding], [0, 0]] as ConvPadding
    : padding;
  const explicit = pad as [[0, 0], [number, number], [number, number], [0, 0]];
  if (tf.getBackend() === "cpu") {
    return convBiasFused(x, weight as Tensor4D, bias, stride, explicit);
  }
  return tf.tidy(() => tf.add(tf.conv2d(x, weight as Tensor4D, stride, explicit), bias));
}

type ExplicitPad = [[0, 0], [number, number], [number, number], [0, 0]];

// One kernel that adds the bias as it writes the output (oneDNN, OpenBLAS): a
// pass and an array fewer. Not on wasm, whose fused kernel adds the bias first
// and drifts from PyTorch's update beyond the parity tests' bounds. TF.js's own
// tf.fused.conv2d keeps its output for the backward pass, which only needs it
// for an activation; without one, this op keeps x and the weight alone, so the
// output is freed as soon as the next layer has read it (one activation fewer
// per layer held to the backward pass). Same kernels, same values.
function convBiasFused(
  x: Tensor4D,
  filter: Tensor4D,
  bias: Tensor,
  strides: number,
  pad: ExplicitPad,
): Tensor4D {
  const op = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
    const [x4, w, b, save] = args as [Tensor4D, Tensor4D, Tensor, tf.GradSaveFunc];
    save([x4, w]);
    return {
      value: tf.fused.conv2d({ x: x4, filter: w, strides, pad, bias: b }),
      gradFunc: (dy: Tensor4D, saved: Tensor[]) => {
        const [xs, ws] = saved as [Tensor4D, Tensor4D];
        const attrs = { strides, pad, dataFormat: "NHWC", dimRoundingMode: undefined };
        const engine = tf.engine();
        const dx = engine.runKernel("Conv2DBackpropInput", { dy, filter: ws }, {
          ...attrs,
          inputShape: xs.shape,
        } as unknown as tf.NamedAttrMap) as Tensor4D;
        const dw = engine.runKernel("Conv2DBackpropFilter", { x: xs, dy }, {
          ...attrs,
          filterShape: ws.shape,
        } as unknown as tf.NamedAttrMap) as Tensor4D;
        return [dx, dw, tf.reshape(tf.sum(dy, [0, 1, 2]), bias.shape)];
      },
    };
  });
  return op(x, filter, bias) as Tensor4D;
}

/**
 * `ConvTranspose2d(k=4, stride=2, padding=1)` with bias: doubles H and W.
 * Weight `[kh, kw, out, in]`.
 *
 * @example
 * ```ts
 * import { tf } from "./tf.ts";
 * import { convTranspose2dUp } from "./conv.ts";
 * const y = convTranspose2dUp(tf.ones([1, 2, 2, 4]), tf.ones([4, 4, 3, 4]), tf.zeros([3]));
 * console.log(y.shape); // [1, 4, 4, 3]
 * ```
 */
export function convTranspose2dUp(
  x: Tensor4D,
  weight: Tensor,
  bias: Tensor,
): Tensor4D {
  const [n, h, w] = x.shape;
  const cout = weight.shape[2] as number;
  return tf.tidy(() =>
    tf.add(
      tf.conv2dTranspose(
        x,
        weight as Tensor4D,
        [n, 2 * h, 2 * w, cout],
        2,
        "same",
      ),
      bias,
    )
  );
}
