/**
 * Instance normalisation followed by ReLU or LeakyReLU, fused into one op.
 *
 * Every normalised layer of the U-Net, the PatchGAN and the ResNet is
 * `activation(InstanceNorm2d(x))`. Written as separate TF.js ops that is seven
 * passes over the activation forward and ten backward, each into a new array.
 * On the `cpu` and `blas` backends this op makes two passes each way,
 * straight over the backend's arrays, with float64 statistics and branch-free
 * activations: 2.3-2.8x faster on a 2x128x128x64 activation, 7-11% off a full
 * iteration at 128 and 256 px. On `onednn` the same passes are oneDNN's batch
 * norm and ReLU primitives (`ops/runtime/onednn/norm.ts`), vectorised and
 * threaded: in a ResNet + paper discriminator iteration at 64 px, batch 4,
 * the fused ops (these norms and the reflection pads) took 78 ms instead of
 * 224. Elsewhere (`wasm`, `webgpu`, `tensorflow`) it is
 * the composition of {@linkcode instanceNorm} and the activation.
 * @module
 */
import { type Tensor, type Tensor4D, tf } from "./tf.ts";
import { INSTANCE_NORM_EPS, instanceNorm } from "./instance_norm.ts";
import { takeArray } from "./runtime/array_pool.ts";
import { cpuFloat32, float32Values } from "./runtime/cpu_data.ts";
import { activeOneDnn } from "./runtime/onednn/conv_kernels.ts";

/**
 * The activation after the norm: ReLU (decoder) or LeakyReLU (encoder,
 * discriminator), or none (the ResNet block's second norm).
 */
export type NormActivation = "relu" | "leakyRelu" | "none";

/**
 * `activation(instanceNorm(x))` on an NHWC tensor, with the slope `alpha` for
 * negative inputs of LeakyReLU (ignored by ReLU).
 *
 * @example
 * ```ts
 * import { tf } from "./tf.ts";
 * import { instanceNormAct } from "./norm_act.ts";
 * const y = instanceNormAct(tf.randomNormal([1, 8, 8, 4]), "leakyRelu", 0.2);
 * console.log(y.shape); // [1, 8, 8, 4]
 * ```
 */
export function instanceNormAct(
  x: Tensor4D,
  activation: NormActivation,
  alpha: number = 0.2,
): Tensor4D {
  // No activation is a LeakyReLU of slope 1.
  const slope = slopeOf(activation, alpha);
  if (tf.getBackend() !== "cpu" || x.dtype !== "float32") {
    const n = instanceNorm(x);
    if (slope === 1) return n;
    return (slope === 0 ? tf.relu(n) : tf.leakyRelu(n, slope)) as Tensor4D;
  }
  return fused(slope)(x);
}

const ops = new Map<number, (x: Tensor4D) => Tensor4D>();

// The slope of the activation for negative inputs: ReLU 0, none 1 (the
// identity), LeakyReLU alpha.
function slopeOf(activation: NormActivation, alpha: number): number {
  return activation === "relu" ? 0 : activation === "none" ? 1 : alpha;
}

function fused(slope: number): (x: Tensor4D) => Tensor4D {
  let f = ops.get(slope);
  if (f) return f;
  f = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
    const [x, save] = args as [Tensor4D, tf.GradSaveFunc];
    const [n, h, w, c] = x.shape;
    const { xHat, y, r } = forward(
      float32Values(x),
      n,
      h * w,
      c,
      slope,
    );
    const xHatT = tf.tensor4d(xHat, x.shape);
    save([xHatT, tf.tensor1d(r)]);
    return {
      // No activation: the output is x̂ itself (a clone shares its data).
      value: y ? tf.tensor4d(y, x.shape) : tf.clone(xHatT),
      gradFunc: (dy: Tensor4D, saved: Tensor[]) => gradient(dy, saved, n, h * w, c, slope),
    };
  }) as (x: Tensor4D) => Tensor4D;
  ops.set(slope, f);
  return f;
}

/**
 * The normalisation of `BatchNorm2d` in training, before its affine: per
 * channel, `(x - mean) / sqrt(var + eps)` with the mean and biased variance
 * over N, H and W, and the gradient through them; `onStats` receives that mean
 * and variance (for the running statistics). The instance norm kernel above on
 * the whole batch as one image: two passes each way. Only on the `cpu`
 * backend (and `blas`, `onednn`) with float32 data; elsewhere, compose TF.js ops.
 *
 * @example
 * ```ts
 * import { tf } from "./tf.ts";
 * import { normalizeOverBatch } from "./norm_act.ts";
 * await tf.setBackend("cpu");
 * const y = normalizeOverBatch(tf.randomNormal([2, 4, 4, 3]), 1e-5, (mean, variance) => {
 *   console.log(mean.length, variance.length); // 3 3
 * });
 * tf.moments(y, [0, 1, 2]).mean.print(); // ~0 for every channel
 * ```
 */
export function normalizeOverBatch(
  x: Tensor4D,
  eps: number,
  onStats: (mean: Float32Array, variance: Float32Array) => void,
): Tensor4D {
  const f = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
    const [input, save] = args as [Tensor4D, tf.GradSaveFunc];
    const [n, h, w, c] = input.shape;
    const stats = { mean: new Float32Array(c), variance: new Float32Array(c) };
    const data = float32Values(input);
    const { xHat, r } = forward(data, 1, n * h * w, c, 1, eps, stats);
    onStats(stats.mean, stats.variance);
    const value = tf.tensor4d(xHat, input.shape);
    // A clone shares the data (counted references): saved apart from the output.
    save([tf.clone(value), tf.tensor1d(r)]);
    return {
      value,
      gradFunc: (dy: Tensor4D, saved: Tensor[]) => gradient(dy, saved, 1, n * h * w, c, 1),
    };
  }) as (x: Tensor4D) => Tensor4D;
  return f(x);
}

/**
 * `activation(xHat · gamma + beta)`, with `gamma` and `beta` per channel: the
 * affine of `BatchNorm2d` and the activation after it, fused. On the `cpu`
 * backends (`cpu`, `blas`, `onednn`) one pass forward and one backward, which
 * gives the gradients of `xHat`, `gamma` and `beta` together, instead of the
 * eight element-wise kernels and two sums of the composition; elsewhere the
 * composition.
 *
 * @example
 * ```ts
 * import { tf } from "./tf.ts";
 * import { affineAct } from "./norm_act.ts";
 * const y = affineAct(tf.randomNormal([1, 4, 4, 3]), tf.ones([3]), tf.zeros([3]), "relu");
 * console.log(y.shape); // [1, 4, 4, 3]
 * ```
 */
export function affineAct(
  xHat: Tensor4D,
  gamma: Tensor,
  beta: Tensor,
  activation: NormActivation,
  alpha: number = 0.2,
): Tensor4D {
  const slope = slopeOf(activation, alpha);
  const c = xHat.shape[3];
  const fusable = tf.getBackend() === "cpu" &&
    [xHat, gamma, beta].every((t) => t.dtype === "float32") &&
    gamma.size === c && beta.size === c;
  if (!fusable) {
    return tf.tidy(() => {
      const z = tf.add(tf.mul(xHat, gamma), beta) as Tensor4D;
      if (slope === 1) return z;
      return (slope === 0 ? tf.relu(z) : tf.leakyRelu(z, slope)) as Tensor4D;
    });
  }
  const f = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
    const [x, g, b, save] = args as [Tensor4D, Tensor, Tensor, tf.GradSaveFunc];
    const xv = float32Values(x);
    const gv = float32Values(g);
    const bv = float32Values(b);
    const y = takeArray(xv.length);
    for (let i = 0; i < xv.length; i += c) {
      for (let k = 0; k < c; k++) {
        // Rounded as the composition's two float32 kernels round.
        const z = Math.fround(Math.fround(xv[i + k] * gv[k]) + bv[k]);
        y[i + k] = z > 0 ? z : slope * z + 0;
      }
    }
    const value = tf.tensor4d(y, x.shape);
    save([x, tf.clone(value), g]);
    return {
      value,
      gradFunc: (dy: Tensor4D, saved: Tensor[]) => {
        const d = float32Values(dy);
        const [xs, ys, gs] = saved.map((t) => cpuFloat32(t) as Float32Array);
        // y > 0 exactly where xHat·gamma + beta > 0, for any slope >= 0.
        const bits = new Int32Array(ys.buffer, ys.byteOffset, ys.length);
        const dx = takeArray(d.length);
        const dGamma = new Float64Array(c), dBeta = new Float64Array(c);
        const rise = 1 - slope;
        for (let i = 0; i < d.length; i += c) {
          for (let k = 0; k < c; k++) {
            const j = i + k;
            const dz = Math.fround(d[j] * (slope + rise * positive(bits[j])));
            dBeta[k] += dz;
            dGamma[k] += dz * xs[j];
            dx[j] = dz * gs[k];
          }
        }
        return [
          tf.tensor4d(dx, x.shape),
          tf.reshape(tf.tensor1d(Float32Array.from(dGamma)), g.shape),
          tf.reshape(tf.tensor1d(Float32Array.from(dBeta)), b.shape),
        ];
      },
    };
  }) as (x: Tensor4D, g: Tensor, b: Tensor) => Tensor4D;
  return f(xHat, gamma, beta);
}

/**
 * `BatchNorm2d` in training with its affine and activation, on the cpu
 * backends: `activation(gamma · x̂ + beta)` with x̂ normalised by the batch's
 * statistics per channel over N, H and W, which `onStats` receives (mean and
 * biased variance). On `onednn` one oneDNN batch norm (with scale and shift)
 * and one ReLU each way, the gradients of `x`, `gamma` and `beta` together;
 * on `cpu` and `blas` {@link normalizeOverBatch} then {@link affineAct}.
 *
 * @example
 * ```ts
 * import { tf } from "./tf.ts";
 * import { batchNormAct } from "./norm_act.ts";
 * await tf.setBackend("cpu");
 * const y = batchNormAct(tf.randomNormal([2, 4, 4, 3]), tf.ones([3]), tf.zeros([3]), 1e-5, "relu", 0.2, () => {});
 * console.log(y.shape); // [2, 4, 4, 3]
 * ```
 */
export function batchNormAct(
  x: Tensor4D,
  gamma: Tensor,
  beta: Tensor,
  eps: number,
  activation: NormActivation,
  alpha: number,
  onStats: (mean: Float32Array, variance: Float32Array) => void,
): Tensor4D {
  const dnnl = activeOneDnn();
  const [n, h, w, c] = x.shape;
  if (!dnnl || gamma.size !== c || beta.size !== c || gamma.dtype !== "float32") {
    return affineAct(normalizeOverBatch(x, eps, onStats), gamma, beta, activation, alpha);
  }
  const slope = slopeOf(activation, alpha);
  const g = { groups: 1, pixels: n * h * w, channels: c };
  const f = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
    const [input, scale, shift, save] = args as [Tensor4D, Tensor, Tensor, tf.GradSaveFunc];
    const xv = float32Values(input);
    const gv = float32Values(scale);
    const bv = float32Values(shift);
    const y = takeArray(xv.length);
    const mean = new Float32Array(c), variance = new Float32Array(c);
    dnnl.batchNormAct(g, eps, slope, xv, gv, bv, y, mean, variance);
    onStats(mean, variance);
    const value = tf.tensor4d(y, input.shape);
    // The input itself, not x̂: oneDNN's backward recomputes x̂ from it.
    save([input, tf.clone(value), scale, tf.tensor1d(mean), tf.tensor1d(variance)]);
    return {
      value,
      gradFunc: (dy: Tensor4D, saved: Tensor[]) => {
        const [xs, ys, gs, ms, vs] = saved.map((t) => cpuFloat32(t) as Float32Array);
        const dx = takeArray(xs.length);
        const dGamma = new Float32Array(c), dBeta = new Float32Array(c);
        const d = float32Values(dy);
        dnnl.batchNormActBackward(g, eps, slope, xs, ys, ms, vs, gs, d, dx, dGamma, dBeta);
        return [
          tf.tensor4d(dx, input.shape),
          tf.reshape(tf.tensor1d(dGamma), scale.shape),
          tf.reshape(tf.tensor1d(dBeta), shift.shape),
        ];
      },
    };
  }) as (x: Tensor4D, g: Tensor, b: Tensor) => Tensor4D;
  return f(x, gamma, beta);
}

// The input gradient of a normalisation (with its activation) from the saved
// x̂ and r: the backward kernel below on the backend's arrays.
function gradient(
  dy: Tensor4D,
  [xHat, r]: Tensor[],
  n: number,
  p: number,
  c: number,
  slope: number,
): Tensor4D {
  const dx = backward(
    float32Values(dy),
    cpuFloat32(xHat) as Float32Array,
    cpuFloat32(r) as Float32Array,
    n,
    p,
    c,
    slope,
  );
  return tf.tensor4d(dx, dy.shape);
}

// 1 where the float32 with bit pattern b is > 0 (not ±0, not negative), else
// 0: branch-free, as the sign of activations is a coin toss for the predictor.
// For b > 0 both -b and ~b have the sign bit set; for 0, -0 and below, not both.
function positive(b: number): number {
  return ((-b & ~b) >>> 31);
}

/**
 * The forward pass on raw NHWC data: per image and channel, the mean and the
 * biased variance over the `p` pixels (float64 sums of x and x²),
 * `x̂ = (x - mean) / sqrt(var + eps)` and `y = x̂ > 0 ? x̂ : slope · x̂`.
 * Returns x̂, y (null where it would equal x̂: slope 1, or stats given) and
 * `r = 1 / sqrt(var + eps)` per image and channel. Two passes over x. On
 * `onednn`, oneDNN's batch norm per image (fp32 statistics) and its ReLU.
 */
function forward(
  x: Float32Array,
  n: number,
  p: number,
  c: number,
  slope: number,
  eps: number = INSTANCE_NORM_EPS,
  stats?: { mean: Float32Array; variance: Float32Array },
): { xHat: Float32Array; y: Float32Array | null; r: Float32Array } {
  // No y when it would be x̂: no activation (slope 1), or batch norm (stats
  // given), whose affine comes first.
  const xHat = takeArray(x.length), y = stats || slope === 1 ? null : takeArray(x.length);
  const dnnl = activeOneDnn();
  if (dnnl) {
    const mean = stats?.mean ?? new Float32Array(n * c);
    const variance = stats?.variance ?? new Float32Array(n * c);
    dnnl.normalize({ groups: n, pixels: p, channels: c }, eps, x, xHat, mean, variance);
    const r = variance.map((v) => 1 / Math.sqrt(v + eps));
    if (y) dnnl.leakyRelu(slope, xHat, y);
    return { xHat, y, r };
  }
  const bits = new Int32Array(xHat.buffer, xHat.byteOffset, xHat.length);
  const r = new Float32Array(n * c);
  const sum = new Float64Array(c), sq = new Float64Array(c), rc = new Float64Array(c);
  const rise = 1 - slope;
  for (let b = 0; b < n; b++) {
    const base = b * p * c, end = base + p * c;
    sum.fill(0);
    sq.fill(0);
    for (let i = base; i < end; i += c) {
      for (let k = 0; k < c; k++) {
        const v = x[i + k];
        sum[k] += v;
        sq[k] += v * v;
      }
    }
    for (let k = 0; k < c; k++) {
      const mean = sum[k] / p, variance = Math.max(sq[k] / p - mean * mean, 0);
      sum[k] = mean;
      rc[k] = 1 / Math.sqrt(variance + eps);
      r[b * c + k] = rc[k];
      if (stats) [stats.mean[b * c + k], stats.variance[b * c + k]] = [mean, variance];
    }
    for (let i = base; i < end; i += c) {
      for (let k = 0; k < c; k++) {
        const j = i + k;
        xHat[j] = (x[j] - sum[k]) * rc[k];
        // slope·x̂ below zero; + 0 turns ReLU's -0 into +0, as tf.relu gives.
        if (y) y[j] = xHat[j] * (slope + rise * positive(bits[j])) + 0;
      }
    }
  }
  return { xHat, y, r };
}

/**
 * The backward pass on raw NHWC data: with `g = dy · act'(x̂)`,
 * `dx = r · (g - x̂ · mean(g · x̂) - mean(t))` where `mean(t)` is the mean of
 * `t = g - x̂ · mean(g · x̂)`, from float64 sums of g, g·x̂ and x̂ taken in one
 * pass; the second writes dx. Centring on mean(t) makes the gradient sum to
 * zero over the pixels as exactly as floats allow, which keeps the gradients
 * of biases before a norm at rounding noise, as PyTorch's are. On `onednn`,
 * oneDNN's ReLU backward and batch norm backward (`norm.ts`) instead.
 */
function backward(
  dy: Float32Array,
  xHat: Float32Array,
  r: Float32Array,
  n: number,
  p: number,
  c: number,
  slope: number,
): Float32Array {
  const dx = takeArray(dy.length);
  const dnnl = activeOneDnn();
  if (dnnl) {
    dnnl.normalizeBackward({ groups: n, pixels: p, channels: c }, slope, dy, xHat, r, dx);
    return dx;
  }
  const bits = new Int32Array(xHat.buffer, xHat.byteOffset, xHat.length);
  const sg = new Float64Array(c), sgx = new Float64Array(c), sx = new Float64Array(c);
  const rise = 1 - slope;
  for (let b = 0; b < n; b++) {
    const base = b * p * c, end = base + p * c;
    sg.fill(0);
    sgx.fill(0);
    sx.fill(0);
    for (let i = base; i < end; i += c) {
      for (let k = 0; k < c; k++) {
        const j = i + k, xh = xHat[j];
        const g = dy[j] * (slope + rise * positive(bits[j]));
        sg[k] += g;
        sgx[k] += g * xh;
        sx[k] += xh;
      }
    }
    for (let k = 0; k < c; k++) {
      const m = sgx[k] / p;
      sgx[k] = m;
      sg[k] = sg[k] / p - (sx[k] / p) * m; // mean(t)
      sx[k] = r[b * c + k];
    }
    for (let i = base; i < end; i += c) {
      for (let k = 0; k < c; k++) {
        const j = i + k;
        const g = dy[j] * (slope + rise * positive(bits[j]));
        dx[j] = (g - xHat[j] * sgx[k] - sg[k]) * sx[k];
      }
    }
  }
  return dx;
}
