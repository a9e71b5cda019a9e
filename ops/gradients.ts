/**
 * Gradients that free memory as the backward pass goes, as PyTorch's autograd
 * does. TF.js's `engine.gradients` keeps every saved activation and every
 * intermediate gradient until the whole backward pass ends, so its memory peaks
 * there; {@link gradientsFreeing} gives the same numbers with a lower peak.
 * @module
 */
import { type Tensor, tf } from "./tf.ts";
import { isFreshArray } from "./runtime/fresh_arrays.ts";
import { cpuData } from "./runtime/cpu_data.ts";
import { addInPlace } from "./runtime/add_in_place.ts";

// The parts of TF.js's Engine (engine.js, tape.js in tfjs-core 4.22) used
// here; none is in the public typings.
interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, Tensor>;
  outputs: Tensor[];
  // Null dys become zeros inside (Engine.addTapeNode).
  gradient?: (dys: (Tensor | null)[]) => Record<string, () => Tensor>;
  // Clones kept for this node alone (Engine.saveTensorsForBackwardMode).
  saved?: Tensor[];
}

interface EngineInternals {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  startTape(): void;
  endTape(): void;
  tidy<T>(name: string, f: () => T): T;
}

/**
 * The nodes of `tape` on a path from one of `xs` to `y`, in tape order, each a
 * copy whose inputs are pruned to those that depend on `xs` (what tfjs-core's
 * `getFilteredNodesXToY` does).
 */
function filterTape(tape: TapeNode[], xs: Tensor[], y: Tensor): TapeNode[] {
  const fromX = new Set(xs.map((x) => x.id));
  const nodesFromX = new Set<number>();
  for (const node of tape) {
    for (const name in node.inputs) {
      if (fromX.has(node.inputs[name].id)) {
        for (const o of node.outputs) fromX.add(o.id);
        nodesFromX.add(node.id);
        break;
      }
    }
  }
  const toY = new Set([y.id]);
  const nodesToY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i];
    if (node.outputs.some((o) => toY.has(o.id))) {
      for (const name in node.inputs) {
        toY.add(node.inputs[name].id);
        nodesToY.add(node.id);
      }
    }
  }
  const filtered: TapeNode[] = [];
  for (const node of tape) {
    if (!nodesFromX.has(node.id) || !nodesToY.has(node.id)) continue;
    const inputs: Record<string, Tensor> = {};
    for (const name in node.inputs) {
      if (fromX.has(node.inputs[name].id)) inputs[name] = node.inputs[name];
    }
    filtered.push({ ...node, inputs, outputs: node.outputs });
  }
  return filtered;
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Gradients of `f()` with respect to `xs`: what
 * `tf.engine().gradients(f, xs, undefined, true)` returns, with the same values
 * bit for bit, but each saved activation and each intermediate gradient is
 * freed as soon as the backward pass has used it. Entries of `grads` are
 * undefined for the `xs` that `f()` does not depend on.
 *
 * With `onGradient`, each x's gradient is handed over as soon as it is final:
 * right after the earliest tape node that reads x has been backpropagated, so
 * no node still to come reads x or a view of it (updating x then, in place too,
 * changes no gradient). When the callback returns true it has used the
 * gradient: it is disposed here and its slot in `grads` is undefined. An
 * optimizer can so update each weight during the backward pass, and the
 * gradients of all weights never coexist.
 *
 * Inside another gradient computation (a higher-order gradient, or a step run
 * inside another step's `f`) the outer tape may still need the saved tensors
 * and intermediate gradients, so then nothing is freed early, as in TF.js.
 *
 * @example
 * ```ts
 * import { tf } from "./tf.ts";
 * import { gradientsFreeing } from "./gradients.ts";
 * const w = tf.variable(tf.tensor1d([1, 2, 3]));
 * const { value, grads } = gradientsFreeing(() => tf.sum(tf.square(w)), [w]);
 * value.print(); // 14
 * grads[0]?.print(); // [2, 4, 6]
 * ```
 */
export function gradientsFreeing<T extends Tensor, X extends Tensor>(
  f: () => T,
  xs: X[],
  onGradient?: (x: X, grad: Tensor) => boolean,
): { value: T; grads: (Tensor | undefined)[] } {
  if (xs.length === 0) throw new Error("gradientsFreeing() received an empty list of xs.");
  const engine = tf.engine() as unknown as EngineInternals;
  // Recorded as Engine.gradients records it.
  const y = engine.scopedRun(
    () => engine.startTape(),
    () => engine.endTape(),
    () => engine.tidy("forward", f),
  );
  if (!(y instanceof tf.Tensor)) throw new Error("The result y returned by f() must be a tensor.");
  const tape = engine.state.activeTape as TapeNode[];
  const filtered = filterTape(tape, xs, y);
  // Depth 0: this call owns the tape, which is dropped at the end. Deeper, an
  // outer gradient computation may backpropagate through this one's nodes.
  const freeing = engine.state.gradientDepth === 0;
  const savedFreed = new Set<number>();
  const freeSaved = (node: TapeNode) => {
    for (const t of node.saved ?? []) t.dispose();
    savedFreed.add(node.id);
  };
  if (freeing) {
    // Nodes off every path from xs to y are never backpropagated: their saved
    // tensors (e.g. those of a nested step's own backward pass) go now.
    const kept = new Set(filtered.map((n) => n.id));
    for (const node of tape) if (!kept.has(node.id)) freeSaved(node);
  }

  // The tape index after whose backpropagation each x's gradient is final:
  // the earliest node reading x (or, should x be an output, making it).
  const xById = new Map<number, X>();
  for (const x of xs) if (!xById.has(x.id)) xById.set(x.id, x);
  const finalAt = new Map<number, X[]>();
  if (onGradient) {
    const seen = new Set<number>();
    filtered.forEach((node, i) => {
      for (const t of [...Object.values(node.inputs), ...node.outputs]) {
        const x = xById.get(t.id);
        if (!x || seen.has(t.id)) continue;
        seen.add(t.id);
        const at = finalAt.get(i);
        if (at) at.push(x);
        else finalAt.set(i, [x]);
      }
    });
  }

  return engine.tidy("backward", () => {
    const seed = tf.ones(y.shape);
    // Tensors made from here on are the backward pass's own: the engine's
    // "backward" tidy would dispose all but the results at its end anyway.
    const firstId = seed.id;
    const ownable = (t: Tensor) => t.id >= firstId && !t.kept && t !== y;
    // Gradient by tensor id, and how many references each gradient has (a
    // gradient function may return a dy itself, or one tensor twice).
    const acc = new Map<number, Tensor>();
    const refs = new Map<Tensor, number>();
    const retain = (t: Tensor) => refs.set(t, (refs.get(t) ?? 0) + 1);
    const release = (t: Tensor, dispose: boolean) => {
      const n = (refs.get(t) ?? 1) - 1;
      if (n > 0) return void refs.set(t, n);
      refs.delete(t);
      if (dispose && ownable(t)) t.dispose();
    };
    const drop = (id: number) => {
      const t = acc.get(id);
      if (!t) return;
      acc.delete(id);
      release(t, true);
    };
    // Adds `other` into `into`'s values when nothing else can see them: made
    // in this pass, held once by the sum map alone, one tensor on the data,
    // and an array one of our kernels allocated (not a view of another).
    const addInto = (into: Tensor, other: Tensor): boolean => {
      if (!ownable(into) || refs.get(into) !== 1 || into.dtype !== "float32") return false;
      const a = cpuData(into), b = cpuData(other);
      if (!a || a.refCount !== 1 || !isFreshArray(a.values)) return false;
      const x = a.values, y = b?.values;
      if (!(y instanceof Float32Array) || y.length !== x.length || y === x) return false;
      addInPlace(x, y);
      return true;
    };
    acc.set(y.id, seed);
    retain(seed);
    const handed = new Set<number>(), consumed = new Set<number>();
    const hand = (x: X) => {
      const g = acc.get(x.id);
      if (!g || handed.has(x.id)) return;
      handed.add(x.id);
      if ((onGradient as (x: X, g: Tensor) => boolean)(x, g)) {
        consumed.add(x.id);
        drop(x.id);
      }
    };
    // One scope per node frees what its gradient function makes on the side
    // (zeros for unused outputs, customGrad temporaries) when the node is done.
    const scoped = <R>(fn: () => R): R => freeing ? tf.tidy(fn as () => Tensor[]) as R : fn();

    for (let i = filtered.length - 1; i >= 0; i--) {
      const node = filtered[i];
      const dys = node.outputs.map((o) => acc.get(o.id) ?? null);
      const gradient = node.gradient;
      if (gradient == null) {
        throw new Error(
          `Cannot compute gradient: gradient function not found for ${node.kernelName}.`,
        );
      }
      const names = Object.keys(node.inputs);
      const dxs = scoped(() => {
        const inputGradients = gradient(dys);
        return names.map((name) => {
          if (!(name in inputGradients)) {
            throw new Error(
              `Cannot backprop through input ${name} of ${node.kernelName}. ` +
                `Available gradients found: ${Object.keys(inputGradients)}.`,
            );
          }
          const dx = tf.tidy(() => inputGradients[name]());
          if (dx.dtype !== "float32") {
            throw new Error(
              `Error in gradient for op ${node.kernelName}. The gradient of input ` +
                `${name} must have 'float32' dtype, but has '${dx.dtype}'`,
            );
          }
          const x = node.inputs[name];
          if (!sameShape(dx.shape, x.shape)) {
            throw new Error(
              `Error in gradient for op ${node.kernelName}. The gradient of input ` +
                `'${name}' has shape '${dx.shape}', which does not match ` +
                `the shape of the input '${x.shape}'`,
            );
          }
          return dx;
        });
      });
      // Accumulated in the engine's order, so the sums round the same way.
      for (const dx of dxs) retain(dx);
      names.forEach((name, k) => {
        const id = node.inputs[name].id, dx = dxs[k], cur = acc.get(id);
        if (cur == null) {
          acc.set(id, dx);
          retain(dx);
        } else if (freeing && addInto(cur, dx)) {
          // cur += dx in place: the same float32 sums, without a fresh array.
        } else if (freeing && cur !== dx && addInto(dx, cur)) {
          acc.set(id, dx);
          retain(dx);
          release(cur, true);
        } else {
          const sum = tf.add(cur, dx);
          acc.set(id, sum);
          retain(sum);
          release(cur, true); // the engine disposes it too
        }
        release(dx, freeing); // nested, kept to the end as the engine keeps it
      });
      if (freeing) {
        // Every consumer of these outputs came later on the tape: their
        // gradients are complete, and this node was their last reader.
        for (const o of node.outputs) if (!xById.has(o.id)) drop(o.id);
        freeSaved(node);
      }
      for (const x of finalAt.get(i) ?? []) hand(x);
    }
    // Gradients no node hands over (x is y itself) are final now.
    if (onGradient) { for (const x of xById.values()) hand(x); }

    const grads = xs.map((x) => consumed.has(x.id) ? undefined : acc.get(x.id));
    if (freeing) {
      for (const node of tape) if (!savedFreed.has(node.id)) freeSaved(node);
      engine.state.activeTape = null;
    }
    return { value: y, grads };
  });
}

/**
 * Runs `f` with any active gradient tape paused: nothing `f` computes is
 * recorded on it, so an outer gradient computation neither keeps `f`'s saved
 * tensors nor can differentiate through `f`. Gradient computations inside `f`
 * run as top-level ones (freeing as they go). For work that is constant to the
 * outer computation, such as the discriminator step run between the
 * generator passes and the generator losses.
 *
 * @example
 * ```ts
 * import { tf } from "./tf.ts";
 * import { gradientsFreeing, withoutTape } from "./gradients.ts";
 * const w = tf.variable(tf.scalar(3));
 * const { grads } = gradientsFreeing(() => {
 *   const frozen = withoutTape(() => tf.mul(w, w)); // a constant to the outer gradient
 *   return tf.mul(w, frozen);
 * }, [w]);
 * grads[0]?.print(); // 9
 * ```
 */
export function withoutTape<T>(f: () => T): T {
  const state = (tf.engine() as unknown as EngineInternals).state;
  const { activeTape, gradientDepth } = state;
  state.activeTape = null;
  state.gradientDepth = 0;
  try {
    return f();
  } finally {
    state.activeTape = activeTape;
    state.gradientDepth = gradientDepth;
  }
}
