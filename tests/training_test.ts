// Training beyond one iteration: no leaked tensors, other image sizes,
// dropout on and reproducible, the loss options.
import assert from "node:assert/strict";
import { tf } from "../ops/tf.ts";
import { useBackend } from "../ops/runtime/backend.ts";
import { createDiscoGan, disposeDiscoGan } from "../models/discogan.ts";
import { discoGanIteration, type IterationLosses } from "../pipeline/iteration.ts";
import { createTrainingState } from "../pipeline/training_state.ts";

function batch(size: number, n = 1, seed = 1) {
  return {
    realA: tf.randomUniform(
      [n, size, size, 3],
      -1,
      1,
      "float32",
      seed,
    ) as tf.Tensor4D,
    realB: tf.randomUniform(
      [n, size, size, 3],
      -1,
      1,
      "float32",
      seed + 1,
    ) as tf.Tensor4D,
  };
}

Deno.test("20 iterations leave the tensor count unchanged after the first", async () => {
  await useBackend("wasm");
  const state = createTrainingState(createDiscoGan({ ngf: 4, ndf: 4 }));
  const b = batch(64, 2);
  await discoGanIteration(state, b);
  const after1 = tf.memory().numTensors, bytes1 = tf.memory().numBytes;
  for (let i = 1; i < 20; i++) {
    const losses = await discoGanIteration(state, b);
    assert.ok(Number.isFinite(losses.g), `iteration ${i}: g = ${losses.g}`);
  }
  assert.equal(tf.memory().numTensors, after1);
  assert.equal(tf.memory().numBytes, bytes1);
  assert.equal(state.iteration, 20);
  disposeDiscoGan(state.models);
});

for (const size of [128, 256]) {
  Deno.test(`${size} px builds and runs one iteration`, async () => {
    await useBackend("wasm");
    const models = createDiscoGan({ imageSize: size, ngf: 2, ndf: 2 });
    const b = batch(size);
    assert.deepEqual(models.gAB.apply(b.realA).shape, [1, size, size, 3]);
    assert.deepEqual(models.dB.apply(b.realB).shape, [
      1,
      size / 8,
      size / 8,
      1,
    ]);
    const losses = await discoGanIteration(createTrainingState(models), b);
    for (const [k, v] of Object.entries(losses)) {
      assert.ok(Number.isFinite(v), `${k} = ${v}`);
    }
    disposeDiscoGan(models);
  });
}

Deno.test("a size that is not a multiple of 64 is refused, naming the sizes that work", async () => {
  await useBackend("wasm");
  for (const size of [96, 100, 32]) {
    assert.throws(
      () => createDiscoGan({ imageSize: size, ngf: 2, ndf: 2 }),
      (e: Error) => {
        assert.ok(e instanceof RangeError);
        assert.match(
          e.message,
          new RegExp(`${size}x${size}.*multiples of 64 \\(64, 128, 192, 256`),
        );
        return true;
      },
    );
  }
  const g = createDiscoGan({ ngf: 2, ndf: 2 }).gAB;
  assert.throws(() => g.apply(tf.zeros([1, 96, 96, 3])), /multiples of 64/);
  assert.throws(
    () => createDiscoGan({ imageSize: 36, generator: "resnet" }),
    /multiple of 8/,
  );
});

Deno.test("dropout is on in training, off in inference, and replayable from the seed", async () => {
  await useBackend("wasm");
  const { gAB } = createDiscoGan({ ngf: 4, ndf: 4 });
  const x = batch(64).realA;
  const evalOut = gAB.apply(x);
  assert.deepEqual(
    gAB.apply(x).dataSync(),
    evalOut.dataSync(),
    "eval is deterministic",
  );
  const train1 = gAB.apply(x, { training: true, seed: 7 });
  const train2 = gAB.apply(x, { training: true, seed: 7 });
  const train3 = gAB.apply(x, { training: true, seed: 8 });
  assert.deepEqual(
    train1.dataSync(),
    train2.dataSync(),
    "same seed, same masks",
  );
  assert.notDeepEqual(
    train1.dataSync(),
    evalOut.dataSync(),
    "dropout changes the output",
  );
  assert.notDeepEqual(
    train1.dataSync(),
    train3.dataSync(),
    "another seed, other masks",
  );
  tf.disposeVariables();
});

Deno.test("two runs with the same seed give the same losses; options change them", async () => {
  await useBackend("wasm");
  const run = async (
    losses: Record<string, unknown> = {},
  ): Promise<IterationLosses[]> => {
    const state = createTrainingState(
      createDiscoGan({ ngf: 4, ndf: 4, seed: 3 }),
      { seed: 5, losses },
    );
    const out = [];
    for (let i = 0; i < 2; i++) {
      out.push(await discoGanIteration(state, batch(64, 1, 10 + i)));
    }
    disposeDiscoGan(state.models);
    return out;
  };
  const a = await run(), b = await run();
  assert.deepEqual(a, b);
  const hinge = await run({ ganLoss: "hinge", cycleLoss: "l1" });
  assert.notDeepEqual(hinge, a);
  const paired = await run({
    paired: true,
    pixelwiseLoss: "cosine",
    lambdaPixelwise: 2,
  });
  assert.ok(paired.every((l) => typeof l.g_pixelwise === "number"));
  assert.equal(
    a[0].g_pixelwise,
    undefined,
    "no pixelwise term on unpaired data",
  );
  const identity = await run({ lambdaIdentity: 5 });
  assert.ok(identity.every((l) => typeof l.g_identity === "number"));
  assert.ok(identity[0].g > a[0].g, "the identity term adds to the generator loss");
  assert.equal(a[0].g_identity, undefined);
});

Deno.test("the ResNet generator trains too", async () => {
  await useBackend("wasm");
  const models = createDiscoGan({
    generator: "resnet",
    ngf: 4,
    ndf: 4,
    nResidualBlocks: 2,
  });
  const losses = await discoGanIteration(
    createTrainingState(models),
    batch(64),
  );
  assert.ok(Number.isFinite(losses.g));
  disposeDiscoGan(models);
});
