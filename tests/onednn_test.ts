// The onednn backend's convolution kernels against TF.js's stock cpu kernels.
import { missing } from "./native.ts";
import assert from "node:assert/strict";
import { tf } from "../ops/tf.ts";
import { useBackend } from "../ops/runtime/backend.ts";
import { blockedBackwardData, loadOneDnn, type OneDnn } from "../ops/runtime/onednn/onednn.ts";
import {
  activeOneDnn,
  oneDnnCalls,
  setOneDnnPrecision,
} from "../ops/runtime/onednn/conv_kernels.ts";
import { addInPlace, ONEDNN_ADD_MIN_LENGTH } from "../ops/runtime/add_in_place.ts";
import { conv2d as conv2dWithBias } from "../ops/conv.ts";
import { FILTER_BIAS_GRAD } from "../ops/runtime/filter_bias_grad.ts";

type Pad = "same" | "valid" | number | [[0, 0], [number, number], [number, number], [0, 0]];

interface Case {
  x: [number, number, number, number];
  k: [number, number, number, number];
  stride: number;
  pad: Pad;
}

// Every layer kind of the networks, at sizes with >= 64 output pixels (oneDNN's
// share), plus padding the networks do not use.
const CASES: Case[] = [
  { x: [2, 32, 32, 3], k: [4, 4, 3, 8], stride: 2, pad: 1 }, // encoder, first layer
  { x: [1, 32, 32, 16], k: [4, 4, 16, 24], stride: 2, pad: 1 }, // encoder
  { x: [2, 18, 18, 8], k: [3, 3, 8, 12], stride: 1, pad: 1 }, // sub-pixel final block
  { x: [2, 17, 17, 8], k: [4, 4, 8, 1], stride: 1, pad: 1 }, // PatchGAN output
  { x: [1, 33, 31, 5], k: [4, 4, 5, 6], stride: 2, pad: "same" }, // odd sizes: pads 1 and 2
  { x: [1, 35, 35, 4], k: [3, 3, 4, 5], stride: 2, pad: "valid" },
  { x: [1, 20, 24, 4], k: [4, 2, 4, 3], stride: 1, pad: [[0, 0], [2, 1], [0, 1], [0, 0]] },
  // A ResNet block at 128 px: its input gradient runs in oneDNN's blocked layout.
  { x: [1, 32, 32, 256], k: [3, 3, 256, 256], stride: 1, pad: 1 },
];

Deno.test("the ResNet block case takes the blocked backward-data path", () => {
  const g = { n: 1, h: 32, w: 32, ci: 256, oh: 32, ow: 32, co: 256, kh: 3, kw: 3 };
  assert.ok(blockedBackwardData({ ...g, sh: 1, sw: 1, pt: 1, pl: 1 }));
  assert.ok(
    !blockedBackwardData({ ...g, h: 16, w: 16, oh: 16, ow: 16, sh: 1, sw: 1, pt: 1, pl: 1 }),
  );
});

async function onBoth(
  f: () => tf.Tensor[],
): Promise<{ ref: Float32Array[]; ours: Float32Array[] }> {
  await useBackend("cpu");
  const ref = f().map((t) => t.dataSync() as Float32Array);
  await useBackend("onednn");
  const before = oneDnnCalls();
  const ours = f().map((t) => t.dataSync() as Float32Array);
  assert.ok(oneDnnCalls() > before, "oneDNN served no call");
  return { ref, ours };
}

function assertClose(a: Float32Array, b: Float32Array, what: string): void {
  assert.equal(a.length, b.length, what);
  let scale = 0, worst = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]));
    worst = Math.max(worst, Math.abs(a[i] - b[i]));
  }
  assert.ok(worst <= 1e-5 * Math.max(1, scale), `${what}: max diff ${worst} (scale ${scale})`);
}

const ignoreDnn = await missing("onednn", "tests/onednn_test.ts (the oneDNN kernels)");

Deno.test({
  name: "oneDNN convolutions, input and filter gradients equal the stock kernels",
  ignore: ignoreDnn,
  fn: async () => {
    for (const c of CASES) {
      const what = `x ${c.x} k ${c.k} s ${c.stride} pad ${JSON.stringify(c.pad)}`;
      const x = tf.randomNormal(c.x, 0, 1, "float32", 1) as tf.Tensor4D;
      const w = tf.randomNormal(c.k, 0, 1, "float32", 2) as tf.Tensor4D;
      const y = tf.conv2d(x, w, c.stride, c.pad);
      const dy = tf.randomNormal(y.shape, 0, 1, "float32", 3);
      const { ref, ours } = await onBoth(() => {
        const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad), dy)
        )([x, w]);
        return [tf.conv2d(x, w, c.stride, c.pad), dx, dw];
      });
      ["output", "input gradient", "filter gradient"].forEach((name, i) =>
        assertClose(ours[i], ref[i], `${what}: ${name}`)
      );
      tf.dispose([x, w, y, dy]);
    }
  },
});

Deno.test({
  name: "oneDNN adds a convolution's bias as it writes the output",
  ignore: ignoreDnn,
  fn: async () => {
    const x = tf.randomNormal([2, 32, 32, 6], 0, 1, "float32", 4) as tf.Tensor4D;
    const w = tf.randomNormal([4, 4, 6, 8], 0, 1, "float32", 5) as tf.Tensor4D;
    const bias = tf.randomNormal([8], 0, 1, "float32", 6);
    const { ref, ours } = await onBoth(() => [
      tf.fused.conv2d({ x, filter: w, strides: 2, pad: 1 as never, bias }),
    ]);
    assertClose(ours[0], ref[0], "fused conv2d with bias");
  },
});

Deno.test({
  name: "oneDNN's filter-gradient pass gives the bias gradient too, equal to the stock kernels'",
  ignore: ignoreDnn,
  fn: async () => {
    for (const c of CASES.slice(0, 4)) {
      const what = `x ${c.x} k ${c.k} s ${c.stride}`;
      const x = tf.randomNormal(c.x, 0, 1, "float32", 7) as tf.Tensor4D;
      const w = tf.randomNormal(c.k, 0, 1, "float32", 8) as tf.Tensor4D;
      const b = tf.randomNormal([c.k[3]], 0, 1, "float32", 9);
      const pad = c.pad as number;
      const dy = tf.randomNormal(conv2dWithBias(x, w, b, c.stride, pad).shape, 0, 1, "float32", 10);
      const grads = () =>
        tf.grads((w1: tf.Tensor, b1: tf.Tensor) =>
          tf.mul(conv2dWithBias(x, w1, b1, c.stride, pad), dy)
        )([w, b]);
      const { ref, ours } = await onBoth(grads);
      // On oneDNN the bias gradient comes with the filter's: no Sum kernel.
      const { kernelNames } = await tf.profile(() => tf.dispose(grads()));
      assert.ok(kernelNames.includes(FILTER_BIAS_GRAD), `${what}: ${kernelNames}`);
      assert.ok(!kernelNames.includes("Sum"), `${what}: ${kernelNames}`);
      assertClose(ours[0], ref[0], `${what}: filter gradient`);
      assertClose(ours[1], ref[1], `${what}: bias gradient`);
      tf.dispose([x, w, b, dy]);
    }
  },
});

Deno.test({
  name: "long arrays are summed in place by oneDNN, bit for bit as the loop; bad lengths throw",
  ignore: ignoreDnn,
  fn: async () => {
    await useBackend("onednn");
    const dnnl = activeOneDnn() as OneDnn;
    const add = dnnl.add;
    let served = 0;
    dnnl.add = (a, b, out) => (served++, add(a, b, out));
    try {
      for (const n of [ONEDNN_ADD_MIN_LENGTH - 1, ONEDNN_ADD_MIN_LENGTH + 5, 300_001]) {
        const x = tf.randomNormal([n], 0, 1, "float32", 11).dataSync() as Float32Array;
        const y = tf.randomNormal([n], 0, 1e-3, "float32", 12).dataSync() as Float32Array;
        const want = x.map((v, i) => v + y[i]);
        const before = served;
        addInPlace(x, y);
        assert.equal(served - before, n >= ONEDNN_ADD_MIN_LENGTH ? 1 : 0, `n ${n}: oneDNN calls`);
        assert.deepEqual(new Uint32Array(x.buffer), new Uint32Array(want.buffer), `n ${n}`);
      }
    } finally {
      dnnl.add = add;
    }
    assert.throws(() => addInPlace(new Float32Array(3), new Float32Array(4)), /3 elements, y 4/);
    const long = new Float32Array(ONEDNN_ADD_MIN_LENGTH);
    assert.throws(() => dnnl.add(long, long, new Float32Array(5)), /out 5/);
  },
});

Deno.test({
  name: "dilated convolutions and small layers go to the earlier kernels",
  ignore: ignoreDnn,
  fn: async () => {
    await useBackend("onednn");
    const x = tf.ones([1, 40, 40, 2]) as tf.Tensor4D, w = tf.ones([3, 3, 2, 2]) as tf.Tensor4D;
    const before = oneDnnCalls();
    const dilated = tf.conv2d(x, w, 1, "same", "NHWC", 2);
    assert.equal(dilated.dataSync()[(10 * 40 + 10) * 2], 18); // interior: 9 taps x 2 channels
    tf.conv2d(tf.ones([1, 4, 4, 2]) as tf.Tensor4D, w, 1, "same"); // 16 output pixels
    assert.equal(oneDnnCalls(), before);
  },
});

Deno.test({
  name: "oneDNN refuses buffers of the wrong size before native code sees them",
  ignore: ignoreDnn,
  fn: () => {
    const dnnl = loadOneDnn();
    assert.ok(dnnl);
    const g = {
      n: 1,
      h: 4,
      w: 4,
      ci: 2,
      oh: 2,
      ow: 2,
      co: 3,
      kh: 2,
      kw: 2,
      sh: 2,
      sw: 2,
      pt: 0,
      pl: 0,
    };
    const x = new Float32Array(32), w = new Float32Array(24);
    assert.throws(
      () => dnnl.forward(g, x, w, null, new Float32Array(11)),
      /output has 11 elements, expected 12/,
    );
    assert.throws(
      () => dnnl.forward(g, x.subarray(1), w, null, new Float32Array(12)),
      /input has 31/,
    );
    assert.throws(
      () => dnnl.backwardWeights(g, x, new Float32Array(12), new Float32Array(23)),
      /filter gradient has 23/,
    );
  },
});

Deno.test({
  name: "oneDNN's sgemm multiplies row-major matrices, and refuses short buffers",
  ignore: ignoreDnn,
  fn: () => {
    const dnnl = loadOneDnn();
    assert.ok(dnnl);
    const [m, n, k] = [5, 7, 3];
    const a = Float32Array.from({ length: m * k }, (_, i) => Math.sin(i + 1));
    const b = Float32Array.from({ length: k * n }, (_, i) => Math.cos(2 * i));
    const c = new Float32Array(m * n).fill(99); // beta 0: overwritten
    dnnl.sgemm(m, n, k, a, b, c);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let want = 0;
        for (let p = 0; p < k; p++) want += a[i * k + p] * b[p * n + j];
        assert.ok(Math.abs(c[i * n + j] - want) < 1e-5, `c[${i},${j}] ${c[i * n + j]} != ${want}`);
      }
    }
    assert.throws(() => dnnl.sgemm(m, n, k, a, b, new Float32Array(m * n - 1)), /c has 34/);
    assert.throws(() => dnnl.sgemm(m, n, 0, a, b, c), /k=0/);
  },
});

/** `a` rounded to bfloat16, round to nearest even, as oneDNN's reorder does. */
function toBf16(a: Float32Array): Float32Array {
  const bits = new Uint32Array(Float32Array.from(a).buffer);
  for (let i = 0; i < bits.length; i++) {
    bits[i] = ((bits[i] + 0x7fff + ((bits[i] >>> 16) & 1)) & 0xffff0000) >>> 0;
  }
  return new Float32Array(bits.buffer);
}

Deno.test({
  name: "bf16 convolutions equal fp32 convolutions of bf16-rounded inputs, and differ from fp32",
  ignore: ignoreDnn,
  fn: async () => {
    const rounded = (t: tf.Tensor) => tf.tensor(toBf16(t.dataSync() as Float32Array), t.shape);
    try {
      for (const c of CASES.slice(0, 4)) {
        const what = `bf16 x ${c.x} k ${c.k}`;
        const x = tf.randomNormal(c.x, 0, 1, "float32", 7) as tf.Tensor4D;
        const w = tf.randomNormal(c.k, 0, 1, "float32", 8) as tf.Tensor4D;
        const dy = tf.randomNormal(tf.conv2d(x, w, c.stride, c.pad).shape, 0, 1, "float32", 9);
        // Each direction rounds what it reads: forward x and w, backward-data
        // dy and w, backward-filter x and dy.
        const directions = (xs: tf.Tensor4D, ws: tf.Tensor4D, dys: tf.Tensor) => [
          tf.conv2d(xs, ws, c.stride, c.pad),
          tf.grad((a: tf.Tensor) => tf.mul(tf.conv2d(a as tf.Tensor4D, ws, c.stride, c.pad), dys))(
            xs,
          ),
          tf.grad((b: tf.Tensor) => tf.mul(tf.conv2d(xs, b as tf.Tensor4D, c.stride, c.pad), dys))(
            ws,
          ),
        ];
        await useBackend("cpu");
        const ref = directions(rounded(x) as tf.Tensor4D, rounded(w) as tf.Tensor4D, rounded(dy))
          .map((t) => t.dataSync() as Float32Array);
        const fp32 = directions(x, w, dy).map((t) => t.dataSync() as Float32Array);
        await useBackend("onednn");
        setOneDnnPrecision("bf16");
        const before = oneDnnCalls();
        const ours = directions(x, w, dy).map((t) => t.dataSync() as Float32Array);
        assert.ok(oneDnnCalls() > before, "oneDNN served no call");
        setOneDnnPrecision("fp32");
        ["output", "input gradient", "filter gradient"].forEach((name, i) => {
          assertClose(ours[i], ref[i], `${what}: ${name}`);
          const off = Math.max(...ours[i].map((v, k) => Math.abs(v - fp32[i][k])));
          assert.ok(off > 1e-4, `${what}: ${name} equals fp32's (max diff ${off}): not bf16`);
        });
      }
    } finally {
      setOneDnnPrecision("fp32");
    }
  },
});
