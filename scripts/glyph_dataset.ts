/**
 * A synthetic two-domain dataset of letters: glyphs of the public-domain
 * Hershey stroke fonts (through the `hersheytext` npm package) rasterised with
 * sharp. Domain A is a plain sans-serif font (`futural` by default), domain B a
 * script font (`scripts` by default).
 *
 * Every glyph is centred on its bounding box and drawn at one scale (font
 * units to pixels) shared by all characters of both domains, as black strokes
 * on white, `size`×`size` RGB. Augmented renders add a small seeded random
 * shift, scale and stroke width; the clean render (no shift, scale 1, the
 * middle stroke width) is the template of a character.
 *
 * @example
 * ```ts
 * import { GLYPH_SIZE, glyphTemplates, LOWERCASE, renderGlyphSet } from "./glyph_dataset.ts";
 * const templates = await glyphTemplates("scripts", LOWERCASE);
 * console.log(templates.size, templates.get("a")?.pixels.length === GLYPH_SIZE ** 2 * 3); // 26 true
 * const train = await renderGlyphSet({ font: "futural", chars: LOWERCASE, count: 4, salt: "train" });
 * console.log(train.length); // 104
 * ```
 * @module
 */
import hersheytext from "hersheytext";
import { rasterizeSvg } from "../pipeline/svg_raster.ts";
import { mulberry32 } from "../pipeline/seeded.ts";
import { settleAll } from "../pipeline/settle_all.ts";

/**
 * The 26 lower-case letters.
 *
 * @example
 * ```ts
 * import { LOWERCASE } from "./glyph_dataset.ts";
 * console.log(LOWERCASE.length); // 26
 * ```
 */
export const LOWERCASE: string = "abcdefghijklmnopqrstuvwxyz";

/**
 * Default image side in pixels.
 *
 * @example
 * ```ts
 * import { GLYPH_SIZE } from "./glyph_dataset.ts";
 * console.log(GLYPH_SIZE); // 64
 * ```
 */
export const GLYPH_SIZE: number = 64;

/**
 * Default font of domain A: Hershey "Sans 1-stroke".
 *
 * @example
 * ```ts
 * import { PLAIN_FONT } from "./glyph_dataset.ts";
 * console.log(PLAIN_FONT); // "futural"
 * ```
 */
export const PLAIN_FONT: string = "futural";

/**
 * Default font of domain B: Hershey "Script 1-stroke".
 *
 * @example
 * ```ts
 * import { SCRIPT_FONT } from "./glyph_dataset.ts";
 * console.log(SCRIPT_FONT); // "scripts"
 * ```
 */
export const SCRIPT_FONT: string = "scripts";

/**
 * Stroke width of clean renders (templates), in pixels at size 64.
 *
 * @example
 * ```ts
 * import { CLEAN_STROKE_WIDTH } from "./glyph_dataset.ts";
 * console.log(CLEAN_STROKE_WIDTH); // 2.5
 * ```
 */
export const CLEAN_STROKE_WIDTH: number = 2.5;

/** How one render departs from the clean glyph. */
export interface GlyphAugmentation {
  /** Horizontal shift in pixels (at size 64; scaled with `size`). */
  dx: number;
  /** Vertical shift in pixels (at size 64; scaled with `size`). */
  dy: number;
  /** Multiplier of the shared glyph scale. */
  scale: number;
  /** Stroke width in pixels (at size 64; scaled with `size`). */
  strokeWidth: number;
}

/** Ranges of the random augmentation; each value is drawn uniformly. */
export interface AugmentationRanges {
  /** Largest shift in pixels, either way, on each axis. Default 3. */
  maxShift: number;
  /** Largest relative change of scale, either way. Default 0.1. */
  maxScaleChange: number;
  /** Stroke widths `[min, max]` in pixels. Default [1.8, 3.2]. */
  strokeWidth: [number, number];
}

/**
 * Defaults of {@link AugmentationRanges}.
 *
 * @example
 * ```ts
 * import { DEFAULT_AUGMENTATION } from "./glyph_dataset.ts";
 * console.log(DEFAULT_AUGMENTATION.maxShift); // 3
 * ```
 */
export const DEFAULT_AUGMENTATION: AugmentationRanges = {
  maxShift: 3,
  maxScaleChange: 0.1,
  strokeWidth: [1.8, 3.2],
};

/**
 * The clean render: no shift, the shared scale, {@link CLEAN_STROKE_WIDTH}.
 *
 * @example
 * ```ts
 * import { CLEAN } from "./glyph_dataset.ts";
 * console.log(CLEAN.scale); // 1
 * ```
 */
export const CLEAN: GlyphAugmentation = {
  dx: 0,
  dy: 0,
  scale: 1,
  strokeWidth: CLEAN_STROKE_WIDTH,
};

/** One rendered glyph. */
export interface GlyphImage {
  /** The character drawn. */
  char: string;
  /** Its Hershey font. */
  font: string;
  /** The augmentation applied ({@link CLEAN} for templates). */
  augmentation: GlyphAugmentation;
  /** Side in pixels. */
  size: number;
  /** RGB bytes, row-major, `size * size * 3` of them; white background. */
  pixels: Uint8Array;
}

interface HersheyChar {
  d: string;
  o: number;
}

interface HersheyModule {
  fonts: Record<string, { name: string; chars: HersheyChar[] }>;
}

const hershey = hersheytext as unknown as HersheyModule;

/**
 * The names of the Hershey fonts `hersheytext` ships (e.g. "futural",
 * "scripts", "scriptc", "timesr").
 *
 * @example
 * ```ts
 * import { hersheyFonts } from "./glyph_dataset.ts";
 * console.log(hersheyFonts().includes("scripts")); // true
 * ```
 */
export function hersheyFonts(): string[] {
  return Object.keys(hershey.fonts);
}

/**
 * What is wrong with a font name: `undefined` for a font hersheytext ships,
 * otherwise a sentence that lists the fonts there are.
 *
 * @example
 * ```ts
 * import { hersheyFontProblem } from "./glyph_dataset.ts";
 * console.log(hersheyFontProblem("scripts")); // undefined
 * console.log(hersheyFontProblem("nosuch")?.startsWith('unknown Hershey font "nosuch"')); // true
 * ```
 */
export function hersheyFontProblem(font: string): string | undefined {
  return Object.hasOwn(hershey.fonts, font)
    ? undefined
    : `unknown Hershey font "${font}": choose one of ${hersheyFonts().join(", ")}`;
}

/**
 * The SVG path data (absolute `M`/`L` commands, font units, y down) of a
 * printable ASCII character in a Hershey font. Throws for an unknown font or
 * a character the font lacks.
 *
 * @example
 * ```ts
 * import { glyphPath } from "./glyph_dataset.ts";
 * console.log(glyphPath("futural", "l")); // "M4,1 L4,22"
 * ```
 */
export function glyphPath(font: string, char: string): string {
  const problem = hersheyFontProblem(font);
  if (problem) throw new Error(problem);
  const f = hershey.fonts[font];
  const code = char.codePointAt(0) ?? 0;
  const glyph = char.length === 1 ? f.chars[code - 33] : undefined;
  if (!glyph?.d) {
    throw new Error(`Hershey font "${font}" has no glyph for ${JSON.stringify(char)}`);
  }
  return glyph.d;
}

/** Axis-aligned bounds of a glyph in font units. */
export interface GlyphBounds {
  /** Smallest x. */
  x0: number;
  /** Smallest y. */
  y0: number;
  /** Largest x. */
  x1: number;
  /** Largest y. */
  y1: number;
}

/**
 * The bounding box of a glyph's stroke centre lines, in font units.
 *
 * @example
 * ```ts
 * import { glyphBounds } from "./glyph_dataset.ts";
 * console.log(glyphBounds("futural", "l")); // { x0: 4, y0: 1, x1: 4, y1: 22 }
 * ```
 */
export function glyphBounds(font: string, char: string): GlyphBounds {
  const nums = (glyphPath(font, char).match(/-?\d+(?:\.\d+)?/g) ?? []).map(
    Number,
  );
  const b = { x0: Infinity, y0: Infinity, x1: -Infinity, y1: -Infinity };
  for (let i = 0; i + 1 < nums.length; i += 2) {
    b.x0 = Math.min(b.x0, nums[i]);
    b.x1 = Math.max(b.x1, nums[i]);
    b.y0 = Math.min(b.y0, nums[i + 1]);
    b.y1 = Math.max(b.y1, nums[i + 1]);
  }
  return b;
}

/**
 * The shared scale in pixels per font unit: the largest glyph of `chars` in
 * any of `fonts` (width or height) fills `fill` of the image side. Using one
 * scale for every character and both domains keeps relative sizes.
 *
 * @example
 * ```ts
 * import { glyphScale, LOWERCASE } from "./glyph_dataset.ts";
 * console.log(glyphScale(["futural", "scripts"], LOWERCASE, 64).toFixed(2)); // "1.59"
 * ```
 */
export function glyphScale(
  fonts: readonly string[],
  chars: string,
  size: number = GLYPH_SIZE,
  fill: number = 0.82,
): number {
  let extent = 1;
  for (const font of fonts) {
    for (const c of chars) {
      const b = glyphBounds(font, c);
      extent = Math.max(extent, b.x1 - b.x0, b.y1 - b.y0);
    }
  }
  return (fill * size) / extent;
}

/**
 * The SVG document of one glyph: white background, black round-capped
 * strokes, bounding box centred (then shifted by the augmentation).
 * `unitScale` is pixels per font unit, e.g. from {@link glyphScale}.
 *
 * @example
 * ```ts
 * import { CLEAN, glyphSvg } from "./glyph_dataset.ts";
 * console.log(glyphSvg("futural", "a", 1.6, CLEAN).startsWith("<svg")); // true
 * ```
 */
export function glyphSvg(
  font: string,
  char: string,
  unitScale: number,
  augmentation: GlyphAugmentation = CLEAN,
  size: number = GLYPH_SIZE,
): string {
  const b = glyphBounds(font, char);
  const px = size / GLYPH_SIZE; // augmentation pixels are given at size 64
  const s = unitScale * augmentation.scale;
  const cx = (b.x0 + b.x1) / 2, cy = (b.y0 + b.y1) / 2;
  const tx = size / 2 + augmentation.dx * px, ty = size / 2 + augmentation.dy * px;
  const stroke = (augmentation.strokeWidth * px) / s; // in font units
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" ` +
    `viewBox="0 0 ${size} ${size}">` +
    `<rect width="${size}" height="${size}" fill="#ffffff"/>` +
    `<path d="${glyphPath(font, char)}" fill="none" stroke="#000000" ` +
    `stroke-width="${stroke.toFixed(4)}" stroke-linecap="round" stroke-linejoin="round" ` +
    `transform="translate(${tx.toFixed(4)} ${ty.toFixed(4)}) scale(${s.toFixed(6)}) ` +
    `translate(${(-cx).toFixed(4)} ${(-cy).toFixed(4)})"/></svg>`;
}

/**
 * Rasterises one glyph to `size`×`size` RGB bytes.
 *
 * @example
 * ```ts
 * import { CLEAN, renderGlyph } from "./glyph_dataset.ts";
 * const pixels = await renderGlyph("scripts", "g", 1.6, CLEAN);
 * console.log(pixels.length); // 12288
 * ```
 */
export function renderGlyph(
  font: string,
  char: string,
  unitScale: number,
  augmentation: GlyphAugmentation = CLEAN,
  size: number = GLYPH_SIZE,
): Promise<Uint8Array> {
  return rasterizeSvg(glyphSvg(font, char, unitScale, augmentation, size), size);
}

/** 32-bit FNV-1a hash of a string. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * A seeded pseudo-random generator (mulberry32) of uniform numbers in [0, 1).
 *
 * @example
 * ```ts
 * import { seededRandom } from "./glyph_dataset.ts";
 * const r = seededRandom(42);
 * console.log(r() === seededRandom(42)()); // true
 * ```
 */
export function seededRandom(seed: number): () => number {
  return mulberry32(seed);
}

/**
 * The augmentation of one render, a pure function of `key` (any string, e.g.
 * `"train/futural/a/3"`): different keys give independent draws.
 *
 * @example
 * ```ts
 * import { augmentationFor } from "./glyph_dataset.ts";
 * const a = augmentationFor("train/futural/a/0");
 * console.log(Math.abs(a.dx) <= 3, a.scale >= 0.9 && a.scale <= 1.1); // true true
 * ```
 */
export function augmentationFor(
  key: string,
  ranges: AugmentationRanges = DEFAULT_AUGMENTATION,
): GlyphAugmentation {
  const r = seededRandom(fnv1a(key));
  const between = (lo: number, hi: number) => lo + (hi - lo) * r();
  return {
    dx: between(-ranges.maxShift, ranges.maxShift),
    dy: between(-ranges.maxShift, ranges.maxShift),
    scale: 1 + between(-ranges.maxScaleChange, ranges.maxScaleChange),
    strokeWidth: between(ranges.strokeWidth[0], ranges.strokeWidth[1]),
  };
}

/** Options of {@link renderGlyphSet}. */
export interface GlyphSetOptions {
  /** Hershey font of every render. */
  font: string;
  /** Characters to render. Default {@link LOWERCASE}. */
  chars?: string;
  /** Augmented renders per character. */
  count: number;
  /**
   * Names the draw: renders are keyed `${salt}/${seed}/${font}/${char}/${i}`,
   * so a different salt (e.g. "train" vs "heldout") gives unseen augmentations.
   */
  salt: string;
  /** Seed mixed into every key. Default 0. */
  seed?: number;
  /** Image side. Default {@link GLYPH_SIZE}. */
  size?: number;
  /**
   * Pixels per font unit. Default: {@link glyphScale} of the plain and script
   * default fonts plus `font` over `chars`, so both domains share it.
   */
  unitScale?: number;
  /** Augmentation ranges. Default {@link DEFAULT_AUGMENTATION}. */
  ranges?: AugmentationRanges;
}

/** The default shared scale for `chars`: over the default fonts and `extra`. */
function defaultScale(chars: string, size: number, extra: string[] = []): number {
  return glyphScale([...new Set([PLAIN_FONT, SCRIPT_FONT, ...extra])], chars, size);
}

async function renderAll(
  jobs: { font: string; char: string; augmentation: GlyphAugmentation }[],
  unitScale: number,
  size: number,
): Promise<GlyphImage[]> {
  const out: GlyphImage[] = [];
  const chunk = 32;
  for (let i = 0; i < jobs.length; i += chunk) {
    const part = jobs.slice(i, i + chunk);
    const pixels = await settleAll(
      part.map((j) => renderGlyph(j.font, j.char, unitScale, j.augmentation, size)),
    );
    part.forEach((j, k) => out.push({ ...j, size, pixels: pixels[k] }));
  }
  return out;
}

/**
 * Renders `count` augmented images of every character of one font, in order
 * character by character. Deterministic in the options.
 *
 * @example
 * ```ts
 * import { renderGlyphSet } from "./glyph_dataset.ts";
 * const set = await renderGlyphSet({ font: "scripts", chars: "ab", count: 3, salt: "train" });
 * console.log(set.map((g) => g.char).join("")); // "aaabbb"
 * ```
 */
export async function renderGlyphSet(options: GlyphSetOptions): Promise<GlyphImage[]> {
  const { font, chars = LOWERCASE, count, salt, seed = 0, size = GLYPH_SIZE } = options;
  const unitScale = options.unitScale ?? defaultScale(chars, size, [font]);
  const jobs = [];
  for (const char of chars) {
    for (let i = 0; i < count; i++) {
      const augmentation = augmentationFor(`${salt}/${seed}/${font}/${char}/${i}`, options.ranges);
      jobs.push({ font, char, augmentation });
    }
  }
  return await renderAll(jobs, unitScale, size);
}

/**
 * The clean render of every character of `chars` in `font`: one template per
 * character, keyed by the character.
 *
 * @example
 * ```ts
 * import { glyphTemplates } from "./glyph_dataset.ts";
 * const t = await glyphTemplates("scripts", "xyz");
 * console.log([...t.keys()].join("")); // "xyz"
 * ```
 */
export async function glyphTemplates(
  font: string,
  chars: string = LOWERCASE,
  size: number = GLYPH_SIZE,
  unitScale: number = defaultScale(chars, size, [font]),
): Promise<Map<string, GlyphImage>> {
  const jobs = [...new Set(chars)].map((char) => ({ font, char, augmentation: CLEAN }));
  const images = await renderAll(jobs, unitScale, size);
  return new Map(images.map((g) => [g.char, g]));
}

/**
 * Packs images into one NHWC float array in [-1, 1] (`byte / 127.5 - 1`),
 * ready for `tf.tensor4d(data, [n, size, size, 3])`.
 *
 * @example
 * ```ts
 * import { glyphTemplates, toSignedUnit } from "./glyph_dataset.ts";
 * const t = await glyphTemplates("futural", "o");
 * console.log(toSignedUnit([...t.values()])[0]); // 1 (the white corner)
 * ```
 */
export function toSignedUnit(images: readonly GlyphImage[]): Float32Array {
  const n = images.reduce((sum, g) => sum + g.pixels.length, 0);
  const out = new Float32Array(n);
  let offset = 0;
  for (const g of images) {
    for (let i = 0; i < g.pixels.length; i++) out[offset + i] = g.pixels[i] / 127.5 - 1;
    offset += g.pixels.length;
  }
  return out;
}
