/**
 * Stamps of in-place writes to parameter arrays, so that something derived
 * from a parameter's values and kept between calls (oneDNN's reordered
 * filters) can tell when it has gone stale. Only arrays their writer stamps
 * are tracked: the views of Adam's arena (ops/runtime/wasm/adam_simd.ts),
 * which Adam alone writes and the array pool never takes back. An array never
 * stamped has no stamp, and nothing derived from it may be kept.
 *
 * @example
 * ```ts
 * import { stampWrite, writeStamp } from "./write_stamps.ts";
 * const a = new Float32Array(4);
 * console.log(writeStamp(a)); // undefined: not tracked
 * stampWrite(a);
 * const first = writeStamp(a);
 * a[0] = 1;
 * stampWrite(a);
 * console.log(writeStamp(a) !== first); // true
 * ```
 * @module
 */

const stamps = new WeakMap<Float32Array, number>();
let clock = 0;

/** Records that `a`'s values have just been written. */
export function stampWrite(a: Float32Array): void {
  stamps.set(a, ++clock);
}

/** The stamp of the last recorded write to `a`; undefined for an array no writer tracks. */
export function writeStamp(a: Float32Array): number | undefined {
  return stamps.get(a);
}
