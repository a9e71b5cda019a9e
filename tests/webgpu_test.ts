// The same forward pass and one full iteration on WebGPU (Mesa's lavapipe in CI).
import { missing } from "./native.ts";
import assert from "node:assert/strict";
import { tf } from "../ops/tf.ts";
import { gpuAdapterInfo, useBackend } from "../ops/runtime/backend.ts";
import { fixtureBatch, fixtureModels, maxAbs, maxAbsDiff, tensor } from "./fixtures.ts";
import { checkIteration } from "./iteration_check.ts";

async function webgpu(): Promise<void> {
  const adapter = await gpuAdapterInfo();
  assert.ok(
    adapter,
    "no WebGPU adapter: install a Vulkan driver (apt-get install -y mesa-vulkan-drivers libvulkan1)",
  );
  assert.equal(await useBackend("webgpu"), "webgpu");
}

const ignoreGpu = await missing("vulkan", "tests/webgpu_test.ts");

Deno.test({ name: "webgpu: forward matches PyTorch", ignore: ignoreGpu }, async () => {
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

Deno.test({ name: "webgpu: one paired iteration matches PyTorch", ignore: ignoreGpu }, async () => {
  await webgpu();
  await checkIteration("step");
});
