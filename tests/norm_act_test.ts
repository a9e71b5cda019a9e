// The fused instance norm + activation against its definition, the composition
// of TF.js ops (which the parity tests check against PyTorch).
import assert from "node:assert/strict";
import { tf } from "../ops/tf.ts";
import { useBackend } from "../ops/runtime/backend.ts";
import { instanceNorm } from "../ops/instance_norm.ts";
import { affineAct, instanceNormAct, type NormActivation } from "../ops/norm_act.ts";
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

const affineComposite = (x: tf.Tensor4D, g: tf.Tensor, b: tf.Tensor, act: NormActivation) => {
  const z = tf.add(tf.mul(x, g), b) as tf.Tensor4D;
  return act === "relu" ? tf.relu(z) : act === "none" ? z : tf.leakyRelu(z, 0.2);
};

for (const backend of ["onednn", "blas", "cpu", "wasm"] as const) {
  Deno.test({
    name: `affineAct equals act(x·gamma + beta), values and all three gradients, on ${backend}`,
    ignore: await backendMissing(backend, `tests/norm_act_test.ts`),
  }, async () => {
    await useBackend(backend);
    const x = tf.randomNormal([2, 3, 5, 4], 0, 1, "float32", 3) as tf.Tensor4D;
    // One channel's gamma and beta 0: its output is exactly 0 (slope of the negative side).
    const gamma = tf.tensor1d([1.5, -0.5, 0, 2]), beta = tf.tensor1d([0.1, 0.3, 0, -0.2]);
    const dy = tf.randomNormal(x.shape, 0, 1, "float32", 4);
    for (const act of ["relu", "leakyRelu", "none"] as const) {
      const loss = (f: (x: tf.Tensor4D, g: tf.Tensor, b: tf.Tensor) => tf.Tensor) =>
        tf.grads((a, g, b) => tf.sum(tf.mul(f(a as tf.Tensor4D, g, b), dy)));
      const ours = affineAct(x, gamma, beta, act), ref = affineComposite(x, gamma, beta, act);
      assert.ok(maxDiff(ours, ref) === 0, `${act} forward: ${maxDiff(ours, ref)}`);
      const dOurs = loss((a, g, b) => affineAct(a, g, b, act))([x, gamma, beta]);
      const dRef = loss((a, g, b) => affineComposite(a, g, b, act))([x, gamma, beta]);
      ["x", "gamma", "beta"].forEach((name, i) => {
        assert.deepEqual(dOurs[i].shape, dRef[i].shape, name);
        assert.ok(
          maxDiff(dOurs[i], dRef[i]) < 1e-5,
          `${act} d${name}: ${maxDiff(dOurs[i], dRef[i])}`,
        );
      });
      if (act === "relu") {
        assert.ok(ours.dataSync().every((v) => !Object.is(v, -0)), "relu gave -0");
      }
      tf.dispose([ours, ref, ...dOurs, ...dRef]);
    }
    tf.dispose([x, gamma, beta, dy]);
  });
}
