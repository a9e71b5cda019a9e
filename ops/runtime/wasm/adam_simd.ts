/**
 * Adam's update loop in WASM SIMD, over parameters and moments kept in one
 * WebAssembly memory. The cpu backend reads a tensor's values from a plain
 * Float32Array, which may as well be a view into that memory, so the update
 * needs no copy of the parameters: only each gradient is copied in.
 * @module
 */
import { ADAM_WASM_BASE64 } from "./adam_wasm.ts";
import { stampWrite } from "../write_stamps.ts";

type AdamFn = (
  p: number,
  g: number,
  m: number,
  v: number,
  n: number,
  b1: number,
  omb1: number,
  b2: number,
  omb2: number,
  stepSize: number,
  invBc2: number,
  eps: number,
) => void;

const PAGE = 65536;
const pad4 = (n: number) => Math.ceil(n / 4) * 4;

function decode(base64: string): Uint8Array<ArrayBuffer> {
  const s = atob(base64);
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

/**
 * A fixed-size WebAssembly memory holding float32 arrays (16-byte aligned,
 * never grown, so views into it stay valid) and the SIMD Adam over them.
 *
 * @example
 * ```ts
 * import { AdamArena } from "./adam_simd.ts";
 * const arena = new AdamArena(4 * 3, 4);
 * const [p, m, v] = [arena.alloc(3), arena.alloc(3), arena.alloc(3)];
 * p.set([1, 2, 3]);
 * arena.step(p, new Float32Array([0.1, -0.1, 0]), m, v, 1, 1e-3, 0.9, 0.999, 1e-8);
 * console.log(p); // ≈ [0.999, 2.001, 3]
 * ```
 */
export class AdamArena {
  readonly #memory: WebAssembly.Memory;
  readonly #adam: AdamFn;
  readonly #scratch: Float32Array;
  #used = 0;

  /**
   * Room for `elements` floats of parameters and moments (each array padded
   * to a multiple of 4), plus a gradient scratch of `largest` floats.
   */
  constructor(elements: number, largest: number) {
    const bytes = (elements + pad4(largest)) * 4 + PAGE;
    const pages = Math.ceil(bytes / PAGE);
    if (pages > 65536) throw new RangeError(`AdamArena: ${bytes} bytes exceed WebAssembly's 4 GiB`);
    this.#memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    const module = new WebAssembly.Module(decode(ADAM_WASM_BASE64));
    const instance = new WebAssembly.Instance(module, { env: { memory: this.#memory } });
    this.#adam = instance.exports.adam as AdamFn;
    this.#scratch = this.alloc(largest);
  }

  /** A zeroed array of `n` floats in the arena. */
  alloc(n: number): Float32Array {
    const size = pad4(n) * 4;
    if (this.#used + size > this.#memory.buffer.byteLength) {
      throw new RangeError(`AdamArena: out of room for ${n} floats`);
    }
    const view = new Float32Array(this.#memory.buffer, this.#used, n);
    this.#used += size;
    return view;
  }

  /** Whether `a` is a view into this arena. */
  owns(a: Float32Array): boolean {
    return a.buffer === this.#memory.buffer;
  }

  /**
   * One Adam step (PyTorch's update) on arena arrays `p`, `m`, `v` with the
   * gradient `g` (any Float32Array). `step` counts from 1.
   */
  step(
    p: Float32Array,
    g: Float32Array,
    m: Float32Array,
    v: Float32Array,
    step: number,
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
  ): void {
    const n = p.length;
    if (g.length !== n || m.length !== n || v.length !== n) {
      throw new RangeError(
        `AdamArena.step: lengths differ (${n}, ${g.length}, ${m.length}, ${v.length})`,
      );
    }
    // The loop runs over whole groups of 4: the padding of the gradient is 0,
    // which leaves the padding of p, m and v as it was.
    const scratch = new Float32Array(this.#scratch.buffer, this.#scratch.byteOffset, pad4(n));
    scratch.set(g);
    scratch.fill(0, n);
    this.#adam(
      p.byteOffset,
      scratch.byteOffset,
      m.byteOffset,
      v.byteOffset,
      pad4(n),
      beta1,
      1 - beta1,
      beta2,
      1 - beta2,
      lr / (1 - beta1 ** step),
      1 / Math.sqrt(1 - beta2 ** step),
      eps,
    );
    stampWrite(p);
  }
}
