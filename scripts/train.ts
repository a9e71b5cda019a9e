// `deno task train`: the command line of a training run.
import { DEFAULT_TRAIN_OPTIONS, OptionError, type TrainOptions } from "../pipeline/options.ts";
import { train } from "../pipeline/train.ts";
import { type FlagKind, parseFlags } from "./cli_args.ts";

const d = DEFAULT_TRAIN_OPTIONS;
const HELP = `Train DiscoGAN: learn to translate images between two domains.

Usage: deno task train [options]
With no data options, trains on the built-in dataset (emoji line art -> flat colour, 64 px).

Data
  --data-a DIR            folder of domain A images (any format sharp reads)
  --data-b DIR            folder of domain B images
  --paired DIR            folder of side-by-side A|B images (enables the pixelwise loss)
  --image-size N          image side, a multiple of 64 for the U-Net (default ${d.imageSize})
  --load-size N           resize to N, then random-crop --image-size (default: image size)
  --no-flip               no random horizontal flips
  --prefetch N            batches decoded ahead (default ${d.prefetch})
Training
  --batch-size N          images per domain per iteration (default ${d.batchSize})
  --iterations N          iterations to train (default ${d.iterations})
  --epochs N              or epochs (passes over the larger domain)
  --lr X --beta1 X --beta2 X   Adam (default ${d.lr}, ${d.beta1}, ${d.beta2})
  --lambda-cycle X        weight of the cycle loss (default ${d.lambdaCycle})
  --lambda-pixelwise X    weight of the pixelwise loss, paired data (default ${d.lambdaPixelwise})
  --lambda-identity X     weight of CycleGAN's identity loss, 0 = DiscoGAN (default ${d.lambdaIdentity})
  --gan-loss NAME         bce | lsgan | hinge (default ${d.ganLoss})
  --cycle-loss NAME       l2 | l1 | cosine | hinge (default ${d.cycleLoss})
  --pixelwise-loss NAME   l2 | l1 | cosine | hinge (default ${d.pixelwiseLoss})
  --seed N                initialisation, data order and dropout (default ${d.seed})
  --on-non-finite WHAT    stop | skip: on a NaN/infinite loss stop the run (the last good
                          checkpoint stays), or skip the batch (default ${d.onNonFinite})
Networks
  --generator NAME        unet | resnet (default ${d.generator})
  --ngf N --ndf N         generator and discriminator widths (default ${d.ngf}, ${d.ndf}; 64 = the paper's)
  --n-residual-blocks N   ResNet generator blocks (default ${d.nResidualBlocks})
  --backend NAME          auto | wasm | cpu | blas | onednn | webgpu | tensorflow (default ${d.backend})
Output
  --run-dir DIR           where options.json, metrics.jsonl, samples/, checkpoints/ go
                          (default runs/DATE_TIME)
  --sample-every N        sample grid every N iterations, 0 never (default ${d.sampleEvery})
  --checkpoint-every N    checkpoint every N iterations, 0 only at the end (default ${d.checkpointEvery})
  --keep-checkpoints N    newest checkpoints kept (default ${d.keepCheckpoints})
  --resume DIR            continue the run in DIR from its newest checkpoint
                          (with --iterations/--epochs to train it longer)
  --quiet                 no progress bar
  --help                  this text

Ctrl-C stops after the current iteration and saves a checkpoint.`;

const FLAGS: Record<string, FlagKind> = {
  dataA: "string",
  dataB: "string",
  paired: "string",
  imageSize: "number",
  loadSize: "number",
  flip: "boolean",
  prefetch: "number",
  batchSize: "number",
  iterations: "number",
  epochs: "number",
  lr: "number",
  beta1: "number",
  beta2: "number",
  lambdaCycle: "number",
  lambdaPixelwise: "number",
  lambdaIdentity: "number",
  onNonFinite: "string",
  ganLoss: "string",
  cycleLoss: "string",
  pixelwiseLoss: "string",
  seed: "number",
  generator: "string",
  ngf: "number",
  ndf: "number",
  nResidualBlocks: "number",
  backend: "string",
  runDir: "string",
  sampleEvery: "number",
  checkpointEvery: "number",
  keepCheckpoints: "number",
  resume: "string",
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
    const { resume, quiet, help: _, ...options } = values;
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
