// `deno task export`: a trained generator as an ONNX model.
import { useBackend } from "../ops/runtime/backend.ts";
import { OptionError } from "../pipeline/options.ts";
import { exportOnnxFile } from "../pipeline/export_onnx.ts";
import { generatorFlags, parseFlags } from "./cli_args.ts";

const HELP = `Export a trained DiscoGAN generator as an ONNX model.

Usage: deno task export --checkpoint RUN_OR_CHECKPOINT [--direction ab|ba] [--format onnx] --out FILE.onnx

  --checkpoint PATH   a run directory (its newest checkpoint) or a checkpoint folder
  --direction ab|ba   G_AB (A to B, default) or G_BA
  --format onnx       the model format (onnx, opset 17: the only one)
  --out FILE          where the model goes (written atomically; default g_<direction>.onnx)
  --help              this text

The model takes NCHW float32 images in [-1, 1] ("image": [batch, 3, size, size], any batch)
and returns the translations the same way ("translated"), in inference mode: dropout off,
BatchNorm on its running statistics. Its metadata holds the run's options, the direction and
the value range. Run it with onnxruntime, or in a browser with deno task demo.`;

if (import.meta.main) {
  try {
    const { values } = parseFlags(Deno.args, {
      checkpoint: "string",
      direction: "string",
      format: "string",
      out: "string",
      help: "boolean",
    });
    if (values.help) {
      console.log(HELP);
      Deno.exit(0);
    }
    const { checkpoint, direction } = generatorFlags(values);
    if ((values.format ?? "onnx") !== "onnx") {
      throw new OptionError("--format", `"${values.format}" is not a format here: use onnx`);
    }
    const out = (values.out ?? `g_${direction}.onnx`) as string;
    // Weights are read on the plain cpu backend: no native library is needed to export.
    await useBackend("cpu");
    const model = await exportOnnxFile(checkpoint, direction, out);
    console.error(
      `wrote ${out}: ${model.generator} generator G_${direction.toUpperCase()}, ` +
        `${model.imageSize}x${model.imageSize}, ${model.bytes.length} bytes, from ${model.checkpoint}`,
    );
    Deno.exit(0);
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    Deno.exit(e instanceof OptionError ? 2 : 1);
  }
}
