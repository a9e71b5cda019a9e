/**
 * oneDNN-backed convolution kernels for TF.js's `cpu` backend.
 *
 * {@linkcode registerOneDnnKernels} puts oneDNN in front of whatever
 * `Conv2D`, `Conv2DBackpropInput` and `Conv2DBackpropFilter` kernels the `cpu`
 * backend has (the OpenBLAS ones of `ops/runtime/openblas/conv_kernels.ts`, or the stock
 * ones). The earlier kernel still serves what oneDNN is not given: NCHW data,
 * dilations, non-float32 data, and layers with few output pixels, where the
 * OpenBLAS kernels measured faster (oneDNN spends those calls reordering the
 * filter). {@linkcode unregisterOneDnnKernels} restores it.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import type { ConvGeometry, OneDnn } from "./onednn.ts";
import { loadOneDnn } from "./onednn.ts";
import { blasKernelsRegistered, convInfo } from "../openblas/conv_kernels.ts";
import { type CpuBackendLike, float32Input as f32 } from "../cpu_data.ts";
import { takeArray } from "../array_pool.ts";
import { KernelOverlay, type OverlayKernelArgs } from "../kernel_overlay.ts";
import { FILTER_BIAS_GRAD } from "../filter_bias_grad.ts";

/**
 * Below this many output pixels (batch × height × width) a convolution or its
 * gradients go to the OpenBLAS kernels when those are registered: the
 * innermost bottleneck layers, bound by the filter's memory traffic, which
 * oneDNN also reorders on every call. Chosen by whole iterations of the
 * full-width networks, alternating settings in one process (AVX-512 EPYC, 2
 * cores, median ms): 64 px batch 1 took 264 with 64, 292 with 256 and 316
 * with 0 (all oneDNN); 128 px batch 1 took 485, 565 and 488.
 */
export const MIN_ONEDNN_PIXELS = 64;

type KernelArgs = OverlayKernelArgs;

type Shape4 = [number, number, number, number];

let dnnl: OneDnn | null = null;
let served = 0;
let precision: ConvPrecision = "fp32";

/** What oneDNN convolves in: fp32, or bf16 inputs with fp32 sums and outputs. */
export type ConvPrecision = "fp32" | "bf16";

function geometry(
  xShape: readonly number[] | undefined,
  filterShape: readonly number[] | undefined,
  attrs: tf.NamedAttrMap,
  dilations: unknown,
): { g: ConvGeometry; outShape: Shape4; inShape: Shape4 } | null {
  const c = xShape && filterShape ? convInfo(xShape, filterShape, attrs, dilations) : null;
  if (!c || c.dilationHeight !== 1 || c.dilationWidth !== 1) return null;
  const g: ConvGeometry = {
    n: c.batchSize,
    h: c.inHeight,
    w: c.inWidth,
    ci: c.inChannels,
    oh: c.outHeight,
    ow: c.outWidth,
    co: c.outChannels,
    kh: c.filterHeight,
    kw: c.filterWidth,
    sh: c.strideHeight,
    sw: c.strideWidth,
    pt: c.padInfo.top,
    pl: c.padInfo.left,
    bf16: precision === "bf16",
  };
  // oneDNN wants the padding after the input to be non-negative.
  if ((g.oh - 1) * g.sh + g.kh - g.h - g.pt < 0 || (g.ow - 1) * g.sw + g.kw - g.w - g.pl < 0) {
    return null;
  }
  if ([g.n, g.h, g.w, g.ci, g.oh, g.ow, g.co].some((d) => d === 0)) return null;
  return { g, outShape: c.outShape as Shape4, inShape: c.inShape as Shape4 };
}

// Small layers go to OpenBLAS, when it is there (see MIN_ONEDNN_PIXELS).
function small(g: ConvGeometry): boolean {
  return g.n * g.oh * g.ow < MIN_ONEDNN_PIXELS && blasKernelsRegistered();
}

function conv2d(args: KernelArgs): tf.TensorInfo | null {
  const backend = args.backend as CpuBackendLike;
  const { x, filter } = args.inputs;
  const xv = f32(backend, x), wv = f32(backend, filter);
  const geo = xv && wv
    ? geometry(x?.shape, filter?.shape, args.attrs ?? {}, args.attrs?.dilations)
    : null;
  if (!geo || !xv || !wv || small(geo.g)) return null;
  const y = takeArray(geo.outShape.reduce((a, b) => a * b, 1));
  (dnnl as OneDnn).forward(geo.g, xv, wv, null, y);
  return backend.makeTensorInfo(geo.outShape, "float32", y);
}

// A convolution plus a per-channel bias (no activation): the bias is added by
// oneDNN as the output is written, saving a pass and an array.
function fusedConv2d(args: KernelArgs): tf.TensorInfo | null {
  const backend = args.backend as CpuBackendLike;
  const { x, filter, bias, preluActivationWeights } = args.inputs;
  const attrs = args.attrs ?? {};
  if ((attrs.activation ?? "linear") !== "linear" || preluActivationWeights) return null;
  const xv = f32(backend, x), wv = f32(backend, filter);
  const bv = bias ? f32(backend, bias) : null;
  const geo = xv && wv ? geometry(x?.shape, filter?.shape, attrs, attrs.dilations) : null;
  if (!geo || !xv || !wv || (bias && bv?.length !== geo.g.co) || small(geo.g)) return null;
  const y = takeArray(geo.outShape.reduce((a, b) => a * b, 1));
  (dnnl as OneDnn).forward(geo.g, xv, wv, bv, y);
  return backend.makeTensorInfo(geo.outShape, "float32", y);
}

function backpropInput(args: KernelArgs): tf.TensorInfo | null {
  const backend = args.backend as CpuBackendLike;
  const { dy, filter } = args.inputs;
  const attrs = args.attrs ?? {};
  const dyv = f32(backend, dy), wv = f32(backend, filter);
  const geo = dyv && wv ? geometry(attrs.inputShape as number[], filter?.shape, attrs, 1) : null;
  if (!geo || !dyv || !wv || !dy) return null;
  if (!geo.outShape.every((d, i) => d === dy.shape[i])) return null;
  const g = geo.g;
  if (small(g)) return null;
  const dx = takeArray(geo.inShape.reduce((a, b) => a * b, 1));
  (dnnl as OneDnn).backwardData(g, dyv, wv, dx);
  return backend.makeTensorInfo(geo.inShape, "float32", dx);
}

// The filter gradient, and with `withBias` the bias gradient from the same pass.
function backpropFilter(args: KernelArgs, withBias = false): tf.TensorInfo[] | null {
  const backend = args.backend as CpuBackendLike;
  const { x, dy } = args.inputs;
  const attrs = args.attrs ?? {};
  const xv = f32(backend, x), dyv = f32(backend, dy);
  const filterShape = attrs.filterShape as number[];
  const geo = xv && dyv ? geometry(x?.shape, filterShape, attrs, 1) : null;
  if (!geo || !xv || !dyv || !dy) return null;
  if (!geo.outShape.every((d, i) => d === dy.shape[i]) || small(geo.g)) return null;
  const dw = takeArray(filterShape.reduce((a, b) => a * b, 1));
  const db = withBias ? takeArray(geo.g.co) : null;
  (dnnl as OneDnn).backwardWeights(geo.g, xv, dyv, dw, db);
  const dwInfo = backend.makeTensorInfo(filterShape, "float32", dw);
  return db ? [dwInfo, backend.makeTensorInfo([geo.g.co], "float32", db)] : [dwInfo];
}

const overlay = new KernelOverlay(
  "cpu",
  {
    Conv2D: conv2d,
    FusedConv2D: fusedConv2d,
    Conv2DBackpropInput: backpropInput,
    Conv2DBackpropFilter: (args) => backpropFilter(args)?.[0] ?? null,
    [FILTER_BIAS_GRAD]: (args) => backpropFilter(args, true),
  },
  (_, ours) => {
    if (ours) served++;
  },
);

/** Kernel names oneDNN serves on the `cpu` backend. */
export const ONEDNN_KERNEL_NAMES: readonly string[] = Object.keys(overlay.impls);

/**
 * Puts oneDNN in front of the `cpu` backend's convolution kernels. Idempotent.
 * Returns `false`, changing nothing, when oneDNN cannot be loaded (see
 * `oneDnnLoadError()` in `onednn.ts`) or the cpu kernels are not registered
 * (import `@tensorflow/tfjs` first).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { registerOneDnnKernels, unregisterOneDnnKernels } from "./conv_kernels.ts";
 * await tf.setBackend("cpu");
 * if (registerOneDnnKernels()) {
 *   const y = tf.conv2d(tf.ones([1, 8, 8, 3]) as tf.Tensor4D, tf.ones([4, 4, 3, 16]) as tf.Tensor4D, 2, "same");
 *   console.log(y.shape); // [1, 4, 4, 16]
 *   unregisterOneDnnKernels();
 * }
 * ```
 */
export function registerOneDnnKernels(): boolean {
  if (overlay.installed) return true;
  const lib = loadOneDnn();
  if (!lib) return false;
  dnnl = lib;
  return overlay.install();
}

/**
 * Restores the kernels {@linkcode registerOneDnnKernels} put oneDNN in front
 * of. Safe to call when not registered.
 *
 * @example
 * ```ts
 * import { unregisterOneDnnKernels } from "./conv_kernels.ts";
 * unregisterOneDnnKernels();
 * ```
 */
export function unregisterOneDnnKernels(): void {
  overlay.uninstall();
}

/**
 * Whether oneDNN currently serves the `cpu` backend's convolutions.
 *
 * @example
 * ```ts
 * import { oneDnnKernelsRegistered } from "./conv_kernels.ts";
 * console.log(oneDnnKernelsRegistered()); // false until registerOneDnnKernels()
 * ```
 */
export function oneDnnKernelsRegistered(): boolean {
  return overlay.installed;
}

/**
 * The oneDNN that serves the `cpu` backend's convolutions now (the `onednn`
 * backend), else null; the fused normalisations of `ops/norm_act.ts` use it
 * too.
 *
 * @example
 * ```ts
 * import { activeOneDnn } from "./conv_kernels.ts";
 * console.log(activeOneDnn()); // null until registerOneDnnKernels()
 * ```
 */
export function activeOneDnn(): OneDnn | null {
  return overlay.installed ? dnnl : null;
}

/**
 * How many convolution calls oneDNN has served since the process started
 * (the rest went to the earlier kernels).
 *
 * @example
 * ```ts
 * import { oneDnnCalls } from "./conv_kernels.ts";
 * console.log(oneDnnCalls()); // 0 before any convolution
 * ```
 */
export function oneDnnCalls(): number {
  return served;
}

/**
 * Sets what the oneDNN convolutions convolve in, from the next call on.
 * `bf16` rounds each convolution's input, filter and output gradient to
 * bfloat16 (round to nearest even) and sums the products in fp32; weights,
 * gradients and everything outside the convolutions stay fp32. The small
 * layers that go to OpenBLAS (see {@linkcode MIN_ONEDNN_PIXELS}) stay fp32.
 *
 * @example
 * ```ts
 * import { setOneDnnPrecision } from "./conv_kernels.ts";
 * setOneDnnPrecision("bf16");
 * setOneDnnPrecision("fp32");
 * ```
 */
export function setOneDnnPrecision(p: ConvPrecision): void {
  if (p !== "fp32" && p !== "bf16") {
    throw new RangeError(`precision must be fp32 or bf16, got ${p}`);
  }
  precision = p;
}

/**
 * What the oneDNN convolutions convolve in now.
 *
 * @example
 * ```ts
 * import { oneDnnPrecision } from "./conv_kernels.ts";
 * console.log(oneDnnPrecision()); // "fp32" unless set
 * ```
 */
export function oneDnnPrecision(): ConvPrecision {
  return precision;
}
