// Guard mode of the native calls (ops/runtime/ffi_guard.ts): it catches writes
// outside an array or into an input, and with it on, the OpenBLAS and oneDNN
// kernels give the same values as without.
import { missing } from "./native.ts";
import assert from "node:assert/strict";
import { tf } from "../ops/tf.ts";
import { type BackendName, useBackend } from "../ops/runtime/backend.ts";
import { GUARD_FLOATS, GuardedCall, guardedCalls, setFfiGuard } from "../ops/runtime/ffi_guard.ts";

// The float at `offset` from the start of a guarded copy's middle, as native code would reach it.
const poke = (copy: Float32Array, offset: number, value: number) => {
  new Float32Array(copy.buffer)[copy.byteOffset / 4 + offset] = value;
};

Deno.test("guard mode names a write past the end, before the start, or into an input", () => {
  const cases: [string, (c: GuardedCall) => void, RegExp][] = [
    [
      "past the end",
      (c) => poke(c.output(new Float32Array(8), "y"), 8, 1),
      /past the end of y \(8 floats\), at \+0/,
    ],
    [
      "before the start",
      (c) => poke(c.output(new Float32Array(8), "y"), -1, 1),
      /wrote 1 floats before the start of y/,
    ],
    [
      "far past the end",
      (c) => poke(c.output(new Float32Array(8), "y"), 8 + GUARD_FLOATS - 1, 1),
      /at \+255/,
    ],
    [
      "into an input",
      (c) => poke(c.input(new Float32Array(8), "x"), 3, 1),
      /changed x, which it may only read \(element 3\)/,
    ],
  ];
  for (const [what, act, message] of cases) {
    const call = new GuardedCall("test call");
    act(call);
    assert.throws(() => call.finish(), message, what);
  }
  const out = new Float32Array(3);
  const call = new GuardedCall("clean");
  call.output(out, "y").set([1, 2, 3]);
  call.finish();
  assert.deepEqual([...out], [1, 2, 3], "outputs are written back");
});

const BACKENDS: { name: BackendName; available: boolean }[] = [
  { name: "blas", available: !await missing("openblas", "tests/ffi_guard_test.ts on blas") },
  { name: "onednn", available: !await missing("onednn", "tests/ffi_guard_test.ts on onednn") },
];
for (const { name, available } of BACKENDS) {
  Deno.test({
    name: `with guard mode on, ${name}'s convolutions and their gradients are unchanged`,
    ignore: !available,
    fn: async () => {
      await useBackend(name);
      const x = tf.randomNormal([2, 16, 16, 8], 0, 1, "float32", 1) as tf.Tensor4D;
      const w = tf.randomNormal([4, 4, 8, 16], 0, 1, "float32", 2) as tf.Tensor4D;
      const dy = tf.randomNormal([2, 8, 8, 16], 0, 1, "float32", 3);
      const run = () =>
        tf.tidy(() => {
          const f = (a: tf.Tensor, b: tf.Tensor) =>
            tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, "same"), dy));
          const [gx, gw] = tf.grads(f)([x, w]);
          return [tf.conv2d(x, w, 2, "same"), gx, gw].map((t) => [...t.dataSync()]);
        });
      const plain = run();
      setFfiGuard(true);
      const before = guardedCalls();
      try {
        const guarded = run();
        assert.ok(guardedCalls() - before >= 3, `${guardedCalls() - before} native calls guarded`);
        assert.deepEqual(guarded, plain);
      } finally {
        setFfiGuard(false);
      }
      tf.dispose([x, w, dy]);
    },
  });
}
