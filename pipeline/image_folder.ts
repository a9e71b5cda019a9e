/**
 * Folders of training images: listing them and decoding one image into 8-bit
 * sRGB RGB pixels with sharp. Independent of TF.js.
 *
 * @module
 */

import { join } from "node:path";
import sharp from "./sharp.ts";
import { mapPool } from "./settle_all.ts";

/**
 * A problem with the training data: a missing or empty folder, or a file that
 * does not decode. `path` is the folder or file at fault.
 *
 * @example
 * ```ts
 * import { DataError, listImages } from "./image_folder.ts";
 * try {
 *   await listImages("no/such/folder");
 * } catch (e) {
 *   if (e instanceof DataError) console.error(e.message, e.path);
 * }
 * ```
 */
export class DataError extends Error {
  /** The folder or file at fault. */
  readonly path: string;

  /**
   * A data error about `path`.
   *
   * @param message What went wrong and what to do about it; should name `path`.
   * @param path The folder or file at fault.
   * @param options `cause`: the underlying error, if any.
   */
  constructor(message: string, path: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DataError";
    this.path = path;
  }
}

/**
 * File extensions (lower case, with the dot) that {@link listImages} picks up:
 * the raster formats the prebuilt sharp 0.34 decodes. BMP is absent because
 * sharp's bundled libvips has no BMP loader; SVG is absent because a vector
 * file has no natural pixel size.
 *
 * @example
 * ```ts
 * import { IMAGE_EXTENSIONS } from "./image_folder.ts";
 * console.log(IMAGE_EXTENSIONS.includes(".png")); // true
 * ```
 */
export const IMAGE_EXTENSIONS: readonly string[] = [
  ".png",
  ".jpg",
  ".jpeg",
  ".jpe",
  ".jfif",
  ".webp",
  ".gif",
  ".tif",
  ".tiff",
  ".avif",
];

function isImageName(name: string): boolean {
  const dot = name.lastIndexOf(".");
  return dot > 0 && IMAGE_EXTENSIONS.includes(name.slice(dot).toLowerCase());
}

// Plain code-unit order, not localeCompare: the file order feeds the seeded
// shuffle, so it must not depend on the machine's locale.
function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Every image file under `dir`, recursively, as paths joined onto `dir`,
 * sorted by code unit. Symbolic links are followed, but each real folder is
 * read once, so link loops end. Hidden entries (names starting with ".") are
 * skipped: they are editor or OS litter such as macOS `._photo.jpg` files,
 * which carry an image extension but are not images. Dangling links are
 * skipped.
 *
 * @throws {DataError} if `dir` does not exist, is not a folder, cannot be
 * read, or holds no image.
 *
 * @example
 * ```ts
 * import { listImages } from "./image_folder.ts";
 * const files = await listImages("data/fluent-emoji-64/trainA");
 * console.log(files.length, files[0]);
 * ```
 */
export async function listImages(dir: string): Promise<string[]> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new DataError(
        `Data folder "${dir}" does not exist: pass --data-a/--data-b pointing at folders of images`,
        dir,
        { cause: e },
      );
    }
    throw unreadable(dir, e);
  }
  if (!info.isDirectory) {
    throw new DataError(
      `"${dir}" is not a folder: pass a folder of images, not a single file`,
      dir,
    );
  }
  const files: string[] = [];
  await walk(dir, new Set(), files);
  if (files.length === 0) {
    throw new DataError(
      `Data folder "${dir}" contains no images (${IMAGE_EXTENSIONS.join(", ")}): ` +
        "put training images in it or point at another folder",
      dir,
    );
  }
  return files.sort(byCodeUnit);
}

function unreadable(path: string, e: unknown): DataError {
  const why = e instanceof Error ? e.message : String(e);
  return new DataError(`Cannot read "${path}": ${why}`, path, { cause: e });
}

async function walk(dir: string, seen: Set<string>, out: string[]): Promise<void> {
  let real: string;
  let entries: Deno.DirEntry[];
  try {
    real = await Deno.realPath(dir);
    if (seen.has(real)) return;
    seen.add(real);
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch (e) {
    throw unreadable(dir, e);
  }
  // Sorted so that the walk, and so the `seen` set's first visitor of a real
  // folder reached twice, is the same on every run.
  entries.sort((a, b) => byCodeUnit(a.name, b.name));
  for (const entry of entries) {
    if (entry.name.startsWith(".")) continue;
    const path = join(dir, entry.name);
    let isDir = entry.isDirectory, isFile = entry.isFile;
    if (entry.isSymlink) {
      const target = await Deno.stat(path).catch(() => null);
      if (target === null) continue;
      isDir = target.isDirectory;
      isFile = target.isFile;
    }
    if (isDir) await walk(path, seen, out);
    else if (isFile && isImageName(entry.name)) out.push(path);
  }
}

/** Options of {@link decodeImage}. */
export interface DecodeOptions {
  /** Side of the training crop; the default of `loadSize`. */
  size: number;
  /** Side the image is resized to (stretched, aspect ratio not kept). Default `size`. */
  loadSize?: number;
  /** Take only this half of the image first: paired files hold A on the left, B on the right. */
  half?: "left" | "right";
  /** Pixel count above which the file is refused undecoded. Default {@link MAX_IMAGE_PIXELS}. */
  maxPixels?: number;
}

/** A decoded image: 8-bit sRGB RGB pixels, row-major, 3 bytes a pixel, no padding. */
export interface DecodedImage {
  /** `width * height * 3` bytes, R G B. */
  data: Uint8Array;
  /** Pixels a row. */
  width: number;
  /** Rows. */
  height: number;
}

/**
 * Something that decodes one image file the way {@link decodeImage} does:
 * the batch sources take one, so tests can slow it down and a skip policy can
 * wrap it.
 *
 * @example
 * ```ts
 * import { decodeImage, type ImageDecoder } from "./image_folder.ts";
 * const logged: ImageDecoder = (path, options) => {
 *   console.log("decoding", path);
 *   return decodeImage(path, options);
 * };
 * ```
 */
export type ImageDecoder = (path: string, options: DecodeOptions) => Promise<DecodedImage>;

/**
 * Decodes one image file into `loadSize`×`loadSize` 8-bit sRGB RGB pixels.
 *
 * Any format sharp reads; the EXIF orientation is applied; grey, 16-bit,
 * CMYK and other colour spaces are converted to 8-bit sRGB; transparency is
 * flattened onto white. With `half`, the left or right half (left width
 * `floor(width / 2)`, as pix2pix splits) is taken first. The result is then
 * stretched to a square (`fit: "fill"`, as pix2pix resizes), not cropped.
 *
 * @throws {DataError} naming the file if it cannot be read or decoded.
 *
 * @example
 * ```ts
 * import { decodeImage } from "./image_folder.ts";
 * const img = await decodeImage("photo.jpg", { size: 64, loadSize: 72 });
 * console.log(img.width, img.height, img.data.length); // 72 72 15552
 * ```
 */
export async function decodeImage(path: string, options: DecodeOptions): Promise<DecodedImage> {
  const side = options.loadSize ?? options.size;
  if (!Number.isInteger(side) || side < 1) {
    throw new RangeError(`loadSize must be a positive integer, got ${side}`);
  }
  try {
    // autoOrient at load, so that the half split and the stretch see the
    // picture as viewers show it (phone photos are often stored sideways).
    let image = sharp(path, {
      autoOrient: true,
      limitInputPixels: options.maxPixels ?? MAX_IMAGE_PIXELS,
    });
    if (options.half !== undefined) {
      const { width, height } = (await image.metadata()).autoOrient;
      const leftWidth = Math.floor(width / 2);
      if (leftWidth < 1) {
        throw new Error(`${width} pixels wide: too narrow to split into A|B halves`);
      }
      image = image.extract(
        options.half === "left"
          ? { left: 0, top: 0, width: leftWidth, height }
          : { left: leftWidth, top: 0, width: width - leftWidth, height },
      );
    }
    const { data, info } = await image
      .resize(side, side, { fit: "fill" })
      .flatten({ background: "#ffffff" })
      .toColourspace("srgb")
      .removeAlpha()
      .raw({ depth: "uchar" })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || data.length !== side * side * 3) {
      throw new Error(`decoded to ${info.channels} channels of ${data.length} bytes, not RGB`);
    }
    return {
      data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      width: info.width,
      height: info.height,
    };
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new DataError(
      `Cannot decode image "${path}": ${why}. Fix or remove the file.`,
      path,
      { cause: e },
    );
  }
}

/**
 * Images larger than this many pixels are refused before decoding: a small
 * file can declare a huge picture (a decompression bomb).
 */
export const MAX_IMAGE_PIXELS = 40_000_000;

/** A file left out of training, and why. */
export interface SkippedImage {
  /** The file. */
  path: string;
  /** Why it cannot be used. */
  reason: string;
}

/**
 * Reads every file's header (not its pixels) and sorts the files into usable
 * ones and skipped ones: unreadable, not an image, empty, or declaring more
 * than `maxPixels` pixels. Files whose pixels turn out broken (a truncated
 * body) are caught later, when decoded.
 *
 * @example
 * ```ts
 * import { listImages, scanImages } from "./image_folder.ts";
 * const { usable, skipped } = await scanImages(await listImages("photos"));
 * for (const s of skipped) console.warn(`skipping ${s.path}: ${s.reason}`);
 * ```
 */
export async function scanImages(
  files: string[],
  options: { maxPixels?: number; concurrency?: number } = {},
): Promise<{ usable: string[]; skipped: SkippedImage[] }> {
  const maxPixels = options.maxPixels ?? MAX_IMAGE_PIXELS;
  const verdicts = await mapPool(
    files,
    options.concurrency ?? 8,
    (path) => headerProblem(path, maxPixels),
  );
  const usable: string[] = [], skipped: SkippedImage[] = [];
  files.forEach((path, i) => {
    const reason = verdicts[i];
    if (reason === null) usable.push(path);
    else skipped.push({ path, reason });
  });
  return { usable, skipped };
}

async function headerProblem(path: string, maxPixels: number): Promise<string | null> {
  try {
    const info = await Deno.stat(path);
    if (info.size === 0) return "empty file (0 bytes)";
    const meta = await sharp(path, { limitInputPixels: false }).metadata();
    const { width = 0, height = 0 } = meta;
    if (width < 1 || height < 1) return "no picture size in the header";
    if (width * height > maxPixels) {
      return `${width}x${height} pixels is over the limit of ${maxPixels} (a decompression bomb?)`;
    }
    return null;
  } catch (e) {
    return e instanceof Error ? e.message.split("\n")[0] : String(e);
  }
}
