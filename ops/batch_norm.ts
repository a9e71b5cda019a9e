/**
 * Batch normalisation as PyTorch's `BatchNorm2d(affine=True,
 * track_running_stats=True)`, on NHWC tensors.
 * @module
 */
import { type Tensor, type Tensor4D, tf, type Variable } from "./tf.ts";
import { withoutTape } from "./gradients.ts";
import { affineAct, batchNormAct, type NormActivation } from "./norm_act.ts";

/** PyTorch's default epsilon for `BatchNorm2d`. */
export const BATCH_NORM_EPS = 1e-5;

/** PyTorch's default momentum for `BatchNorm2d`'s running statistics. */
export const BATCH_NORM_MOMENTUM = 0.1;

/**
 * How {@link batchNorm2d} runs.
 *
 * @example
 * ```ts
 * import type { BatchNormOptions } from "./batch_norm.ts";
 * const options: BatchNormOptions = { training: true, momentum: 0.1 };
 * ```
 */
export interface BatchNormOptions {
  /** PyTorch's `train()`: batch statistics, and the running ones updated. */
  training: boolean;
  /** Weight of the new batch in the running statistics. Default 0.1. */
  momentum?: number;
  /** Added to the variance. Default 1e-5. */
  eps?: number;
  /** PyTorch's `num_batches_tracked`: incremented by one per training call when given. */
  numBatchesTracked?: Variable;
  /**
   * The activation after the norm, applied here so that the cpu backends can
   * fuse it with the affine: `relu`, `leakyRelu` (slope `alpha`) or `none`
   * (the default).
   */
  activation?: NormActivation;
  /** LeakyReLU's slope for negative inputs. Default 0.2. */
  alpha?: number;
}

/**
 * `BatchNorm2d` on an NHWC tensor, statistics per channel over N, H and W.
 *
 * Training: normalises with the batch mean and biased variance, differentiable
 * through both, and updates `runningMean ← (1-m)·runningMean + m·mean` and
 * `runningVar ← (1-m)·runningVar + m·unbiasedVar` (and `numBatchesTracked`).
 * The update is computed and assigned with any gradient tape paused, so it is
 * safe inside `tf.variableGrads` or {@linkcode gradientsFreeing}; it happens
 * once per call. Evaluation: `(x - runningMean) / sqrt(runningVar + eps)`,
 * scaled by `gamma` and shifted by `beta`; the buffers are left alone.
 *
 * @throws {RangeError} In training when a channel has a single value (N·H·W
 * = 1), where the unbiased variance is undefined (PyTorch refuses it too).
 *
 * @example
 * ```ts
 * import { tf } from "./tf.ts";
 * import { batchNorm2d } from "./batch_norm.ts";
 * const [mean, variance] = [tf.variable(tf.zeros([3]), false), tf.variable(tf.ones([3]), false)];
 * const y = batchNorm2d(tf.randomNormal([2, 4, 4, 3]), tf.ones([3]), tf.zeros([3]), mean, variance, {
 *   training: true,
 * });
 * tf.moments(y, [0, 1, 2]).mean.print(); // ~0 for every channel
 * mean.print(); // 0.1 · the batch mean
 * ```
 */
export function batchNorm2d(
  x: Tensor4D,
  gamma: Tensor,
  beta: Tensor,
  runningMean: Variable,
  runningVar: Variable,
  options: BatchNormOptions,
): Tensor4D {
  const {
    training,
    momentum = BATCH_NORM_MOMENTUM,
    eps = BATCH_NORM_EPS,
    numBatchesTracked,
    activation = "none",
    alpha = 0.2,
  } = options;
  if (!training) {
    // PyTorch's CPU kernel folds the statistics into one scale and shift.
    return tf.tidy(() => {
      const scale = tf.mul(gamma, tf.rsqrt(tf.add(runningVar, eps)));
      const shift = tf.sub(beta, tf.mul(runningMean, scale));
      return affineAct(x, scale, shift, activation, alpha);
    });
  }
  const [n, h, w, c] = x.shape;
  const count = n * h * w;
  if (count < 2) {
    throw new RangeError(
      `BatchNorm in training needs more than one value per channel, got input ${n}x${h}x${w}x${c}: ` +
        "use a batch of at least 2 or evaluation mode",
    );
  }
  const update = (mean: Tensor, variance: Tensor) =>
    tf.tidy(() => {
      runningMean.assign(tf.add(tf.mul(runningMean, 1 - momentum), tf.mul(mean, momentum)));
      runningVar.assign(
        tf.add(
          tf.mul(runningVar, 1 - momentum),
          tf.mul(variance, (momentum * count) / (count - 1)),
        ),
      );
      numBatchesTracked?.assign(tf.add(numBatchesTracked, 1));
    });
  if (tf.getBackend() === "cpu" && x.dtype === "float32") {
    // The cpu backends: fused kernels for the statistics, the normalisation, the
    // affine and the activation (ops/norm_act.ts).
    return tf.tidy(() => {
      let stats!: [Float32Array, Float32Array];
      const y = batchNormAct(x, gamma, beta, eps, activation, alpha, (mean, variance) => {
        stats = [mean, variance];
      });
      withoutTape(() => update(tf.tensor1d(stats[0]), tf.tensor1d(stats[1])));
      return y;
    });
  }
  return tf.tidy(() => {
    // Constants to any gradient: the normalisation's own gradient below
    // accounts for the statistics, and the running buffers must carry none.
    const { mean, r } = withoutTape(() => {
      const { mean, variance } = tf.moments(x, [0, 1, 2]);
      update(mean, variance);
      return { mean, r: tf.rsqrt(tf.add(variance, eps)) };
    });
    return affineAct(normalize(mean, r)(x), gamma, beta, activation, alpha);
  });
}

// With x̂ = (x - mean)·r and r = 1/sqrt(var + eps), statistics over N, H and W,
// the input gradient is r · (dy - mean(dy) - x̂ · mean(dy · x̂)): the gradient
// through the batch statistics, without autodiff through tf.moments.
function normalize(mean: Tensor, r: Tensor): (x: Tensor4D) => Tensor4D {
  return tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
    const [x, save] = args as [Tensor4D, tf.GradSaveFunc];
    const xHat = tf.mul(tf.sub(x, mean), r) as Tensor4D;
    save([xHat, r]);
    const gradFunc = (dy: Tensor4D, saved: Tensor[]) => {
      const [xh, rr] = saved;
      const meanDyXh = tf.mean(tf.mul(dy, xh), [0, 1, 2]);
      // Centred last, as ops/instance_norm.ts: the result then sums to zero
      // per channel as exactly as floats allow.
      const t = tf.sub(dy, tf.mul(xh, meanDyXh));
      return tf.mul(tf.sub(t, tf.mean(t, [0, 1, 2])), rr);
    };
    return { value: xHat, gradFunc };
  }) as (x: Tensor4D) => Tensor4D;
}
