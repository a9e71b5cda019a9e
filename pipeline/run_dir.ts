/**
 * The run directory: `options.json`, `metrics.jsonl`, `samples/`,
 * `checkpoints/`: everything a run wrote, and all that resuming needs.
 * @module
 */
import { join } from "node:path";
import { writeFileAtomic } from "../ops/formats/atomic_write.ts";
import type { TrainOptions } from "./options.ts";

/** The paths of a run directory. */
export interface RunDir {
  /** The directory. */
  root: string;
  /** The options the run was started with. */
  options: string;
  /** One JSON line per iteration. */
  metrics: string;
  /** Sample grids. */
  samples: string;
  /** Checkpoint folders. */
  checkpoints: string;
}

/**
 * The paths of the run directory `root`.
 *
 * @example
 * ```ts
 * import { runDirPaths } from "./run_dir.ts";
 * console.log(runDirPaths("runs/x").metrics); // "runs/x/metrics.jsonl"
 * ```
 */
export function runDirPaths(root: string): RunDir {
  return {
    root,
    options: join(root, "options.json"),
    metrics: join(root, "metrics.jsonl"),
    samples: join(root, "samples"),
    checkpoints: join(root, "checkpoints"),
  };
}

/**
 * A fresh run directory name under `runs/`: the date and time, e.g. `runs/2026-11-28_0612`.
 *
 * @example
 * ```ts
 * import { defaultRunDir } from "./run_dir.ts";
 * console.log(defaultRunDir(new Date(2026, 10, 28, 6, 12, 0))); // "runs/2026-11-28_061200"
 * ```
 */
export function defaultRunDir(now: Date = new Date()): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `runs/${now.getFullYear()}-${p(now.getMonth() + 1)}-${p(now.getDate())}_` +
    `${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}`;
}

/**
 * Creates a run directory for a new run and writes its `options.json`.
 * Refuses a directory that already holds a run, or that cannot be written.
 *
 * @example
 * ```ts
 * import { createRunDir } from "./run_dir.ts";
 * import { resolveTrainOptions } from "./options.ts";
 * const root = await Deno.makeTempDir();
 * await createRunDir(`${root}/run`, resolveTrainOptions({ runDir: `${root}/run` }));
 * ```
 */
export async function createRunDir(root: string, options: TrainOptions): Promise<RunDir> {
  const run = runDirPaths(root);
  const exists = await Deno.stat(run.options).then(() => true, () => false);
  if (exists) {
    throw new Error(
      `${root} already holds a run: pass --resume ${root} to continue it, or choose another --run-dir`,
    );
  }
  try {
    await Deno.mkdir(run.samples, { recursive: true });
    await Deno.mkdir(run.checkpoints, { recursive: true });
    await writeFileAtomic(run.options, JSON.stringify(options, null, 2) + "\n");
  } catch (e) {
    throw new Error(
      `cannot create the run directory ${root}: ${
        (e as Error).message
      }. Choose a writable --run-dir.`,
    );
  }
  return run;
}

/**
 * Reads the options a run was started with.
 *
 * @example
 * ```ts
 * import { readRunOptions } from "./run_dir.ts";
 * const options = await readRunOptions("runs/2026-11-28_061200");
 * ```
 */
export async function readRunOptions(root: string): Promise<TrainOptions> {
  const path = runDirPaths(root).options;
  try {
    return JSON.parse(await Deno.readTextFile(path)) as TrainOptions;
  } catch (e) {
    throw new Error(
      `${path}: cannot read the run's options (${
        (e as Error).message
      }); is ${root} a run directory?`,
    );
  }
}

/**
 * The name of what a run writes at `iteration`: `iter_` and seven digits,
 * shared by checkpoint folders and sample grids so they sort and pair up.
 *
 * @example
 * ```ts
 * import { iterationName } from "./run_dir.ts";
 * console.log(iterationName(500)); // "iter_0000500"
 * ```
 */
export function iterationName(iteration: number): string {
  return `iter_${String(iteration).padStart(7, "0")}`;
}
