/**
 * TensorBoard's view of a run (`--tensorboard`): `RUN_DIR/tb/` gets an event
 * file with every loss term and the timing as scalars at each iteration, each
 * sample grid as an image at its iteration, and the run's options as text.
 * `tensorboard --logdir RUN_DIR/tb` (or a folder of runs) shows them.
 * @module
 */
import { join } from "node:path";
import { EventFileWriter, type SummaryValue } from "../../ops/formats/tfevents.ts";
import type { IterationRecord, Sink } from "../record.ts";
import { sampleName } from "./sample_sink.ts";

/**
 * A sink writing TensorBoard event files into `dir`. `samplesDir` is where the
 * sample sink (which runs first) writes its grids; each new one is logged as
 * the image `samples` at its iteration.
 *
 * @example
 * ```ts
 * import { tensorboardSink } from "./tensorboard_sink.ts";
 * const dir = await Deno.makeTempDir();
 * const sink = await tensorboardSink(`${dir}/tb`, { lr: 0.0002 }, `${dir}/samples`);
 * await sink.write({
 *   iteration: 1, epoch: 0, secondsPerIteration: 0.1, imagesPerSecond: 80,
 *   losses: { d: 0.7, d_a: 0.7, d_b: 0.7, g: 3, g_gan: 0.7, g_cycle: 0.2 },
 * });
 * await sink.close?.(undefined);
 * ```
 */
export async function tensorboardSink(
  dir: string,
  options: object,
  samplesDir: string,
): Promise<Sink> {
  const writer = await EventFileWriter.create(dir);
  // The text plugin renders Markdown: the options as a code block.
  const text = "    " + JSON.stringify(options, null, 2).split("\n").join("\n    ");
  await writer.write({ step: 0, values: [{ tag: "options", text }] });
  let lastGrid = -1;
  const grid = async (iteration: number): Promise<SummaryValue[]> => {
    if (iteration === lastGrid) return [];
    try {
      const png = await Deno.readFile(join(samplesDir, sampleName(iteration)));
      lastGrid = iteration;
      const view = new DataView(png.buffer, png.byteOffset);
      // The PNG header's IHDR: width and height, big-endian, at bytes 16 and 20.
      return [{ tag: "samples", png, width: view.getUint32(16), height: view.getUint32(20) }];
    } catch {
      return []; // no grid at this iteration
    }
  };
  return {
    async write(r: IterationRecord) {
      const values: SummaryValue[] = [];
      for (const [key, value] of Object.entries(r.losses)) {
        if (typeof value === "number") values.push({ tag: `loss/${key}`, scalar: value });
      }
      values.push(
        { tag: "time/seconds_per_iteration", scalar: r.secondsPerIteration },
        { tag: "time/images_per_second", scalar: r.imagesPerSecond },
      );
      await writer.write({ step: r.iteration, values: [...values, ...await grid(r.iteration)] });
    },
    async close(last) {
      try {
        // The sample sink's last grid, written as it closed.
        const values = last ? await grid(last.iteration) : [];
        if (values.length) await writer.write({ step: last!.iteration, values });
      } finally {
        writer.close();
      }
    },
  };
}
