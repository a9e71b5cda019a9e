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
import { toBytes } from "../image_tensors.ts";
import { iterationName } from "../run_dir.ts";

const GAP = 2;

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
  return `${iterationName(iteration)}.png`;
}

/**
 * The iteration of a sample grid's file name (the inverse of
 * {@link sampleName}); undefined for any other name.
 *
 * @example
 * ```ts
 * import { sampleIteration } from "./sample_sink.ts";
 * console.log(sampleIteration("iter_0000100.png"), sampleIteration("../x.png")); // 100 undefined
 * ```
 */
export function sampleIteration(name: string): number | undefined {
  const m = /^iter_(\d{7,})\.png$/.exec(name);
  return m ? Number(m[1]) : undefined;
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
