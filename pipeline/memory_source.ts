/**
 * Training batches from images already in memory (rendered benchmarks,
 * synthetic data): the same seeded order as the folder sources, no decoding.
 * @module
 */
import type { BatchSource, HostBatch } from "./batch_source.ts";
import { seededShuffle } from "./seeded.ts";

/** Options of {@link memorySource}. */
export interface MemorySourceOptions {
  /** Images per domain per batch. */
  batchSize: number;
  /** Seed of the order. */
  seed: number;
  /** A's image i and B's image i correspond (both domains follow A's order). Default false. */
  paired?: boolean;
  /** Batch number to start from (a resumed run). Default 0. */
  startBatch?: number;
}

/**
 * Batches of two sets of `size`×`size` RGB images in [-1, 1], each packed
 * NHWC in one array (`count·size·size·3` values). Each domain is shuffled
 * anew every pass over it, independently unless `paired`; batch k is a pure
 * function of (seed, k), as with the folder sources.
 *
 * @example
 * ```ts
 * import { memorySource } from "./memory_source.ts";
 * const size = 64, n = 10;
 * const images = new Float32Array(n * size * size * 3);
 * const source = memorySource(images, images, size, { batchSize: 4, seed: 0 });
 * console.log((await source.next()).shape); // [4, 64, 64, 3]
 * ```
 */
export function memorySource(
  imagesA: Float32Array,
  imagesB: Float32Array,
  size: number,
  options: MemorySourceOptions,
): BatchSource {
  const pixels = size * size * 3;
  const countA = imagesA.length / pixels, countB = imagesB.length / pixels;
  for (const [name, count] of [["A", countA], ["B", countB]] as const) {
    if (!Number.isInteger(count) || count < 1) {
      throw new RangeError(
        `memorySource: domain ${name} holds ${count} images of ${size}x${size}x3: ` +
          `pass a whole, non-zero number of them`,
      );
    }
  }
  if (options.paired && countA !== countB) {
    throw new RangeError(`memorySource: paired domains differ in size (${countA} vs ${countB})`);
  }
  const { batchSize: n, seed } = options;
  // One permutation per domain and pass, the current one kept.
  const orders = new Map<string, { key: string; order: Uint32Array }>();
  const pick = (domain: string, count: number, i: number) => {
    const key = `${seed}/${domain}/order/${Math.floor(i / count)}`;
    let cached = orders.get(domain);
    if (cached?.key !== key) orders.set(domain, cached = { key, order: seededShuffle(key, count) });
    return cached.order[i % count];
  };
  let index = options.startBatch ?? 0;
  return {
    imagesA: countA,
    imagesB: countB,
    batchesPerEpoch: Math.ceil(Math.max(countA, countB) / n),
    inFlight: 0,
    next(): Promise<HostBatch> {
      const a = new Float32Array(n * pixels), b = new Float32Array(n * pixels);
      for (let j = 0; j < n; j++) {
        const i = index * n + j;
        const ia = pick("A", countA, i);
        const ib = options.paired ? ia : pick("B", countB, i);
        a.set(imagesA.subarray(ia * pixels, (ia + 1) * pixels), j * pixels);
        b.set(imagesB.subarray(ib * pixels, (ib + 1) * pixels), j * pixels);
      }
      const batch: HostBatch = {
        a,
        b,
        shape: [n, size, size, 3],
        index,
        epoch: Math.floor(index * n / Math.max(countA, countB)),
      };
      index++;
      return Promise.resolve(batch);
    },
    close: () => Promise.resolve(),
  };
}
