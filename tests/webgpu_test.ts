// The same forward pass and one full iteration on WebGPU (Mesa's lavapipe in CI).
import assert from "node:assert/strict";
import { tf } from "../ops/tf.ts";
import { gpuAdapterInfo, useBackend } from "../ops/backend.ts";
import { ROLES } from "../models/discogan.ts";
import { createTrainingState, discoGanIteration } from "../pipeline/iteration.ts";
import {
  checkUpdatedParam,
  fixture,
  fixtureBatch,
  fixtureModels,
  maxAbs,
  maxAbsDiff,
  tensor,
} from "./fixtures.ts";

async function webgpu(): Promise<void> {
  const adapter = await gpuAdapterInfo();
  assert.ok(
    adapter,
    "no WebGPU adapter: install a Vulkan driver (apt-get install -y mesa-vulkan-drivers libvulkan1)",
  );
  assert.equal(await useBackend("webgpu"), "webgpu");
}

Deno.test("webgpu: forward matches PyTorch", async () => {
  await webgpu();
  const { gAB, dA } = await fixtureModels();
  const { realA } = await fixtureBatch();
  for (
    const [name, ours] of [["g_ab_out", gAB.apply(realA)], [
      "d_a_out",
      dA.apply(realA),
    ]] as const
  ) {
    const ref = await tensor("forward", name, "image");
    const diff = await maxAbsDiff(ours, ref);
    assert.ok(
      diff <= 1e-4 * Math.max(1, await maxAbs(ref)),
      `webgpu ${name}: max |diff| ${diff}`,
    );
  }
  tf.disposeVariables();
});

Deno.test("webgpu: one paired iteration matches PyTorch", async () => {
  await webgpu();
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
  const state = createTrainingState(models, {
    dropout: false,
    losses: { paired: true },
  });
  const losses = await discoGanIteration(state, await fixtureBatch());
  const stored = (await fixture("step")).tensors;
  for (const [name, value] of Object.entries(losses)) {
    const ref = stored.get(`loss.${name}`)?.data[0] as number;
    assert.ok(
      Math.abs(value - ref) <= 1e-5 * Math.abs(ref),
      `loss.${name}: ${value} vs ${ref}`,
    );
  }
  const failures: string[] = [];
  for (const role of ROLES) {
    for (const [name, v] of nets[role].params) {
      const key = `${role}.${name}`;
      const ref = await tensor("step", `after.${key}`, "param");
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
  assert.deepEqual(failures, []);
  tf.disposeVariables();
});
