// The cpu backend's pool of large output arrays: reused when no one can see
// them, never when someone can.
import assert from "node:assert/strict";
import { tf } from "../ops/tf.ts";
import { useBackend } from "../ops/runtime/backend.ts";
import { idlePoolBytes, MIN_POOLED_ELEMENTS, setPoolLimit } from "../ops/runtime/array_pool.ts";
import { backendMissing } from "./native.ts";

const N = MIN_POOLED_ELEMENTS * 2;

// The backend's own array behind a tensor (not a copy).
function arrayOf(t: tf.Tensor): unknown {
  return (tf.backend() as unknown as { data: { get(id: unknown): { values: unknown } } }).data
    .get(t.dataId).values;
}

Deno.test({
  name: "a disposed output's array serves the next output of that length",
  ignore: await backendMissing("blas", "tests/array_pool_test.ts"),
}, async () => {
  await useBackend("blas");
  const a = tf.fill([N], 1), b = tf.fill([N], 2);
  const first = tf.add(a, b);
  const array = arrayOf(first);
  first.dispose();
  const second = tf.mul(a, b); // same length: gets the array back, overwritten
  assert.equal(arrayOf(second), array);
  assert.equal((second.dataSync() as Float32Array)[N - 1], 2);
  tf.dispose([a, b, second]);
});

Deno.test({
  name: "an array read out with dataSync or data is never reused",
  ignore: await backendMissing("blas", "tests/array_pool_test.ts"),
}, async () => {
  await useBackend("blas");
  const a = tf.fill([N], 1), b = tf.fill([N], 2);
  for (const read of ["dataSync", "data"] as const) {
    const sum = tf.add(a, b);
    const values = read === "dataSync" ? sum.dataSync() : await sum.data();
    sum.dispose();
    const other = tf.mul(a, b);
    assert.notEqual(arrayOf(other), values);
    assert.equal(values[0], 3, `${read}: the caller's array was overwritten`);
    other.dispose();
  }
  tf.dispose([a, b]);
});

Deno.test({
  name: "a slice (a view of its input) keeps its values after the input is disposed",
  ignore: await backendMissing("blas", "tests/array_pool_test.ts"),
}, async () => {
  await useBackend("blas");
  const a = tf.fill([2, N], 1), b = tf.fill([2, N], 2);
  const sum = tf.add(a, b);
  const row = tf.slice(sum, [1, 0], [1, N]); // the stock kernel's view of sum's array
  sum.dispose();
  const other = tf.mul(a, b); // would take sum's array if it were back in the pool
  assert.equal((row.dataSync() as Float32Array)[0], 3);
  tf.dispose([a, b, row, other]);
});

Deno.test({
  name: "a training iteration's numbers do not depend on reuse: two runs agree",
  ignore: await backendMissing("onednn", "tests/array_pool_test.ts"),
}, async () => {
  await useBackend("onednn");
  const { createDiscoGan } = await import("../models/discogan.ts");
  const { discoGanIteration } = await import("../pipeline/iteration.ts");
  const { createTrainingState } = await import("../pipeline/training_state.ts");
  const run = async () => {
    const state = createTrainingState(createDiscoGan({ ngf: 8, ndf: 8, seed: 3 }), { seed: 3 });
    const batch = {
      realA: tf.randomUniform([2, 64, 64, 3], -1, 1, "float32", 1) as tf.Tensor4D,
      realB: tf.randomUniform([2, 64, 64, 3], -1, 1, "float32", 2) as tf.Tensor4D,
    };
    const losses = [];
    for (let i = 0; i < 3; i++) losses.push(await discoGanIteration(state, batch));
    tf.dispose([batch.realA, batch.realB]);
    return losses;
  };
  assert.deepEqual(await run(), await run());
});

Deno.test({
  name: "a full pool makes room by the arrays idle longest",
  ignore: await backendMissing("blas", "tests/array_pool_test.ts"),
}, async () => {
  await useBackend("blas");
  const a = tf.fill([N], 1), b = tf.fill([N], 2);
  // Emptied first: what earlier tests left idle would count against the limit.
  const before = setPoolLimit(0);
  assert.equal(idlePoolBytes(), 0);
  setPoolLimit(3 * N * 4);
  try {
    const outs = [tf.add(a, b), tf.sub(a, b), tf.mul(a, b), tf.div(a, b)];
    const arrays = outs.map(arrayOf);
    tf.dispose(outs); // the fourth pushes out the first, idle longest
    const again = [tf.add(a, b), tf.add(a, b), tf.add(a, b), tf.add(a, b)];
    const reused = again.map(arrayOf);
    for (const array of arrays.slice(1)) assert.ok(reused.includes(array));
    assert.ok(!reused.includes(arrays[0]), "the array idle longest was kept");
    tf.dispose(again);
  } finally {
    setPoolLimit(before);
    tf.dispose([a, b]);
  }
});
