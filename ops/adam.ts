/**
 * Adam exactly as PyTorch's `torch.optim.Adam` (no weight decay, no amsgrad).
 * @module
 */
import { type Tensor, tf, type Variable } from "./tf.ts";
import { adamUpdateInPlace } from "./runtime/adam_kernel.ts";
import { AdamArena } from "./runtime/wasm/adam_simd.ts";
import { cpuData } from "./runtime/cpu_data.ts";
import { stampWrite } from "./runtime/write_stamps.ts";

/**
 * Moves a cpu-backend tensor's values into `slot` (an arena view the backend
 * then reads) unless they are there already; null when the tensor shares its
 * values with another tensor and must not change in place.
 */
function adopt(t: Tensor, slot: Float32Array): Float32Array | null {
  const entry = cpuData(t);
  if (!entry || entry.refCount !== 1 || !(entry.values instanceof Float32Array)) return null;
  if (entry.values !== slot) {
    slot.set(entry.values);
    stampWrite(slot);
    entry.values = slot;
  }
  return slot;
}

/** The values array of a cpu-backend tensor when it alone owns it, else null. */
function ownedValues(t: Tensor, exclusive: boolean): Float32Array | null {
  const entry = cpuData(t);
  const values = entry?.values;
  if (!(values instanceof Float32Array)) return null;
  // Another tensor sharing the buffer (a clone, an assigned source) must not change.
  return exclusive && entry?.refCount !== 1 ? null : values;
}

/** Adam's hyper-parameters. */
export interface AdamOptions {
  /** Learning rate (2e-4 for DiscoGAN). */
  lr: number;
  /** Decay of the first moment (0.5 for DiscoGAN). */
  beta1: number;
  /** Decay of the second moment (0.999). */
  beta2: number;
  /** Added after the bias-corrected square root; PyTorch's default 1e-8. */
  eps: number;
}

/** DiscoGAN's Adam settings: lr 2e-4, betas (0.5, 0.999), eps 1e-8. */
export const DISCOGAN_ADAM: AdamOptions = {
  lr: 2e-4,
  beta1: 0.5,
  beta2: 0.999,
  eps: 1e-8,
};

/** Adam's state as plain arrays, for checkpoints. */
export interface AdamState {
  /** Number of updates taken. */
  step: number;
  /** First moments by parameter name. */
  m: Map<string, Float32Array>;
  /** Second moments by parameter name. */
  v: Map<string, Float32Array>;
}

/**
 * Adam over a fixed set of named variables. One update per variable:
 * `m = β1 m + (1-β1) g`, `v = β2 v + (1-β2) g²`,
 * `p -= lr/(1-β1^t) · m / (sqrt(v)/sqrt(1-β2^t) + eps)` (PyTorch's order).
 *
 * @example
 * ```ts
 * import { tf } from "./tf.ts";
 * import { Adam, DISCOGAN_ADAM } from "./adam.ts";
 * const w = tf.variable(tf.ones([3]));
 * const adam = new Adam(new Map([["w", w]]), DISCOGAN_ADAM);
 * adam.update(new Map([["w", tf.tensor1d([1, -1, 0])]]));
 * w.print(); // [0.9998, 1.0002, 1]
 * ```
 */
export class Adam {
  /** Updates taken so far. */
  step = 0;
  readonly #params: Map<string, Variable>;
  readonly #m = new Map<string, Variable>();
  readonly #v = new Map<string, Variable>();
  // On the cpu backend: parameters and moments live in one WebAssembly memory
  // (the backend reads them through views) and update with SIMD.
  readonly #arena?: AdamArena;
  readonly #slots = new Map<string, { p: Float32Array; m: Float32Array; v: Float32Array }>();

  /** Creates the optimizer over `params` (name to variable) with zeroed moments. */
  constructor(params: Map<string, Variable>, readonly options: AdamOptions) {
    this.#params = params;
    if (tf.getBackend() === "cpu" && params.size) {
      const sizes = [...params.values()].map((p) => Math.ceil(p.size / 4) * 4);
      try {
        this.#arena = new AdamArena(3 * sizes.reduce((a, b) => a + b, 0), Math.max(...sizes));
        for (const [name, p] of params) {
          const a = this.#arena;
          const slot = { p: a.alloc(p.size), m: a.alloc(p.size), v: a.alloc(p.size) };
          this.#slots.set(name, slot);
          // Moved in now, before training allocates: the arrays they leave are
          // freed early instead of adding to the first iteration's peak.
          adopt(p, slot.p);
        }
      } catch {
        // Over WebAssembly's 4 GiB: the plain-JS loop below serves.
        this.#arena = undefined;
        this.#slots.clear();
      }
    }
    for (const [name, p] of params) {
      // The moments start at zero, which fresh arena memory already is: the
      // variables read their slots directly, with no zero arrays to discard.
      const slot = this.#slots.get(name);
      const zeros = () => slot ? [tf.tensor(slot.m, p.shape), tf.tensor(slot.v, p.shape)] : [];
      const [m, v] = tf.tidy(() => zeros().map((t) => tf.variable(t, false)));
      this.#m.set(name, m ?? tf.tidy(() => tf.variable(tf.zerosLike(p), false)));
      this.#v.set(name, v ?? tf.tidy(() => tf.variable(tf.zerosLike(p), false)));
    }
  }

  /**
   * Applies one update with gradients by parameter name; names without a
   * gradient keep still. On the cpu backend each variable is updated in place
   * by one fused loop; elsewhere with tensor ops. With a `guard` (the loss),
   * nothing changes, not even the step count, when the guard or a gradient is
   * NaN or infinite; returns whether the update was applied.
   */
  update(grads: Map<string, Tensor>, guard?: Tensor): boolean {
    if (guard && !this.#finite(guard, grads)) return false;
    const apply = this.beginStep();
    for (const [name, g] of grads) apply(name, g);
    return true;
  }

  /**
   * Counts one update now and returns the function that applies it to one
   * parameter, for gradients that arrive one at a time (e.g. from
   * `gradientsFreeing`'s `onGradient`, during the backward pass). The values
   * are those of {@link Adam.update} with all the gradients at once; there is
   * no guard, as that needs every gradient first. Parameters never passed to
   * the function keep still.
   *
   * @example
   * ```ts
   * import { tf } from "./tf.ts";
   * import { Adam, DISCOGAN_ADAM } from "./adam.ts";
   * const w = tf.variable(tf.ones([3]));
   * const adam = new Adam(new Map([["w", w]]), DISCOGAN_ADAM);
   * const apply = adam.beginStep();
   * apply("w", tf.tensor1d([1, -1, 0]));
   * w.print(); // [0.9998, 1.0002, 1]
   * ```
   */
  beginStep(): (name: string, grad: Tensor) => void {
    const { lr, beta1, beta2, eps } = this.options;
    // Captured: every parameter of this update uses the same bias correction.
    const step = ++this.step;
    const stepSize = lr / (1 - beta1 ** step);
    const bc2Sqrt = Math.sqrt(1 - beta2 ** step);
    const host = tf.getBackend() === "cpu";
    return (name, g) => {
      const p = this.#params.get(name), m = this.#m.get(name), v = this.#v.get(name);
      if (!p || !m || !v) throw new Error(`Adam: no parameter named "${name}"`);
      if (host) {
        const slot = this.#slots.get(name);
        const gv = ownedValues(g, false);
        if (slot && this.#arena && gv) {
          const pv = adopt(p, slot.p), mv = adopt(m, slot.m), vv = adopt(v, slot.v);
          if (pv && mv && vv) {
            this.#arena.step(pv, gv, mv, vv, step, lr, beta1, beta2, eps);
            return;
          }
        }
        const pv = ownedValues(p, true);
        const mv = ownedValues(m, true), vv = ownedValues(v, true);
        if (pv && gv && mv && vv) {
          adamUpdateInPlace(pv, gv, mv, vv, step, lr, beta1, beta2, eps);
          stampWrite(pv); // it may be an arena view (when a moment was not adopted)
          return;
        }
      }
      tf.tidy(() => {
        m.assign(tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1)));
        v.assign(tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2)));
        const denom = tf.add(tf.div(tf.sqrt(v), bc2Sqrt), eps);
        p.assign(tf.sub(p, tf.mul(tf.div(m, denom), stepSize)));
      });
    };
  }

  /**
   * Whether `guard` (a loss) and every gradient are finite. Reads one number
   * synchronously: a NaN or infinity anywhere turns `loss + 0·Σ sums` into NaN.
   */
  #finite(guard: Tensor, grads: Map<string, Tensor>): boolean {
    const check = tf.tidy(() => {
      const sums = [...grads.values()].map((g) => tf.sum(g));
      return tf.add(guard, tf.mul(sums.length ? tf.addN(sums) : tf.scalar(0), 0));
    });
    try {
      return Number.isFinite(check.dataSync()[0]);
    } finally {
      check.dispose();
    }
  }

  /** Copies the moments out for a checkpoint. */
  async getState(): Promise<AdamState> {
    const read = async (src: Map<string, Variable>) => {
      const out = new Map<string, Float32Array>();
      for (const [name, t] of src) {
        out.set(name, (await t.data()) as Float32Array);
      }
      return out;
    };
    return { step: this.step, m: await read(this.#m), v: await read(this.#v) };
  }

  /** Restores moments saved by {@link Adam.getState}; every name and size must match. */
  setState(state: AdamState): void {
    for (
      const [kind, src, dst] of [["m", state.m, this.#m], [
        "v",
        state.v,
        this.#v,
      ]] as const
    ) {
      for (const [name, variable] of dst) {
        const values = src.get(name);
        if (!values || values.length !== variable.size) {
          throw new Error(
            `Adam state: ${kind} of "${name}" is missing or has the wrong size`,
          );
        }
        tf.tidy(() => variable.assign(tf.tensor(values, variable.shape)));
      }
    }
    this.step = state.step;
  }

  /** Releases the moment tensors. */
  dispose(): void {
    for (const t of [...this.#m.values(), ...this.#v.values()]) t.dispose();
  }
}
