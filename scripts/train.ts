// `deno task train`: the command line of a training run.
import { OptionError, TRAIN_OPTIONS, type TrainOptions } from "../pipeline/options.ts";
import { flagKinds, optionHelp } from "../models/options.ts";
import { train } from "../pipeline/train.ts";
import { torchCommand } from "../pipeline/torch_command.ts";
import { type FlagKind, parseFlags } from "./cli_args.ts";

// Every training option's flag and help line come from the options table;
// only the flags of this command itself are written here.
const HELP = `Train DiscoGAN: learn to translate images between two domains.

Usage: deno task train [options]
With no data options, trains on the built-in dataset (emoji line art -> flat colour, 64 px).

${optionHelp(TRAIN_OPTIONS)}
Run
  --resume DIR           continue the run in DIR from its newest checkpoint
                         (with --iterations/--epochs to train it longer)
  --export-torch DIR     print the torchrun command that continues the run in DIR on
                         PyTorch (scripts/torch/train_ddp.py; see the README), and exit
  --nproc N              with --export-torch: processes (GPUs) on the machine (default 1)
  --quiet                no progress bar
  --help                 this text

Ctrl-C stops after the current iteration and saves a checkpoint.`;

const FLAGS: Record<string, FlagKind> = {
  ...flagKinds(TRAIN_OPTIONS),
  resume: "string",
  exportTorch: "string",
  nproc: "number",
  quiet: "boolean",
  help: "boolean",
};

if (import.meta.main) {
  try {
    const { values, positionals } = parseFlags(Deno.args, FLAGS);
    if (values.help) {
      console.log(HELP);
      Deno.exit(0);
    }
    if (positionals.length) {
      throw new OptionError(
        positionals[0],
        "unexpected argument; options start with -- (see --help)",
      );
    }
    const { resume, quiet, exportTorch, nproc, help: _, ...options } = values;
    if (exportTorch) {
      console.log(
        await torchCommand(exportTorch as string, {
          nproc: (nproc ?? 1) as number,
          iterations: options.iterations as number | undefined,
        }),
      );
      Deno.exit(0);
    }
    const stop = new AbortController();
    const onInterrupt = () => {
      if (stop.signal.aborted) Deno.exit(130); // a second Ctrl-C does not wait
      console.error(
        "\nstopping after this iteration and saving a checkpoint (Ctrl-C again to quit)",
      );
      stop.abort();
    };
    Deno.addSignalListener("SIGINT", onInterrupt);
    const result = await train(options as Partial<TrainOptions>, {
      resume: resume as string | undefined,
      quiet: quiet as boolean | undefined,
      signal: stop.signal,
    });
    Deno.removeSignalListener("SIGINT", onInterrupt);
    console.error(
      `done: ${result.state.iteration}/${result.totalIterations} iterations in ${result.runDir} ` +
        `(samples/, checkpoints/, metrics.jsonl)`,
    );
    Deno.exit(0); // the wasm backend's worker would keep the process alive
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    Deno.exit(e instanceof OptionError ? 2 : 1);
  }
}
