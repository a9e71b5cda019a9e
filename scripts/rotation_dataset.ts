/**
 * An unpaired two-domain data set for a cross-domain relation, after the
 * paper's car2car angle experiment: one icon class per domain, each image
 * rotated by its own angle. Domain A is the Fluent Emoji `airplane` as
 * high-contrast black art on white, domain B the Fluent Emoji `automobile` in
 * flat colour on white, both from the npm icon packages the built-in data set
 * uses (`pipeline/default_dataset.ts`); {@link RotationIcons} names another
 * pair, turned to a shared heading the same way.
 *
 * Why these two: neither has a rotational symmetry, so every angle in
 * [-90°, 90°] gives a distinct image; the airplane is a solid silhouette whose
 * nose and swept wings show its heading, and the car's wheels and windows
 * show which way is up, both readable at 64 px. They also share no shape, so
 * copying the input's pixels cannot pass for a translation.
 *
 * Angles are in degrees, positive counter-clockwise as seen. 0 is the car as
 * drawn, and the airplane turned to the same heading: the two drawings point
 * different ways (the airplane, drawn as is, reads as the car turned about
 * 24°), so the airplane's 0° is its drawing turned back by {@link headingOffset}
 * (the angle the car reader gives the drawing). Without that, "the same angle"
 * would pair different headings, and for a fifth of A's range the same heading
 * would lie outside B's [-90°, 90°]: no translation could be both right and
 * look like B's data. Each image draws its angle uniformly from [-90°, 90°] and a small
 * jitter (scale ±5 %, shift ±2 px), all keyed by the seed, the split and the
 * image's index, so that a set is the same on every machine and a larger set
 * starts with the smaller one. The icon's 32-unit box is drawn 40 px wide in a
 * 64 px image: the box's corners stay inside at every angle, scale and shift.
 *
 * The angle of an image is read by {@link angleOf}: the nearest template of
 * domain B (the car at every whole degree, no jitter) by Pearson correlation.
 *
 * @example
 * ```ts
 * import { angleOf, ensureRotationDataset, renderTemplateBank } from "./rotation_dataset.ts";
 * const ds = await ensureRotationDataset({ root: "data/rotation-64" });
 * const bank = await renderTemplateBank();
 * console.log(ds.trainA, ds.testAngles.length, bank.angles.length); // ... 200 181
 * ```
 * @module
 */
import { join, resolve } from "node:path";
import sharp from "../pipeline/sharp.ts";
import { rasterizeSvg } from "../pipeline/svg_raster.ts";
import { DEFAULT_DATASET_LICENSE_NOTICE } from "../pipeline/default_dataset.ts";
import { hashKey, seededRandom } from "../pipeline/seeded.ts";
import { iconBox, type IconifySet } from "../pipeline/iconify.ts";
import { mapPool, settleAll } from "../pipeline/settle_all.ts";

/**
 * Image side in pixels.
 *
 * @example
 * ```ts
 * import { ROTATION_SIZE } from "./rotation_dataset.ts";
 * console.log(ROTATION_SIZE); // 64
 * ```
 */
export const ROTATION_SIZE: number = 64;

/**
 * The largest angle drawn, in degrees: angles lie in [-ANGLE_LIMIT, ANGLE_LIMIT].
 *
 * @example
 * ```ts
 * import { ANGLE_LIMIT } from "./rotation_dataset.ts";
 * console.log(ANGLE_LIMIT); // 90
 * ```
 */
export const ANGLE_LIMIT: number = 90;

/**
 * The icon of each domain, by its Fluent Emoji name: A's drawn from
 * `@iconify-json/fluent-emoji-high-contrast`, B's from
 * `@iconify-json/fluent-emoji-flat`.
 */
export interface RotationIcons {
  /** Domain A's icon (black art). */
  A: string;
  /** Domain B's icon (flat colour); its templates read the angles. */
  B: string;
}

/**
 * The default icons of the two domains: the airplane and the car.
 *
 * @example
 * ```ts
 * import { ROTATION_ICONS } from "./rotation_dataset.ts";
 * console.log(ROTATION_ICONS.A, ROTATION_ICONS.B); // "airplane" "automobile"
 * ```
 */
export const ROTATION_ICONS: Readonly<RotationIcons> = {
  A: "airplane",
  B: "automobile",
};

/**
 * Default data set root, relative to the current working directory.
 *
 * @example
 * ```ts
 * import { DEFAULT_ROTATION_ROOT } from "./rotation_dataset.ts";
 * console.log(DEFAULT_ROTATION_ROOT); // "data/rotation-64"
 * ```
 */
export const DEFAULT_ROTATION_ROOT: string = "data/rotation-64";

/**
 * Version of the rendering; part of the cache key, so bumping it rebuilds every cached set.
 *
 * @example
 * ```ts
 * import { ROTATION_DATASET_VERSION } from "./rotation_dataset.ts";
 * console.log(ROTATION_DATASET_VERSION); // 2
 * ```
 */
export const ROTATION_DATASET_VERSION: number = 2;

/** Jitter bounds: relative scale (±) and shift in pixels at 64 px (±). */
const SCALE_JITTER = 0.05, SHIFT_JITTER = 2;
/** Side of the icon's box at scale 1, as a fraction of the image side (40 px at 64). */
const ICON_BOX = 40 / 64;
const MARKER = ".complete";

/** Which domain an image is drawn from. */
export type Domain = "A" | "B";

/** How one image is drawn: its angle and jitter. */
export interface RenderSpec {
  /** Degrees, counter-clockwise as seen. */
  angle: number;
  /** Size relative to the nominal icon box (1: no jitter). */
  scale: number;
  /** Shift right in pixels at 64 px (scaled with the image). */
  dx: number;
  /** Shift down in pixels at 64 px. */
  dy: number;
}

/** An 8-bit RGB image, row-major, `size`×`size`×3. */
export interface RgbImage {
  /** The pixels. */
  data: Uint8Array;
  /** Side in pixels. */
  size: number;
}

/** Options of {@link ensureRotationDataset}. */
export interface RotationDatasetOptions {
  /** Root folder; relative paths resolve against the working directory. Default {@link DEFAULT_ROTATION_ROOT}. */
  root?: string;
  /** Images in each of trainA/ and trainB/. Default 1000. */
  trainCount?: number;
  /** Held-out images in testA/ (and their B twins in testB/). Default 200. */
  testCount?: number;
  /** Seed of the angles and jitter. Default 0. */
  seed?: number;
  /** Image side in pixels. Default {@link ROTATION_SIZE}. */
  size?: number;
  /** The two domains' icons. Default {@link ROTATION_ICONS}. */
  icons?: RotationIcons;
  /** Called after each rendered image with (done, total). */
  onProgress?: (done: number, total: number) => void;
}

/** A built data set. */
export interface RotationDataset {
  /** Absolute root. */
  root: string;
  /** Domain A training images (independent angles). */
  trainA: string;
  /** Domain B training images (independent angles). */
  trainB: string;
  /** Held-out domain A images; `angles.json` maps each file name to its angle. */
  testA: string;
  /**
   * Domain B renders at testA's angles, each with its own jitter: the true
   * answers, which validate the reader. Never used in training.
   */
  testB: string;
  /** Angles of testA's images, in file order. */
  testAngles: number[];
  /** File names of testA (and testB), in order. */
  testFiles: string[];
  /** The content key the set is cached by. */
  key: string;
  /** The settings the set was built with. */
  settings: RotationSettings;
}

/** What a set is built from; its hash is the cache key. */
export interface RotationSettings {
  /** {@link ROTATION_DATASET_VERSION}. */
  version: number;
  /** The icons. */
  icons: RotationIcons;
  /** The icon packages' versions. */
  packages: { A: string; B: string };
  /** Image side. */
  size: number;
  /** Images per training folder. */
  trainCount: number;
  /** Held-out images. */
  testCount: number;
  /** Seed. */
  seed: number;
  /** Degrees the A drawing is turned back by, so that A and B at one angle share a heading. */
  headingA: number;
  /** Jitter bounds. */
  jitter: { scale: number; shift: number };
}

/**
 * The npm icon package (under `@iconify-json/`) each domain draws from. The
 * imports below spell them out, as dynamic imports must be literal to be bundled.
 */
const ICON_PACKAGES: Record<Domain, string> = {
  A: "fluent-emoji-high-contrast",
  B: "fluent-emoji-flat",
};

let iconCache: Promise<Record<Domain, IconifySet>> | undefined;

// Dynamic imports: only rendering loads the ~12 MB of icon JSON (a set's key
// renders too, for its heading), not importing this module.
function iconSets(): Promise<Record<Domain, IconifySet>> {
  iconCache ??= Promise.all([
    import("@iconify-json/fluent-emoji-high-contrast/icons.json", { with: { type: "json" } }),
    import("@iconify-json/fluent-emoji-flat/icons.json", { with: { type: "json" } }),
  ]).then(([a, b]) => ({
    A: a.default as unknown as IconifySet,
    B: b.default as unknown as IconifySet,
  }));
  return iconCache;
}

/**
 * What is wrong with an icon name for a domain: `undefined` when that domain's
 * icon set has it, otherwise a sentence naming the set and, where there are
 * any, names that contain the one given.
 *
 * @example
 * ```ts
 * import { rotationIconProblem } from "./rotation_dataset.ts";
 * console.log(await rotationIconProblem("B", "horse")); // undefined
 * console.log(await rotationIconProblem("B", "hors")); // 'no icon "hors" in ... try "horse", ...'
 * ```
 */
export async function rotationIconProblem(
  domain: Domain,
  name: string,
): Promise<string | undefined> {
  const set = (await iconSets())[domain];
  if (Object.hasOwn(set.icons, name)) return undefined;
  const near = Object.keys(set.icons).filter((n) => name && n.includes(name)).slice(0, 8);
  return `no icon "${name}" in @iconify-json/${ICON_PACKAGES[domain]} (domain ${domain}); ` +
    (near.length
      ? `try ${near.map((n) => `"${n}"`).join(", ")}`
      : `names are Fluent Emoji names, such as "horse" or "bicycle"`);
}

async function packageVersions(): Promise<{ A: string; B: string }> {
  const [a, b] = await settleAll([
    import("@iconify-json/fluent-emoji-high-contrast/package.json", { with: { type: "json" } }),
    import("@iconify-json/fluent-emoji-flat/package.json", { with: { type: "json" } }),
  ]);
  return {
    A: (a.default as { version: string }).version,
    B: (b.default as { version: string }).version,
  };
}

/**
 * The seeded angle and jitter of one image: uniform angle in
 * [-{@link ANGLE_LIMIT}, {@link ANGLE_LIMIT}], scale in [0.95, 1.05], shifts
 * in [-2, 2] px. Keyed by (seed, key, index), so every image is independent
 * of the others and of the set's size.
 *
 * @example
 * ```ts
 * import { drawSpec } from "./rotation_dataset.ts";
 * const spec = drawSpec(0, "trainA", 12);
 * console.log(spec.angle >= -90 && spec.angle <= 90); // true
 * ```
 */
export function drawSpec(seed: number, key: string, index: number): RenderSpec {
  const r = seededRandom(`${seed}/rotation/${key}/${index}`);
  const u = (half: number) => (2 * r() - 1) * half;
  return {
    angle: u(ANGLE_LIMIT),
    scale: 1 + u(SCALE_JITTER),
    dx: u(SHIFT_JITTER),
    dy: u(SHIFT_JITTER),
  };
}

function rotatedSvg(set: IconifySet, name: string, spec: RenderSpec, size: number): string {
  const { body, left, top, width: w, height: h } = iconBox(set, name);
  const k = (ICON_BOX * size * spec.scale) / Math.max(w, h);
  const px = size / 64;
  const cx = size / 2 + spec.dx * px, cy = size / 2 + spec.dy * px;
  // SVG's rotate() turns clockwise on screen (y points down), hence the minus.
  return `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" ` +
    `viewBox="0 0 ${size} ${size}" width="${size}" height="${size}" color="#000000">` +
    `<g transform="translate(${cx} ${cy}) rotate(${-spec.angle}) scale(${k}) ` +
    `translate(${-(left + w / 2)} ${-(top + h / 2)})">${body}</g></svg>`;
}

/**
 * Renders one domain's icon (of `icons`) at `spec` as 8-bit RGB on white.
 *
 * @example
 * ```ts
 * import { renderRotated } from "./rotation_dataset.ts";
 * const img = await renderRotated("B", { angle: 30, scale: 1, dx: 0, dy: 0 });
 * console.log(img.data.length); // 12288
 * ```
 */
export async function renderRotated(
  domain: Domain,
  spec: RenderSpec,
  size: number = ROTATION_SIZE,
  icons: RotationIcons = ROTATION_ICONS,
): Promise<RgbImage> {
  const sets = await iconSets();
  const data = await rasterizeSvg(rotatedSvg(sets[domain], icons[domain], spec, size), size);
  return { data, size };
}

async function toPng(image: RgbImage): Promise<Uint8Array> {
  const buf = await sharp(image.data, {
    raw: { width: image.size, height: image.size, channels: 3 },
  })
    .png()
    .toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

// ------------------------------------------------------------------ reader

/** A template prepared for correlation: ink (1 - value) per channel and its moments. */
export interface PreparedTemplate {
  /** Ink per pixel and channel, in [0, 1]. */
  ink: Float32Array;
  /** Sum of the ink. */
  sum: number;
  /** Sum of the squared ink. */
  sumSq: number;
  /** Ink centroid, x in pixels. */
  cx: number;
  /** Ink centroid, y in pixels. */
  cy: number;
}

/** Domain B's templates: the clean icon at every whole degree. */
export interface TemplateBank {
  /** Angles in degrees, ascending. */
  angles: number[];
  /** The templates, one per angle. */
  images: RgbImage[];
  /** Image side. */
  size: number;
  /** Correlation data of each template. */
  readonly prepared: readonly PreparedTemplate[];
}

// Ink (1 - value) so that the white background is zero: shifting an image
// fills with zeros, which is more background, not a black border.
function prepare(data: ArrayLike<number>, size: number): PreparedTemplate {
  const ink = new Float32Array(size * size * 3);
  let sum = 0, sumSq = 0, mx = 0, my = 0;
  for (let p = 0; p < size * size; p++) {
    let pixel = 0;
    for (let c = 0; c < 3; c++) {
      const v = 1 - data[3 * p + c] / 255;
      ink[3 * p + c] = v;
      sum += v;
      sumSq += v * v;
      pixel += v;
    }
    mx += pixel * (p % size);
    my += pixel * Math.floor(p / size);
  }
  const c = size / 2;
  return { ink, sum, sumSq, cx: sum > 0 ? mx / sum : c, cy: sum > 0 ? my / sum : c };
}

/**
 * Builds a template bank from images at the given angles (what
 * {@link renderTemplateBank} does with the car at every whole degree).
 *
 * @example
 * ```ts
 * import { makeTemplateBank, renderRotated } from "./rotation_dataset.ts";
 * const at = (angle: number) => renderRotated("B", { angle, scale: 1, dx: 0, dy: 0 });
 * const bank = makeTemplateBank([-45, 45], [await at(-45), await at(45)]);
 * console.log(bank.angles); // [-45, 45]
 * ```
 */
export function makeTemplateBank(angles: number[], images: RgbImage[]): TemplateBank {
  if (angles.length !== images.length || angles.length === 0) {
    throw new Error(`${angles.length} angles for ${images.length} templates`);
  }
  const size = images[0].size;
  return {
    angles,
    images,
    size,
    prepared: images.map((im) => prepare(im.data, size)),
  };
}

// One rendering per (size, step, icon) per process: the data set's heading and
// the benchmark's reader both need the bank.
const templateBanks = new Map<string, Promise<TemplateBank>>();

/**
 * Domain B's icon (`iconB`, the car by default) at every whole degree from
 * -{@link ANGLE_LIMIT} to {@link ANGLE_LIMIT}, centred, scale 1 (no jitter):
 * 181 templates. Rendered once per size, step and icon in a process.
 *
 * @example
 * ```ts
 * import { renderTemplateBank } from "./rotation_dataset.ts";
 * const bank = await renderTemplateBank();
 * console.log(bank.angles[0], bank.angles.at(-1)); // -90 90
 * ```
 */
export function renderTemplateBank(
  size: number = ROTATION_SIZE,
  step: number = 1,
  iconB: string = ROTATION_ICONS.B,
): Promise<TemplateBank> {
  const key = `${size}/${step}/${iconB}`;
  let bank = templateBanks.get(key);
  if (!bank) {
    bank = renderBank(size, step, iconB);
    templateBanks.set(key, bank);
    bank.catch(() => templateBanks.delete(key));
  }
  return bank;
}

async function renderBank(size: number, step: number, iconB: string): Promise<TemplateBank> {
  const angles: number[] = [];
  const icons = { ...ROTATION_ICONS, B: iconB };
  for (let a = -ANGLE_LIMIT; a <= ANGLE_LIMIT + 1e-9; a += step) angles.push(a);
  const images = await settleAll(
    angles.map((angle) => renderRotated("B", { angle, scale: 1, dx: 0, dy: 0 }, size, icons)),
  );
  return makeTemplateBank(angles, images);
}

/** Pearson r of `a` shifted by (dx, dy) pixels (zero filled) with `b`, over all channels. */
function shiftedCorrelation(
  a: PreparedTemplate,
  b: PreparedTemplate,
  size: number,
  dx: number,
  dy: number,
): number {
  const n = size * size * 3;
  let sa = 0, saa = 0, sab = 0;
  const y0 = Math.max(0, dy), y1 = Math.min(size, size + dy);
  const x0 = Math.max(0, dx), x1 = Math.min(size, size + dx);
  const ai = a.ink, bi = b.ink;
  for (let y = y0; y < y1; y++) {
    const rowA = ((y - dy) * size + x0 - dx) * 3, rowB = (y * size + x0) * 3;
    const len = (x1 - x0) * 3;
    for (let k = 0; k < len; k++) {
      const va = ai[rowA + k];
      sa += va;
      saa += va * va;
      sab += va * bi[rowB + k];
    }
  }
  const cov = sab - (sa * b.sum) / n;
  const varA = saa - (sa * sa) / n, varB = b.sumSq - (b.sum * b.sum) / n;
  return varA <= 1e-9 || varB <= 1e-9 ? -1 : cov / Math.sqrt(varA * varB);
}

/** A reading: the nearest template's angle, its correlation and the shift it was found at. */
export interface AngleReading {
  /** Degrees. */
  angle: number;
  /** Pearson r with the template (-1 for a blank image). */
  correlation: number;
  /** Index of the template in the bank. */
  index: number;
}

/** Options of {@link readAngle}. */
export interface ReadOptions {
  /** Largest shift searched, in pixels, around the centroid alignment. Default 2. */
  maxShift?: number;
  /** Templates refined with the shift search after the coarse pass. Default 12. */
  candidates?: number;
}

/**
 * Reads an image's angle: the template of the bank with the largest Pearson
 * correlation over pixels and channels (of ink, 1 - value). Each template is
 * first compared with the image moved so that their ink centroids meet (the
 * jitter shifts images by up to 2 px, and the car's centroid moves as it
 * turns); the best `candidates` are then searched over shifts of up to
 * `maxShift` pixels around that. Returns the angle, the correlation and the
 * template's index.
 *
 * @example
 * ```ts
 * import { readAngle, renderRotated, renderTemplateBank } from "./rotation_dataset.ts";
 * const bank = await renderTemplateBank();
 * const img = await renderRotated("B", { angle: 33.4, scale: 1.03, dx: 1.5, dy: -1 });
 * console.log(readAngle(img.data, bank)); // { angle: 33, correlation: 0.9..., index: 123 }
 * ```
 */
export function readAngle(
  image: ArrayLike<number>,
  bank: TemplateBank,
  options: ReadOptions = {},
): AngleReading {
  const size = bank.size, maxShift = options.maxShift ?? 2;
  if (image.length !== size * size * 3) {
    throw new Error(`image has ${image.length} values, expected ${size}x${size}x3`);
  }
  const a = prepare(image, size);
  const coarse = bank.prepared.map((t, i) => {
    const dx = Math.round(t.cx - a.cx), dy = Math.round(t.cy - a.cy);
    return { i, dx, dy, r: shiftedCorrelation(a, t, size, dx, dy) };
  }).sort((p, q) => q.r - p.r).slice(0, options.candidates ?? 12);
  let best = { i: coarse[0].i, r: -Infinity };
  for (const c of coarse) {
    const t = bank.prepared[c.i];
    for (let dy = -maxShift; dy <= maxShift; dy++) {
      for (let dx = -maxShift; dx <= maxShift; dx++) {
        const r = shiftedCorrelation(a, t, size, c.dx + dx, c.dy + dy);
        if (r > best.r) best = { i: c.i, r };
      }
    }
  }
  return { angle: bank.angles[best.i], correlation: best.r, index: best.i };
}

/**
 * The angle of an image (8-bit RGB, `size`×`size`×3) by its nearest template:
 * {@link readAngle}'s angle.
 *
 * @example
 * ```ts
 * import { angleOf, renderRotated, renderTemplateBank } from "./rotation_dataset.ts";
 * const bank = await renderTemplateBank();
 * const img = await renderRotated("B", { angle: -60, scale: 0.96, dx: -2, dy: 1 });
 * console.log(angleOf(img.data, bank)); // -60 (or a degree off)
 * ```
 */
export function angleOf(image: ArrayLike<number>, templates: TemplateBank): number {
  return readAngle(image, templates).angle;
}

// ------------------------------------------------------------------ metrics

/**
 * Pearson correlation of two equally long series; NaN when either is constant.
 *
 * @example
 * ```ts
 * import { pearson } from "./rotation_dataset.ts";
 * console.log(pearson([1, 2, 3], [2, 4, 7])); // 0.99...
 * ```
 */
export function pearson(x: readonly number[], y: readonly number[]): number {
  if (x.length !== y.length) throw new Error(`${x.length} values against ${y.length}`);
  const n = x.length;
  const mx = x.reduce((s, v) => s + v, 0) / n, my = y.reduce((s, v) => s + v, 0) / n;
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
    syy += (y[i] - my) ** 2;
  }
  return sxx <= 0 || syy <= 0 ? NaN : sxy / Math.sqrt(sxx * syy);
}

/** How well read angles follow one relation. */
export interface AngleMetrics {
  /** Pearson r between the relation's prediction and the read angle (NaN if either is constant). */
  r: number;
  /** Mean |read - predicted| in degrees. */
  meanError: number;
  /** Share of reads within 10° of the prediction (inclusive), in [0, 1]. */
  within10: number;
}

/** Read angles scored against θ → θ and against its mirror θ → -θ. */
export interface RelationMetrics {
  /** θ → θ. */
  relation: AngleMetrics;
  /** θ → -θ. */
  mirror: AngleMetrics;
  /** The one with the smaller mean error (the relation on a tie): the result. */
  best: "relation" | "mirror";
}

/**
 * Scores read angles against the angles predicted by a relation.
 *
 * @example
 * ```ts
 * import { angleMetrics } from "./rotation_dataset.ts";
 * console.log(angleMetrics([10, 20, 30], [12, 20, 50])); // { r: 0.94..., meanError: 7.33..., within10: 0.66... }
 * ```
 */
export function angleMetrics(predicted: readonly number[], read: readonly number[]): AngleMetrics {
  if (predicted.length !== read.length || read.length === 0) {
    throw new Error(`${predicted.length} predictions against ${read.length} readings`);
  }
  const errors = read.map((v, i) => Math.abs(v - predicted[i]));
  return {
    r: pearson(predicted, read),
    meanError: errors.reduce((s, e) => s + e, 0) / errors.length,
    within10: errors.filter((e) => e <= 10).length / errors.length,
  };
}

/**
 * Scores read angles against the input angles for the relation θ → θ and for
 * its mirror θ → -θ. An unpaired objective cannot tell the two apart, so both
 * are kept and the better one (smaller mean error) is named as the result.
 *
 * @example
 * ```ts
 * import { relationMetrics } from "./rotation_dataset.ts";
 * const m = relationMetrics([-40, 0, 40], [41, 1, -39]);
 * console.log(m.best, m.mirror.within10); // "mirror" 1
 * ```
 */
export function relationMetrics(
  input: readonly number[],
  read: readonly number[],
): RelationMetrics {
  const relation = angleMetrics(input, read);
  const mirror = angleMetrics(input.map((v) => -v), read);
  return { relation, mirror, best: mirror.meanError < relation.meanError ? "mirror" : "relation" };
}

// ------------------------------------------------------------------ data set

/**
 * The heading of domain A's drawing in domain B's terms: the angle B's reader
 * ({@link readAngle} on B's templates) gives A's icon drawn as is, in whole
 * degrees. The data set turns A's drawing back by it.
 *
 * @example
 * ```ts
 * import { headingOffset } from "./rotation_dataset.ts";
 * console.log(await headingOffset()); // about 24 (the airplane against the car)
 * ```
 */
export async function headingOffset(
  size: number = ROTATION_SIZE,
  icons: RotationIcons = ROTATION_ICONS,
): Promise<number> {
  const bank = await renderTemplateBank(size, 1, icons.B);
  const drawn = await renderRotated("A", { angle: 0, scale: 1, dx: 0, dy: 0 }, size, icons);
  return Math.round(readAngle(drawn.data, bank).angle);
}

/**
 * The settings a set is built with and its content key (a hash of them),
 * without building anything.
 *
 * @example
 * ```ts
 * import { rotationSettings } from "./rotation_dataset.ts";
 * const { key } = await rotationSettings({ trainCount: 1000, testCount: 200 });
 * console.log(key); // e.g. "5f1c2a09"
 * ```
 */
export async function rotationSettings(
  options: RotationDatasetOptions = {},
): Promise<{ settings: RotationSettings; key: string }> {
  const icons = { ...ROTATION_ICONS, ...options.icons };
  const settings: RotationSettings = {
    version: ROTATION_DATASET_VERSION,
    icons,
    packages: await packageVersions(),
    size: options.size ?? ROTATION_SIZE,
    trainCount: options.trainCount ?? 1000,
    testCount: options.testCount ?? 200,
    seed: options.seed ?? 0,
    headingA: await headingOffset(options.size ?? ROTATION_SIZE, icons),
    jitter: { scale: SCALE_JITTER, shift: SHIFT_JITTER },
  };
  for (const k of ["size", "trainCount", "testCount"] as const) {
    if (!Number.isInteger(settings[k]) || settings[k] < 1) {
      throw new RangeError(`${k} must be a whole number >= 1, got ${settings[k]}`);
    }
  }
  if (!Number.isInteger(settings.seed)) {
    throw new RangeError(`seed must be whole, got ${settings.seed}`);
  }
  return { settings, key: hashKey(JSON.stringify(settings)).toString(16).padStart(8, "0") };
}

const fileName = (i: number) => `${String(i).padStart(5, "0")}.png`;

async function removeIfExists(path: string): Promise<void> {
  await Deno.remove(path, { recursive: true }).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
}

function datasetAt(root: string, key: string, settings: RotationSettings, angles: number[]) {
  return {
    root,
    trainA: join(root, "trainA"),
    trainB: join(root, "trainB"),
    testA: join(root, "testA"),
    testB: join(root, "testB"),
    testAngles: angles,
    testFiles: angles.map((_, i) => fileName(i)),
    key,
    settings,
  };
}

async function readCached(root: string, key: string): Promise<number[] | null> {
  try {
    const marker = JSON.parse(await Deno.readTextFile(join(root, MARKER)));
    if (marker?.key !== key) return null;
    const angles = JSON.parse(await Deno.readTextFile(join(root, "testA", "angles.json")));
    return Object.values(angles as Record<string, number>);
  } catch {
    return null;
  }
}

/**
 * Builds (once) the rotation data set under `root`: `trainA/` and `trainB/`
 * (`trainCount` images each, independent angles: unpaired), `testA/`
 * (`testCount` held-out A images) and `testB/` (the car at testA's angles,
 * its own jitter), each with an `angles.json` mapping file name to degrees,
 * and a README. A set whose `.complete` marker holds the same content key is
 * reused untouched; otherwise it is built beside `root` and swapped in.
 *
 * @example
 * ```ts
 * import { ensureRotationDataset } from "./rotation_dataset.ts";
 * const ds = await ensureRotationDataset({ root: "data/rotation-64", trainCount: 1000, testCount: 200 });
 * console.log(ds.key, ds.testAngles[0]);
 * ```
 */
export async function ensureRotationDataset(
  options: RotationDatasetOptions = {},
): Promise<RotationDataset> {
  const root = resolve(Deno.cwd(), options.root ?? DEFAULT_ROTATION_ROOT);
  const { settings, key } = await rotationSettings(options);
  const cached = await readCached(root, key);
  if (cached && cached.length === settings.testCount) {
    return datasetAt(root, key, settings, cached);
  }

  const partial = `${root}.partial-${Deno.pid}`;
  await removeIfExists(partial);
  const jobs: { dir: string; domain: Domain; key: string; i: number; angle?: number }[] = [];
  for (let i = 0; i < settings.trainCount; i++) {
    jobs.push({ dir: "trainA", domain: "A", key: "trainA", i });
    jobs.push({ dir: "trainB", domain: "B", key: "trainB", i });
  }
  const testAngles: number[] = [];
  for (let i = 0; i < settings.testCount; i++) {
    const angle = drawSpec(settings.seed, "testA", i).angle;
    testAngles.push(angle);
    jobs.push({ dir: "testA", domain: "A", key: "testA", i });
    // The same angle as testA's image, but its own jitter: the reader meets
    // B images as varied as the ones training sees.
    jobs.push({ dir: "testB", domain: "B", key: "testB", i, angle });
  }
  const angles: Record<string, Record<string, number>> = {
    trainA: {},
    trainB: {},
    testA: {},
    testB: {},
  };
  try {
    for (const d of Object.keys(angles)) await Deno.mkdir(join(partial, d), { recursive: true });
    let done = 0;
    await mapPool(jobs, 4, async (job) => {
      const spec = drawSpec(settings.seed, job.key, job.i);
      if (job.angle !== undefined) spec.angle = job.angle;
      angles[job.dir][fileName(job.i)] = spec.angle;
      const turn = job.domain === "A" ? settings.headingA : 0;
      const image = await renderRotated(
        job.domain,
        { ...spec, angle: spec.angle - turn },
        settings.size,
        settings.icons,
      );
      await Deno.writeFile(join(partial, job.dir, fileName(job.i)), await toPng(image));
      options.onProgress?.(++done, jobs.length);
    });
    for (const [dir, map] of Object.entries(angles)) {
      const sorted = Object.fromEntries(Object.entries(map).sort(([p], [q]) => (p < q ? -1 : 1)));
      await Deno.writeTextFile(
        join(partial, dir, "angles.json"),
        JSON.stringify(sorted, null, 1) + "\n",
      );
    }
    await Deno.writeTextFile(join(partial, "README.txt"), readme(settings, key));
    await Deno.writeTextFile(
      join(partial, MARKER),
      JSON.stringify({ key, settings }, null, 2) + "\n",
    );
  } catch (e) {
    await removeIfExists(partial);
    throw e;
  }
  const stale = `${root}.stale-${Deno.pid}`;
  await removeIfExists(stale);
  const hadOld = await Deno.rename(root, stale).then(() => true, (e) => {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  });
  await Deno.rename(partial, root);
  if (hadOld) await removeIfExists(stale);
  return datasetAt(root, key, settings, testAngles);
}

function readme(s: RotationSettings, key: string): string {
  return [
    "Rotation data set (DiscoGAN cross-domain relation benchmark, scripts/eval_rotation.ts)",
    "",
    `Domain A: Fluent Emoji "${s.icons.A}", high-contrast (black on white), ` +
    `@iconify-json/${ICON_PACKAGES.A}@${s.packages.A}.`,
    `Domain B: Fluent Emoji "${s.icons.B}", flat colour on white, ` +
    `@iconify-json/${ICON_PACKAGES.B}@${s.packages.B}.`,
    `Images: ${s.size}x${s.size} RGB PNG. Each image: an angle uniform in ` +
    `[-${ANGLE_LIMIT}, ${ANGLE_LIMIT}] degrees (counter-clockwise positive), scale ` +
    `1 ± ${s.jitter.scale}, shift ± ${s.jitter.shift} px, seeded (seed ${s.seed}).`,
    `trainA/, trainB/: ${s.trainCount} each, independent angles (unpaired).`,
    `testA/: ${s.testCount} held-out A images; testB/: B at the same angles, own jitter.`,
    "Each folder's angles.json maps file name to angle in degrees.",
    `Content key: ${key}`,
    "",
    "License notice:",
    DEFAULT_DATASET_LICENSE_NOTICE,
    "",
  ].join("\n");
}
