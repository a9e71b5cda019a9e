/**
 * Nearest x2 upsampling followed by a convolution, computed on the small
 * image: sub-pixel form.
 *
 * Each output phase (row parity s, column parity t) of an upsampled-then-
 * convolved image reads fewer input pixels than the kernel has taps, because
 * upsampled neighbours repeat an input pixel. Folding the taps that land on
 * the same input pixel gives four smaller kernels; one convolution of the
 * input with them side by side, then an interleave of the four phases, gives
 * the same result without building the 4x larger upsampled tensor and with
 * fewer multiplications. Gradients follow by autodiff through the fold, the
 * convolution and the interleave.
 *
 * - {@linkcode upsampleConv}: the U-Net's final block, `Upsample -> ZeroPad2d((1,0,1,0))
 *   -> Conv2d(k=4, padding=1)`: 3x3 folded kernels, 36 multiply-adds per input pixel and
 *   channel pair instead of 64.
 * - {@linkcode upsampleConv3x3}: the ResNet's `Upsample -> Conv2d(k=3, padding=1)`: 2x2
 *   folded kernels, 16 instead of 36.
 *
 * {@linkcode setUpsampleForm} switches both to the direct form, as PyTorch
 * computes them: `deno task bench` counts the FLOPs of an iteration that way.
 * @module
 */
import { type Tensor, type Tensor4D, tf } from "./tf.ts";
import { conv2d } from "./conv.ts";
import { convPadding } from "./padding.ts";
import { upsampleNearest2x } from "./upsample.ts";
import { takeArray } from "./runtime/array_pool.ts";
import { cpuFloat32 } from "./runtime/cpu_data.ts";

/**
 * How a kernel's rows (and, alike, its columns) fold for output phase 0 and
 * 1: row `s·taps + k` lists the kernel rows summed into folded tap `k` of
 * phase `s`.
 */
interface Fold {
  /** The kernel's side. */
  size: number;
  /** Taps per phase in the folded kernel. */
  taps: number;
  /** Kernel rows per folded tap, phase 0's taps then phase 1's. */
  rows: number[][];
}

// Upsample, ZeroPad2d((1,0,1,0)), 4x4 conv with padding 1: output row 2a+s
// reads input rows a-1, a, a+1; phase 0 puts kernel rows 0+1 on a-1, 2+3 on
// a; phase 1 puts 0 on a-1, 1+2 on a, 3 on a+1.
const FOLD_4X4: Fold = { size: 4, taps: 3, rows: [[0, 1], [2, 3], [], [0], [1, 2], [3]] };

// Upsample, 3x3 conv with padding 1: phase 0 reads input rows a-1 (kernel row
// 0) and a (rows 1, 2); phase 1 rows a (rows 0, 1) and a+1 (row 2).
const FOLD_3X3: Fold = { size: 3, taps: 2, rows: [[0], [1, 2], [0, 1], [2]] };

/**
 * The folded kernels `[taps, taps, in, 4·out]` of a `[size, size, in, out]`
 * weight, phases (s, t) = (0,0), (0,1), (1,0), (1,1) one after another along
 * the last axis.
 */
function foldKernel(w: Tensor, fold: Fold): Tensor4D {
  if (cpuFloat32(w)) return foldOnCpu(fold)(w);
  const { size, taps, rows } = fold;
  const [, , cin, cout] = w.shape as [number, number, number, number];
  const f = tf.tensor2d(rows.flatMap((r) => [...Array(size).keys()].map((i) => +r.includes(i))), [
    2 * taps,
    size,
  ]);
  // Rows: F · w[size, ...]; then columns the same way.
  const byRow = tf.reshape(tf.matMul(f, tf.reshape(w, [size, -1])), [2 * taps, size, cin * cout]);
  const cols = tf.matMul(f, tf.reshape(tf.transpose(byRow, [1, 0, 2]), [size, -1]));
  const k = tf.reshape(cols, [2, taps, 2, taps, cin, cout]); // [t, kw, s, kh, in, out]
  return tf.reshape(tf.transpose(k, [3, 1, 4, 2, 0, 5]), [taps, taps, cin, 4 * cout]) as Tensor4D;
}

// On the cpu backends the fold and its gradient are one loop each: the
// generic form's matMuls and 6-D transposes took about 10 ms per ResNet
// upsampling weight at full width, more than the convolution they save.
const cpuFolds = new Map<Fold, (w: Tensor) => Tensor4D>();
function foldOnCpu(fold: Fold): (w: Tensor) => Tensor4D {
  let f = cpuFolds.get(fold);
  if (!f) {
    f = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
      const w = args[0] as Tensor;
      const [, , cin, cout] = w.shape as [number, number, number, number];
      const shape: [number, number, number, number] = [fold.taps, fold.taps, cin, 4 * cout];
      const k = takeArray(shape.reduce((a, b) => a * b));
      foldLoop(fold, cin, cout, cpuFloat32(w) as Float32Array, k, false);
      const gradFunc = (dk: Tensor) => {
        const dw = takeArray(w.size);
        foldLoop(fold, cin, cout, dw, cpuFloat32(dk) ?? dk.dataSync() as Float32Array, true);
        return tf.tensor(dw, w.shape);
      };
      return { value: tf.tensor4d(k, shape), gradFunc };
    }) as (w: Tensor) => Tensor4D;
    cpuFolds.set(fold, f);
  }
  return f;
}

// k[kh, kw, ci, (s, t, co)] = the sum of w[i, j, ci, co] over the kernel rows
// i folded into (s, kh) and columns j into (t, kw); `back` sets w from k, the
// fold's transpose. Both sum in the generic form's order (rows, then columns),
// so a network rounds alike on every backend: a discriminator's first-layer
// gradient downstream is a small sum of large terms, and showed the difference.
function foldLoop(
  fold: Fold,
  cin: number,
  cout: number,
  w: Float32Array,
  k: Float32Array,
  back: boolean,
): void {
  const { size, taps, rows } = fold;
  // Folded taps (phase, tap), each with the kernel rows (or columns) it sums.
  const folded = [0, 1].flatMap((s) =>
    [...Array(taps).keys()].map((t) => ({ s, t, from: rows[s * taps + t] }))
  );
  const wTap = (i: number, j: number) => (i * size + j) * cin * cout;
  const kTap = (r: typeof folded[0], c: typeof folded[0]) =>
    (r.t * taps + c.t) * cin * 4 * cout + (2 * r.s + c.s) * cout;
  // Each output vector is a sum of groups, each group a sum of one or two
  // input vectors: [destination tap, groups of source taps], offsets at ci = 0.
  const sums: [number, number[][], number][] = [];
  if (!back) {
    for (const r of folded) {
      for (const c of folded) {
        sums.push([kTap(r, c), c.from.map((j) => r.from.map((i) => wTap(i, j))), 4 * cout]);
      }
    }
  } else {
    for (let i = 0; i < size; i++) {
      for (let j = 0; j < size; j++) {
        const groups = folded.filter((r) => r.from.includes(i)).map((r) =>
          folded.filter((c) => c.from.includes(j)).map((c) => kTap(r, c))
        );
        sums.push([wTap(i, j), groups, cout]);
      }
    }
  }
  const [src, dst] = back ? [k, w] : [w, k];
  const srcStride = back ? 4 * cout : cout;
  for (const [to, allGroups, dstStride] of sums) {
    // An empty group (the 4x4 fold's unused tap) adds nothing.
    const groups = allGroups.filter((g) => g.length > 0);
    if (groups.length > 2 || groups.some((g) => g.length > 2)) {
      throw new RangeError("foldLoop: more than two groups, or a group of more than two taps");
    }
    sumGroups(src, dst, groups, to, srcStride, dstStride, cin, cout);
  }
}

// dst's vectors at `to` (per ci) as the sum of up to two groups of one or two
// source vectors: one expression per element, in doubles, rounded once, as an
// accumulator starting at 0 would give ((0 + group) + group, each group's
// pair summed first). No group: zeros.
function sumGroups(
  src: Float32Array,
  dst: Float32Array,
  groups: number[][],
  to: number,
  srcStride: number,
  dstStride: number,
  cin: number,
  cout: number,
): void {
  const [g, h] = groups;
  for (let ci = 0; ci < cin; ci++) {
    const d = to + ci * dstStride;
    if (!g) {
      dst.fill(0, d, d + cout);
      continue;
    }
    const a = g[0] + ci * srcStride, b = g[1] + ci * srcStride;
    if (!h) {
      if (g.length === 1) { for (let o = 0; o < cout; o++) dst[d + o] = 0 + src[a + o]; }
      else for (let o = 0; o < cout; o++) dst[d + o] = 0 + (src[a + o] + src[b + o]);
      continue;
    }
    const c = h[0] + ci * srcStride, e = h[1] + ci * srcStride;
    if (g.length === 1 && h.length === 1) {
      for (let o = 0; o < cout; o++) dst[d + o] = 0 + src[a + o] + src[c + o];
    } else if (g.length === 1) {
      for (let o = 0; o < cout; o++) dst[d + o] = 0 + src[a + o] + (src[c + o] + src[e + o]);
    } else if (h.length === 1) {
      for (let o = 0; o < cout; o++) dst[d + o] = 0 + (src[a + o] + src[b + o]) + src[c + o];
    } else {
      for (let o = 0; o < cout; o++) {
        dst[d + o] = 0 + (src[a + o] + src[b + o]) + (src[c + o] + src[e + o]);
      }
    }
  }
}

// y[n, 2a+s, 2b+t, c] = q[n, a+s·e, b+t·e, (s, t, c)] for q of
// [n, h+e, w+e, 4·c]: e = 1 where phase 1 reads one row further down (the
// ResNet's 2x2 windows), 0 where the convolution already aligned the phases.
// The gradient puts each element of y back where it came from, zeros elsewhere.
const interleavers = new Map<number, (q: Tensor4D) => Tensor4D>();
function interleavePhases(q: Tensor4D, e: 0 | 1): Tensor4D {
  let f = interleavers.get(e);
  if (!f) {
    f = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
      const q = args[0] as Tensor4D;
      const [n, hq, wq, c4] = q.shape;
      const [h, w, c] = [hq - e, wq - e, c4 / 4];
      const shape: [number, number, number, number] = [n, 2 * h, 2 * w, c];
      const qv = q.dtype === "float32" ? cpuFloat32(q) : null;
      const phase = (s: number, t: number) =>
        tf.slice(q, [0, s * e, t * e, (2 * s + t) * c], [n, h, w, c]);
      const value = qv
        ? tf.tensor4d(phaseCopy(qv, takeArray(n * 4 * h * w * c), shape, e, false), shape)
        // [n, h, 2 (s), w, 2 (t), c] is y's layout.
        : tf.reshape(
          tf.stack([0, 1].map((s) => tf.stack([phase(s, 0), phase(s, 1)], 3)), 2),
          shape,
        ) as Tensor4D;
      const gradFunc = (dy: Tensor4D) => {
        const g = dy.dtype === "float32" ? cpuFloat32(dy) : null;
        if (g) {
          // Every element of q is copied to when e = 0; with e = 1 each phase
          // leaves one row and one column of its channels, which must be zero.
          const dq = takeArray(q.size, e === 1);
          return tf.tensor4d(phaseCopy(dq, g, shape, e, true), q.shape);
        }
        const split = tf.reshape(dy, [n, h, 2, w, 2, c]);
        const phases = [0, 1].flatMap((s) =>
          [0, 1].map((t) => {
            const p = tf.reshape(tf.slice(split, [0, 0, s, 0, t, 0], [n, h, 1, w, 1, c]), [
              n,
              h,
              w,
              c,
            ]);
            return tf.pad(p, [[0, 0], [s * e, (1 - s) * e], [t * e, (1 - t) * e], [0, 0]]);
          })
        );
        return tf.concat(phases, 3) as Tensor4D;
      };
      return { value, gradFunc };
    }) as (q: Tensor4D) => Tensor4D;
    interleavers.set(e, f);
  }
  return f(q);
}

// Copies between q [n, h+e, w+e, 4c] and y [n, 2h, 2w, c]: q into y, or
// (`toQ`) y into q, whose other elements the caller has zeroed.
function phaseCopy(
  q: Float32Array,
  y: Float32Array,
  [n, h2, w2, c]: [number, number, number, number],
  e: number,
  toQ: boolean,
): Float32Array {
  const [h, w] = [h2 / 2, w2 / 2];
  const qRow = (w + e) * 4 * c, yRow = w2 * c;
  for (let b = 0; b < n; b++) {
    for (let a = 0; a < h; a++) {
      for (let s = 0; s < 2; s++) {
        const qBase = (b * (h + e) + a + s * e) * qRow, yBase = (b * h2 + 2 * a + s) * yRow;
        for (let x = 0; x < w; x++) {
          for (let t = 0; t < 2; t++) {
            const qo = qBase + (x + t * e) * 4 * c + (2 * s + t) * c, yo = yBase + (2 * x + t) * c;
            if (toQ) { for (let k = 0; k < c; k++) q[qo + k] = y[yo + k]; }
            else for (let k = 0; k < c; k++) y[yo + k] = q[qo + k];
          }
        }
      }
    }
  }
  return toQ ? q : y;
}

/** How the upsampling blocks compute: folded on the small image, or upsample then convolve. */
export type UpsampleForm = "sub-pixel" | "direct";

let form: UpsampleForm = "sub-pixel";

/**
 * Sets how {@linkcode upsampleConv} and {@linkcode upsampleConv3x3} compute
 * from now on, and returns the form they had. "direct" builds the upsampled
 * image and convolves it, as PyTorch does: the same values up to rounding,
 * 2.25x the multiplications for the ResNet's blocks.
 *
 * @example
 * ```ts
 * import { setUpsampleForm } from "./upsample_conv.ts";
 * const before = setUpsampleForm("direct");
 * // ... count what PyTorch's order of operations costs ...
 * setUpsampleForm(before);
 * ```
 */
export function setUpsampleForm(next: UpsampleForm): UpsampleForm {
  const before = form;
  form = next;
  return before;
}

/**
 * The U-Net's final upsample, pad and 4x4 convolution (with bias), in
 * sub-pixel form. Weight `[4, 4, in, out]` as `tf.conv2d`'s.
 *
 * @example
 * ```ts
 * import { tf } from "./tf.ts";
 * import { upsampleConv } from "./upsample_conv.ts";
 * const y = upsampleConv(tf.ones([1, 32, 32, 8]) as tf.Tensor4D, tf.ones([4, 4, 8, 3]), tf.zeros([3]));
 * console.log(y.shape); // [1, 64, 64, 3]
 * ```
 */
export function upsampleConv(x: Tensor4D, weight: Tensor, bias: Tensor): Tensor4D {
  return tf.tidy(() => {
    if (form === "direct") {
      return conv2d(upsampleNearest2x(x), weight, bias, 1, convPadding([1, 0, 1, 0], 1));
    }
    // Output [n, h, w, (s, t, c)]: every phase centred on its input pixel.
    const q = conv2d(x, foldKernel(weight, FOLD_4X4), tf.tile(bias, [4]), 1, 1);
    return interleavePhases(q, 0);
  });
}

/**
 * `Upsample(x2, nearest) -> Conv2d(k=3, stride 1, padding 1)` with bias, the
 * ResNet generator's upsampling block, in sub-pixel form. Weight
 * `[3, 3, in, out]` as `tf.conv2d`'s.
 *
 * @example
 * ```ts
 * import { tf } from "./tf.ts";
 * import { upsampleConv3x3 } from "./upsample_conv.ts";
 * const y = upsampleConv3x3(tf.ones([1, 16, 16, 8]) as tf.Tensor4D, tf.ones([3, 3, 8, 4]), tf.zeros([4]));
 * console.log(y.shape); // [1, 32, 32, 4]
 * ```
 */
export function upsampleConv3x3(x: Tensor4D, weight: Tensor, bias: Tensor): Tensor4D {
  return tf.tidy(() => {
    if (form === "direct") return conv2d(upsampleNearest2x(x), weight, bias, 1, 1);
    // Output [n, h+1, w+1, (s, t, c)]: the 2x2 windows of the 1-padded input;
    // phase s of output row a is window row a+s.
    const q = conv2d(x, foldKernel(weight, FOLD_3X3), tf.tile(bias, [4]), 1, 1);
    return interleavePhases(q, 1);
  });
}
