/**
 * Output arrays our cpu kernels allocated, which no other tensor views.
 *
 * TF.js's cpu backend lets tensors share memory: a reshape shares its input's
 * data (counted by `refCount`), and the stock `Slice` kernel returns a
 * `subarray` view of its input under a new data id, which no count reveals. An
 * array may be changed in place only when it is known to be nobody else's:
 * the kernels of `ops/runtime/openblas/` and `ops/runtime/onednn/` mark the arrays they allocate
 * for their outputs here, and `gradientsFreeing` sums gradients into them.
 * @module
 */

const fresh = new WeakSet<Float32Array>();
// The marked array that owns each buffer, to recognise views of it.
const owners = new WeakMap<ArrayBufferLike, Float32Array>();

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
  owners.set(a.buffer, a);
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

/**
 * Withdraws the mark of {@linkcode markFresh}: `a` has been handed out (e.g.
 * by `dataSync()`), so code we do not know may still hold it.
 *
 * @example
 * ```ts
 * import { isFreshArray, markFresh, unmarkFresh } from "./fresh_arrays.ts";
 * const y = markFresh(new Float32Array(4));
 * unmarkFresh(y);
 * console.log(isFreshArray(y)); // false
 * ```
 */
export function unmarkFresh(a: unknown): void {
  if (a instanceof Float32Array) fresh.delete(a);
}

/**
 * Withdraws the mark of the array `view` is a view of, when `view` is another
 * window on a marked array's memory (as the stock `Slice` kernel makes): the
 * memory is then shared, and must not be changed or reused.
 *
 * @example
 * ```ts
 * import { isFreshArray, markFresh, unmarkViewed } from "./fresh_arrays.ts";
 * const y = markFresh(new Float32Array(8));
 * unmarkViewed(y.subarray(2, 4));
 * console.log(isFreshArray(y)); // false
 * ```
 */
export function unmarkViewed(view: unknown): void {
  if (!ArrayBuffer.isView(view)) return;
  const owner = owners.get(view.buffer);
  if (owner && owner !== view) fresh.delete(owner);
}
