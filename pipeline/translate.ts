/**
 * Applying a trained generator to image files: `deno task translate`.
 * @module
 */
import { basename, extname, join } from "node:path";
import sharp from "./sharp.ts";
import { tf } from "../ops/tf.ts";
import { writeFileAtomic } from "../ops/formats/atomic_write.ts";
import { createDiscoGan, disposeDiscoGan, ROLE_NAMES } from "../models/discogan.ts";
import { loadStateDict } from "../models/weights.ts";
import { readSafetensors } from "../ops/formats/safetensors.ts";
import { listCheckpoints } from "./checkpoint.ts";
import { DataError, decodeImage, listImages } from "./image_folder.ts";
import { readRunOptions } from "./run_dir.ts";
import { fromBytes, toBytes } from "./image_tensors.ts";
import { settleAll } from "./settle_all.ts";
import type { Network } from "../models/network.ts";
import type { TrainOptions } from "./options.ts";

/** Which generator to apply: G_AB (A to B) or G_BA. */
export type Direction = "ab" | "ba";

/**
 * Finds the checkpoint folder and run directory for `path`, which may be a
 * run directory (its newest checkpoint) or a checkpoint folder inside one.
 *
 * @example
 * ```ts
 * import { resolveCheckpoint } from "./translate.ts";
 * const { checkpoint, runDir } = await resolveCheckpoint("runs/example");
 * ```
 */
export async function resolveCheckpoint(
  path: string,
): Promise<{ checkpoint: string; runDir: string }> {
  const asRun = await listCheckpoints(join(path, "checkpoints"));
  if (asRun.length) return { checkpoint: asRun.at(-1) as string, runDir: path };
  const isCheckpoint = await Deno.stat(join(path, "state.json")).then(() => true, () => false);
  if (isCheckpoint) return { checkpoint: path, runDir: join(path, "..", "..") };
  throw new Error(
    `${path} is neither a run directory with checkpoints nor a checkpoint folder ` +
      `(checkpoints/iter_NNNNNNN): pass --checkpoint pointing at one`,
  );
}

/** A checkpoint's generator, loaded: what `translate` and `export` run. */
export interface LoadedGenerator {
  /** G_AB or G_BA with the checkpoint's weights (and BatchNorm statistics). */
  generator: Network;
  /** The run's options (`options.json`). */
  options: TrainOptions;
  /** The checkpoint folder the weights came from. */
  checkpoint: string;
  /** Frees the networks' weights. */
  dispose(): void;
}

/**
 * Loads G_AB (`direction` "ab") or G_BA of a run directory's newest
 * checkpoint, or of a checkpoint folder, as the run's options build it.
 *
 * @throws {Error} Naming the file, when the options or the weights cannot be
 * read or do not fit the network the options describe.
 *
 * @example
 * ```ts
 * import { loadGenerator } from "./translate.ts";
 * const { generator, options, dispose } = await loadGenerator("runs/example", "ab");
 * console.log(generator.kind, options.imageSize);
 * dispose();
 * ```
 */
export async function loadGenerator(
  checkpointPath: string,
  direction: Direction,
): Promise<LoadedGenerator> {
  const { checkpoint, runDir } = await resolveCheckpoint(checkpointPath);
  const options = await readRunOptions(runDir);
  const models = createDiscoGan(options);
  const key = direction === "ab" ? "gAB" : "gBA";
  const file = join(checkpoint, `${ROLE_NAMES[key]}.safetensors`);
  try {
    loadStateDict(models[key], await readSafetensors(file), file);
  } catch (e) {
    disposeDiscoGan(models);
    throw e;
  }
  return { generator: models[key], options, checkpoint, dispose: () => disposeDiscoGan(models) };
}

/**
 * Translates image files (or every image in folders) with a checkpoint's G_AB
 * or G_BA and writes `<name>.png` files into `outDir`. Images are resized to
 * the run's image size. Returns the files written.
 *
 * @example
 * ```ts
 * import { translateFiles } from "./translate.ts";
 * const written = await translateFiles("runs/example", "ab", ["photos/"], "out/");
 * ```
 */
export async function translateFiles(
  checkpointPath: string,
  direction: Direction,
  inputs: string[],
  outDir: string,
  options: { batchSize?: number } = {},
): Promise<string[]> {
  const { generator: g, options: o, dispose } = await loadGenerator(checkpointPath, direction);

  const files: string[] = [];
  for (const input of inputs) {
    const info = await Deno.stat(input).catch(() => null);
    if (!info) throw new DataError(input, `${input} does not exist: pass image files or folders`);
    files.push(...(info.isDirectory ? await listImages(input) : [input]));
  }
  if (!files.length) throw new DataError(inputs.join(", "), "no images to translate");
  await Deno.mkdir(outDir, { recursive: true });
  const size = o.imageSize, batch = options.batchSize ?? 8, written: string[] = [];
  const names = new Set<string>();
  for (let i = 0; i < files.length; i += batch) {
    const chunk = files.slice(i, i + batch);
    const images = await settleAll(chunk.map((f) => decodeImage(f, { size })));
    const out = tf.tidy(() => g.apply(fromBytes(images, size)));
    const bytes = await toBytes(out);
    out.dispose();
    for (let k = 0; k < chunk.length; k++) {
      let name = basename(chunk[k], extname(chunk[k]));
      while (names.has(name)) name += "_";
      names.add(name);
      const path = join(outDir, `${name}.png`);
      const tile = bytes.subarray(k * size * size * 3, (k + 1) * size * size * 3);
      await writeFileAtomic(
        path,
        new Uint8Array(
          await sharp(tile, { raw: { width: size, height: size, channels: 3 } }).png().toBuffer(),
        ),
      );
      written.push(path);
    }
  }
  dispose();
  return written;
}
