// ops/gaussian_blur.ts: the kernel, a flat image, an impulse per channel, and bad sigmas.
// (Its gradient, inside a whole iteration, is checked against PyTorch in
// torch_bridge_test.ts, with --cycle-blur.)
import assert from "node:assert/strict";
import { tf } from "../ops/tf.ts";
import { gaussianBlur, gaussianKernel } from "../ops/gaussian_blur.ts";

Deno.test("gaussianKernel: normalised Gaussian weights, cut at 2 sigma", () => {
  const k = gaussianKernel(1);
  assert.equal(k.length, 5);
  assert.ok(Math.abs(k.reduce((a, b) => a + b, 0) - 1) < 1e-6);
  for (let i = -2; i <= 2; i++) {
    assert.ok(Math.abs(k[i + 2] / k[2] - Math.exp(-(i * i) / 2)) < 1e-6, `weight ${i}`);
  }
  assert.equal(gaussianKernel(1.5).length, 7);
  assert.throws(() => gaussianKernel(-1), /blur sigma must be > 0, got -1/);
});

Deno.test("gaussianBlur keeps a flat image flat, border included", async () => {
  const y = gaussianBlur(tf.fill([2, 6, 7, 3], 0.25) as tf.Tensor4D, 1.5);
  assert.deepEqual(y.shape, [2, 6, 7, 3]);
  for (const v of await y.data()) assert.ok(Math.abs(v - 0.25) < 1e-6);
});

Deno.test("gaussianBlur spreads an impulse as the kernel's outer product, channel by channel", async () => {
  const size = 9, c = 3, at = 4;
  const x = new Float32Array(size * size * c);
  x[(at * size + at) * c + 1] = 1; // channel 1 only
  const y = await gaussianBlur(tf.tensor4d(x, [1, size, size, c]), 1).data();
  const k = gaussianKernel(1);
  for (let row = 0; row < size; row++) {
    for (let col = 0; col < size; col++) {
      const dr = row - at, dc = col - at;
      const want = Math.abs(dr) <= 2 && Math.abs(dc) <= 2 ? k[dr + 2] * k[dc + 2] : 0;
      const i = (row * size + col) * c;
      assert.ok(Math.abs(y[i + 1] - want) < 1e-6, `(${row}, ${col}): ${y[i + 1]} vs ${want}`);
      assert.equal(y[i], 0);
      assert.equal(y[i + 2], 0);
    }
  }
});

Deno.test("gaussianBlur with sigma 0 is the identity", () => {
  const x = tf.ones([1, 4, 4, 3]) as tf.Tensor4D;
  assert.equal(gaussianBlur(x, 0), x);
});
