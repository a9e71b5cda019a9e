/**
 * OpenBLAS-backed convolution kernels for TF.js's `cpu` backend.
 *
 * {@linkcode registerBlasKernels} replaces the stock `cpu` kernels `Conv2D`,
 * `Conv2DBackpropInput`, `Conv2DBackpropFilter` and `FusedConv2D` with
 * im2col + `cblas_sgemm` implementations working directly in NHWC:
 *
 * - forward: `cols[N*OH*OW, KH*KW*Ci] · W[KH*KW*Ci, Co] = y[N*OH*OW, Co]`
 * - filter gradient: `dW[KH*KW*Ci, Co] = colsᵀ · dy`
 * - input gradient: `dcols = dy · Wᵀ`, then col2im (scatter-add) into `dx`
 *
 * im2col is chunked over output rows so the scratch matrix stays bounded, and
 * skipped entirely when it would be a plain reshape of the input (1x1/stride 1
 * convolutions, and "valid" filters that cover the whole input). Anything the
 * BLAS path does not handle (NCHW, non-float32 data, `prelu` activation, odd
 * bias shapes) is forwarded to the stock kernel, which is kept for that
 * purpose and re-registered by {@linkcode unregisterBlasKernels}.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { loadOpenBlas, type OpenBlas } from "./openblas.ts";
import { takeArray } from "../array_pool.ts";
import { type CpuBackendLike, float32Input as f32 } from "../cpu_data.ts";
import { KernelOverlay, type OverlayKernelArgs } from "../kernel_overlay.ts";

type ConvInfo = tf.backend_util.Conv2DInfo;
type Shape4 = [number, number, number, number];
type Pad = "same" | "valid" | number | tf.backend_util.ExplicitPadding;

type KernelArgs = OverlayKernelArgs;

/** Call counts of one kernel since registration (or the last reset). */
export interface BlasKernelCounts {
  /** Calls served by the OpenBLAS implementation. */
  blas: number;
  /** Calls forwarded to the stock tfjs-backend-cpu kernel. */
  fallback: number;
}

/** Options for {@linkcode registerBlasKernels}. */
export interface RegisterBlasOptions {
  /** OpenBLAS thread count; left as the library default when omitted. */
  threads?: number;
  /**
   * Upper bound, in float32 elements, of the im2col scratch matrix (default
   * 4M = 16 MiB). One output row's patch is always allowed.
   */
  maxScratchElements?: number;
}

let blas: OpenBlas | null = null;
const counts = new Map<string, BlasKernelCounts>();
let scratch = new Float32Array(0);
let maxScratch = 4 << 20;

// Exactly n floats, so native calls (and guard mode's bounds) see the chunk's
// matrix, not the whole grown buffer.
function getScratch(n: number): Float32Array {
  if (scratch.length < n) scratch = new Float32Array(n);
  return scratch.subarray(0, n);
}

function count(name: string, which: keyof BlasKernelCounts): void {
  let c = counts.get(name);
  if (!c) counts.set(name, c = { blas: 0, fallback: 0 });
  c[which]++;
}

function nhwc(dataFormat: unknown): boolean {
  return dataFormat === undefined || dataFormat === "NHWC" ||
    dataFormat === "channelsLast";
}

/** True when the im2col matrix equals the input viewed as [rows, K]. */
function colsIsInput(c: ConvInfo): boolean {
  const p = c.padInfo;
  if (p.top !== 0 || p.left !== 0 || p.bottom !== 0 || p.right !== 0) {
    return false;
  }
  if (c.dilationHeight !== 1 || c.dilationWidth !== 1) return false;
  const pointwise = c.filterHeight === 1 && c.filterWidth === 1 &&
    c.strideHeight === 1 && c.strideWidth === 1 &&
    c.outHeight === c.inHeight && c.outWidth === c.inWidth;
  const wholeImage = c.outHeight === 1 && c.outWidth === 1 &&
    c.filterHeight === c.inHeight && c.filterWidth === c.inWidth;
  return pointwise || wholeImage;
}

function rowsPerChunk(k: number, m: number): number {
  return Math.max(1, Math.min(m, Math.floor(maxScratch / k)));
}

/**
 * Walks output rows [row0, row0 + rows) and, for every (row, ky, kx) patch
 * slot, either copies x into cols (gather = true) or adds cols into x
 * (gather = false, col2im). Out-of-image slots are zero-filled on gather and
 * skipped on scatter.
 */
function patches(
  c: ConvInfo,
  img: Float32Array,
  cols: Float32Array,
  row0: number,
  rows: number,
  gather: boolean,
): void {
  const H = c.inHeight, W = c.inWidth, Ci = c.inChannels;
  const OH = c.outHeight, OW = c.outWidth;
  const KH = c.filterHeight, KW = c.filterWidth;
  const sh = c.strideHeight, sw = c.strideWidth;
  const dh = c.dilationHeight, dw = c.dilationWidth;
  const pt = c.padInfo.top, pl = c.padInfo.left;
  const K = KH * KW * Ci;
  const rowLen = KW * Ci;
  const spatial = OH * OW;
  let b = Math.floor(row0 / spatial);
  let oy = Math.floor((row0 % spatial) / OW);
  let ox = row0 % OW;
  for (let r = 0; r < rows; r++) {
    const colBase = r * K;
    const ix0 = ox * sw - pl;
    // kx range whose ix = ix0 + kx*dw lies inside [0, W).
    const kxLo = ix0 >= 0 ? 0 : Math.ceil(-ix0 / dw);
    const kxHi = Math.min(KW, Math.floor((W - 1 - ix0) / dw) + 1);
    for (let ky = 0; ky < KH; ky++) {
      const iy = oy * sh - pt + ky * dh;
      const cBase = colBase + ky * rowLen;
      if (iy < 0 || iy >= H || kxHi <= kxLo) {
        if (gather) cols.fill(0, cBase, cBase + rowLen);
        continue;
      }
      const imgRow = (b * H + iy) * W;
      if (gather && kxLo > 0) cols.fill(0, cBase, cBase + kxLo * Ci);
      if (dw === 1) {
        // Contiguous run of (kxHi - kxLo) pixels.
        const len = (kxHi - kxLo) * Ci;
        const s = (imgRow + ix0 + kxLo) * Ci;
        const d = cBase + kxLo * Ci;
        if (gather) {
          if (len >= 32) cols.set(img.subarray(s, s + len), d);
          else for (let i = 0; i < len; i++) cols[d + i] = img[s + i];
        } else {
          for (let i = 0; i < len; i++) img[s + i] += cols[d + i];
        }
      } else {
        for (let kx = kxLo; kx < kxHi; kx++) {
          const s = (imgRow + ix0 + kx * dw) * Ci;
          const d = cBase + kx * Ci;
          if (gather) {
            if (Ci >= 32) cols.set(img.subarray(s, s + Ci), d);
            else for (let i = 0; i < Ci; i++) cols[d + i] = img[s + i];
          } else {
            for (let i = 0; i < Ci; i++) img[s + i] += cols[d + i];
          }
        }
      }
      if (gather && kxHi < KW) {
        cols.fill(0, cBase + kxHi * Ci, cBase + rowLen);
      }
    }
    if (++ox === OW) {
      ox = 0;
      if (++oy === OH) {
        oy = 0;
        b++;
      }
    }
  }
}

/** y[M, Co] = im2col(x) · W (+ y if beta = 1). */
function convForward(
  c: ConvInfo,
  x: Float32Array,
  w: Float32Array,
  y: Float32Array,
  beta: number,
): void {
  const M = c.batchSize * c.outHeight * c.outWidth;
  const K = c.filterHeight * c.filterWidth * c.inChannels;
  const Co = c.outChannels;
  if (colsIsInput(c)) {
    blas!.sgemm(false, false, M, Co, K, 1, x, w, beta, y);
    return;
  }
  const step = rowsPerChunk(K, M);
  const cols = getScratch(step * K);
  for (let r0 = 0; r0 < M; r0 += step) {
    const rows = Math.min(step, M - r0);
    patches(c, x, cols, r0, rows, true);
    blas!.sgemm(
      false,
      false,
      rows,
      Co,
      K,
      1,
      cols,
      w,
      beta,
      y.subarray(r0 * Co, (r0 + rows) * Co),
    );
  }
}

/** dW[K, Co] = im2col(x)ᵀ · dy. */
function convBackpropFilter(
  c: ConvInfo,
  x: Float32Array,
  dy: Float32Array,
): Float32Array {
  const M = c.batchSize * c.outHeight * c.outWidth;
  const K = c.filterHeight * c.filterWidth * c.inChannels;
  const Co = c.outChannels;
  const dW = takeArray(K * Co);
  if (colsIsInput(c)) {
    blas!.sgemm(true, false, K, Co, M, 1, x, dy, 0, dW);
    return dW;
  }
  const step = rowsPerChunk(K, M);
  const cols = getScratch(step * K);
  for (let r0 = 0; r0 < M; r0 += step) {
    const rows = Math.min(step, M - r0);
    patches(c, x, cols, r0, rows, true);
    blas!.sgemm(
      true,
      false,
      K,
      Co,
      rows,
      1,
      cols,
      dy.subarray(r0 * Co, (r0 + rows) * Co),
      r0 === 0 ? 0 : 1,
      dW,
    );
  }
  return dW;
}

/** dx = col2im(dy · Wᵀ). */
function convBackpropInput(
  c: ConvInfo,
  dy: Float32Array,
  w: Float32Array,
): Float32Array {
  const M = c.batchSize * c.outHeight * c.outWidth;
  const K = c.filterHeight * c.filterWidth * c.inChannels;
  const Co = c.outChannels;
  // Zeroed: col2im adds into it.
  const dx = takeArray(c.batchSize * c.inHeight * c.inWidth * c.inChannels, true);
  if (colsIsInput(c)) {
    blas!.sgemm(false, true, M, K, Co, 1, dy, w, 0, dx);
    return dx;
  }
  const step = rowsPerChunk(K, M);
  const dcols = getScratch(step * K);
  for (let r0 = 0; r0 < M; r0 += step) {
    const rows = Math.min(step, M - r0);
    blas!.sgemm(
      false,
      true,
      rows,
      K,
      Co,
      1,
      dy.subarray(r0 * Co, (r0 + rows) * Co),
      w,
      0,
      dcols,
    );
    patches(c, dx, dcols, r0, rows, false);
  }
  return dx;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * TF.js's geometry of an NHWC convolution from a kernel's shapes and
 * attributes; null for other ranks or data formats.
 *
 * @example
 * ```ts
 * import { convInfo } from "./conv_kernels.ts";
 * const c = convInfo([1, 8, 8, 3], [4, 4, 3, 16], { strides: 2, pad: "same" }, 1);
 * console.log(c?.outShape); // [1, 4, 4, 16]
 * ```
 */
export function convInfo(
  xShape: readonly number[],
  filterShape: readonly number[],
  attrs: tf.NamedAttrMap,
  dilations: unknown,
): ConvInfo | null {
  if (xShape.length !== 4 || filterShape.length !== 4) return null;
  if (!nhwc(attrs.dataFormat)) return null;
  return tf.backend_util.computeConv2DInfo(
    xShape as Shape4,
    filterShape as Shape4,
    attrs.strides as [number, number] | number,
    (dilations ?? 1) as [number, number] | number,
    attrs.pad as Pad,
    attrs.dimRoundingMode as "floor" | "round" | "ceil" | undefined,
    false,
    "channelsLast",
  );
}

function conv2dKernel(args: KernelArgs): tf.TensorInfo | null {
  const backend = args.backend as CpuBackendLike;
  const { x, filter } = args.inputs;
  const attrs = args.attrs ?? {};
  const xv = f32(backend, x), wv = f32(backend, filter);
  if (!x || !filter || !xv || !wv) return null;
  const c = convInfo(x.shape, filter.shape, attrs, attrs.dilations);
  if (!c) return null;
  const y = takeArray(c.batchSize * c.outHeight * c.outWidth * c.outChannels);
  convForward(c, xv, wv, y, 0);
  return backend.makeTensorInfo(c.outShape, "float32", y);
}

function backpropInputKernel(args: KernelArgs): tf.TensorInfo | null {
  const backend = args.backend as CpuBackendLike;
  const { dy, filter } = args.inputs;
  const attrs = args.attrs ?? {};
  const dyv = f32(backend, dy), wv = f32(backend, filter);
  if (!dy || !filter || !dyv || !wv) return null;
  const c = convInfo(attrs.inputShape as number[], filter.shape, attrs, 1);
  if (!c || !sameShape(c.outShape, dy.shape)) return null;
  const dx = convBackpropInput(c, dyv, wv);
  return backend.makeTensorInfo(c.inShape, "float32", dx);
}

function backpropFilterKernel(args: KernelArgs): tf.TensorInfo | null {
  const backend = args.backend as CpuBackendLike;
  const { x, dy } = args.inputs;
  const attrs = args.attrs ?? {};
  const xv = f32(backend, x), dyv = f32(backend, dy);
  if (!x || !dy || !xv || !dyv) return null;
  const c = convInfo(x.shape, attrs.filterShape as number[], attrs, 1);
  if (!c || !sameShape(c.outShape, dy.shape)) return null;
  const dW = convBackpropFilter(c, xv, dyv);
  return backend.makeTensorInfo(c.filterShape, "float32", dW);
}

const ACTIVATIONS = new Set([
  "linear",
  "relu",
  "relu6",
  "elu",
  "leakyrelu",
  "sigmoid",
]);

function activate(y: Float32Array, act: string, alpha: number): void {
  const n = y.length;
  switch (act) {
    case "relu":
      for (let i = 0; i < n; i++) if (y[i] < 0) y[i] = 0;
      break;
    case "relu6":
      for (let i = 0; i < n; i++) y[i] = Math.min(Math.max(y[i], 0), 6);
      break;
    case "elu":
      for (let i = 0; i < n; i++) if (y[i] < 0) y[i] = Math.exp(y[i]) - 1;
      break;
    case "leakyrelu":
      for (let i = 0; i < n; i++) if (y[i] < 0) y[i] *= alpha;
      break;
    case "sigmoid":
      for (let i = 0; i < n; i++) y[i] = 1 / (1 + Math.exp(-y[i]));
      break;
  }
}

function fusedConv2dKernel(args: KernelArgs): tf.TensorInfo | null {
  const backend = args.backend as CpuBackendLike;
  const { x, filter, bias } = args.inputs;
  const attrs = args.attrs ?? {};
  const act = (attrs.activation as string | undefined) ?? "linear";
  if (!ACTIVATIONS.has(act)) return null;
  const alpha = attrs.leakyreluAlpha as number | undefined;
  if (act === "leakyrelu" && typeof alpha !== "number") return null;
  const xv = f32(backend, x), wv = f32(backend, filter);
  if (!x || !filter || !xv || !wv) return null;
  const c = convInfo(x.shape, filter.shape, attrs, attrs.dilations);
  if (!c) return null;
  const Co = c.outChannels;
  const y = takeArray(c.batchSize * c.outHeight * c.outWidth * Co);
  let beta = 0;
  if (bias) {
    const bv = f32(backend, bias);
    const size = bias.shape.reduce((a, b) => a * b, 1);
    // Only per-channel ([..., Co] with leading 1s) or scalar-like bias.
    const leadingOnes = bias.shape.slice(0, -1).every((d) => d === 1);
    if (!bv || !leadingOnes || (size !== Co && size !== 1)) return null;
    if (size === 1) y.fill(bv[0]);
    else for (let o = 0; o < y.length; o += Co) y.set(bv.subarray(0, Co), o);
    beta = 1;
  }
  convForward(c, xv, wv, y, beta);
  activate(y, act, alpha ?? 0);
  return backend.makeTensorInfo(c.outShape, "float32", y);
}

const overlay = new KernelOverlay(
  "cpu",
  {
    Conv2D: conv2dKernel,
    Conv2DBackpropInput: backpropInputKernel,
    Conv2DBackpropFilter: backpropFilterKernel,
    FusedConv2D: fusedConv2dKernel,
  },
  (name, served) => count(name, served ? "blas" : "fallback"),
);

/** Kernel names replaced on the `cpu` backend. */
export const BLAS_KERNEL_NAMES: readonly string[] = Object.keys(overlay.impls);

/**
 * Replaces the `cpu` backend's convolution kernels (see
 * {@linkcode BLAS_KERNEL_NAMES}) with OpenBLAS-backed ones. Idempotent.
 * Returns `false`, changing nothing, when OpenBLAS cannot be loaded (see
 * `openBlasLoadError()` in `openblas.ts`) or the stock cpu kernels are not
 * registered (import `@tensorflow/tfjs` or `@tensorflow/tfjs-backend-cpu`
 * first).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { registerBlasKernels, unregisterBlasKernels } from "./conv_kernels.ts";
 * await tf.setBackend("cpu");
 * if (registerBlasKernels()) {
 *   const x = tf.ones([1, 8, 8, 3]) as tf.Tensor4D;
 *   const w = tf.ones([4, 4, 3, 16]) as tf.Tensor4D;
 *   console.log(tf.conv2d(x, w, 2, "same").shape); // [1, 4, 4, 16]
 *   unregisterBlasKernels();
 * }
 * ```
 */
export function registerBlasKernels(
  options: RegisterBlasOptions = {},
): boolean {
  const lib = loadOpenBlas();
  if (!lib) return false;
  if (options.threads !== undefined) lib.setNumThreads(options.threads);
  if (options.maxScratchElements !== undefined) {
    if (!(options.maxScratchElements >= 1)) {
      throw new RangeError("maxScratchElements must be >= 1");
    }
    maxScratch = Math.floor(options.maxScratchElements);
  }
  if (overlay.installed) return true;
  blas = lib;
  if (!overlay.install()) blas = null;
  return blas !== null;
}

/**
 * Restores the stock `cpu` kernels replaced by {@linkcode registerBlasKernels}
 * and frees the im2col scratch buffer. Safe to call when not registered.
 *
 * @example
 * ```ts
 * import { registerBlasKernels, unregisterBlasKernels } from "./conv_kernels.ts";
 * registerBlasKernels();
 * unregisterBlasKernels(); // tf.conv2d on "cpu" is the stock kernel again
 * ```
 */
export function unregisterBlasKernels(): void {
  overlay.uninstall();
  blas = null;
  scratch = new Float32Array(0);
}

/**
 * Whether the BLAS kernels are currently registered.
 *
 * @example
 * ```ts
 * import { blasKernelsRegistered, registerBlasKernels } from "./conv_kernels.ts";
 * registerBlasKernels();
 * console.log(blasKernelsRegistered()); // true if OpenBLAS was found
 * ```
 */
export function blasKernelsRegistered(): boolean {
  return overlay.installed;
}

/**
 * Per-kernel counts of calls served by BLAS vs forwarded to the stock kernel
 * (a snapshot). Pass `reset = true` to zero the counters afterwards.
 *
 * @example
 * ```ts
 * import { blasKernelStats } from "./conv_kernels.ts";
 * const stats = blasKernelStats(true);
 * console.log(stats.Conv2D?.fallback ?? 0);
 * ```
 */
export function blasKernelStats(
  reset = false,
): Record<string, BlasKernelCounts> {
  const out: Record<string, BlasKernelCounts> = {};
  for (const [k, v] of counts) out[k] = { ...v };
  if (reset) counts.clear();
  return out;
}
