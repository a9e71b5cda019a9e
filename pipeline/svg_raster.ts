/**
 * SVG to 8-bit RGB pixels: the rasteriser of the data sets drawn from vector
 * art (the benchmarks' glyphs and rotated icons).
 * @module
 */
import sharp from "./sharp.ts";

/**
 * Rasterises an SVG whose own size is `size`×`size` pixels (at 72 dpi, so one
 * SVG unit is one pixel) onto white, as `size`×`size`×3 RGB bytes, row-major.
 * Throws if sharp draws another size, which means the SVG's width and height
 * are not `size`.
 *
 * @example
 * ```ts
 * import { rasterizeSvg } from "./svg_raster.ts";
 * const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4">` +
 *   `<rect width="2" height="4" fill="#000"/></svg>`;
 * const rgb = await rasterizeSvg(svg, 4);
 * console.log(rgb.length, rgb[0], rgb[3 * 3]); // 48 0 255
 * ```
 */
export async function rasterizeSvg(svg: string, size: number): Promise<Uint8Array> {
  const { data, info } = await sharp(new TextEncoder().encode(svg), { density: 72 })
    .flatten({ background: "#ffffff" })
    .toColourspace("srgb")
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.width !== size || info.height !== size || info.channels !== 3) {
    throw new Error(
      `rendered ${info.width}x${info.height}x${info.channels}, expected ${size}x${size}x3`,
    );
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
