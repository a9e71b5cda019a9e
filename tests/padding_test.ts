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

// The cpu kernel's gradient adds each padded pixel into its source in the
// padded pixels' order; its faster paths (runs copied, rows' first visits)
// must give exactly the sums of that plain loop.
function gradientByLoop(
  dy: Float32Array,
  [n, h, w, c]: number[],
  p: number,
  mode: keyof typeof PADS,
): Float32Array {
  const source = (size: number, i: number) => {
    const j = i - p;
    if (mode === "replicate") return Math.min(size - 1, Math.max(0, j));
    return j < 0 ? -j : j >= size ? 2 * (size - 1) - j : j;
  };
  const [oh, ow] = [h + 2 * p, w + 2 * p];
  const dx = new Float32Array(n * h * w * c);
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        const to = ((b * h + source(h, oy)) * w + source(w, ox)) * c;
        for (let k = 0; k < c; k++) dx[to + k] += dy[((b * oh + oy) * ow + ox) * c + k];
      }
    }
  }
  return dx;
}

Deno.test("the cpu padding gradient equals the plain loop's sums bit for bit", async () => {
  await useBackend("cpu");
  // Wide rows (distinct border sources), a row only 2p + 1 wide, and narrower.
  const shapes: [number, number, number, number][] = [[2, 16, 16, 8], [1, 7, 9, 3], [1, 4, 4, 2]];
  for (const shape of shapes) {
    for (
      const [mode, pad] of Object.entries(PADS) as [keyof typeof PADS, typeof reflectionPad2d][]
    ) {
      for (const p of [1, 3]) {
        const x = tf.randomNormal(shape, 0, 1, "float32", 1) as tf.Tensor4D;
        const padded = [shape[0], shape[1] + 2 * p, shape[2] + 2 * p, shape[3]];
        const dy = tf.randomNormal(padded, 0, 1e3, "float32", 2);
        const got = tf.grad((t) => tf.sum(tf.mul(pad(t as tf.Tensor4D, p), dy)))(x);
        const want = gradientByLoop(dy.dataSync() as Float32Array, shape, p, mode);
        assert.deepEqual(got.dataSync(), want, `${mode} ${p} ${shape}`);
        tf.dispose([x, dy, got]);
      }
    }
  }
});
