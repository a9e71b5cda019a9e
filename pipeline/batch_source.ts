/**
 * Training batches from folders of images: a seeded order, random crops and
 * flips, batching and a bounded prefetch. Independent of TF.js: batches are
 * host `Float32Array`s that the trainer turns into tensors.
 *
 * Batch k is a pure function of (seed, k, the file lists, the options), so a
 * run resumed with `startBatch: k` sees exactly the batches an uninterrupted
 * run would have seen.
 *
 * @module
 */

import {
  DataError,
  type DecodedImage,
  decodeImage,
  type DecodeOptions,
  type ImageDecoder,
  listImages,
  scanImages,
  type SkippedImage,
} from "./image_folder.ts";
import { seededRandom, seededShuffle } from "./seeded.ts";
import { settleAll } from "./settle_all.ts";

/** One batch: NHWC images in [-1, 1] (`x / 127.5 - 1`), row-major. */
export interface HostBatch {
  /** Images of domain A, `shape` elements. */
  a: Float32Array;
  /** Images of domain B, `shape` elements; paired sources: row j is the partner of A's row j. */
  b: Float32Array;
  /** `[batchSize, size, size, 3]`. */
  shape: [number, number, number, number];
  /** Batch number, from 0 at the start of training (not of this source). */
  index: number;
  /** `floor(index * batchSize / max(imagesA, imagesB))`. */
  epoch: number;
}

/** Options of {@link unpairedSource} and {@link pairedSource}. */
export interface SourceOptions {
  /** Images a batch. */
  batchSize: number;
  /** Side of the training images. */
  size: number;
  /** Side images are resized to before a random `size` crop; `>= size`. Default `size` (no crop). */
  loadSize?: number;
  /** Random horizontal flip. Default true. */
  flip?: boolean;
  /** Seed of the order, crops and flips. */
  seed: number;
  /** Batches decoded ahead of what the consumer has taken. Default 3; 0 decodes on demand. */
  prefetch?: number;
  /** First batch to produce, to resume a run. Default 0. Earlier batches are not decoded. */
  startBatch?: number;
  /** Decodes one file; default {@link decodeImage}. A test can wrap it. */
  decode?: ImageDecoder;
  /** Pixel count above which a file is skipped unread. Default `MAX_IMAGE_PIXELS` (40 M). */
  maxPixels?: number;
  /**
   * Called once for each file left out: at the start for files whose header
   * cannot be read, later for files that fail to decode. Their draws go to
   * the next usable file of the same shuffle, so the order stays a function
   * of the seed and the files.
   */
  onSkip?: (skipped: SkippedImage) => void;
}

/** An endless stream of batches, produced in order from `startBatch`. */
export interface BatchSource {
  /** The next batch; rejects with a {@link DataError} only when no file of a domain decodes any more. */
  next(): Promise<HostBatch>;
  /** The files drawn from, in listing order (paired: the same list for both); unset in memory. */
  readonly files?: { readonly a: readonly string[]; readonly b: readonly string[] };
  /** Files of domain A (paired: files). */
  readonly imagesA: number;
  /** Files of domain B (paired: files). */
  readonly imagesB: number;
  /** `ceil(max(imagesA, imagesB) / batchSize)`. */
  readonly batchesPerEpoch: number;
  /** Batches prefetched (being decoded or ready) that the consumer has not taken yet. */
  readonly inFlight: number;
  /**
   * Stops prefetching and resolves once no decode of this source is running.
   * Await it before the process or worker may end: a native decode still
   * running when a worker isolate shuts down crashes Deno (see settle_all.ts).
   */
  close(): Promise<void>;
}

/**
 * Batches of two unrelated folders: A and B are shuffled independently, each
 * file drawn once an epoch of its own domain, each draw cropped and flipped
 * on its own. The smaller domain wraps around more often.
 *
 * @throws {DataError} if a folder is missing or holds no image.
 *
 * @example
 * ```ts
 * import { unpairedSource } from "./batch_source.ts";
 * const source = await unpairedSource("data/horses", "data/zebras", {
 *   batchSize: 4,
 *   size: 64,
 *   loadSize: 72,
 *   seed: 1,
 * });
 * const batch = await source.next();
 * console.log(batch.index, batch.shape); // 0 [4, 64, 64, 3]
 * await source.close();
 * ```
 */
export async function unpairedSource(
  dirA: string,
  dirB: string,
  options: SourceOptions,
): Promise<BatchSource> {
  // Both scans finish before either's error is thrown: no header read outlives the call.
  const [filesA, filesB] = await settleAll([
    usableImages(dirA, options),
    usableImages(dirB, options),
  ]);
  return new PrefetchingSource(options, filesA, filesB, (d, i) => {
    // A and B draw independently: their own permutation, crop and flip.
    const a = draw(d, "A", filesA, i);
    const b = draw(d, "B", filesB, i);
    return [
      { files: a.files, decode: {}, crop: a.crop },
      { files: b.files, decode: {}, crop: b.crop },
    ];
  });
}

// The images of `dir` whose headers read, reporting the others; refuses a
// folder with none.
async function usableImages(dir: string, options: SourceOptions): Promise<string[]> {
  const { usable, skipped } = await scanImages(await listImages(dir), options);
  for (const s of skipped) options.onSkip?.(s);
  if (!usable.length) {
    const first = skipped[0];
    throw new DataError(
      `${dir}: none of its ${skipped.length} image file(s) can be read (e.g. "${first.path}": ` +
        `${first.reason}). Point the option at a folder of readable images.`,
      dir,
    );
  }
  return usable;
}

/**
 * Batches of a folder of paired images, pix2pix style: each file holds A on
 * its left half and B on its right half. One shuffle; a draw's crop and flip
 * apply to both halves alike, so row j of `a` and of `b` still correspond.
 *
 * @throws {DataError} if the folder is missing or holds no image.
 *
 * @example
 * ```ts
 * import { pairedSource } from "./batch_source.ts";
 * const source = await pairedSource("data/facades/train", {
 *   batchSize: 1,
 *   size: 256,
 *   loadSize: 286,
 *   seed: 1,
 * });
 * const { a, b } = await source.next(); // a: the left halves, b: the right ones
 * console.log(a.length === b.length);
 * await source.close();
 * ```
 */
export async function pairedSource(dir: string, options: SourceOptions): Promise<BatchSource> {
  const files = await usableImages(dir, options);
  return new PrefetchingSource(options, files, files, (d, i) => {
    const { files: candidates, crop } = draw(d, "AB", files, i);
    return [
      { files: candidates, decode: { half: "left" }, crop },
      { files: candidates, decode: { half: "right" }, crop },
    ];
  });
}

// ---------------------------------------------------------------------------
// Draws: which file, crop and flip the i-th image of a domain gets.

interface Crop {
  x: number;
  y: number;
  flip: boolean;
}

interface DrawContext {
  seed: number;
  size: number;
  loadSize: number;
  flip: boolean;
  permutations: PermutationCache;
}

function draw(
  d: DrawContext,
  domain: string,
  files: string[],
  i: number,
): { files: (k: number) => string; crop: Crop } {
  const n = files.length;
  const order = d.permutations.get(`${d.seed}/${domain}/order/${Math.floor(i / n)}`, n);
  const r = seededRandom(`${d.seed}/${domain}/draw/${i}`);
  const slack = d.loadSize - d.size + 1;
  const x = Math.floor(r() * slack), y = Math.floor(r() * slack);
  // Drawn even when flipping is off, so turning it off leaves the crops alone.
  const flip = r() < 0.5 && d.flip;
  // Candidate k: the file k places further on in the same shuffle, taken when
  // the first k fail to decode.
  return { files: (k) => files[order[(i + k) % n]], crop: { x, y, flip } };
}

// The permutations of the last few (domain, epoch) keys: a batch needs one or
// two per domain, and recomputing an O(n) shuffle for every draw would cost
// O(n) per image.
class PermutationCache {
  #entries = new Map<string, Uint32Array>();

  get(key: string, n: number): Uint32Array {
    let p = this.#entries.get(key);
    if (p === undefined) {
      p = seededShuffle(key, n);
      this.#entries.set(key, p);
      if (this.#entries.size > 4) {
        this.#entries.delete(this.#entries.keys().next().value as string);
      }
    }
    return p;
  }
}

// ---------------------------------------------------------------------------
// Batches.

// What one row of the batch needs for A and for B.
interface Job {
  files: (k: number) => string;
  decode: Pick<DecodeOptions, "half">;
  crop: Crop;
}

type Planner = (d: DrawContext, i: number) => [Job, Job];

function checkInteger(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) {
    throw new RangeError(`${name} must be an integer >= ${min}, got ${value}`);
  }
}

// Byte to [-1, 1], as a table: one lookup a channel in the copy loop.
const SCALE = Float32Array.from({ length: 256 }, (_, x) => x / 127.5 - 1);

// Copies the crop of a decoded image into row `row` of an NHWC batch, scaled.
function place(out: Float32Array, row: number, size: number, img: DecodedImage, c: Crop): void {
  const src = img.data, w = img.width;
  let o = row * size * size * 3;
  for (let y = 0; y < size; y++) {
    const line = (c.y + y) * w;
    for (let x = 0; x < size; x++) {
      const s = (line + c.x + (c.flip ? size - 1 - x : x)) * 3;
      out[o++] = SCALE[src[s]];
      out[o++] = SCALE[src[s + 1]];
      out[o++] = SCALE[src[s + 2]];
    }
  }
}

class PrefetchingSource implements BatchSource {
  readonly files: { readonly a: readonly string[]; readonly b: readonly string[] };
  readonly imagesA: number;
  readonly imagesB: number;
  readonly batchesPerEpoch: number;
  readonly #batchSize: number;
  readonly #prefetch: number;
  readonly #decode: ImageDecoder;
  readonly #draws: DrawContext;
  readonly #plan: Planner;
  readonly #bad = new Set<string>();
  readonly #maxPixels?: number;
  readonly #onSkip?: (skipped: SkippedImage) => void;
  // Batches started and not yet taken, oldest first.
  readonly #queue: Promise<HostBatch>[] = [];
  // Batches whose decodes are still running, taken or not: close() waits for them.
  readonly #running = new Set<Promise<HostBatch>>();
  #nextIndex: number;
  #closed = false;

  constructor(
    options: SourceOptions,
    filesA: readonly string[],
    filesB: readonly string[],
    plan: Planner,
  ) {
    const [imagesA, imagesB] = [filesA.length, filesB.length];
    this.files = { a: filesA, b: filesB };
    const { batchSize, size, seed } = options;
    const loadSize = options.loadSize ?? size;
    checkInteger("batchSize", batchSize, 1);
    checkInteger("size", size, 1);
    checkInteger("loadSize", loadSize, size);
    checkInteger("prefetch", options.prefetch ?? 3, 0);
    checkInteger("startBatch", options.startBatch ?? 0, 0);
    if (!Number.isFinite(seed)) throw new RangeError(`seed must be a finite number, got ${seed}`);
    this.imagesA = imagesA;
    this.imagesB = imagesB;
    this.batchesPerEpoch = Math.ceil(Math.max(imagesA, imagesB) / batchSize);
    this.#batchSize = batchSize;
    this.#prefetch = options.prefetch ?? 3;
    this.#decode = options.decode ?? decodeImage;
    this.#draws = {
      seed,
      size,
      loadSize,
      flip: options.flip ?? true,
      permutations: new PermutationCache(),
    };
    this.#plan = plan;
    this.#onSkip = options.onSkip;
    this.#maxPixels = options.maxPixels;
    this.#nextIndex = options.startBatch ?? 0;
    // Start at once: the first batches decode while the trainer builds its models.
    this.#fill(this.#prefetch);
  }

  get inFlight(): number {
    return this.#queue.length;
  }

  next(): Promise<HostBatch> {
    if (this.#closed) return Promise.reject(new Error("next() on a closed batch source"));
    this.#fill(Math.max(1, this.#prefetch));
    const batch = this.#queue.shift() as Promise<HostBatch>;
    this.#fill(this.#prefetch);
    return batch;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#queue.length = 0;
    await Promise.allSettled([...this.#running]);
  }

  #fill(target: number): void {
    while (this.#queue.length < target) {
      const batch = this.#produce(this.#nextIndex++);
      // A prefetched batch may fail before anyone awaits it, or never be
      // awaited after close(): mark it handled so that is no unhandled
      // rejection. next() still hands the rejecting promise to the consumer.
      batch.catch(() => {});
      this.#running.add(batch);
      batch.finally(() => this.#running.delete(batch)).catch(() => {});
      this.#queue.push(batch);
    }
  }

  // Decodes the job's first candidate that is not known bad; a failure marks
  // the file bad (reported once) and moves on to the next candidate.
  async #decodeFirstUsable(job: Job): Promise<DecodedImage> {
    const { size, loadSize } = this.#draws;
    let lastError: unknown;
    for (let k = 0; k < Math.max(this.imagesA, this.imagesB); k++) {
      // Closed: no new decode starts, so close() only waits for those running.
      if (this.#closed) throw new Error("batch source closed");
      const file = job.files(k);
      if (this.#bad.has(file)) continue;
      try {
        const img = await this.#decode(file, {
          size,
          loadSize,
          maxPixels: this.#maxPixels,
          ...job.decode,
        });
        if (
          img.width !== loadSize || img.height !== loadSize || img.data.length < 3 * loadSize ** 2
        ) {
          throw new DataError(
            `Decoding "${file}" gave ${img.width}x${img.height} pixels, not ${loadSize}x${loadSize}`,
            file,
          );
        }
        return img;
      } catch (e) {
        lastError = e;
        if (!this.#bad.has(file)) {
          this.#bad.add(file);
          this.#onSkip?.({
            path: file,
            reason: (e as Error).message.replace(/^Cannot decode image "[^"]*": /, ""),
          });
        }
      }
    }
    throw new DataError(
      `no image of this source can be decoded any more (last: ${(lastError as Error)?.message})`,
      job.files(0),
    );
  }

  async #produce(index: number): Promise<HostBatch> {
    const n = this.#batchSize, { size } = this.#draws;
    const a = new Float32Array(n * size * size * 3);
    const b = new Float32Array(n * size * size * 3);
    const rows: Promise<void>[] = [];
    for (let j = 0; j < n; j++) {
      const jobs = this.#plan(this.#draws, index * n + j);
      jobs.forEach((job, side) => {
        rows.push(
          this.#decodeFirstUsable(job).then((img) =>
            place(side === 0 ? a : b, j, size, img, job.crop)
          ),
        );
      });
    }
    // The whole batch, or its first error once every decode has finished.
    await settleAll(rows);
    return {
      a,
      b,
      shape: [n, size, size, 3],
      index,
      epoch: Math.floor(index * n / Math.max(this.imagesA, this.imagesB)),
    };
  }
}
