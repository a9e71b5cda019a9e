/**
 * A debug mode of our native calls (`DISCOGAN_FFI_GUARD=1`): every array handed
 * to OpenBLAS or oneDNN is first copied into a larger one, between guard bytes
 * of a known pattern, and the native code gets the copy. After the call the
 * guards are checked, and the arrays the call may read only are checked
 * unchanged; then the copies are written back. A native write outside its
 * array, or into an input, throws an error naming the call and the array,
 * instead of corrupting the heap silently.
 *
 * Off by default: it costs a copy of every array on every call.
 * @module
 */

/** Guard floats on each side of an array: 1 KiB. */
export const GUARD_FLOATS = 256;
// A NaN with a payload no float computation produces.
const PATTERN = 0x7fc0dead;

let enabled: boolean | undefined;
let calls = 0;

/**
 * Native calls checked by guard mode since the process started.
 *
 * @example
 * ```ts
 * import { guardedCalls } from "./ffi_guard.ts";
 * console.log(guardedCalls() >= 0); // true
 * ```
 */
export function guardedCalls(): number {
  return calls;
}

/**
 * Whether guard mode is on: `DISCOGAN_FFI_GUARD=1` in the environment (read
 * once), or {@link setFfiGuard}.
 *
 * @example
 * ```ts
 * import { ffiGuardEnabled } from "./ffi_guard.ts";
 * console.log(typeof ffiGuardEnabled()); // "boolean"
 * ```
 */
export function ffiGuardEnabled(): boolean {
  if (enabled === undefined) {
    try {
      enabled = Deno.env.get("DISCOGAN_FFI_GUARD") === "1";
    } catch {
      enabled = false; // no --allow-env: off
    }
  }
  return enabled;
}

/**
 * Turns guard mode on or off for this process (tests; the environment
 * variable is the usual switch).
 *
 * @example
 * ```ts
 * import { ffiGuardEnabled, setFfiGuard } from "./ffi_guard.ts";
 * setFfiGuard(true);
 * console.log(ffiGuardEnabled()); // true
 * setFfiGuard(false);
 * ```
 */
export function setFfiGuard(on: boolean): void {
  enabled = on;
}

interface Guarded {
  name: string;
  original: Float32Array;
  bits: Uint32Array;
  readOnly: boolean;
  before?: Uint32Array;
}

/**
 * The arrays of one native call, each in a guarded copy.
 *
 * @example
 * ```ts
 * import { GuardedCall } from "./ffi_guard.ts";
 * const call = new GuardedCall("example");
 * const out = new Float32Array(4);
 * const copy = call.output(out, "out");
 * copy.fill(1); // what the native code would do
 * call.finish(); // checks the guards, writes the copy back
 * console.log(out[0]); // 1
 * ```
 */
export class GuardedCall {
  readonly #arrays: Guarded[] = [];

  /**
   * A call named `what` (e.g. "oneDNN forward 8x64x64x3 -> ..."), for errors.
   *
   * @example
   * ```ts
   * import { GuardedCall } from "./ffi_guard.ts";
   * new GuardedCall("sgemm 2x3x4").finish();
   * ```
   */
  constructor(readonly what: string) {
    calls++;
  }

  /**
   * The guarded copy of `a` for a native call that only reads it.
   *
   * @example
   * ```ts
   * import { GuardedCall } from "./ffi_guard.ts";
   * const x = new GuardedCall("read").input(new Float32Array([1, 2]), "x");
   * console.log(x.length, x[1]); // 2 2
   * ```
   */
  input(a: Float32Array, name: string): Float32Array {
    return this.#wrap(a, name, true);
  }

  /**
   * The guarded copy of `a` for a native call that writes it (read too).
   *
   * @example
   * ```ts
   * import { GuardedCall } from "./ffi_guard.ts";
   * const y = new GuardedCall("write").output(new Float32Array(3), "y");
   * console.log(y.length); // 3
   * ```
   */
  output(a: Float32Array, name: string): Float32Array {
    return this.#wrap(a, name, false);
  }

  #wrap(a: Float32Array, name: string, readOnly: boolean): Float32Array {
    const bits = new Uint32Array(a.length + 2 * GUARD_FLOATS);
    bits.fill(PATTERN);
    const middle = new Float32Array(bits.buffer, GUARD_FLOATS * 4, a.length);
    middle.set(a);
    const g: Guarded = { name, original: a, bits, readOnly };
    if (readOnly) g.before = bits.slice(GUARD_FLOATS, GUARD_FLOATS + a.length);
    this.#arrays.push(g);
    return middle;
  }

  /**
   * After the native call: throws if any guard changed or a read-only array
   * was written; else writes the outputs' copies back to the caller's arrays.
   *
   * @example
   * ```ts
   * import { GuardedCall } from "./ffi_guard.ts";
   * const call = new GuardedCall("overrun");
   * const y = call.output(new Float32Array(2), "y");
   * new Float32Array(y.buffer)[y.byteOffset / 4 + 2] = 5; // one past the end
   * try { call.finish(); } catch (e) { console.log((e as Error).message); } // "... past the end of y ..."
   * ```
   */
  finish(): void {
    const problems: string[] = [];
    for (const g of this.#arrays) {
      const n = g.original.length;
      const front = firstChanged(g.bits, 0, GUARD_FLOATS);
      const back = firstChanged(g.bits, GUARD_FLOATS + n, GUARD_FLOATS);
      if (front >= 0) {
        problems.push(`wrote ${GUARD_FLOATS - front} floats before the start of ${g.name}`);
      }
      if (back >= 0) problems.push(`wrote past the end of ${g.name} (${n} floats), at +${back}`);
      if (g.before) {
        const middle = g.bits.subarray(GUARD_FLOATS, GUARD_FLOATS + n);
        const k = middle.findIndex((v, i) => v !== g.before![i]);
        if (k >= 0) problems.push(`changed ${g.name}, which it may only read (element ${k})`);
      }
    }
    if (problems.length) {
      throw new Error(`FFI guard: ${this.what} ${problems.join("; ")}`);
    }
    for (const g of this.#arrays) {
      if (!g.readOnly) {
        g.original.set(new Float32Array(g.bits.buffer, GUARD_FLOATS * 4, g.original.length));
      }
    }
  }
}

// Index (from `start`) of the first element of bits[start, start + n) not
// equal to the pattern, or -1.
function firstChanged(bits: Uint32Array, start: number, n: number): number {
  for (let i = 0; i < n; i++) if (bits[start + i] !== PATTERN) return i;
  return -1;
}
