/**
 * `Conv2DBackpropFilter` written as one dilated convolution, for backends
 * that lack the kernel (wasm) or run it slowly (cpu, about 10x slower).
 *
 * The filter gradient is
 * `dW[i, j, c, o] = Σ_{n, y, x} xpad[n, y·s + i, x·s + j, c] · dy[n, y, x, o]`:
 * a valid convolution of the padded input with channels and batch swapped
 * (`[C, Hp, Wp, N]`) by `dy` laid out as a filter (`[OH, OW, N, O]`), with
 * dilation equal to the forward stride. It is built from the backend's own
 * `PadV2`, `Transpose`, `Conv2D` and `Slice` kernels.
 * @module
 */
import { type KernelConfig, tf } from "../tf.ts";

type Info = tf.TensorInfo;
type Kernel = (inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap) => Info;

/** Kernels used to build the filter gradient, looked up on one backend. */
function kernelsOf(backendName: string, backend: tf.KernelBackend) {
  const get = (name: string): Kernel => {
    const k = tf.getKernel(name, backendName);
    if (!k) throw new Error(`${backendName} backend has no ${name} kernel`);
    return (inputs, attrs) => k.kernelFunc({ inputs, attrs, backend }) as Info;
  };
  return {
    pad: get("PadV2"),
    transpose: get("Transpose"),
    conv: get("Conv2D"),
    slice: get("Slice"),
  };
}

/**
 * Registers the dilated-conv `Conv2DBackpropFilter` on a backend, replacing
 * its own kernel if it has one. Only the NHWC layout is supported (the only
 * one this project uses). Returns the replaced kernel config, if any, so a
 * caller can put it back.
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * import { registerConvFilterGrad } from "./filter_grad.ts";
 * registerConvFilterGrad("cpu");
 * const x = tf.randomNormal([1, 8, 8, 3]) as tf.Tensor4D;
 * const dw = tf.grad((w: tf.Tensor) => tf.conv2d(x, w as tf.Tensor4D, 2, "same").sum());
 * console.log(dw(tf.zeros([4, 4, 3, 5])).shape); // [4, 4, 3, 5]
 * ```
 */
export function registerConvFilterGrad(
  backendName: string,
): KernelConfig | undefined {
  const previous = tf.getKernel("Conv2DBackpropFilter", backendName);
  if (previous) tf.unregisterKernel("Conv2DBackpropFilter", backendName);
  tf.registerKernel({
    kernelName: "Conv2DBackpropFilter",
    backendName,
    kernelFunc: ({ inputs, backend: anyBackend, attrs }) => {
      const backend = anyBackend as tf.KernelBackend;
      const { x, dy } = inputs as { x: Info; dy: Info };
      const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as {
        strides: [number, number] | number;
        pad: "same" | "valid" | number | tf.backend_util.ExplicitPadding;
        dataFormat: "NHWC" | "NCHW";
        dimRoundingMode?: "floor" | "round" | "ceil";
        filterShape: [number, number, number, number];
      };
      if (dataFormat === "NCHW") {
        throw new Error("Conv2DBackpropFilter: NCHW is not supported");
      }
      const info = tf.backend_util.computeConv2DInfo(
        x.shape as [number, number, number, number],
        filterShape,
        strides,
        1,
        pad,
        dimRoundingMode,
      );
      const k = kernelsOf(backendName, backend);
      const temps: Info[] = [];
      const keep = (t: Info) => (temps.push(t), t);
      const { top, bottom, left, right } = info.padInfo;
      const xPad = keep(
        k.pad({ x }, {
          paddings: [[0, 0], [top, bottom], [left, right], [0, 0]],
          constantValue: 0,
        }),
      );
      const xT = keep(k.transpose({ x: xPad }, { perm: [3, 1, 2, 0] }));
      const dyT = keep(k.transpose({ x: dy }, { perm: [1, 2, 0, 3] }));
      const full = keep(k.conv({ x: xT, filter: dyT }, {
        strides: [1, 1],
        pad: "valid",
        dataFormat: "NHWC",
        dilations: [info.strideHeight, info.strideWidth],
      }));
      const [c, kh, kw, o] = [
        info.inChannels,
        info.filterHeight,
        info.filterWidth,
        info.outChannels,
      ];
      const cropped = full.shape[1] === kh && full.shape[2] === kw ? full : keep(
        k.slice({ x: full }, { begin: [0, 0, 0, 0], size: [c, kh, kw, o] }),
      );
      const dw = k.transpose({ x: cropped }, { perm: [1, 2, 0, 3] });
      for (const t of temps) backend.disposeData(t.dataId);
      return dw;
    },
  });
  return previous;
}
