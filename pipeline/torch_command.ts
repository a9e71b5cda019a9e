/**
 * The command line that continues a run in PyTorch (`scripts/torch/train_ddp.py` under
 * `torchrun`): what `deno task train --export-torch RUN_DIR` prints.
 * @module
 */
import { resolve } from "node:path";
import { listCheckpoints } from "./checkpoint.ts";
import { readRunOptions, runDirPaths } from "./run_dir.ts";
import { OptionError } from "./options.ts";

/** How the PyTorch continuation runs. */
export interface TorchCommandOptions {
  /** Processes on this machine (one per GPU); each takes its rows of every batch. */
  nproc: number;
  /** The iteration count to reach (default: the run's own). */
  iterations?: number;
}

const SCRIPTS = new URL("../scripts/torch/", import.meta.url).pathname;

/**
 * The `torchrun` command line for `runDir` on one machine. Throws naming the
 * run directory when it has no checkpoint to continue from, and an
 * OptionError when `nproc` does not divide the run's batch.
 *
 * @example
 * ```ts
 * import { torchCommand } from "./torch_command.ts";
 * console.log(await torchCommand("runs/example", { nproc: 4 }));
 * // torchrun --standalone --nproc_per_node 4 /…/scripts/torch/train_ddp.py /…/runs/example
 * ```
 */
export async function torchCommand(runDir: string, options: TorchCommandOptions): Promise<string> {
  const o = await readRunOptions(runDir);
  if (!(await listCheckpoints(runDirPaths(runDir).checkpoints)).length) {
    throw new Error(
      `${runDir} has no checkpoint yet: PyTorch continues from one (train it here for at ` +
        "least one checkpoint first)",
    );
  }
  const { nproc } = options;
  if (!Number.isInteger(nproc) || nproc < 1 || o.batchSize % nproc !== 0) {
    throw new OptionError(
      "--nproc",
      `${nproc} processes cannot share the run's batch of ${o.batchSize}: choose a divisor`,
    );
  }
  const args = [
    "torchrun",
    "--standalone",
    "--nproc_per_node",
    String(nproc),
    `${SCRIPTS}train_ddp.py`,
    resolve(runDir),
    ...(options.iterations ? ["--iterations", String(options.iterations)] : []),
  ];
  return args.map((a) => /^[\w./:=-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`)
    .join(" ");
}
