// One full training iteration from the fixture's init, checked against
// PyTorch: every loss, the discriminator step's gradients and every updated
// weight. Shared by the parity, webgpu and kernel tests.
import assert from "node:assert/strict";
import { tf } from "../ops/tf.ts";
import { ROLES } from "../models/discogan.ts";
import { discoGanIteration } from "../pipeline/iteration.ts";
import { createTrainingState } from "../pipeline/training_state.ts";
import {
  checkUpdatedParam,
  fixture,
  fixtureBatch,
  fixtureModels,
  isInstanceNormCancelledBias,
  maxAbs,
  maxAbsDiff,
  tensor,
} from "./fixtures.ts";

/** Runs the fixture iteration on the active backend and asserts it equals `file`. */
export async function checkIteration(file: "step" | "step_unpaired"): Promise<void> {
  const models = await fixtureModels();
  const nets = {
    g_ab: models.gAB,
    g_ba: models.gBA,
    d_a: models.dA,
    d_b: models.dB,
  };
  const init = new Map<string, tf.Tensor>();
  for (const role of ROLES) {
    for (const [n, v] of nets[role].params) {
      init.set(`${role}.${n}`, v.clone());
    }
  }
  const paired = file === "step";
  // The fixture runs the networks in eval() mode: dropout off.
  const state = createTrainingState(models, {
    dropout: false,
    losses: { paired, lambdaPixelwise: 1 },
  });
  // The discriminator step's gradients, as handed to Adam.
  const dGrads = new Map<string, tf.Tensor>();
  const update = state.dOptimizer.update.bind(state.dOptimizer);
  state.dOptimizer.update = (grads, guard) => {
    for (const [k, g] of grads) dGrads.set(k, tf.keep(g.clone()));
    return update(grads, guard);
  };
  const losses = await discoGanIteration(state, await fixtureBatch());
  const stored = (await fixture(file)).tensors;
  const expected = [
    "d",
    "d_a",
    "d_b",
    "g",
    "g_gan",
    "g_cycle",
    ...(paired ? ["g_pixelwise"] : []),
  ];
  assert.deepEqual(Object.keys(losses).sort(), expected.sort());
  for (const [name, value] of Object.entries(losses)) {
    const ref = stored.get(`loss.${name}`)?.data[0] as number;
    assert.ok(
      Math.abs(value - ref) <= 1e-5 * Math.abs(ref),
      `loss.${name}: ${value} vs PyTorch ${ref}`,
    );
  }
  const failures: string[] = [];
  let largest = 0;
  for (const g of dGrads.values()) largest = Math.max(largest, await maxAbs(g));
  for (const [key, g] of dGrads) {
    // Zero but for rounding: PyTorch's own come out near 5e-6 of the largest
    // gradient, ours 3e-7 on cpu and about 1e-5 on onednn's norm primitives. A
    // bias that is not cancelled is within a few orders of the largest.
    if (isInstanceNormCancelledBias(key.slice(4))) {
      if ((await maxAbs(g)) > 1e-4 * largest) failures.push(`grad_d.${key}: cancelled bias not ~0`);
      continue;
    }
    const ref = await tensor(file, `grad_d.${key}`, "param");
    const diff = await maxAbsDiff(g, ref);
    if (diff > 1e-4 * (await maxAbs(ref))) failures.push(`grad_d.${key}: max |diff| ${diff}`);
  }
  for (const role of ROLES) {
    for (const [name, v] of nets[role].params) {
      const key = `${role}.${name}`;
      const ref = await tensor(file, `after.${key}`, "param");
      const problem = await checkUpdatedParam(
        key,
        v,
        ref,
        init.get(key) as tf.Tensor,
        2e-4,
      );
      if (problem) failures.push(problem);
    }
  }
  assert.deepEqual(
    failures,
    [],
    `${file}: updated weights differ from PyTorch`,
  );
  assert.equal(state.iteration, 1);
  tf.dispose([...init.values(), ...dGrads.values()]);
  tf.disposeVariables();
}
