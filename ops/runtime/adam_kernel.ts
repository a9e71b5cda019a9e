/**
 * Fused in-place Adam step on plain `Float32Array`s (no tensors, no
 * allocation), following PyTorch's `torch.optim.Adam` (no weight decay, no
 * amsgrad).
 *
 * @module
 */

/**
 * One Adam step, in place, matching PyTorch's single-tensor Adam:
 *
 * ```
 * m = b1*m + (1-b1)*g
 * v = b2*v + (1-b2)*g*g
 * p -= (lr / (1-b1^t)) * m / (sqrt(v) / sqrt(1-b2^t) + eps)
 * ```
 *
 * Each element is computed in float64; `m` and `v` are rounded to float32
 * before they are used for the parameter update (as PyTorch stores them in
 * float32 first), and the parameter is stored as float32.
 *
 * @param param parameters, updated in place
 * @param grad gradient, same length as `param`
 * @param m first-moment state, same length, updated in place (start at 0)
 * @param v second-moment state, same length, updated in place (start at 0)
 * @param step 1-based step count `t` (after incrementing, as in PyTorch)
 * @param lr learning rate
 * @param beta1 first-moment decay (PyTorch default 0.9; DCGAN-style GANs use 0.5)
 * @param beta2 second-moment decay (default 0.999)
 * @param eps denominator epsilon (default 1e-8)
 * @throws {RangeError} on length mismatch or `step < 1`
 *
 * @example
 * ```ts
 * import { adamUpdateInPlace } from "./adam_kernel.ts";
 * const p = new Float32Array([1, 2]), g = new Float32Array([0.1, -0.2]);
 * const m = new Float32Array(2), v = new Float32Array(2);
 * adamUpdateInPlace(p, g, m, v, 1, 1e-3, 0.9, 0.999, 1e-8);
 * console.log(p); // ≈ Float32Array [0.999, 2.001]
 * ```
 */
export function adamUpdateInPlace(
  param: Float32Array,
  grad: Float32Array,
  m: Float32Array,
  v: Float32Array,
  step: number,
  lr: number,
  beta1: number,
  beta2: number,
  eps: number,
): void {
  const n = param.length;
  if (grad.length !== n || m.length !== n || v.length !== n) {
    throw new RangeError(
      `adamUpdateInPlace: lengths differ (param ${n}, grad ${grad.length}, ` +
        `m ${m.length}, v ${v.length})`,
    );
  }
  if (!(step >= 1)) {
    throw new RangeError(`adamUpdateInPlace: step must be >= 1, got ${step}`);
  }
  const stepSize = lr / (1 - Math.pow(beta1, step));
  const bc2Sqrt = Math.sqrt(1 - Math.pow(beta2, step));
  const omb1 = 1 - beta1, omb2 = 1 - beta2;
  const fround = Math.fround, sqrt = Math.sqrt;
  for (let i = 0; i < n; i++) {
    const g = grad[i];
    const mi = fround(beta1 * m[i] + omb1 * g);
    const vi = fround(beta2 * v[i] + omb2 * g * g);
    m[i] = mi;
    v[i] = vi;
    param[i] -= stepSize * mi / (sqrt(vi) / bc2Sqrt + eps);
  }
}
