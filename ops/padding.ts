/**
 * The padding forms of the networks: PyTorch's `ZeroPad2d`, `ReflectionPad2d`
 * and `ReplicationPad2d` on NHWC tensors.
 * @module
 */
import { type Tensor, type Tensor4D, tf } from "./tf.ts";
import { takeArray } from "./runtime/array_pool.ts";
import { float32Values } from "./runtime/cpu_data.ts";

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

/** How {@link reflectionPad2d} and {@link replicationPad2d} fill the border. */
export type BorderMode = "reflect" | "replicate";

/**
 * Reflection padding (`ReflectionPad2d(p)`): the border row is not repeated.
 * `p` must be below the height and the width, as in PyTorch. The gradient
 * adds each padded pixel's gradient to the pixel it copies (TF.js's own
 * `MirrorPad` gradient keeps only the centre's).
 *
 * @example
 * ```ts
 * import { tf } from "./tf.ts";
 * import { reflectionPad2d } from "./padding.ts";
 * console.log(reflectionPad2d(tf.ones([1, 8, 8, 3]), 3).shape); // [1, 14, 14, 3]
 * ```
 */
export function reflectionPad2d(x: Tensor4D, p: number): Tensor4D {
  return borderPad(x, p, "reflect");
}

/**
 * Replication padding (`ReplicationPad2d(p)`): the border row is repeated.
 *
 * @example
 * ```ts
 * import { tf } from "./tf.ts";
 * import { replicationPad2d } from "./padding.ts";
 * replicationPad2d(tf.tensor4d([1, 2], [1, 1, 2, 1]), 1).print(); // rows [1, 1, 2, 2]
 * ```
 */
export function replicationPad2d(x: Tensor4D, p: number): Tensor4D {
  return borderPad(x, p, "replicate");
}

function borderPad(x: Tensor4D, p: number, mode: BorderMode): Tensor4D {
  const [, h, w] = x.shape;
  if (!Number.isInteger(p) || p < 0) throw new RangeError(`padding must be >= 0, got ${p}`);
  if (mode === "reflect" && (p >= h || p >= w)) {
    throw new RangeError(`reflection padding ${p} needs an input larger than ${p}, got ${h}x${w}`);
  }
  if (p === 0) return x;
  if (tf.getBackend() !== "cpu" || x.dtype !== "float32") {
    // Other backends: slices, reversals and concatenations, whose gradients are right.
    return tf.tidy(() => padAxis(padAxis(x, 1, p, mode), 2, p, mode));
  }
  return borderPadCpu(x, sourceIndices(h, p, mode), sourceIndices(w, p, mode));
}

function padAxis(x: Tensor4D, axis: 1 | 2, p: number, mode: BorderMode): Tensor4D {
  const n = x.shape[axis];
  const take = (start: number, size: number) => {
    const begin = [0, 0, 0, 0], sizes = [-1, -1, -1, -1];
    begin[axis] = start;
    sizes[axis] = size;
    return tf.slice(x, begin, sizes);
  };
  const edge = (side: "before" | "after") => {
    if (mode === "reflect") return tf.reverse(take(side === "before" ? 1 : n - 1 - p, p), axis);
    const reps = [1, 1, 1, 1];
    reps[axis] = p;
    return tf.tile(take(side === "before" ? 0 : n - 1, 1), reps);
  };
  return tf.concat([edge("before"), x, edge("after")], axis);
}

// Where each padded row (or column) of a side of n, padded by p, copies from.
function sourceIndices(n: number, p: number, mode: BorderMode): Int32Array {
  const out = new Int32Array(n + 2 * p);
  for (let i = 0; i < out.length; i++) {
    const j = i - p;
    out[i] = mode === "replicate"
      ? Math.min(n - 1, Math.max(0, j))
      : j < 0
      ? -j
      : j >= n
      ? 2 * (n - 1) - j
      : j;
  }
  return out;
}

// The cpu backends (cpu, blas, onednn): one copy forward, and backward one
// accumulation of each padded pixel's gradient into its source. A padded row
// is its left border, then the source row unchanged (one contiguous run), then
// its right border: the run is one copy (or one loop), not one per pixel. The
// backward pass adds in the order of the padded pixels either way.
function borderPadCpu(x: Tensor4D, rows: Int32Array, cols: Int32Array): Tensor4D {
  const f = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
    const input = args[0] as Tensor4D;
    const [n, h, w, c] = input.shape;
    const [oh, ow] = [rows.length, cols.length];
    const p = (ow - w) / 2, run = w * c;
    const src = float32Values(input);
    const out = takeArray(n * oh * ow * c);
    const copyBorder = (from: number, to: number, ox0: number, ox1: number) => {
      for (let ox = ox0; ox < ox1; ox++) {
        const s = from + cols[ox] * c, d = to + ox * c;
        for (let k = 0; k < c; k++) out[d + k] = src[s + k];
      }
    };
    for (let b = 0; b < n; b++) {
      for (let oy = 0; oy < oh; oy++) {
        const from = (b * h + rows[oy]) * w * c, to = (b * oh + oy) * ow * c;
        copyBorder(from, to, 0, p);
        out.set(src.subarray(from, from + run), to + p * c);
        copyBorder(from, to, p + w, ow);
      }
    }
    return {
      value: tf.tensor4d(out, [n, oh, ow, c]),
      gradFunc: (dy: Tensor4D) => {
        const g = float32Values(dy);
        // Whether no two border pixels of a row share a source column (reflection
        // on a row wider than 2p + 1; not replication, whose border repeats one).
        const sides = [...cols.subarray(0, p), ...cols.subarray(p + w)];
        const bordersDistinct = new Set(sides).size === sides.length;
        // Then each row's first visit copies its whole run: no zeroing needed.
        const dx = takeArray(n * h * w * c, !bordersDistinct);
        const border = (to: number, from: number, ox0: number, ox1: number) => {
          for (let ox = ox0; ox < ox1; ox++) {
            const d = to + cols[ox] * c, s = from + ox * c;
            for (let k = 0; k < c; k++) dx[d + k] += g[s + k];
          }
        };
        for (let b = 0; b < n; b++) {
          const visited = new Uint8Array(h);
          for (let oy = 0; oy < oh; oy++) {
            const to = (b * h + rows[oy]) * w * c, from = (b * oh + oy) * ow * c;
            if (visited[rows[oy]] || !bordersDistinct) {
              border(to, from, 0, p);
              for (let k = 0, s = from + p * c; k < run; k++) dx[to + k] += g[s + k];
            } else {
              // The row's first visit: copying the run in, then adding the
              // borders, rounds as 0 + border + run, since each column gets
              // at most one border term here.
              dx.set(g.subarray(from + p * c, from + p * c + run), to);
              border(to, from, 0, p);
            }
            visited[rows[oy]] = 1;
            border(to, from, p + w, ow);
          }
        }
        return tf.tensor4d(dx, input.shape);
      },
    };
  }) as (x: Tensor4D) => Tensor4D;
  return f(x);
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
