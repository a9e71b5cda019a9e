/**
 * A trained generator as an ONNX model: `deno task export`. The model runs
 * the checkpoint's G_AB or G_BA in inference mode (dropout off, BatchNorm on
 * its running statistics) on NCHW float32 images in [-1, 1] with a dynamic
 * batch, and carries the run's options in its metadata.
 * @module
 */
import { OnnxGraph } from "../ops/formats/onnx.ts";
import { writeFileAtomic } from "../ops/formats/atomic_write.ts";
import { type Direction, loadGenerator } from "./translate.ts";

/** The names of the exported model's input and output. */
export const ONNX_INPUT = "image", ONNX_OUTPUT = "translated";

/** An exported generator. */
export interface OnnxExport {
  /** The serialised `ModelProto`. */
  bytes: Uint8Array;
  /** The image side the model takes and returns (the run's `imageSize`). */
  imageSize: number;
  /** Image channels. */
  channels: number;
  /** The generator architecture (`--generator`). */
  generator: string;
  /** The checkpoint folder the weights came from. */
  checkpoint: string;
}

/**
 * Builds the ONNX model of a checkpoint's generator (`direction` "ab": G_AB).
 * Input `image` `[batch, channels, size, size]`, output `translated`, both
 * float32 NCHW in [-1, 1]; ONNX opset 17 (`ONNX_OPSET`).
 *
 * @throws {Error} Naming the file when the checkpoint cannot be read.
 *
 * @example
 * ```ts
 * import { exportOnnx } from "./export_onnx.ts";
 * const model = await exportOnnx("runs/example", "ab");
 * await Deno.writeFile("g_ab.onnx", model.bytes);
 * ```
 */
export async function exportOnnx(
  checkpointPath: string,
  direction: Direction,
): Promise<OnnxExport> {
  const { generator, options, checkpoint, dispose } = await loadGenerator(
    checkpointPath,
    direction,
  );
  try {
    if (!generator.toOnnx) {
      throw new Error(`the ${generator.kind} generator has no ONNX export`);
    }
    const size = options.imageSize, channels = 3; // the trainer reads RGB images
    const graph = new OnnxGraph(`discogan_g_${direction}`);
    graph.node("Identity", [generator.toOnnx(graph, ONNX_INPUT)], {}, ONNX_OUTPUT);
    const dims = ["batch", channels, size, size];
    const bytes = graph.encode({
      inputs: [{ name: ONNX_INPUT, dims, docString: "NCHW float32 images in [-1, 1]" }],
      outputs: [{ name: ONNX_OUTPUT, dims, docString: "NCHW float32 images in [-1, 1]" }],
      docString: `DiscoGAN generator G_${direction.toUpperCase()} (${options.generator})`,
      metadata: {
        direction,
        generator: options.generator,
        image_size: String(size),
        channels: String(channels),
        layout: "NCHW",
        value_range: "[-1, 1]",
        checkpoint,
        options: JSON.stringify(options),
      },
    });
    return { bytes, imageSize: size, channels, generator: options.generator, checkpoint };
  } finally {
    dispose();
  }
}

/**
 * Writes {@link exportOnnx}'s model to `out`, atomically: an error leaves
 * nothing there (and an earlier file whole).
 *
 * @example
 * ```ts
 * import { exportOnnxFile } from "./export_onnx.ts";
 * await exportOnnxFile("runs/example", "ba", "g_ba.onnx");
 * ```
 */
export async function exportOnnxFile(
  checkpointPath: string,
  direction: Direction,
  out: string,
): Promise<OnnxExport> {
  const model = await exportOnnx(checkpointPath, direction);
  await writeFileAtomic(out, model.bytes);
  return model;
}
