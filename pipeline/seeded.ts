/**
 * Seeded randomness. Every random choice of the data order has a key, so that
 * it can be recomputed anywhere (another batch, a resumed run) without
 * replaying a stream of draws.
 * @module
 */

/**
 * mulberry32: a small, fast generator of uniform floats in [0, 1), from a 32-bit seed.
 *
 * @example
 * ```ts
 * import { mulberry32 } from "./seeded.ts";
 * const random = mulberry32(7);
 * console.log(random() < 1); // true
 * ```
 */
export function mulberry32(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `n` standard normal values for `key` (Box-Muller on {@link seededRandom}'s
 * stream): the same numbers wherever they are computed, the PyTorch bridge
 * included (scripts/torch/seeded.py).
 *
 * @example
 * ```ts
 * import { seededNormal } from "./seeded.ts";
 * console.log(seededNormal("0/noise/1", 4).length); // 4
 * ```
 */
export function seededNormal(key: string, n: number): Float32Array {
  const r = seededRandom(key), out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    // 1 - r() is in (0, 1]: its logarithm is finite.
    const radius = Math.sqrt(-2 * Math.log(1 - r())), angle = 2 * Math.PI * r();
    out[i] = radius * Math.cos(angle);
    if (i + 1 < n) out[i + 1] = radius * Math.sin(angle);
  }
  return out;
}

/**
 * A 32-bit hash of a key: FNV-1a, then murmur3's finaliser to spread the bits.
 *
 * @example
 * ```ts
 * import { hashKey } from "./seeded.ts";
 * console.log(hashKey("0/A/order/0") === hashKey("0/A/order/0")); // true
 * ```
 */
export function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Uniform floats in [0, 1) seeded by a key.
 *
 * @example
 * ```ts
 * import { seededRandom } from "./seeded.ts";
 * const r = seededRandom("0/A/draw/12");
 * console.log(r());
 * ```
 */
export function seededRandom(key: string): () => number {
  return mulberry32(hashKey(key));
}

/**
 * A Fisher-Yates shuffle of 0..n-1 seeded by `key`.
 *
 * @example
 * ```ts
 * import { seededShuffle } from "./seeded.ts";
 * console.log(seededShuffle("0/A/order/0", 5).length); // 5
 * ```
 */
export function seededShuffle(key: string, n: number): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  const r = seededRandom(key);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}
