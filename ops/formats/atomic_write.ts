/**
 * Crash-safe file writes: the target path holds either its previous contents
 * or the complete new contents, never a partial file, even if the process is
 * killed or the machine loses power mid-write.
 *
 * @module
 */

import { basename, dirname, join } from "node:path";

/** Readable cause for the errors people actually hit when saving files. */
function describeCause(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  const code = (e as { code?: unknown } | null)?.code;
  const hint = code === "ENOSPC"
    ? "disk full"
    : code === "EDQUOT"
    ? "disk quota exceeded"
    : code === "EROFS"
    ? "read-only file system"
    : e instanceof Deno.errors.NotFound
    ? "no such file or directory (does the parent directory exist?)"
    : e instanceof Deno.errors.PermissionDenied
    ? "permission denied"
    : e instanceof Deno.errors.IsADirectory
    ? "the target is a directory"
    : undefined;
  return hint ? `${hint} (${message})` : message;
}

/** Temp file next to the target: rename(2) is only atomic within one file system. */
function tempPathFor(path: string): string {
  const tag = crypto.randomUUID().slice(0, 8);
  return join(dirname(path), `.${basename(path)}.${Deno.pid}.${tag}.tmp`);
}

function toBytes(data: Uint8Array | string): Uint8Array {
  return typeof data === "string" ? new TextEncoder().encode(data) : data;
}

function failure(path: string, e: unknown): Error {
  return new Error(`cannot write ${path}: ${describeCause(e)}`, { cause: e });
}

/**
 * Atomically replaces `path` with `data`.
 *
 * Writes a temp file in the same directory, fsyncs it, renames it over the
 * target and then (best effort) fsyncs the directory so the rename itself is
 * durable. On failure the temp file is removed, the previous file is left
 * untouched, and the error message names the target and the cause (for
 * example "disk full").
 *
 * @param path File to create or replace.
 * @param data Bytes, or a string written as UTF-8.
 * @returns Resolves once the new contents are durably in place.
 *
 * @example Save a checkpoint without risking a torn file
 * ```ts
 * import { writeFileAtomic } from "./atomic_write.ts";
 *
 * const dir = await Deno.makeTempDir();
 * await writeFileAtomic(`${dir}/state.json`, JSON.stringify({ step: 100 }));
 * console.log(await Deno.readTextFile(`${dir}/state.json`)); // {"step":100}
 * ```
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
): Promise<void> {
  const bytes = toBytes(data);
  const tmp = tempPathFor(path);
  try {
    const file = await Deno.open(tmp, { write: true, createNew: true });
    try {
      // write() may be partial; loop until every byte is handed to the OS.
      for (let off = 0; off < bytes.length;) {
        off += await file.write(bytes.subarray(off));
      }
      // Without this the rename can reach disk before the data does, and a
      // power loss would leave an empty or partial file under the real name.
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw failure(path, e);
  }
  try {
    const dir = await Deno.open(dirname(path), { read: true });
    try {
      await dir.sync();
    } finally {
      dir.close();
    }
  } catch {
    // Not every platform or file system lets a directory be fsynced; the
    // data is already safe, only the rename's durability is less certain.
  }
}

/**
 * Synchronous variant of {@linkcode writeFileAtomic}, with the same
 * guarantees.
 *
 * @param path File to create or replace.
 * @param data Bytes, or a string written as UTF-8.
 *
 * @example Write a small file synchronously
 * ```ts
 * import { writeFileAtomicSync } from "./atomic_write.ts";
 *
 * const dir = Deno.makeTempDirSync();
 * writeFileAtomicSync(`${dir}/note.txt`, "hello");
 * console.log(Deno.readTextFileSync(`${dir}/note.txt`)); // hello
 * ```
 */
export function writeFileAtomicSync(
  path: string,
  data: Uint8Array | string,
): void {
  const bytes = toBytes(data);
  const tmp = tempPathFor(path);
  try {
    const file = Deno.openSync(tmp, { write: true, createNew: true });
    try {
      for (let off = 0; off < bytes.length;) {
        off += file.writeSync(bytes.subarray(off));
      }
      file.syncSync();
    } finally {
      file.close();
    }
    Deno.renameSync(tmp, path);
  } catch (e) {
    try {
      Deno.removeSync(tmp);
    } catch {
      // The temp file was never created, or was already renamed.
    }
    throw failure(path, e);
  }
  try {
    const dir = Deno.openSync(dirname(path), { read: true });
    try {
      dir.syncSync();
    } finally {
      dir.close();
    }
  } catch {
    // Best effort, as in writeFileAtomic.
  }
}
