/**
 * One optimizer step on a scalar objective: gradients of the named parameters
 * by {@link gradientsFreeing}, Adam's update, and the objective's terms read
 * back as numbers.
 * @module
 */
import { type Scalar, type Tensor, tf, type Variable } from "./tf.ts";
import type { Adam } from "./adam.ts";
import { gradientsFreeing } from "./gradients.ts";

/** An objective: the total to minimise, and the terms to report (numbers after the step). */
export interface Objective<K extends string> {
  /** The scalar the parameters are moved against. */
  total: Scalar;
  /** Terms reported beside the total, e.g. `{ g_gan, g_cycle }`. */
  terms: Record<K, Scalar>;
}

/** How {@link minimize} applies the update. */
export interface MinimizeOptions {
  /**
   * Update each parameter during the backward pass, as soon as its gradient
   * is final, and free that gradient at once: the gradients of all the
   * parameters then never coexist. Not with `guard`, which needs them all.
   */
  eager?: boolean;
  /** Leave every parameter and the optimizer untouched when the total or a gradient is not finite. */
  guard?: boolean;
  /** L2 weight decay as PyTorch's Adam applies it: each gradient becomes `grad + wd·param`. */
  weightDecay?: number;
}

/** What a step measured. */
export interface MinimizeResult<K extends string> {
  /** The total, before the update. */
  total: number;
  /** Each term, before the update. */
  terms: Record<K, number>;
  /** False when `guard` found a non-finite value and nothing was updated. */
  applied: boolean;
}

/**
 * Computes `objective`, its gradients for `params` (all of them trainable;
 * keys name them to the optimizer), and applies `optimizer` to them. All tensor
 * work happens before the first `await`, so a step can run inside another
 * step's objective (its tensors kept from that step's tidy).
 *
 * @example
 * ```ts
 * import { tf } from "./tf.ts";
 * import { Adam, DISCOGAN_ADAM } from "./adam.ts";
 * import { minimize } from "./minimize.ts";
 * const w = tf.variable(tf.scalar(3));
 * const params = new Map([["w", w]]);
 * const r = await minimize(params, new Adam(params, DISCOGAN_ADAM), {}, () => ({
 *   total: tf.square(w),
 *   terms: {},
 * }));
 * console.log(r.total); // 9
 * ```
 */
export async function minimize<K extends string>(
  params: Map<string, Variable>,
  optimizer: Adam,
  options: MinimizeOptions,
  objective: () => Objective<K>,
): Promise<MinimizeResult<K>> {
  const eager = options.eager && !options.guard;
  const wd = options.weightDecay ?? 0;
  let terms = {} as Record<K, Scalar>;
  const { value, grads } = gradientsByName(
    params,
    () => {
      const o = objective();
      terms = o.terms;
      for (const t of Object.values<Scalar>(terms)) tf.keep(t);
      return o.total;
    },
    eager ? optimizer : undefined,
    wd,
  );
  if (wd && !eager) {
    for (const [name, g] of grads) {
      grads.set(name, decayed(g, params.get(name) as Variable, wd));
      g.dispose();
    }
  }
  const applied = eager || optimizer.update(grads, options.guard ? value : undefined);
  tf.dispose([...grads.values()]);
  // Kept: this step may run inside another step's tidy, which would dispose
  // the value before an asynchronous (GPU) read completes.
  const total = await readScalar(tf.keep(value));
  const numbers = {} as Record<K, number>;
  for (const [k, t] of Object.entries<Scalar>(terms)) {
    // A term may be the total itself (already read and released).
    numbers[k as K] = t === value ? total : await readScalar(t);
  }
  return { total, terms: numbers, applied };
}

function decayed(grad: Tensor, param: Variable, wd: number): Tensor {
  return tf.tidy(() => tf.add(grad, tf.mul(param, wd)));
}

async function readScalar(t: Scalar): Promise<number> {
  const v = (await t.data())[0];
  t.dispose();
  return v;
}

// Gradients of `f` for the variables in `params`, keyed like `params`, as
// tf.variableGrads gives them (same checks), but computed by gradientsFreeing:
// saved activations and intermediate gradients are freed during the backward
// pass. With an `optimizer`, each parameter is updated by it as soon as its
// gradient is final, which is then freed at once and left out of `grads`.
function gradientsByName(
  params: Map<string, Variable>,
  f: () => Scalar,
  optimizer?: Adam,
  weightDecay = 0,
): { value: Scalar; grads: Map<string, Tensor> } {
  const trainable = [...params].filter(([, v]) => v.trainable);
  if (!trainable.length) throw new Error("minimize: none of the parameters is trainable");
  const names = new Map(trainable.map(([key, v]) => [v, key]));
  let apply: ((name: string, grad: Tensor) => void) | undefined;
  const { value, grads } = gradientsFreeing(
    f,
    trainable.map(([, v]) => v),
    optimizer &&
      ((v, g) => {
        // The step is counted with the first gradient, so a forward pass that
        // throws counts none, as with Adam.update after the pass.
        apply ??= optimizer.beginStep();
        if (!weightDecay) apply(names.get(v) as string, g);
        else {
          const gd = decayed(g, v as Variable, weightDecay);
          apply(names.get(v) as string, gd);
          gd.dispose();
        }
        return true;
      }),
  );
  if (optimizer && !apply) optimizer.beginStep(); // Adam.update counts empty steps too
  const byName = new Map<string, Tensor>();
  trainable.forEach(([key], i) => {
    const g = grads[i];
    if (g) byName.set(key, g);
  });
  if (!apply && !byName.size) {
    tf.dispose(value);
    throw new Error("minimize: the loss does not depend on any of the parameters");
  }
  if (value.rank !== 0) throw new Error(`minimize: the loss has rank ${value.rank}, not 0`);
  return { value, grads: byName };
}
