/**
 * Output arrays our cpu kernels allocated, which no other tensor views.
 *
 * TF.js's cpu backend lets tensors share memory: a reshape shares its input's
 * data (counted by `refCount`), and the stock `Slice` kernel returns a
 * `subarray` view of its input under a new data id, which no count reveals. An
 * array may be changed in place only when it is known to be nobody else's:
 * the kernels of `ops/blas/` and `ops/onednn/` mark the arrays they allocate
 * for their outputs here, and `gradientsFreeing` sums gradients into them.
 * @module
 */

const fresh = new WeakSet<Float32Array>();

/**
 * Marks `a` as a kernel's own output array (no other tensor views it), and
 * returns it.
 *
 * @example
 * ```ts
 * import { isFreshArray, markFresh } from "./fresh_arrays.ts";
 * const y = markFresh(new Float32Array(4));
 * console.log(isFreshArray(y), isFreshArray(y.subarray(1))); // true false
 * ```
 */
export function markFresh(a: Float32Array): Float32Array {
  fresh.add(a);
  return a;
}

/**
 * Whether `a` was marked by {@linkcode markFresh}: allocated by one of our
 * kernels for its output, so no tensor but that output's owner views it.
 *
 * @example
 * ```ts
 * import { isFreshArray } from "./fresh_arrays.ts";
 * console.log(isFreshArray(new Float32Array(4))); // false: nobody vouched for it
 * ```
 */
export function isFreshArray(a: unknown): a is Float32Array {
  return a instanceof Float32Array && fresh.has(a);
}
