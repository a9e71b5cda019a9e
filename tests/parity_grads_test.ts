// Every parameter gradient and the input gradient against PyTorch.
import assert from "node:assert/strict";
import { tf } from "../ops/tf.ts";
import { useBackend } from "../ops/runtime/backend.ts";
import { unetGenerator } from "../models/unet.ts";
import { patchGanDiscriminator } from "../models/patchgan.ts";
import type { Network } from "../models/network.ts";
import {
  CPU_BACKENDS,
  isInstanceNormCancelledBias,
  loadFixtureWeights,
  maxAbs,
  maxAbsDiff,
  tensor,
} from "./fixtures.ts";
import { backendMissing } from "./native.ts";

/** Checks d sum(net(x)^2) / d params against `grad.<prefix><name>`. */
async function checkParamGrads(
  net: Network,
  x: tf.Tensor4D,
  prefix: string,
  loss: string,
) {
  const { value, grads } = tf.variableGrads(
    () => tf.sum(tf.square(net.apply(x))),
    [...net.params.values()],
  );
  const ref = (await tensor("grads", loss)).dataSync()[0];
  assert.ok(
    Math.abs(value.dataSync()[0] - ref) <= 1e-5 * Math.abs(ref),
    `${loss}: ${value} vs ${ref}`,
  );
  let largest = 0;
  for (const v of net.params.values()) {
    largest = Math.max(largest, await maxAbs(grads[v.name]));
  }
  for (const [name, v] of net.params) {
    const ours = grads[v.name];
    if (isInstanceNormCancelledBias(name)) {
      const size = await maxAbs(ours);
      assert.ok(
        size <= 1e-5 * largest,
        `${name}: cancelled bias gradient ${size} is not ~0`,
      );
      continue;
    }
    const theirs = await tensor("grads", `grad.${prefix}${name}`, "param");
    const diff = await maxAbsDiff(ours, theirs);
    const bound = 1e-4 * (await maxAbs(theirs));
    assert.ok(
      diff <= bound,
      `grad.${prefix}${name}: max |diff| ${diff} > ${bound}`,
    );
  }
}

for (const backend of CPU_BACKENDS) {
  Deno.test({
    name: `G_AB parameter and input gradients match PyTorch on ${backend}`,
    ignore: await backendMissing(backend, `tests/parity_grads_test.ts`),
  }, async () => {
    await useBackend(backend);
    const g = unetGenerator({ ngf: 6 });
    await loadFixtureWeights(g, "g_ab");
    const x = (await tensor("inputs", "real_A", "image")) as tf.Tensor4D;
    await checkParamGrads(g, x, "", "loss.g_ab_sumsq");
    const dx = tf.grad((input: tf.Tensor) => tf.sum(tf.square(g.apply(input as tf.Tensor4D))))(x);
    const ref = await tensor("grads", "grad.input", "image");
    const diff = await maxAbsDiff(dx, ref);
    assert.ok(
      diff <= 1e-4 * (await maxAbs(ref)),
      `grad.input: max |diff| ${diff}`,
    );
    tf.disposeVariables();
  });

  Deno.test({
    name: `D_A parameter gradients match PyTorch on ${backend}`,
    ignore: await backendMissing(backend, `tests/parity_grads_test.ts`),
  }, async () => {
    await useBackend(backend);
    const d = patchGanDiscriminator({ ndf: 8 });
    await loadFixtureWeights(d, "d_a");
    const x = (await tensor("inputs", "real_A", "image")) as tf.Tensor4D;
    await checkParamGrads(d, x, "d_a.", "loss.d_a_sumsq");
    tf.disposeVariables();
  });
}
