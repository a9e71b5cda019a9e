// `deno task translate`: apply a trained generator to image files.
import { useBackend } from "../ops/runtime/backend.ts";
import { OptionError } from "../pipeline/options.ts";
import { translateFiles } from "../pipeline/translate.ts";
import { generatorFlags, parseFlags } from "./cli_args.ts";

const HELP = `Translate images with a trained DiscoGAN generator.

Usage: deno task translate --checkpoint RUN_OR_CHECKPOINT [--direction ab|ba] --out DIR FILE_OR_DIR...

  --checkpoint PATH   a run directory (its newest checkpoint) or a checkpoint folder
  --direction ab|ba   G_AB (A to B, default) or G_BA
  --out DIR           where the PNGs go (default translated/)
  --backend NAME      auto | wasm | cpu | blas | onednn | webgpu | tensorflow (default auto)
  --help              this text`;

if (import.meta.main) {
  try {
    const { values, positionals } = parseFlags(Deno.args, {
      checkpoint: "string",
      direction: "string",
      out: "string",
      backend: "string",
      help: "boolean",
    });
    if (values.help) {
      console.log(HELP);
      Deno.exit(0);
    }
    const { checkpoint, direction } = generatorFlags(values);
    if (!positionals.length) {
      throw new OptionError("FILE_OR_DIR", "give at least one image or folder");
    }
    await useBackend((values.backend ?? "auto") as "auto");
    const written = await translateFiles(
      checkpoint,
      direction,
      positionals,
      (values.out ?? "translated") as string,
    );
    console.error(`wrote ${written.length} images to ${values.out ?? "translated"}`);
    Deno.exit(0);
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    Deno.exit(e instanceof OptionError ? 2 : 1);
  }
}
