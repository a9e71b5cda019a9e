/**
 * Faster float32 element-wise, reduction and copy kernels for TF.js's `cpu`
 * backend.
 *
 * tfjs-backend-cpu's binary kernels compute a broadcast index per element
 * (`indexToLoc`, `slice`, `forEach`, `locToIndex`), its `Sum` and `Mean`
 * transpose their input unless the axes are innermost (and `Mean` makes two
 * more full-size copies), and its `SplitV` slices through a
 * `TensorBuffer` one element at a time. {@linkcode registerFastCpuKernels}
 * replaces those kernels with plain loops over `Float32Array`s for the shapes
 * a convolutional network produces:
 *
 * - `Add`, `Sub`, `Multiply`, `RealDiv`, `Maximum`, `Minimum`,
 *   `SquaredDifference`: equal shapes, a size-1 operand, and any broadcast
 *   that collapses to at most three blocks (`[C]` or `[1,1,1,C]` over NHWC,
 *   `[N,1,1,C]` over `[N,H,W,C]`, `[N,1]` over `[N,K]`, ...).
 * - `Greater`, `GreaterEqual`, `Less`, `LessEqual`: equal shapes or a size-1
 *   operand (bool result).
 * - `Sum`, `Mean`: any set of axes (`[1,2]` of NHWC, `[0,1,2]`, all axes,
 *   `[2,4]` of the upsampling gradient's `[N,H,2,W,2,C]`), in one pass over
 *   the input.
 * - `SplitV`, `Concat`: any axis, copying contiguous runs.
 * - `Transpose`: any permutation, copying the runs of the axes it leaves in place.
 * - `Square`, `Sqrt`, `Rsqrt`, `Neg`, `Abs`, `Floor`, `Tanh`, `Relu`, `LeakyRelu`, `Step`,
 *   `Select` (same-shape condition), `ResizeNearestNeighbor`.
 *
 * Results are bit-identical to the stock kernels: every element is computed
 * with the same JavaScript expression (a double result rounded to float32 on
 * store), or, for `Relu`, `LeakyRelu`, `Step` and `Select`, an equivalent
 * branch-free select on the float32 bit patterns (NaNs may differ in payload
 * only); reductions accumulate each output in a float64 accumulator,
 * adding the inputs in the same order as the stock kernel (whose running sum
 * is also a JavaScript double); `Mean` divides every element by the reduced
 * size and rounds it to float32 before summing, as the stock kernel does.
 * Anything else (other dtypes, empty tensors, broadcasts of both operands,
 * malformed attributes) goes to the stock kernel, which is kept and restored
 * by {@linkcode unregisterFastCpuKernels}.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { takeArray } from "./array_pool.ts";
import { type CpuBackendLike, float32Input as f32 } from "./cpu_data.ts";
import { KernelOverlay, type OverlayImpl } from "./kernel_overlay.ts";

interface KernelArgs {
  inputs: tf.NamedTensorInfoMap | tf.TensorInfo[];
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}

type Impl = (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[] | null;

/** Call counts of one kernel since registration (or the last reset). */
export interface FastCpuKernelCounts {
  /** Calls served by the fast implementation. */
  fast: number;
  /** Calls forwarded to the stock tfjs-backend-cpu kernel. */
  fallback: number;
}

// ---------------------------------------------------------------- helpers

/** The float32 words of `v` as int32 bit patterns. */
function bits(v: Float32Array, n: number): Int32Array {
  return new Int32Array(v.buffer, v.byteOffset, n);
}

function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Numpy broadcast of two shapes, or null when they are incompatible. */
function broadcastShape(a: readonly number[], b: readonly number[]): number[] | null {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) return null;
    out[i] = da === 1 ? db : da;
  }
  return out;
}

// ------------------------------------------------------------ binary ops

const ADD = 0, SUB = 1, MUL = 2, DIV = 3, MAX = 4, MIN = 5, SQDIFF = 6;

/** y[o+i] = op(a[ai+i], b[bi+i]) for i < n. */
function rowVV(
  op: number,
  y: Float32Array,
  o: number,
  a: Float32Array,
  ai: number,
  b: Float32Array,
  bi: number,
  n: number,
): void {
  const d = ai - o, e = bi - o, end = o + n;
  switch (op) {
    case ADD:
      for (let i = o; i < end; i++) y[i] = a[i + d] + b[i + e];
      break;
    case SUB:
      for (let i = o; i < end; i++) y[i] = a[i + d] - b[i + e];
      break;
    case MUL:
      for (let i = o; i < end; i++) y[i] = a[i + d] * b[i + e];
      break;
    case DIV:
      for (let i = o; i < end; i++) y[i] = a[i + d] / b[i + e];
      break;
    case MAX:
      for (let i = o; i < end; i++) y[i] = Math.max(a[i + d], b[i + e]);
      break;
    case MIN:
      for (let i = o; i < end; i++) y[i] = Math.min(a[i + d], b[i + e]);
      break;
    case SQDIFF:
      for (let i = o; i < end; i++) {
        const t = a[i + d] - b[i + e];
        y[i] = t * t;
      }
      break;
  }
}

/** y[o+i] = op(a[ai+i], s) for i < n. */
function rowVS(
  op: number,
  y: Float32Array,
  o: number,
  a: Float32Array,
  ai: number,
  s: number,
  n: number,
): void {
  const d = ai - o, end = o + n;
  switch (op) {
    case ADD:
      for (let i = o; i < end; i++) y[i] = a[i + d] + s;
      break;
    case SUB:
      for (let i = o; i < end; i++) y[i] = a[i + d] - s;
      break;
    case MUL:
      for (let i = o; i < end; i++) y[i] = a[i + d] * s;
      break;
    case DIV:
      for (let i = o; i < end; i++) y[i] = a[i + d] / s;
      break;
    case MAX:
      for (let i = o; i < end; i++) y[i] = Math.max(a[i + d], s);
      break;
    case MIN:
      for (let i = o; i < end; i++) y[i] = Math.min(a[i + d], s);
      break;
    case SQDIFF:
      for (let i = o; i < end; i++) {
        const t = a[i + d] - s;
        y[i] = t * t;
      }
      break;
  }
}

/** y[o+i] = op(s, b[bi+i]) for i < n. */
function rowSV(
  op: number,
  y: Float32Array,
  o: number,
  s: number,
  b: Float32Array,
  bi: number,
  n: number,
): void {
  const e = bi - o, end = o + n;
  switch (op) {
    case ADD:
      for (let i = o; i < end; i++) y[i] = s + b[i + e];
      break;
    case SUB:
      for (let i = o; i < end; i++) y[i] = s - b[i + e];
      break;
    case MUL:
      for (let i = o; i < end; i++) y[i] = s * b[i + e];
      break;
    case DIV:
      for (let i = o; i < end; i++) y[i] = s / b[i + e];
      break;
    case MAX:
      for (let i = o; i < end; i++) y[i] = Math.max(s, b[i + e]);
      break;
    case MIN:
      for (let i = o; i < end; i++) y[i] = Math.min(s, b[i + e]);
      break;
    case SQDIFF:
      for (let i = o; i < end; i++) {
        const t = s - b[i + e];
        y[i] = t * t;
      }
      break;
  }
}

/**
 * How the smaller operand of a broadcast is indexed: the output viewed as
 * [P, Q, R] (row-major), the small operand's strides over those blocks (0 for
 * a broadcast block). Null when the pattern needs more than three blocks.
 */
interface BroadcastPlan {
  dims: [number, number, number];
  strides: [number, number, number];
}

function broadcastPlan(out: readonly number[], small: readonly number[]): BroadcastPlan | null {
  const rank = out.length;
  const sizes: number[] = [];
  const full: boolean[] = [];
  for (let i = 0; i < rank; i++) {
    if (out[i] === 1) continue;
    const isFull = (small[small.length - rank + i] ?? 1) !== 1;
    if (full.length && full[full.length - 1] === isFull) sizes[sizes.length - 1] *= out[i];
    else {
      sizes.push(out[i]);
      full.push(isFull);
    }
  }
  if (sizes.length > 3) return null;
  while (sizes.length < 3) {
    sizes.unshift(1);
    full.unshift(false);
  }
  const strides: [number, number, number] = [0, 0, 0];
  let stride = 1;
  for (let i = 2; i >= 0; i--) {
    if (full[i]) {
      strides[i] = stride;
      stride *= sizes[i];
    }
  }
  return { dims: [sizes[0], sizes[1], sizes[2]], strides };
}

function binary(op: number, args: KernelArgs): tf.TensorInfo | null {
  const backend = args.backend as CpuBackendLike;
  const { a, b } = args.inputs as tf.NamedTensorInfoMap;
  const av = f32(backend, a), bv = f32(backend, b);
  if (!a || !b || !av || !bv) return null;
  const out = broadcastShape(a.shape, b.shape);
  if (!out) return null;
  const n = sizeOf(out), na = sizeOf(a.shape), nb = sizeOf(b.shape);
  if (n === 0 || av.length < na || bv.length < nb) return null;
  const same = na === n && nb === n;
  const scalarA = na === 1 && nb === n, scalarB = nb === 1 && na === n;
  const smallIsA = nb === n && na !== n;
  let plan: BroadcastPlan | null = null;
  if (!same && !scalarA && !scalarB) {
    if (!smallIsA && na !== n) return null; // both operands broadcast
    plan = broadcastPlan(out, smallIsA ? a.shape : b.shape);
    if (!plan) return null; // more than three blocks
  }
  const y = takeArray(n);
  if (same) rowVV(op, y, 0, av, 0, bv, 0, n);
  else if (scalarB) rowVS(op, y, 0, av, 0, bv[0], n);
  else if (scalarA) rowSV(op, y, 0, av[0], bv, 0, n);
  else if (plan) {
    const [P, Q, R] = plan.dims;
    const [sp, sq, sr] = plan.strides;
    const small = smallIsA ? av : bv, big = smallIsA ? bv : av;
    let o = 0;
    for (let p = 0; p < P; p++) {
      for (let q = 0; q < Q; q++, o += R) {
        const s = p * sp + q * sq;
        if (sr === 0) {
          if (smallIsA) rowSV(op, y, o, small[s], big, o, R);
          else rowVS(op, y, o, big, o, small[s], R);
        } else if (smallIsA) rowVV(op, y, o, small, s, big, o, R);
        else rowVV(op, y, o, big, o, small, s, R);
      }
    }
  }
  return backend.makeTensorInfo(out, "float32", y);
}

const GT = 0, GE = 1, LT = 2, LE = 3;

function compare(op: number, args: KernelArgs): tf.TensorInfo | null {
  const backend = args.backend as CpuBackendLike;
  const { a, b } = args.inputs as tf.NamedTensorInfoMap;
  const av = f32(backend, a), bv = f32(backend, b);
  if (!a || !b || !av || !bv) return null;
  const out = broadcastShape(a.shape, b.shape);
  if (!out) return null;
  const n = sizeOf(out), na = sizeOf(a.shape), nb = sizeOf(b.shape);
  if (n === 0 || av.length < na || bv.length < nb) return null;
  if (!((na === n || na === 1) && (nb === n || nb === 1))) return null;
  // A size-1 operand is read through a stride of 0.
  const sa = na === 1 ? 0 : 1, sb = nb === 1 ? 0 : 1;
  const y = new Uint8Array(n);
  // `+(a > b)` rather than a ternary: V8 compiles it without a branch.
  switch (op) {
    case GT:
      for (let i = 0; i < n; i++) y[i] = +(av[i * sa] > bv[i * sb]);
      break;
    case GE:
      for (let i = 0; i < n; i++) y[i] = +(av[i * sa] >= bv[i * sb]);
      break;
    case LT:
      for (let i = 0; i < n; i++) y[i] = +(av[i * sa] < bv[i * sb]);
      break;
    case LE:
      for (let i = 0; i < n; i++) y[i] = +(av[i * sa] <= bv[i * sb]);
      break;
  }
  return backend.makeTensorInfo(out, "bool", y);
}

function select(args: KernelArgs): tf.TensorInfo | null {
  const backend = args.backend as CpuBackendLike;
  const { condition, t, e } = args.inputs as tf.NamedTensorInfoMap;
  if (!condition || condition.dtype !== "bool") return null;
  const cv = backend.data.get(condition.dataId)?.values;
  const tv = f32(backend, t), ev = f32(backend, e);
  if (!(cv instanceof Uint8Array) || !t || !e || !tv || !ev) return null;
  const n = sizeOf(t.shape);
  // Only the element-wise form; a rank-1 condition selecting rows goes to the stock kernel.
  if (
    n === 0 || condition.shape.length !== t.shape.length || sizeOf(condition.shape) !== n ||
    sizeOf(e.shape) !== n || cv.length < n || tv.length < n || ev.length < n
  ) return null;
  const y = takeArray(n);
  // Bitwise select of the float32 words (a data-dependent branch mispredicts
  // half the time): m is all ones where cv[i] === 1, else 0.
  const y32 = bits(y, n), t32 = bits(tv, n), e32 = bits(ev, n);
  for (let i = 0; i < n; i++) {
    const m = ((cv[i] ^ 1) - 1) >> 31;
    y32[i] = (t32[i] & m) | (e32[i] & ~m);
  }
  return backend.makeTensorInfo(t.shape, "float32", y);
}

// ------------------------------------------------------------- unary ops

const SQUARE = 0, SQRT = 1, RSQRT = 2, NEG = 3, ABS = 4, RELU = 5, LEAKY = 6, STEP = 7, FLOOR = 8;
const TANH = 9;

function unary(op: number, args: KernelArgs): tf.TensorInfo | null {
  const backend = args.backend as CpuBackendLike;
  const { x } = args.inputs as tf.NamedTensorInfoMap;
  const xv = f32(backend, x);
  if (!x || !xv) return null;
  const n = sizeOf(x.shape);
  if (xv.length < n) return null;
  let alpha = 0;
  if (op === LEAKY || op === STEP) {
    const a = args.attrs?.alpha;
    if (typeof a !== "number") return null;
    alpha = a;
  }
  const y = takeArray(n);
  switch (op) {
    case SQUARE:
      for (let i = 0; i < n; i++) {
        const v = xv[i];
        y[i] = v * v;
      }
      break;
    case SQRT:
      for (let i = 0; i < n; i++) y[i] = Math.sqrt(xv[i]);
      break;
    case RSQRT:
      for (let i = 0; i < n; i++) y[i] = 1 / Math.sqrt(xv[i]);
      break;
    case NEG:
      for (let i = 0; i < n; i++) y[i] = -1 * xv[i];
      break;
    case ABS:
      for (let i = 0; i < n; i++) y[i] = Math.abs(xv[i]);
      break;
    case FLOOR:
      for (let i = 0; i < n; i++) y[i] = Math.floor(xv[i]);
      break;
    case TANH:
      for (let i = 0; i < n; i++) y[i] = Math.tanh(xv[i]);
      break;
    // The sign-dependent ops work on the float32 bit patterns: the sign bit
    // gives a mask (b >> 31) that selects without a branch, which would
    // mispredict on half the elements. NaN (|b| > 0x7f800000) is rare and
    // predictable.
    case RELU: {
      // Math.max(0, v): +0 for negatives and -0, NaN kept.
      const x32 = bits(xv, n), y32 = bits(y, n);
      for (let i = 0; i < n; i++) {
        const b = x32[i];
        y32[i] = (b & 0x7fffffff) > 0x7f800000 ? b : b & ~(b >> 31);
      }
      break;
    }
    case LEAKY: {
      // v < 0 ? alpha * v : v; NaN is not < 0.
      const x32 = bits(xv, n), y32 = bits(y, n);
      for (let i = 0; i < n; i++) {
        const b = x32[i];
        y[i] = alpha * xv[i];
        const m = b >> 31; // all ones for a set sign bit (alpha * -0 is -0 too)
        y32[i] = (b & 0x7fffffff) > 0x7f800000 ? b : (b & ~m) | (y32[i] & m);
      }
      break;
    }
    case STEP: {
      // NaN stays NaN, v > 0 gives 1, anything else alpha.
      const x32 = bits(xv, n), y32 = bits(y, n);
      const one = 0x3f800000, alphaBits = bits(new Float32Array([alpha]), 1)[0];
      for (let i = 0; i < n; i++) {
        const b = x32[i];
        const m = (-b >> 31) & ~(b >> 31); // all ones for b > 0 (sign clear, not +0)
        y32[i] = (b & 0x7fffffff) > 0x7f800000 ? 0x7fc00000 : (one & m) | (alphaBits & ~m);
      }
      break;
    }
  }
  return backend.makeTensorInfo(x.shape, "float32", y);
}

// ------------------------------------------------------------ reductions

/**
 * Sums `x` over `axes` into float64 accumulators, visiting the input in
 * memory order, so each output receives its terms in the stock kernel's order.
 * With `divisor`, each term is first rounded to float32(x / divisor) (Mean).
 */
function reduceSum(
  x: Float32Array,
  shape: readonly number[],
  axes: readonly number[],
  divisor: number,
): Float64Array {
  // Merge the dims into alternating kept / reduced blocks, size-1 dims dropped.
  const sizes: number[] = [];
  const kept: boolean[] = [];
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] === 1) continue;
    const k = !axes.includes(i);
    if (kept.length && kept[kept.length - 1] === k) sizes[sizes.length - 1] *= shape[i];
    else {
      sizes.push(shape[i]);
      kept.push(k);
    }
  }
  let outSize = 1;
  for (let i = 0; i < sizes.length; i++) if (kept[i]) outSize *= sizes[i];
  const acc = new Float64Array(outSize);
  const m = sizes.length;
  if (m === 0) {
    // 0 + term, as the stock kernel's running sum (turns -0 into 0).
    acc[0] = 0 + (divisor === 1 ? x[0] : Math.fround(x[0] / divisor));
    return acc;
  }
  // Output stride of each block (0 for reduced blocks).
  const outStride = new Array<number>(m).fill(0);
  for (let i = m - 1, s = 1; i >= 0; i--) {
    if (kept[i]) {
      outStride[i] = s;
      s *= sizes[i];
    }
  }
  const L = sizes[m - 1];
  const innerKept = kept[m - 1];
  const runs = x.length === 0 ? 0 : sizeOf(sizes) / L;
  const count = new Array<number>(m).fill(0);
  let o = 0; // output offset of the current run
  const div = divisor !== 1;
  for (let r = 0, idx = 0; r < runs; r++, idx += L) {
    if (innerKept) {
      if (div) { for (let j = 0; j < L; j++) acc[o + j] += Math.fround(x[idx + j] / divisor); }
      else for (let j = 0; j < L; j++) acc[o + j] += x[idx + j];
    } else {
      let s = acc[o];
      if (div) { for (let j = 0; j < L; j++) s += Math.fround(x[idx + j] / divisor); }
      else for (let j = 0; j < L; j++) s += x[idx + j];
      acc[o] = s;
    }
    // Advance the odometer over blocks 0..m-2.
    for (let i = m - 2; i >= 0; i--) {
      o += outStride[i];
      if (++count[i] < sizes[i]) break;
      o -= outStride[i] * sizes[i];
      count[i] = 0;
    }
  }
  return acc;
}

function reduce(mean: boolean, args: KernelArgs): tf.TensorInfo | null {
  const backend = args.backend as CpuBackendLike;
  const { x } = args.inputs as tf.NamedTensorInfoMap;
  const xv = f32(backend, x);
  if (!x || !xv) return null;
  const n = sizeOf(x.shape);
  if (n === 0 || xv.length < n) return null;
  const attrs = args.attrs ?? {};
  let axes: number[];
  try {
    axes = tf.util.parseAxisParam(attrs.axis as number | number[], x.shape);
  } catch {
    return null;
  }
  if (new Set(axes).size !== axes.length) return null;
  let reduceSize = 1;
  for (const a of axes) reduceSize *= x.shape[a];
  const acc = reduceSum(
    xv.length === n ? xv : xv.subarray(0, n),
    x.shape,
    axes,
    mean ? reduceSize : 1,
  );
  const outShape = attrs.keepDims
    ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d))
    : x.shape.filter((_, i) => !axes.includes(i));
  return backend.makeTensorInfo(outShape, "float32", Float32Array.from(acc));
}

// ---------------------------------------------------------- split/concat

function axisOf(axis: unknown, shape: readonly number[]): number | null {
  try {
    const axes = tf.util.parseAxisParam(axis as number | number[], shape as number[]);
    return axes.length === 1 ? axes[0] : null;
  } catch {
    return null;
  }
}

function splitV(args: KernelArgs): tf.TensorInfo[] | null {
  const backend = args.backend as CpuBackendLike;
  const { x } = args.inputs as tf.NamedTensorInfoMap;
  const xv = f32(backend, x);
  if (!x || !xv) return null;
  const attrs = args.attrs ?? {};
  const axis = axisOf(attrs.axis, x.shape);
  if (axis === null) return null;
  const splits = attrs.numOrSizeSplits;
  let sizes: number[];
  try {
    sizes = tf.backend_util.prepareSplitSize(
      x,
      Array.isArray(splits) ? [...splits as number[]] : splits as number,
      axis,
    );
  } catch {
    return null;
  }
  const n = sizeOf(x.shape);
  if (n === 0 || xv.length < n || sizes.some((s) => !(s > 0))) return null;
  const inner = sizeOf(x.shape.slice(axis + 1));
  const outer = sizeOf(x.shape.slice(0, axis));
  const rowLen = x.shape[axis] * inner;
  const outs: tf.TensorInfo[] = [];
  let offset = 0;
  for (const s of sizes) {
    const len = s * inner;
    const y = takeArray(outer * len);
    if (outer === 1) y.set(xv.subarray(offset, offset + len));
    else if (len >= 256) {
      for (let r = 0; r < outer; r++) {
        const src = r * rowLen + offset;
        y.set(xv.subarray(src, src + len), r * len);
      }
    } else {
      for (let r = 0, o = 0; r < outer; r++) {
        const src = r * rowLen + offset;
        for (let j = 0; j < len; j++) y[o++] = xv[src + j];
      }
    }
    const shape = x.shape.slice();
    shape[axis] = s;
    outs.push(backend.makeTensorInfo(shape, "float32", y));
    offset += len;
  }
  return outs;
}

function concat(args: KernelArgs): tf.TensorInfo | null {
  const backend = args.backend as CpuBackendLike;
  const inputs =
    (Array.isArray(args.inputs) ? args.inputs : Object.values(args.inputs)) as tf.TensorInfo[];
  if (inputs.length < 2) return null;
  const first = inputs[0].shape;
  const axis = axisOf(args.attrs?.axis, first);
  if (axis === null) return null;
  const vals: Float32Array[] = [];
  let total = 0;
  for (const t of inputs) {
    const v = f32(backend, t);
    if (!v || t.shape.length !== first.length) return null;
    for (let i = 0; i < first.length; i++) {
      if (i !== axis && t.shape[i] !== first[i]) return null;
    }
    if (t.shape[axis] === 0 || v.length < sizeOf(t.shape)) return null;
    vals.push(v);
    total += t.shape[axis];
  }
  const inner = sizeOf(first.slice(axis + 1));
  const outer = sizeOf(first.slice(0, axis));
  if (inner * outer === 0) return null;
  const rowLen = total * inner;
  const y = takeArray(outer * rowLen);
  let offset = 0;
  for (let k = 0; k < inputs.length; k++) {
    const len = inputs[k].shape[axis] * inner, v = vals[k];
    if (outer === 1) y.set(v.subarray(0, len), offset);
    else if (len >= 256) {
      for (let r = 0; r < outer; r++) {
        y.set(v.subarray(r * len, r * len + len), r * rowLen + offset);
      }
    } else {
      for (let r = 0, s = 0; r < outer; r++) {
        const dst = r * rowLen + offset;
        for (let j = 0; j < len; j++) y[dst + j] = v[s++];
      }
    }
    offset += len;
  }
  const shape = first.slice();
  shape[axis] = total;
  return backend.makeTensorInfo(shape, "float32", y);
}

// ---------------------------------------------------------------- resize

function resizeNearest(args: KernelArgs): tf.TensorInfo | null {
  const backend = args.backend as CpuBackendLike;
  const { images } = args.inputs as tf.NamedTensorInfoMap;
  const xv = f32(backend, images);
  if (!images || !xv || images.shape.length !== 4) return null;
  const attrs = args.attrs ?? {};
  const size = attrs.size as number[] | undefined;
  if (!Array.isArray(size) || size.length !== 2) return null;
  const alignCorners = !!attrs.alignCorners, halfPixel = !!attrs.halfPixelCenters;
  const [batch, oldH, oldW, C] = images.shape;
  const [newH, newW] = size;
  if (batch * oldH * oldW * C === 0 || newH * newW === 0) return null;
  // The stock kernel's source index for one output coordinate, verbatim.
  const source = (r: number, oldSize: number, newSize: number): number => {
    const inSize = alignCorners && newSize > 1 ? oldSize - 1 : oldSize;
    const outSize = alignCorners && newSize > 1 ? newSize - 1 : newSize;
    const frac = halfPixel ? (inSize / outSize) * (r + 0.5) : (inSize / outSize) * r;
    const s = Math.min(oldSize - 1, alignCorners ? Math.round(frac) : Math.floor(frac));
    return halfPixel ? Math.max(0, s) : s;
  };
  const rows = Array.from({ length: newH }, (_, r) => source(r, oldH, newH));
  const cols = Array.from({ length: newW }, (_, c) => source(c, oldW, newW) * C);
  const y = takeArray(batch * newH * newW * C);
  let o = 0;
  for (let b = 0; b < batch; b++) {
    for (let r = 0; r < newH; r++) {
      const rowBase = (b * oldH + rows[r]) * oldW * C;
      for (let c = 0; c < newW; c++) {
        const s = rowBase + cols[c];
        for (let d = 0; d < C; d++) y[o++] = xv[s + d];
      }
    }
  }
  return backend.makeTensorInfo([batch, newH, newW, C], "float32", y);
}

// ------------------------------------------------------------- transpose

/**
 * Any permutation, copying runs: the trailing axes the permutation leaves in
 * place are one contiguous run in both input and output, and the remaining
 * output positions are walked with an odometer over the permuted strides.
 */
function transpose(args: KernelArgs): tf.TensorInfo | null {
  const backend = args.backend as CpuBackendLike;
  const { x } = args.inputs as tf.NamedTensorInfoMap;
  const xv = f32(backend, x);
  const perm = args.attrs?.perm as number[] | undefined;
  if (!x || !xv || !Array.isArray(perm) || perm.length !== x.shape.length) return null;
  const rank = perm.length, shape = x.shape;
  if (![...perm].sort((p, q) => p - q).every((p, i) => p === i)) return null;
  const outShape = perm.map((p) => shape[p]);
  const n = sizeOf(shape);
  const y = takeArray(n);
  if (n === 0) return backend.makeTensorInfo(outShape, "float32", y);
  const strides = new Array<number>(rank);
  for (let i = rank - 1, s = 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  let k = rank; // axes k.. stay in place
  while (k > 0 && perm[k - 1] === k - 1) k--;
  let run = 1;
  for (let i = k; i < rank; i++) run *= shape[i];
  const dims = outShape.slice(0, k), step = perm.slice(0, k).map((p) => strides[p]);
  const idx = new Array<number>(k).fill(0);
  let src = 0;
  for (let o = 0; o < n; o += run) {
    if (run === 1) y[o] = xv[src];
    else for (let i = 0; i < run; i++) y[o + i] = xv[src + i];
    // Advance the odometer over the permuted output axes.
    for (let a = k - 1; a >= 0; a--) {
      src += step[a];
      if (++idx[a] < dims[a]) break;
      src -= step[a] * dims[a];
      idx[a] = 0;
    }
  }
  return backend.makeTensorInfo(outShape, "float32", y);
}

// ---------------------------------------------------------- registration

const IMPLS: Record<string, Impl> = {
  Add: (a) => binary(ADD, a),
  Sub: (a) => binary(SUB, a),
  Multiply: (a) => binary(MUL, a),
  RealDiv: (a) => binary(DIV, a),
  Maximum: (a) => binary(MAX, a),
  Minimum: (a) => binary(MIN, a),
  SquaredDifference: (a) => binary(SQDIFF, a),
  Greater: (a) => compare(GT, a),
  GreaterEqual: (a) => compare(GE, a),
  Less: (a) => compare(LT, a),
  LessEqual: (a) => compare(LE, a),
  Select: select,
  Square: (a) => unary(SQUARE, a),
  Sqrt: (a) => unary(SQRT, a),
  Rsqrt: (a) => unary(RSQRT, a),
  Neg: (a) => unary(NEG, a),
  Abs: (a) => unary(ABS, a),
  Floor: (a) => unary(FLOOR, a),
  Tanh: (a) => unary(TANH, a),
  Relu: (a) => unary(RELU, a),
  LeakyRelu: (a) => unary(LEAKY, a),
  Step: (a) => unary(STEP, a),
  Sum: (a) => reduce(false, a),
  Mean: (a) => reduce(true, a),
  SplitV: splitV,
  Concat: concat,
  ResizeNearestNeighbor: resizeNearest,
  Transpose: transpose,
};

/** Kernel names replaced on the `cpu` backend by {@linkcode registerFastCpuKernels}. */
export const FAST_CPU_KERNEL_NAMES: readonly string[] = Object.keys(IMPLS);

const counts = new Map<string, FastCpuKernelCounts>();
// Concat's inputs come as an array, which the overlay passes through as given.
const overlay = new KernelOverlay(
  "cpu",
  IMPLS as unknown as Record<string, OverlayImpl>,
  (name, served) => count(name, served ? "fast" : "fallback"),
);

function count(name: string, which: keyof FastCpuKernelCounts): void {
  let c = counts.get(name);
  if (!c) counts.set(name, c = { fast: 0, fallback: 0 });
  c[which]++;
}

/**
 * Replaces the `cpu` backend's kernels named in {@linkcode FAST_CPU_KERNEL_NAMES}
 * with the float32 fast paths of this module; each forwards what it does not
 * handle to the stock kernel. Idempotent. Kernels with no stock `cpu`
 * registration are left alone.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { registerFastCpuKernels, unregisterFastCpuKernels } from "./elementwise_kernels.ts";
 * await tf.setBackend("cpu");
 * registerFastCpuKernels();
 * const x = tf.randomNormal([2, 8, 8, 16]);
 * tf.sum(tf.add(x, tf.ones([16])), [1, 2]).print(); // shape [2, 16]
 * unregisterFastCpuKernels();
 * ```
 */
export function registerFastCpuKernels(): void {
  overlay.install(true);
}

/**
 * Restores the stock `cpu` kernels replaced by {@linkcode registerFastCpuKernels}.
 * Safe to call when not registered.
 *
 * @example
 * ```ts
 * import { registerFastCpuKernels, unregisterFastCpuKernels } from "./elementwise_kernels.ts";
 * registerFastCpuKernels();
 * unregisterFastCpuKernels(); // tf.add on "cpu" is the stock kernel again
 * ```
 */
export function unregisterFastCpuKernels(): void {
  overlay.uninstall();
}

/**
 * Whether the fast kernels are currently registered.
 *
 * @example
 * ```ts
 * import { fastCpuKernelsRegistered, registerFastCpuKernels } from "./elementwise_kernels.ts";
 * registerFastCpuKernels();
 * console.log(fastCpuKernelsRegistered()); // true
 * ```
 */
export function fastCpuKernelsRegistered(): boolean {
  return overlay.installed;
}

/**
 * Per-kernel counts of calls served by the fast path vs forwarded to the stock
 * kernel (a snapshot). Pass `reset = true` to zero the counters afterwards.
 *
 * @example
 * ```ts
 * import { fastCpuKernelStats } from "./elementwise_kernels.ts";
 * const stats = fastCpuKernelStats(true);
 * console.log(stats.Add?.fallback ?? 0);
 * ```
 */
export function fastCpuKernelStats(
  reset = false,
): Record<string, FastCpuKernelCounts> {
  const out: Record<string, FastCpuKernelCounts> = {};
  for (const [k, v] of counts) out[k] = { ...v };
  if (reset) counts.clear();
  return out;
}
