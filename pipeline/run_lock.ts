/**
 * One writer per run directory. A run holds an exclusive lock on
 * `RUN_DIR/.lock` (the kernel's `flock`) while it writes there; a second
 * `train` or `train --resume` on the same directory is refused, naming the
 * process that holds it. The kernel drops the lock when its process ends, by a
 * kill too, so a lock is never left behind: the file of a dead process is only
 * a note, and the next run takes it over.
 * @module
 */
import { join } from "node:path";

/** Who holds (or last held) a run directory's lock, as written in the lock file. */
export interface LockHolder {
  /** Process id. */
  pid: number;
  /** Host name. */
  host: string;
  /** When it took the lock (ISO 8601). */
  since: string;
  /** Its command line. */
  command: string;
}

/** A held lock; `release` (or the end of the process) lets the next run in. */
export interface RunLock {
  /** The lock file. */
  path: string;
  /** The holder before this one, when it ended without releasing (killed): taken over. */
  takenOverFrom?: LockHolder;
  /** Releases the lock. Idempotent. */
  release(): void;
}

/** Thrown when another live process holds the lock. */
export class RunDirBusyError extends Error {
  /**
   * The error for run directory `root`, held by `holder` (what the lock file
   * says, when readable).
   *
   * @example
   * ```ts
   * import { RunDirBusyError } from "./run_lock.ts";
   * console.log(new RunDirBusyError("runs/x", undefined).message); // "runs/x is being written by another process: ..."
   * ```
   */
  constructor(readonly root: string, readonly holder: LockHolder | undefined) {
    const who = holder
      ? `process ${holder.pid} on ${holder.host} (\`${holder.command}\`, since ${holder.since})`
      : "another process";
    super(
      `${root} is being written by ${who}: wait for it to finish or stop it, ` +
        `or choose another --run-dir`,
    );
    this.name = "RunDirBusyError";
  }
}

/**
 * Takes the lock of run directory `root` (which must exist), or throws
 * {@link RunDirBusyError} naming the live process that holds it.
 *
 * @example
 * ```ts
 * import { lockRunDir } from "./run_lock.ts";
 * const root = await Deno.makeTempDir();
 * const lock = await lockRunDir(root);
 * await lockRunDir(root).catch((e) => console.log(e.name)); // "RunDirBusyError"
 * lock.release();
 * ```
 */
export async function lockRunDir(root: string): Promise<RunLock> {
  const path = join(root, ".lock");
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true, write: true, create: true });
  } catch (e) {
    throw new Error(
      `cannot open the lock file ${path}: ${(e as Error).message}. Choose a writable --run-dir.`,
    );
  }
  const previous = await readLockHolder(root);
  if (!await file.tryLock(true)) {
    file.close();
    throw new RunDirBusyError(root, previous);
  }
  const me: LockHolder = {
    pid: Deno.pid,
    host: Deno.hostname(),
    since: new Date().toISOString(),
    command: ["deno", ...Deno.args].join(" "),
  };
  await file.truncate(0);
  await file.seek(0, Deno.SeekMode.Start);
  await file.write(new TextEncoder().encode(JSON.stringify(me) + "\n"));
  let held = true;
  return {
    path,
    // A holder that wrote its note and is gone without releasing was killed.
    takenOverFrom: previous && previous.pid !== 0 ? previous : undefined,
    release() {
      if (!held) return;
      held = false;
      try {
        // Cleared first: a note with pid 0 says the last holder ended cleanly.
        file.truncateSync(0);
        file.seekSync(0, Deno.SeekMode.Start);
        file.writeSync(new TextEncoder().encode(JSON.stringify({ ...me, pid: 0 }) + "\n"));
        file.unlockSync();
      } finally {
        file.close();
      }
    },
  };
}

/**
 * What the lock note of run directory `root` says of its holder (pid 0: the
 * last holder released it); undefined when there is no readable note.
 *
 * @example
 * ```ts
 * import { readLockHolder } from "./run_lock.ts";
 * console.log(await readLockHolder(await Deno.makeTempDir())); // undefined
 * ```
 */
export async function readLockHolder(root: string): Promise<LockHolder | undefined> {
  try {
    const holder = JSON.parse(await Deno.readTextFile(join(root, ".lock"))) as LockHolder;
    return Number.isInteger(holder.pid) ? holder : undefined;
  } catch {
    return undefined; // empty (new) or unreadable: nothing to name
  }
}
