// Sizes that do not fit: refused before training with the estimate and what to
// change; the estimate errs high, not low, against a measured iteration.
import { tinyDataset } from "./tiny_data.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import { tf } from "../ops/tf.ts";
import { useBackend } from "../ops/runtime/backend.ts";
import { createDiscoGan, disposeDiscoGan } from "../models/discogan.ts";
import { discoGanIteration } from "../pipeline/iteration.ts";
import { estimateTrainingMemory, MEMORY_MODEL, MemoryFitError } from "../pipeline/memory_check.ts";
import { train } from "../pipeline/train.ts";
import { createTrainingState } from "../pipeline/training_state.ts";

Deno.test("a batch that will not fit the wasm heap is refused before anything is written", async () => {
  const data = await tinyDataset(4);
  const runDir = join(await Deno.makeTempDir(), "run");
  await assert.rejects(
    train({
      dataA: data.trainA,
      dataB: data.trainB,
      imageSize: 512,
      batchSize: 64,
      ngf: 16,
      ndf: 16,
      backend: "wasm",
      runDir,
    }, { quiet: true, log: () => {} }),
    (e) =>
      e instanceof MemoryFitError &&
      /--image-size 512 with --batch-size 64 needs about [\d.]+ GiB/.test(e.message) &&
      /wasm backend's 4 GiB heap/.test(e.message) &&
      /lower --batch-size to \d+ or less/.test(e.message),
  );
  assert.equal(await Deno.stat(runDir).then(() => true, () => false), false, "no run directory");
});

const PAIRS = [["unet", "patchgan"], ["resnet", "paper"], ["paper", "paper"]] as const;
for (const [generator, discriminator] of PAIRS) {
  Deno.test(`the memory estimate of ${generator} + ${discriminator} is above a measured iteration, within 3x`, async () => {
    await useBackend("cpu");
    const base = tf.memory().numBytes;
    const models = createDiscoGan({ generator, discriminator, ngf: 8, ndf: 8, imageSize: 64 });
    const batch = 4;
    const estimate = await estimateTrainingMemory(models, 64, batch);
    const state = createTrainingState(models);
    const x = () => tf.randomUniform([batch, 64, 64, 3], -1, 1) as tf.Tensor4D;
    const b = { realA: x(), realB: x() };
    await discoGanIteration(state, b); // Adam's moments exist from here on
    const profile = await tf.profile(async () => void await discoGanIteration(state, b));
    const measured = profile.peakBytes - base;
    const estimated = estimate.total - MEMORY_MODEL.runtimeBytes;
    assert.ok(
      estimated >= measured && estimated <= 3 * measured,
      `estimate ${estimated} bytes, measured peak ${measured}`,
    );
    tf.dispose([b.realA, b.realB]);
    disposeDiscoGan(models);
  });
}

Deno.test("the estimate runs the bottleneck generator, and leaves BatchNorm's statistics alone", async () => {
  const models = createDiscoGan({
    generator: "paper",
    discriminator: "paper",
    bottleneck: true,
    ngf: 4,
    ndf: 4,
  });
  const read = async () => {
    const out: number[] = [];
    for (const net of [models.gAB, models.dA]) {
      for (const v of net.buffers?.values() ?? []) out.push(...await v.data());
    }
    return out;
  };
  const before = await read();
  const e = await estimateTrainingMemory(models, 64, 16);
  assert.ok(e.perImage > 0);
  assert.deepEqual(await read(), before);
  disposeDiscoGan(models);
});
