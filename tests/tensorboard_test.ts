// --tensorboard: TensorBoard's own reader (pip's tensorboard) reads the event
// files of a tiny run back: the losses of metrics.jsonl at the same steps, the
// sample grids as the same PNGs, the options as text.
import { tinyDataset } from "./tiny_data.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import { readMetrics } from "../pipeline/sinks/metrics_sink.ts";
import { sampleName } from "../pipeline/sinks/sample_sink.ts";
import { disposeTrainResult, train } from "../pipeline/train.ts";

import { missing } from "./native.ts";

const noTensorBoard = await missing("tensorboard", "tests/tensorboard_test.ts");
const READER = new URL("./tools/read_tfevents.py", import.meta.url).pathname;

interface Read {
  scalars: Record<string, [number, number][]>;
  images: Record<string, [number, number, number, string][]>;
  texts: Record<string, [number, string[]][]>;
}

Deno.test({
  name: "TensorBoard reads back a run's losses, timing, sample grids and options",
  ignore: noTensorBoard,
}, async () => {
  const data = await tinyDataset(8);
  const runDir = join(await Deno.makeTempDir(), "run");
  const result = await train({
    dataA: data.trainA,
    dataB: data.trainB,
    ngf: 4,
    ndf: 4,
    batchSize: 2,
    iterations: 5,
    sampleEvery: 2,
    backend: "cpu",
    tensorboard: true,
    runDir,
  }, { quiet: true, log: () => {} });
  disposeTrainResult(result);

  const { code, stdout, stderr } = await new Deno.Command("python3", {
    args: [READER, join(runDir, "tb")],
    stdin: "null",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  const read: Read = JSON.parse(new TextDecoder().decode(stdout));

  const metrics = await readMetrics(join(runDir, "metrics.jsonl"));
  assert.equal(metrics.length, 5);
  for (const key of ["d", "d_a", "d_b", "g", "g_gan", "g_cycle"]) {
    const points = read.scalars[`loss/${key}`];
    assert.ok(points, `loss/${key} is in the event file`);
    assert.deepEqual(points.map(([step]) => step), [1, 2, 3, 4, 5]);
    // Stored as float32 (simple_value), so compared at float32 precision.
    points.forEach(([step, value], i) =>
      assert.equal(value, Math.fround(metrics[i][key] as number), `${key} at step ${step}`)
    );
  }
  assert.equal(read.scalars["time/seconds_per_iteration"]?.length, 5);
  assert.equal(read.scalars["time/images_per_second"]?.length, 5);

  // Grids at 2, 4 and the last iteration, byte for byte the PNGs in samples/.
  const images = read.images["samples"];
  assert.deepEqual(images.map(([step]) => step), [2, 4, 5]);
  for (const [step, width, height, base64] of images) {
    const png = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    assert.deepEqual(png, await Deno.readFile(join(runDir, "samples", sampleName(step))));
    assert.ok(width > 0 && height > 0);
  }
  const [[, [text]]] = read.texts["options"];
  assert.match(text, /"tensorboard": true/);
  assert.match(text, /"batchSize": 2/);
});
