// The step schedule: a decaying learning rate, Adam's weight decay, and the
// discriminator update interval.
import assert from "node:assert/strict";
import { tf } from "../ops/tf.ts";
import { useBackend } from "../ops/runtime/backend.ts";
import { Adam, DISCOGAN_ADAM } from "../ops/adam.ts";
import { minimize } from "../ops/minimize.ts";
import { createDiscoGan } from "../models/discogan.ts";
import { createTrainingState, learningRate } from "../pipeline/training_state.ts";
import { discoGanIteration } from "../pipeline/iteration.ts";

Deno.test("the learning rate is constant, then falls in a straight line to 0", () => {
  assert.equal(learningRate(2e-4, 0, 1000, 0), 2e-4, "no decay");
  assert.equal(learningRate(2e-4, 899, 1000, 100), 2e-4);
  const near = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-15, `${a} vs ${b}`);
  near(learningRate(2e-4, 950, 1000, 100), 1e-4);
  near(learningRate(2e-4, 999, 1000, 100), 2e-6);
  assert.equal(learningRate(2e-4, 1200, 1000, 100), 0, "past the end");
  assert.equal(learningRate(2e-4, 5, Infinity, 100), 2e-4, "an open-ended run does not decay");
});

Deno.test("weight decay adds wd·param to each gradient before Adam, eager or not", async () => {
  await useBackend("cpu");
  for (const eager of [false, true]) {
    const w = tf.variable(tf.tensor1d([0.5, -2]));
    const params = new Map([["w", w]]);
    await minimize(
      params,
      new Adam(params, { ...DISCOGAN_ADAM, lr: 0.1 }),
      { eager, weightDecay: 0.01 },
      () => ({ total: tf.sum(tf.mul(w, tf.tensor1d([3, 1]))) as tf.Scalar, terms: {} }),
    );
    // Step 1 of Adam moves each weight by lr·sign(g) (m̂ = g, v̂ = g²), g = [3, 1] + 0.01·w.
    const g = [3 + 0.01 * 0.5, 1 + 0.01 * -2];
    const expected = [
      0.5 - 0.1 * g[0] / (Math.abs(g[0]) + 1e-8),
      -2 - 0.1 * g[1] / (Math.abs(g[1]) + 1e-8),
    ];
    const got = await w.data();
    for (let i = 0; i < 2; i++) assert.ok(Math.abs(got[i] - expected[i]) < 1e-6, `${eager} ${got}`);
    w.dispose();
  }
});

Deno.test("with a D update interval of 3, D alone steps on iterations 0, 3, ... and G on the rest", async () => {
  await useBackend("cpu");
  const state = createTrainingState(createDiscoGan({ ngf: 4, ndf: 4, seed: 1 }), {
    adam: { dUpdateInterval: 3, lrDecayIterations: 4 },
  });
  state.totalIterations = 6;
  const batch = {
    realA: tf.randomUniform([2, 64, 64, 3], -1, 1, "float32", 1) as tf.Tensor4D,
    realB: tf.randomUniform([2, 64, 64, 3], -1, 1, "float32", 2) as tf.Tensor4D,
  };
  const steps: [number, number][] = [];
  const lrs: number[] = [];
  for (let i = 0; i < 6; i++) {
    const losses = await discoGanIteration(state, batch);
    assert.ok(Number.isFinite(losses.d) && Number.isFinite(losses.g), "both sides reported");
    steps.push([state.dOptimizer.step, state.gOptimizer.step]);
    lrs.push(state.gOptimizer.options.lr);
  }
  assert.deepEqual(steps, [[1, 0], [1, 1], [1, 2], [2, 2], [2, 3], [2, 4]]);
  const expected = [2e-4, 2e-4, 2e-4, 1.5e-4, 1e-4, 5e-5];
  lrs.forEach((lr, i) => assert.ok(Math.abs(lr - expected[i]) < 1e-15, `iteration ${i}: ${lr}`));
});

Deno.test("a learning-rate decay without the run's length is refused, not ignored", async () => {
  await useBackend("cpu");
  const state = createTrainingState(createDiscoGan({ ngf: 4, ndf: 4, seed: 1 }), {
    adam: { lrDecayIterations: 4 },
  });
  const batch = {
    realA: tf.randomUniform([1, 64, 64, 3], -1, 1, "float32", 1) as tf.Tensor4D,
    realB: tf.randomUniform([1, 64, 64, 3], -1, 1, "float32", 2) as tf.Tensor4D,
  };
  await assert.rejects(
    () => discoGanIteration(state, batch),
    /--lr-decay-iterations: .*totalIterations/,
  );
  state.totalIterations = 4;
  await discoGanIteration(state, batch);
  tf.dispose([batch.realA, batch.realB]);
});
