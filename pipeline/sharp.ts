/**
 * sharp (libvips), pinned: its native libraries stay loaded until the process
 * ends, whichever worker isolate loaded them (see ops/pin_library.ts). Every
 * module of the package imports sharp from here.
 *
 * @example
 * ```ts
 * import sharp from "./sharp.ts";
 * const png = await sharp({ create: { width: 2, height: 2, channels: 3, background: "#fff" } })
 *   .png().toBuffer();
 * ```
 * @module
 */
import sharp from "sharp";
import { pinLoadedLibraries } from "../ops/runtime/pin_library.ts";

pinLoadedLibraries(/sharp|vips/);

export default sharp;
