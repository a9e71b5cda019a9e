/**
 * Convolutions with bias, in PyTorch's terms, on NHWC tensors.
 * @module
 */
import { type Tensor, type Tensor4D, tf } from "./tf.ts";
import { FILTER_BIAS_GRAD } from "./runtime/filter_bias_grad.ts";

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
// and drifts from PyTorch's update beyond the parity tests' bounds.
//
// It is a kernel of its own, with a registered gradient rather than a
// customGrad, for two savings PyTorch's autograd makes too:
// - TF.js's tf.fused.conv2d keeps its output for the backward pass, which
//   only needs it for an activation; this kernel keeps x and the weight alone,
//   so the output is freed as soon as the next layer has read it.
// - A registered gradient is one function per input, and the backward pass
//   calls only those of inputs that lead to a variable: no input gradient for
//   an image, or for a detached fake in the discriminators' step (a customGrad
//   computes every input's gradient).
// Same kernels, same values.
const CONV_BIAS = "DiscoConv2DBias";

interface ConvBiasAttrs {
  strides: number;
  pad: ExplicitPad;
}

// Registered once, as this module loads (a kernel for a backend not yet set
// up is allowed); the cpu backend is the only one that runs it.
function registerConvBias(): void {
  tf.registerKernel({
    kernelName: CONV_BIAS,
    backendName: "cpu",
    // Looked up per call: the oneDNN and OpenBLAS overlays replace FusedConv2D.
    kernelFunc: ({ inputs, backend, attrs }) =>
      tf.getKernel("FusedConv2D", "cpu")!.kernelFunc({
        inputs,
        backend,
        attrs: { ...attrs, dataFormat: "NHWC", dilations: [1, 1], activation: "linear" },
      }),
  });
  tf.registerGradient({
    kernelName: CONV_BIAS,
    inputsToSave: ["x", "filter"],
    gradFunc: (dy, saved, attrs) => {
      const [x, filter] = saved as [Tensor4D, Tensor4D];
      const { strides, pad } = attrs as unknown as ConvBiasAttrs;
      const common = { strides, pad, dataFormat: "NHWC", dimRoundingMode: undefined };
      const engine = tf.engine();
      const d = dy as Tensor4D;
      // The bias gradient, when the filter's came with it from one kernel
      // (oneDNN sums dy for it in the same pass): copied, as the kernel's
      // output is freed when the filter's gradient scope ends.
      let biasGrad: Float32Array | undefined;
      return {
        x: () =>
          engine.runKernel("Conv2DBackpropInput", { dy: d, filter }, {
            ...common,
            inputShape: x.shape,
          } as unknown as tf.NamedAttrMap) as Tensor4D,
        filter: () => {
          const [dw, db] = engine.runKernel(FILTER_BIAS_GRAD, { x, dy: d }, {
            ...common,
            filterShape: filter.shape,
          } as unknown as tf.NamedAttrMap) as [Tensor4D, Tensor];
          biasGrad = (db.dataSync() as Float32Array).slice();
          return dw;
        },
        bias: () => biasGrad ? tf.tensor1d(biasGrad) : tf.sum(d, [0, 1, 2]),
      };
    },
  });
}

registerConvBias();

function convBiasFused(
  x: Tensor4D,
  filter: Tensor4D,
  bias: Tensor,
  strides: number,
  pad: ExplicitPad,
): Tensor4D {
  const attrs: ConvBiasAttrs = { strides, pad };
  return tf.engine().runKernel(
    CONV_BIAS,
    { x, filter, bias },
    attrs as unknown as tf.NamedAttrMap,
  ) as Tensor4D;
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
