// The paper preset end to end: BatchNorm statistics saved in checkpoints, an
// exact resume across the alternating D/G schedule, translate in eval mode.
import assert from "node:assert/strict";
import { join } from "node:path";
import { readSafetensors } from "../ops/formats/safetensors.ts";
import { ensureDefaultDataset } from "../pipeline/default_dataset.ts";
import { listCheckpoints } from "../pipeline/checkpoint.ts";
import { readMetrics } from "../pipeline/sinks/metrics_sink.ts";
import { disposeTrainResult, train } from "../pipeline/train.ts";
import { translateFiles } from "../pipeline/translate.ts";
import type { TrainOptions } from "../pipeline/options.ts";

const quiet = { quiet: true, log: () => {} };

Deno.test("the paper preset trains, resumes exactly and translates with running statistics", async () => {
  const data = await ensureDefaultDataset({
    root: join(await Deno.makeTempDir(), "emoji"),
    limit: 24,
  });
  const options: Partial<TrainOptions> = {
    preset: "paper",
    dataA: data.trainA,
    dataB: data.trainB,
    ngf: 4,
    ndf: 4,
    batchSize: 3,
    ganCurriculum: 3, // both rates within the run
    poolSize: 4, // the pools, on the one-side schedule, resume exactly too
    cycleNoise: 0.05, // and so does the seeded noise on the way back
    backend: "cpu",
    seed: 2,
    sampleEvery: 0,
    checkpointEvery: 4,
  };
  const tmp = await Deno.makeTempDir();
  const straight = await train({ ...options, iterations: 8, runDir: join(tmp, "a") }, quiet);
  disposeTrainResult(straight);
  const first = await train({ ...options, iterations: 4, runDir: join(tmp, "b") }, quiet);
  disposeTrainResult(first);
  const resumed = await train({ iterations: 8 }, { ...quiet, resume: join(tmp, "b") });
  disposeTrainResult(resumed);

  const a = await readMetrics(join(tmp, "a", "metrics.jsonl"));
  const b = await readMetrics(join(tmp, "b", "metrics.jsonl"));
  assert.deepEqual(b.map((m) => m.iteration), [1, 2, 3, 4, 5, 6, 7, 8]);
  for (let i = 0; i < 8; i++) {
    for (const key of ["d", "d_a", "d_b", "g", "g_gan", "g_cycle", "g_fm"]) {
      assert.ok(Number.isFinite(a[i][key]), `${key} at ${i + 1}`);
      assert.equal(b[i][key], a[i][key], `${key} at iteration ${i + 1}: resumed vs straight`);
    }
  }

  const last = (await listCheckpoints(join(tmp, "b", "checkpoints"))).at(-1) as string;
  const gab = await readSafetensors(join(last, "g_ab.safetensors"));
  const mean = gab.tensors.get("main.3.running_mean");
  assert.ok(mean, "BatchNorm's running mean is in the checkpoint, under PyTorch's name");
  assert.ok(gab.tensors.has("main.3.num_batches_tracked"));

  // Eval mode: each image is translated alone, by the running statistics, so
  // a batch of one and a batch of many give the same pixels.
  const one = await translateFiles(join(tmp, "b"), "ab", [data.testA], join(tmp, "one"), {
    batchSize: 1,
  });
  const many = await translateFiles(join(tmp, "b"), "ab", [data.testA], join(tmp, "many"), {
    batchSize: 8,
  });
  assert.equal(one.length, many.length);
  const bytes = (f: string) => Deno.readFile(f);
  for (let i = 0; i < one.length; i++) {
    assert.deepEqual(await bytes(one[i]), await bytes(many[i]), one[i]);
  }
});
