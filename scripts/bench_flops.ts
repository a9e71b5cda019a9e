// Floating-point work of a training iteration, for `deno task bench`'s share
// of peak: the multiply-adds of every convolution kernel call (forward,
// input gradient, filter gradient, transposed), counted while one iteration
// runs, as 2 FLOPs each. Element-wise ops, norms and Adam are not counted:
// they are memory-bound and small next to the convolutions.
import * as tf from "@tensorflow/tfjs";
import {
  KernelOverlay,
  type OverlayImpl,
  type OverlayKernelArgs,
} from "../ops/runtime/kernel_overlay.ts";
import { convInfo } from "../ops/runtime/openblas/conv_kernels.ts";
import { FILTER_BIAS_GRAD } from "../ops/runtime/filter_bias_grad.ts";

// The kernels watched, each with the convolution kernel whose FLOPs it does.
const WATCHED: [string, string][] = [
  ["Conv2D", "Conv2D"],
  ["FusedConv2D", "FusedConv2D"],
  ["Conv2DBackpropInput", "Conv2DBackpropInput"],
  ["Conv2DBackpropFilter", "Conv2DBackpropFilter"],
  [FILTER_BIAS_GRAD, "Conv2DBackpropFilter"],
];

/**
 * FLOPs of one convolution kernel call, from its shapes: 2 · N · OH · OW · CO
 * · KH · KW · CI of the convolution it computes (a gradient does the same
 * multiply-adds as the forward pass it differentiates). 0 when its shapes are
 * not NHWC 2-D convolution ones.
 */
export function convCallFlops(name: string, args: OverlayKernelArgs): number {
  const attrs = args.attrs ?? {};
  const shape = (key: string) => (args.inputs[key] as tf.TensorInfo | undefined)?.shape;
  let xShape: readonly number[] | undefined, filterShape: readonly number[] | undefined;
  if (name === "Conv2D" || name === "FusedConv2D") {
    [xShape, filterShape] = [shape("x"), shape("filter")];
  } else if (name === "Conv2DBackpropInput") {
    [xShape, filterShape] = [attrs.inputShape as number[], shape("filter")];
  } else {
    [xShape, filterShape] = [shape("x"), attrs.filterShape as number[]];
  }
  if (!xShape || !filterShape) return 0;
  const c = convInfo(xShape, filterShape, attrs, attrs.dilations);
  if (!c) return 0;
  return 2 * c.batchSize * c.outHeight * c.outWidth * c.outChannels * c.filterHeight *
    c.filterWidth * c.inChannels;
}

/**
 * Runs `iteration` once and returns the FLOPs of the convolutions it ran on
 * the active backend (the kernels are watched, not replaced).
 */
export async function iterationFlops(iteration: () => Promise<unknown>): Promise<number> {
  const backend = tf.getBackend();
  let flops = 0;
  // A kernel may run others inside (the filter and bias gradients run the
  // filter gradient's; a filter gradient built of convolutions runs Conv2D):
  // only the outermost call counts.
  let depth = 0;
  const impls: Record<string, OverlayImpl> = {};
  for (const [name, countAs] of WATCHED) {
    const covered = tf.getKernel(name, backend);
    if (!covered) continue;
    impls[name] = (args) => {
      if (depth === 0) flops += convCallFlops(countAs, args);
      depth++;
      try {
        const out = covered.kernelFunc(args as Parameters<tf.KernelFunc>[0]);
        return out as tf.TensorInfo | tf.TensorInfo[];
      } finally {
        depth--;
      }
    };
  }
  const overlay = new KernelOverlay(backend, impls);
  overlay.install(true);
  try {
    await iteration();
  } finally {
    overlay.uninstall();
  }
  return flops;
}
