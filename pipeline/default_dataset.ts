/**
 * The built-in default two-domain dataset: Fluent Emoji rendered as
 * high-contrast line art (domain A) and as flat colour (domain B).
 *
 * Both domains are rendered from the `@iconify-json/fluent-emoji-high-contrast`
 * and `@iconify-json/fluent-emoji-flat` npm packages (MIT, Microsoft
 * Corporation) into `size`×`size` RGB PNGs on a white background, split
 * deterministically into train and held-out test sets by a hash of the emoji
 * name, and cached on disk. Only names that are real icons (not aliases, not
 * hidden) in both sets are used, so A and B files pair up by name.
 *
 * @module
 */

import { basename, dirname, join, resolve } from "node:path";
import sharp from "./sharp.ts";
import { mapPool, settleAll } from "./settle_all.ts";
import { iconBox, type IconifySet } from "./iconify.ts";

/** Paths and counts of a built default dataset. */
export interface DefaultDataset {
  /** Absolute dataset root. */
  root: string;
  /** Directory of domain A (line art) training PNGs. */
  trainA: string;
  /** Directory of domain B (flat colour) training PNGs. */
  trainB: string;
  /** Directory of domain A held-out test PNGs. */
  testA: string;
  /** Directory of domain B held-out test PNGs. */
  testB: string;
  /** Number of emoji (A/B pairs) in each split. */
  counts: { train: number; test: number };
}

/** Options for {@link ensureDefaultDataset}. */
export interface DefaultDatasetOptions {
  /**
   * Dataset root; relative paths resolve against the current working
   * directory. Defaults to {@link DEFAULT_DATASET_ROOT}.
   */
  root?: string;
  /** Output image side length in pixels. Defaults to 64. */
  size?: number;
  /**
   * Render only the first `limit` emoji names (sorted). Meant for tests; use
   * a separate `root` for limited builds (a marker from a build with a
   * different limit is treated as stale and rebuilt).
   */
  limit?: number;
  /** Called after each rendered emoji pair with (done, total). */
  onProgress?: (done: number, total: number) => void;
  /** How many emoji are rendered at once. Defaults to 4. */
  concurrency?: number;
}

/**
 * Default dataset root, relative to the current working directory.
 *
 * @example
 * ```ts
 * import { DEFAULT_DATASET_ROOT } from "./default_dataset.ts";
 * console.log(DEFAULT_DATASET_ROOT); // "data/fluent-emoji-64"
 * ```
 */
export const DEFAULT_DATASET_ROOT: string = "data/fluent-emoji-64";

/**
 * Version of the dataset format/rendering. Bump it to invalidate caches.
 *
 * @example
 * ```ts
 * import { DEFAULT_DATASET_VERSION } from "./default_dataset.ts";
 * console.log(DEFAULT_DATASET_VERSION);
 * ```
 */
export const DEFAULT_DATASET_VERSION: number = 1;

/**
 * Licence notice for the source artwork of the default dataset. It is also
 * written to the dataset's `README.txt`.
 *
 * @example
 * ```ts
 * import { DEFAULT_DATASET_LICENSE_NOTICE } from "./default_dataset.ts";
 * console.log(DEFAULT_DATASET_LICENSE_NOTICE);
 * ```
 */
export const DEFAULT_DATASET_LICENSE_NOTICE: string = [
  "Images are rendered from Fluent Emoji by Microsoft Corporation,",
  "https://github.com/microsoft/fluentui-emoji, licensed under the MIT License",
  "(https://github.com/microsoft/fluentui-emoji/blob/main/LICENSE),",
  "via the npm packages @iconify-json/fluent-emoji-high-contrast and",
  "@iconify-json/fluent-emoji-flat (package licence: MIT).",
  "Copyright (c) Microsoft Corporation.",
].join("\n");

/** Fraction of emoji held out for the test split (1 in `TEST_MODULUS`). */
const TEST_MODULUS = 10;
const MARKER = ".complete";
const SAFE_NAME = /^[a-z0-9][a-z0-9-]*$/;

/**
 * Whether an emoji name belongs to the held-out test split: FNV-1a 32-bit hash
 * of the name modulo 10 equals 0 (about 10% of names). Deterministic and
 * independent of which other names exist.
 *
 * @example
 * ```ts
 * import { isTestName } from "./default_dataset.ts";
 * const split = isTestName("grinning-face") ? "test" : "train";
 * ```
 */
export function isTestName(name: string): boolean {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % TEST_MODULUS === 0;
}

interface PackageInfo {
  name: string;
  version: string;
  license: string;
}

interface IconInfo {
  name: string;
  license?: { title?: string; spdx?: string; url?: string };
  author?: { name?: string; url?: string };
}

interface Source {
  set: IconifySet;
  pkg: PackageInfo;
  info: IconInfo;
}

interface Marker {
  version: number;
  counts: { train: number; test: number };
  size: number;
  limit: number | null;
}

async function loadSources(): Promise<{ a: Source; b: Source }> {
  // Dynamic imports so that a cached dataset never loads the ~12 MB of JSON.
  const [aSet, aPkg, aInfo, bSet, bPkg, bInfo] = await Promise.all([
    import("@iconify-json/fluent-emoji-high-contrast/icons.json", {
      with: { type: "json" },
    }),
    import("@iconify-json/fluent-emoji-high-contrast/package.json", {
      with: { type: "json" },
    }),
    import("@iconify-json/fluent-emoji-high-contrast/info.json", {
      with: { type: "json" },
    }),
    import("@iconify-json/fluent-emoji-flat/icons.json", {
      with: { type: "json" },
    }),
    import("@iconify-json/fluent-emoji-flat/package.json", {
      with: { type: "json" },
    }),
    import("@iconify-json/fluent-emoji-flat/info.json", {
      with: { type: "json" },
    }),
  ]);
  return {
    a: {
      set: aSet.default as unknown as IconifySet,
      pkg: aPkg.default as unknown as PackageInfo,
      info: aInfo.default as unknown as IconInfo,
    },
    b: {
      set: bSet.default as unknown as IconifySet,
      pkg: bPkg.default as unknown as PackageInfo,
      info: bInfo.default as unknown as IconInfo,
    },
  };
}

/**
 * Names that are real (non-alias, non-hidden) icons in both sets, sorted.
 * Aliases are skipped: in these sets they are mirrored or renamed duplicates
 * of another icon, which would leak near-identical images across the split.
 */
function commonNames(a: IconifySet, b: IconifySet): string[] {
  return Object.keys(a.icons)
    .filter((n) =>
      SAFE_NAME.test(n) && Object.hasOwn(b.icons, n) && !a.icons[n].hidden &&
      !b.icons[n].hidden
    )
    .sort();
}

function iconSvg(set: IconifySet, name: string, size: number): string {
  const { body, left, top, width: w, height: h } = iconBox(set, name);
  // Render directly at the target resolution (density 72 => 1 px per user
  // unit), keeping the aspect ratio; the result is padded to a square later.
  const scale = size / Math.max(w, h);
  const pw = Math.max(1, Math.round(w * scale));
  const ph = Math.max(1, Math.round(h * scale));
  return `<svg xmlns="http://www.w3.org/2000/svg" ` +
    `xmlns:xlink="http://www.w3.org/1999/xlink" ` +
    `viewBox="${left} ${top} ${w} ${h}" width="${pw}" height="${ph}" ` +
    `color="#000000">${body}</svg>`;
}

async function renderPng(svg: string, size: number): Promise<Uint8Array> {
  const white = { r: 255, g: 255, b: 255, alpha: 1 };
  const buf = await sharp(new TextEncoder().encode(svg), { density: 72 })
    .resize(size, size, { fit: "contain", background: white })
    .flatten({ background: "#ffffff" })
    .toColourspace("srgb")
    .png()
    .toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

async function readMarker(root: string): Promise<Marker | null> {
  try {
    const m = JSON.parse(await Deno.readTextFile(join(root, MARKER)));
    return m && typeof m === "object" ? m as Marker : null;
  } catch {
    return null;
  }
}

function markerMatches(
  m: Marker | null,
  size: number,
  limit: number | null,
): m is Marker {
  return m !== null && m.version === DEFAULT_DATASET_VERSION &&
    m.size === size && (m.limit ?? null) === limit &&
    typeof m.counts?.train === "number" && typeof m.counts?.test === "number";
}

function datasetAt(root: string, counts: Marker["counts"]): DefaultDataset {
  return {
    root,
    trainA: join(root, "trainA"),
    trainB: join(root, "trainB"),
    testA: join(root, "testA"),
    testB: join(root, "testB"),
    counts: { train: counts.train, test: counts.test },
  };
}

async function removeIfExists(path: string): Promise<void> {
  try {
    await Deno.remove(path, { recursive: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

function pidAlive(pid: number): boolean | null {
  if (Deno.build.os !== "linux") return null;
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/** Removes `<root>.partial-<pid>` / `.stale-<pid>` left by dead builds. */
async function cleanLeftovers(root: string): Promise<void> {
  const prefix = basename(root) + ".";
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dirname(root))];
  } catch {
    return;
  }
  for (const e of entries) {
    if (!e.name.startsWith(prefix)) continue;
    const m = /^(partial|stale)-(\d+)$/.exec(e.name.slice(prefix.length));
    if (!m) continue;
    const pid = Number(m[2]);
    const path = join(dirname(root), e.name);
    let dead = pid === Deno.pid ? true : pidAlive(pid) === false;
    if (!dead && pidAlive(pid) === null) {
      // No cheap liveness check: treat anything older than a day as dead.
      const st = await Deno.stat(path).catch(() => null);
      dead = st?.mtime ? Date.now() - st.mtime.getTime() > 86_400_000 : false;
    }
    if (dead) await removeIfExists(path);
  }
}

function readme(
  a: Source,
  b: Source,
  size: number,
  common: number,
  used: number,
  counts: Marker["counts"],
  limit: number | null,
): string {
  const src = (label: string, s: Source) =>
    `  ${label}: ${s.pkg.name}@${s.pkg.version} (${s.info.name}), ` +
    `package license: ${s.pkg.license}, artwork license: ` +
    `${s.info.license?.spdx ?? s.info.license?.title ?? "unknown"} ` +
    `(${s.info.license?.url ?? "n/a"}), author: ${s.info.author?.name ?? "unknown"}`;
  return [
    "Fluent Emoji two-domain dataset (DiscoGAN default dataset)",
    "",
    "Domain A: high-contrast line art (currentColor rendered black).",
    "Domain B: the same emoji in flat colour.",
    `Images: ${size}x${size} RGB PNG, alpha flattened onto white.`,
    "",
    "Sources:",
    src("A", a),
    src("B", b),
    "",
    `Emoji present (non-alias, non-hidden) in both sets: ${common}`,
    `Emoji rendered: ${used}${limit === null ? "" : ` (limit ${limit})`}`,
    "Aliases are skipped (they duplicate other icons).",
    `Split: test if FNV-1a-32(name) % ${TEST_MODULUS} == 0, else train.`,
    `Counts (A/B pairs): train ${counts.train}, test ${counts.test}`,
    `Layout: trainA/, trainB/, testA/, testB/ with matching <name>.png`,
    `Dataset format version: ${DEFAULT_DATASET_VERSION}`,
    "",
    "License notice:",
    DEFAULT_DATASET_LICENSE_NOTICE,
    "",
  ].join("\n");
}

/**
 * Builds (once) and returns the default two-domain dataset: Fluent Emoji
 * high-contrast line art (A) and flat colour (B), as `size`×`size` RGB PNGs
 * in `trainA/`, `trainB/`, `testA/` and `testB/` under `root`.
 *
 * The dataset is built into `<root>.partial-<pid>`, a `.complete` JSON marker
 * is written last and the directory is then renamed into place, so an
 * interrupted build is detected and rebuilt. If `root` already holds a
 * complete build with the same version, size and limit it is returned without
 * touching any file. Prints nothing; use `onProgress` for progress.
 *
 * @example
 * ```ts
 * import { ensureDefaultDataset } from "./default_dataset.ts";
 * const ds = await ensureDefaultDataset({
 *   onProgress: (done, total) => console.log(`${done}/${total}`),
 * });
 * console.log(ds.trainA, ds.counts.train, ds.counts.test);
 * ```
 */
export async function ensureDefaultDataset(
  options: DefaultDatasetOptions = {},
): Promise<DefaultDataset> {
  const root = resolve(Deno.cwd(), options.root ?? DEFAULT_DATASET_ROOT);
  const size = options.size ?? 64;
  const limit = options.limit ?? null;
  const concurrency = Math.max(1, Math.floor(options.concurrency ?? 4));
  if (!Number.isInteger(size) || size < 1) {
    throw new RangeError(`size must be a positive integer, got ${size}`);
  }
  if (limit !== null && (!Number.isInteger(limit) || limit < 1)) {
    throw new RangeError(`limit must be a positive integer, got ${limit}`);
  }

  const existing = await readMarker(root);
  if (markerMatches(existing, size, limit)) {
    return datasetAt(root, existing.counts);
  }

  await Deno.mkdir(dirname(root), { recursive: true });
  await cleanLeftovers(root);

  const { a, b } = await loadSources();
  const common = commonNames(a.set, b.set);
  const names = limit === null ? common : common.slice(0, limit);

  const partial = `${root}.partial-${Deno.pid}`;
  await removeIfExists(partial);
  const dirs = datasetAt(partial, { train: 0, test: 0 });
  for (const d of [dirs.trainA, dirs.trainB, dirs.testA, dirs.testB]) {
    await Deno.mkdir(d, { recursive: true });
  }

  const counts = { train: 0, test: 0 };
  try {
    let done = 0;
    // A failed icon stops the other renders at their next icon; all are
    // awaited, so no render runs on after this function has returned.
    await mapPool(names, concurrency, async (name) => {
      const test = isTestName(name);
      const [pa, pb] = await settleAll([
        renderPng(iconSvg(a.set, name, size), size),
        renderPng(iconSvg(b.set, name, size), size),
      ]);
      await Promise.all([
        Deno.writeFile(
          join(test ? dirs.testA : dirs.trainA, `${name}.png`),
          pa,
        ),
        Deno.writeFile(
          join(test ? dirs.testB : dirs.trainB, `${name}.png`),
          pb,
        ),
      ]);
      counts[test ? "test" : "train"]++;
      options.onProgress?.(++done, names.length);
    });

    await Deno.writeTextFile(
      join(partial, "README.txt"),
      readme(a, b, size, common.length, names.length, counts, limit),
    );
    const marker: Marker = {
      version: DEFAULT_DATASET_VERSION,
      counts,
      size,
      limit,
    };
    await Deno.writeTextFile(
      join(partial, MARKER),
      JSON.stringify(marker, null, 2) + "\n",
    );
  } catch (e) {
    await removeIfExists(partial);
    throw e;
  }

  // Swap into place. Another process may have finished the same build
  // meanwhile; if so, keep its result and discard ours.
  const raced = await readMarker(root);
  if (markerMatches(raced, size, limit)) {
    await removeIfExists(partial);
    return datasetAt(root, raced.counts);
  }
  const stale = `${root}.stale-${Deno.pid}`;
  let hadOld = false;
  try {
    await Deno.rename(root, stale);
    hadOld = true;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  try {
    await Deno.rename(partial, root);
  } catch (e) {
    const now = await readMarker(root);
    await removeIfExists(partial);
    if (markerMatches(now, size, limit)) return datasetAt(root, now.counts);
    throw e;
  } finally {
    if (hadOld) await removeIfExists(stale);
  }
  return datasetAt(root, counts);
}
