/**
 * Sample grids: what the generators make of fixed images, every N iterations.
 * @module
 */
import { join } from "node:path";
import sharp from "../sharp.ts";
import { type Tensor4D, tf } from "../../ops/tf.ts";
import { writeFileAtomic } from "../../ops/formats/atomic_write.ts";
import type { DiscoGanModels } from "../../models/discogan.ts";
import type { IterationRecord, Sink } from "../record.ts";

const GAP = 2;

/**
 * Packs decoded `size`×`size` 8-bit RGB images into one NHWC tensor in
 * [-1, 1] (`byte / 127.5 - 1`): the inverse of {@link toBytes}.
 *
 * @example
 * ```ts
 * import { fromBytes } from "./sample_sink.ts";
 * const t = fromBytes([{ data: new Uint8Array(12).fill(255), width: 2, height: 2 }], 2);
 * console.log(t.shape); // [1, 2, 2, 3]
 * ```
 */
export function fromBytes(images: { data: Uint8Array }[], size: number): Tensor4D {
  const pixels = size * size * 3;
  const data = new Float32Array(images.length * pixels);
  images.forEach((img, i) => {
    for (let j = 0; j < pixels; j++) data[i * pixels + j] = img.data[j] / 127.5 - 1;
  });
  return tf.tensor4d(data, [images.length, size, size, 3]);
}

/**
 * Converts NHWC images in [-1, 1] to 8-bit RGB, `(x + 1) · 127.5` rounded and clamped.
 *
 * @example
 * ```ts
 * import { tf } from "../../ops/tf.ts";
 * import { toBytes } from "./sample_sink.ts";
 * console.log(await toBytes(tf.ones([1, 1, 1, 3]) as tf.Tensor4D)); // Uint8Array [255, 255, 255]
 * ```
 */
export async function toBytes(images: Tensor4D): Promise<Uint8Array> {
  const scaled = tf.tidy(() => tf.clipByValue(tf.round(tf.mul(tf.add(images, 1), 127.5)), 0, 255));
  const values = await scaled.data();
  scaled.dispose();
  return Uint8Array.from(values);
}

/**
 * Renders the sample grid as PNG bytes. One row per sample image:
 * real A | G_AB(A) | G_BA(G_AB(A)) || real B | G_BA(B) | G_AB(G_BA(B)),
 * with dropout off.
 *
 * @example
 * ```ts
 * import { tf } from "../../ops/tf.ts";
 * import { createDiscoGan } from "../../models/discogan.ts";
 * import { renderSampleGrid } from "./sample_sink.ts";
 * const images = tf.zeros([2, 64, 64, 3]) as tf.Tensor4D;
 * const png = await renderSampleGrid(createDiscoGan({ ngf: 4, ndf: 4 }), images, images);
 * ```
 */
export async function renderSampleGrid(
  models: DiscoGanModels,
  realA: Tensor4D,
  realB: Tensor4D,
): Promise<Uint8Array> {
  const columns = tf.tidy(() => {
    const fakeB = models.gAB.apply(realA), fakeA = models.gBA.apply(realB);
    return [realA, fakeB, models.gBA.apply(fakeB), realB, fakeA, models.gAB.apply(fakeA)].map((t) =>
      tf.keep(t.clone())
    );
  });
  const [n, size] = [realA.shape[0], realA.shape[1]];
  const tiles = await Promise.all(columns.map(toBytes));
  tf.dispose(columns);
  const width = 6 * size + 5 * GAP + 2 * GAP; // a wider gap between the A and B halves
  const height = n * size + (n - 1) * GAP;
  const grid = new Uint8Array(width * height * 3).fill(255);
  tiles.forEach((tile, col) => {
    const x0 = col * (size + GAP) + (col >= 3 ? 2 * GAP : 0);
    for (let i = 0; i < n; i++) {
      for (let y = 0; y < size; y++) {
        const src = ((i * size + y) * size) * 3;
        const dst = ((i * (size + GAP) + y) * width + x0) * 3;
        grid.set(tile.subarray(src, src + size * 3), dst);
      }
    }
  });
  return new Uint8Array(
    await sharp(grid, { raw: { width, height, channels: 3 } }).png().toBuffer(),
  );
}

/**
 * The file a sample grid of `iteration` goes to.
 *
 * @example
 * ```ts
 * import { sampleName } from "./sample_sink.ts";
 * console.log(sampleName(100)); // "iter_0000100.png"
 * ```
 */
export function sampleName(iteration: number): string {
  return `iter_${String(iteration).padStart(7, "0")}.png`;
}

/**
 * Writes `samples/iter_NNNNNNN.png` every `every` iterations and at the end.
 *
 * @example
 * ```ts
 * import { tf } from "../../ops/tf.ts";
 * import { createDiscoGan } from "../../models/discogan.ts";
 * import { sampleSink } from "./sample_sink.ts";
 * const images = tf.zeros([2, 64, 64, 3]) as tf.Tensor4D;
 * const sink = sampleSink("/tmp/samples", createDiscoGan({ ngf: 4, ndf: 4 }), images, images, 100);
 * ```
 */
export function sampleSink(
  dir: string,
  models: DiscoGanModels,
  realA: Tensor4D,
  realB: Tensor4D,
  every: number,
): Sink {
  let lastWritten = -1;
  const write = async (iteration: number) => {
    await Deno.mkdir(dir, { recursive: true });
    await writeFileAtomic(
      join(dir, sampleName(iteration)),
      await renderSampleGrid(models, realA, realB),
    );
    lastWritten = iteration;
  };
  return {
    async write(r: IterationRecord) {
      if (every > 0 && r.iteration % every === 0) await write(r.iteration);
    },
    async close(last) {
      if (last && last.iteration !== lastWritten && every > 0) await write(last.iteration);
    },
  };
}
