// G_AB and D_A forward passes against PyTorch, every listed activation included.
import assert from "node:assert/strict";
import { tf } from "../ops/tf.ts";
import { useBackend } from "../ops/runtime/backend.ts";
import { unetGenerator } from "../models/unet.ts";
import { patchGanDiscriminator } from "../models/patchgan.ts";
import { CPU_BACKENDS, loadFixtureWeights, maxAbs, maxAbsDiff, tensor } from "./fixtures.ts";
import { backendMissing } from "./native.ts";

for (const backend of CPU_BACKENDS) {
  Deno.test({
    name: `forward matches PyTorch on ${backend}`,
    ignore: await backendMissing(backend, `tests/parity_forward_test.ts`),
  }, async () => {
    await useBackend(backend);
    const g = unetGenerator({ ngf: 6 });
    const d = patchGanDiscriminator({ ndf: 8 });
    await loadFixtureWeights(g, "g_ab");
    await loadFixtureWeights(d, "d_a");
    const x = (await tensor("inputs", "real_A", "image")) as tf.Tensor4D;
    const { output, activations } = g.applyWithActivations(x);
    const checks: [string, tf.Tensor][] = [
      ["g_ab_out", output],
      ["d_a_out", d.apply(x)],
      ...activations,
    ];
    assert.equal(activations.size, 11, "act.down1..6 and act.up1..5");
    for (const [name, ours] of checks) {
      const ref = await tensor("forward", name, "image");
      const diff = await maxAbsDiff(ours, ref);
      const bound = 1e-4 * Math.max(1, await maxAbs(ref));
      assert.ok(
        diff <= bound,
        `${backend} ${name}: max |diff| ${diff} > ${bound}`,
      );
    }
    tf.disposeVariables();
  });
}
