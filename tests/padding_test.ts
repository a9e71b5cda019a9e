// Reflection and replication padding (ops/padding.ts) and their gradients
// against PyTorch: tests/fixtures/padding/make_fixtures.py wrote the fixture.
import { missing } from "./native.ts";
import assert from "node:assert/strict";
import { tf } from "../ops/tf.ts";
import { type BackendName, useBackend } from "../ops/runtime/backend.ts";
import { readSafetensors } from "../ops/formats/safetensors.ts";
import { reflectionPad2d, replicationPad2d } from "../ops/padding.ts";
import { maxAbs, maxAbsDiff } from "./fixtures.ts";

const FIXTURE = new URL("./fixtures/padding/padding.safetensors", import.meta.url).pathname;
const BACKENDS: { name: BackendName; available: boolean }[] = [
  { name: "cpu", available: true },
  { name: "blas", available: !await missing("openblas", "tests/padding_test.ts on blas") },
  { name: "onednn", available: !await missing("onednn", "tests/padding_test.ts on onednn") },
  { name: "wasm", available: true },
];
const PADS = { reflect: reflectionPad2d, replicate: replicationPad2d };

for (const { name, available } of BACKENDS) {
  Deno.test({
    name: `reflection and replication padding match PyTorch, values and gradients, on ${name}`,
    ignore: !available,
    fn: async () => {
      await useBackend(name);
      const { tensors } = await readSafetensors(FIXTURE);
      const get = (key: string) => {
        const rec = tensors.get(key);
        assert.ok(rec, `fixture has ${key}`);
        return tf.tensor4d(rec.data, rec.shape as [number, number, number, number]);
      };
      const x = get("x");
      for (const [mode, pad] of Object.entries(PADS)) {
        for (const p of [1, 3]) {
          const [y, w, dx] = ["y", "w", "dx"].map((k) => get(`${mode}${p}.${k}`));
          const ours = pad(x, p);
          // A copy: exact.
          assert.equal(await maxAbsDiff(ours, y), 0, `${mode} ${p}: values`);
          const grad = tf.grad((t) => tf.sum(tf.mul(pad(t as tf.Tensor4D, p), w)))(x);
          // Sums of up to 4 terms in another order: float32 rounding only.
          const err = await maxAbsDiff(grad, dx);
          assert.ok(err <= 1e-6 * await maxAbs(dx), `${mode} ${p}: gradient off by ${err}`);
          tf.dispose([ours, grad, y, w, dx]);
        }
      }
      assert.throws(() => reflectionPad2d(x, 7), /larger than 7, got 7x9/);
      assert.equal(replicationPad2d(x, 0), x);
      x.dispose();
    },
  });
}
