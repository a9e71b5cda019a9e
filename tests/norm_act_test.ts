// The fused instance norm + activation against its definition, the composition
// of TF.js ops (which the parity tests check against PyTorch).
import assert from "node:assert/strict";
import { tf } from "../ops/tf.ts";
import { useBackend } from "../ops/runtime/backend.ts";
import { instanceNorm } from "../ops/instance_norm.ts";
import { instanceNormAct, type NormActivation } from "../ops/norm_act.ts";
import { backendMissing } from "./native.ts";

function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

const composite = (x: tf.Tensor4D, act: NormActivation) =>
  act === "relu"
    ? tf.relu(instanceNorm(x))
    : act === "none"
    ? instanceNorm(x)
    : tf.leakyRelu(instanceNorm(x), 0.2);

for (const backend of ["onednn", "blas", "cpu", "wasm"] as const) {
  Deno.test({
    name: `instanceNormAct equals act(instanceNorm(x)), values and gradients, on ${backend}`,
    ignore: await backendMissing(backend, `tests/norm_act_test.ts`),
  }, async () => {
    await useBackend(backend);
    // Batch 2, odd sizes; channel 1 of image 0 constant (x̂ exactly 0 there:
    // the activation's slope at 0 is the negative side's, as in PyTorch).
    const base = tf.randomNormal([2, 5, 7, 3], 0.5, 2, "float32", 7);
    const mask = tf.tensor4d([0, 1, 0, 1, 1, 1], [2, 1, 1, 3]);
    const x = tf.mul(base, mask) as tf.Tensor4D;
    const dy = tf.randomNormal(x.shape, 0, 1, "float32", 8);
    for (const act of ["relu", "leakyRelu", "none"] as const) {
      const ours = instanceNormAct(x, act, 0.2), ref = composite(x, act);
      assert.ok(maxDiff(ours, ref) < 2e-6, `${act} forward: ${maxDiff(ours, ref)}`);
      const g = (f: (t: tf.Tensor4D) => tf.Tensor) =>
        tf.grad((t) => tf.sum(tf.mul(f(t as tf.Tensor4D), dy)))(x);
      const dOurs = g((t) => instanceNormAct(t, act, 0.2)), dRef = g((t) => composite(t, act));
      // Relative: the constant channel's gradient is scaled by 1/sqrt(eps) ≈ 316.
      const scale = Math.max(1, tf.tidy(() => tf.max(tf.abs(dRef)).dataSync()[0]));
      assert.ok(maxDiff(dOurs, dRef) < 1e-6 * scale, `${act} gradient: ${maxDiff(dOurs, dRef)}`);
      // Summed over the pixels, an instance norm's input gradient is zero.
      const sums = tf.sum(dOurs, [1, 2]).dataSync();
      assert.ok(sums.every((s) => Math.abs(s) < 1e-6 * scale), `${act}: gradient sums ${sums}`);
      if (act === "relu") {
        assert.ok(ours.dataSync().every((v) => !Object.is(v, -0)), "relu gave -0");
      }
      tf.dispose([ours, ref, dOurs, dRef]);
    }
    tf.dispose([base, mask, x, dy]);
  });
}
