/**
 * What a run trained on: `RUN_DIR/data.json` lists the image files of each
 * domain (relative to their folders) as the run last found them. A resumed
 * run compares the folders with it and says what changed; the data order
 * then follows from the seed and the new lists, as for any run.
 * @module
 */
import { join, relative } from "node:path";
import { writeFileAtomic } from "../ops/formats/atomic_write.ts";

/** The files of each domain, relative to the domain's folder, in listing order. */
export interface DataManifest {
  /** Folder and files of domain A (paired data: the paired folder). */
  a: { root: string; files: string[] };
  /** Folder and files of domain B (paired data: the paired folder). */
  b: { root: string; files: string[] };
}

/**
 * The manifest of `files` (absolute or relative paths under `roots`).
 *
 * @example
 * ```ts
 * import { dataManifest } from "./data_manifest.ts";
 * const m = dataManifest({ a: "data/A", b: "data/B" }, { a: ["data/A/x.png"], b: ["data/B/y.png"] });
 * console.log(m.a.files); // ["x.png"]
 * ```
 */
export function dataManifest(
  roots: { a: string; b: string },
  files: { readonly a: readonly string[]; readonly b: readonly string[] },
): DataManifest {
  const side = (root: string, list: readonly string[]) => ({
    root,
    files: list.map((f) => relative(root, f)),
  });
  return { a: side(roots.a, files.a), b: side(roots.b, files.b) };
}

/**
 * One line per domain whose files differ between `before` and `after`
 * (counts, and the first few names added and removed); none when equal.
 *
 * @example
 * ```ts
 * import { dataChanges } from "./data_manifest.ts";
 * const before = { a: { root: "A", files: ["1.png", "2.png"] }, b: { root: "B", files: ["3.png"] } };
 * const after = { a: { root: "A", files: ["2.png", "4.png"] }, b: before.b };
 * console.log(dataChanges(before, after)); // ["A (A): 1 added (4.png), 1 removed (1.png); now 2 files"]
 * ```
 */
export function dataChanges(before: DataManifest, after: DataManifest): string[] {
  const lines: string[] = [];
  for (const domain of ["a", "b"] as const) {
    const old = new Set(before[domain].files), now = new Set(after[domain].files);
    const added = after[domain].files.filter((f) => !old.has(f));
    const removed = before[domain].files.filter((f) => !now.has(f));
    const parts = [];
    if (added.length) parts.push(`${added.length} added (${examples(added)})`);
    if (removed.length) parts.push(`${removed.length} removed (${examples(removed)})`);
    if (parts.length) {
      lines.push(
        `${domain.toUpperCase()} (${after[domain].root}): ${parts.join(", ")}; ` +
          `now ${after[domain].files.length} files`,
      );
    }
  }
  return lines;
}

function examples(names: string[]): string {
  return names.slice(0, 3).join(", ") + (names.length > 3 ? ", ..." : "");
}

/**
 * Reads `RUN_DIR/data.json`; undefined when the run has none (a run from
 * before it was written) or it cannot be read.
 *
 * @example
 * ```ts
 * import { readDataManifest } from "./data_manifest.ts";
 * console.log(await readDataManifest(await Deno.makeTempDir())); // undefined
 * ```
 */
export async function readDataManifest(runDir: string): Promise<DataManifest | undefined> {
  try {
    const m = JSON.parse(await Deno.readTextFile(join(runDir, "data.json"))) as DataManifest;
    return Array.isArray(m?.a?.files) && Array.isArray(m?.b?.files) ? m : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Writes `RUN_DIR/data.json` (atomically: a kill leaves the old one or the new one).
 *
 * @example
 * ```ts
 * import { dataManifest, writeDataManifest } from "./data_manifest.ts";
 * const dir = await Deno.makeTempDir();
 * await writeDataManifest(dir, dataManifest({ a: "A", b: "B" }, { a: ["A/1.png"], b: ["B/2.png"] }));
 * ```
 */
export async function writeDataManifest(runDir: string, manifest: DataManifest): Promise<void> {
  await writeFileAtomic(join(runDir, "data.json"), JSON.stringify(manifest) + "\n");
}
