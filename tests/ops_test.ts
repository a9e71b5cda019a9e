// The building blocks: losses, upsample gradient, filter-gradient kernel, Adam.
import assert from "node:assert/strict";
import { tf } from "../ops/tf.ts";
import { useBackend } from "../ops/runtime/backend.ts";
import { bceWithLogits, distance, ganLoss } from "../ops/losses.ts";
import { upsampleNearest2x } from "../ops/upsample.ts";
import { Adam } from "../ops/adam.ts";
import { conv2d } from "../ops/conv.ts";
import { gradientsFreeing } from "../ops/gradients.ts";
import { minimize } from "../ops/minimize.ts";
import { CPU_BACKENDS } from "./fixtures.ts";
import { backendMissing } from "./native.ts";

const close = (a: number, b: number, tol = 1e-6) =>
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} != ${b}`);
const value = (t: tf.Tensor) => t.dataSync()[0];

Deno.test("BCE with logits equals the naive formula and stays finite for large logits", async () => {
  await useBackend("cpu");
  const xs = [-3, -0.5, 0, 0.7, 4];
  for (const y of [0, 1]) {
    const naive = xs.reduce((s, x) => {
      const p = 1 / (1 + Math.exp(-x));
      return s - (y * Math.log(p) + (1 - y) * Math.log(1 - p));
    }, 0) / xs.length;
    close(value(bceWithLogits(tf.tensor(xs), y)), naive);
  }
  // A sigmoid followed by log would give Infinity here.
  close(value(bceWithLogits(tf.tensor([200]), 0)), 200);
  close(value(bceWithLogits(tf.tensor([-200]), 1)), 200);
});

Deno.test("GAN losses: least squares and hinge", async () => {
  await useBackend("cpu");
  const x = tf.tensor([0.5, -1, 2]);
  close(value(ganLoss("lsgan").discriminator(x, true)), (0.25 + 4 + 1) / 3);
  close(value(ganLoss("lsgan").discriminator(x, false)), (0.25 + 1 + 4) / 3);
  close(value(ganLoss("lsgan").generator(x)), (0.25 + 4 + 1) / 3);
  close(value(ganLoss("hinge").discriminator(x, true)), (0.5 + 2 + 0) / 3);
  close(value(ganLoss("hinge").discriminator(x, false)), (1.5 + 0 + 3) / 3);
  close(value(ganLoss("hinge").generator(x)), -1.5 / 3);
  close(value(ganLoss("bce").generator(tf.zeros([4]))), Math.log(2));
});

Deno.test("distances: l2, l1, cosine, hinge", async () => {
  await useBackend("cpu");
  const a = tf.tensor4d([1, 0, 0, 0, 1, 2, 2, 0], [2, 1, 2, 2]);
  const b = tf.tensor4d([0, 1, 0, 0, 1, 2, 2, 0.05], [2, 1, 2, 2]);
  close(value(distance("l2")(a, b)), (1 + 1 + 0.0025) / 8);
  close(value(distance("l1")(a, b)), (1 + 1 + 0.05) / 8);
  // Sample 1 is orthogonal (distance 1), sample 2 almost parallel.
  const cos2 = 9 / (3 * Math.sqrt(9 + 0.0025));
  close(value(distance("cosine")(a, b)), (1 + (1 - cos2)) / 2, 1e-5);
  close(value(distance("hinge")(a, b)), (0.9 + 0.9) / 8);
});

for (const backend of CPU_BACKENDS) {
  Deno.test({
    name: `upsample gradient is right for every batch item on ${backend}`,
    ignore: await backendMissing(backend, `tests/ops_test.ts`),
  }, async () => {
    await useBackend(backend);
    const [n, h, w, c] = [3, 2, 3, 2];
    const x = tf.randomNormal([n, h, w, c], 0, 1, "float32", 1) as tf.Tensor4D;
    const weights = tf.randomNormal([n, 2 * h, 2 * w, c], 0, 1, "float32", 2);
    const grad = tf.grad((t: tf.Tensor) =>
      tf.sum(tf.mul(upsampleNearest2x(t as tf.Tensor4D), weights))
    )(x);
    const wv = weights.arraySync() as number[][][][];
    const gv = grad.arraySync() as number[][][][];
    for (let b = 0; b < n; b++) {
      for (let i = 0; i < h; i++) {
        for (let j = 0; j < w; j++) {
          for (let k = 0; k < c; k++) {
            const want = wv[b][2 * i][2 * j][k] + wv[b][2 * i + 1][2 * j][k] +
              wv[b][2 * i][2 * j + 1][k] + wv[b][2 * i + 1][2 * j + 1][k];
            close(gv[b][i][j][k], want, 1e-5);
          }
        }
      }
    }
    const up = upsampleNearest2x(x).arraySync() as number[][][][];
    assert.equal(up[2][3][5][1], (x.arraySync() as number[][][][])[2][1][2][1]);
  });

  Deno.test({
    name: `Conv2DBackpropFilter kernel equals the definition on ${backend}`,
    ignore: await backendMissing(backend, `tests/ops_test.ts`),
  }, async () => {
    await useBackend(backend);
    type Shape = [number, number, number, number];
    const cases: [
      Shape,
      Shape,
      number,
      "same" | "valid" | [[0, 0], [number, number], [number, number], [0, 0]],
    ][] = [
      [[2, 8, 8, 3], [4, 4, 3, 5], 2, "same"],
      [[1, 7, 5, 2], [3, 3, 2, 4], 1, "same"],
      [[3, 2, 2, 4], [4, 4, 4, 2], 2, "same"],
      [[2, 9, 9, 2], [7, 7, 2, 3], 1, "valid"],
      [[2, 6, 6, 3], [4, 4, 3, 2], 1, [[0, 0], [2, 1], [2, 1], [0, 0]]],
    ];
    for (const [xs, fs, stride, pad] of cases) {
      const x = tf.randomNormal(xs, 0, 1, "float32", 3) as tf.Tensor4D;
      const f = tf.randomNormal(fs, 0, 1, "float32", 4) as tf.Tensor4D;
      const y = tf.conv2d(x, f, stride, pad);
      const dy = tf.randomNormal(y.shape, 0, 1, "float32", 5);
      const dw = tf.grad((w: tf.Tensor) =>
        tf.sum(tf.mul(tf.conv2d(x, w as tf.Tensor4D, stride, pad), dy))
      )(f);
      // Definition: dW[i,j,c,o] = sum over n, y, x of xpad[n, y*s+i, x*s+j, c] * dy[n, y, x, o].
      const info = tf.backend_util.computeConv2DInfo(xs, fs, stride, 1, pad);
      const xv = x.arraySync() as number[][][][],
        dyv = dy.arraySync() as number[][][][],
        dwv = dw.arraySync() as number[][][][];
      const [kh, kw, ci, co] = fs;
      let worst = 0;
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          for (let c = 0; c < ci; c++) {
            for (let o = 0; o < co; o++) {
              let s = 0;
              for (let b = 0; b < xs[0]; b++) {
                for (let oy = 0; oy < info.outHeight; oy++) {
                  for (let ox = 0; ox < info.outWidth; ox++) {
                    const yy = oy * stride + i - info.padInfo.top,
                      xx = ox * stride + j - info.padInfo.left;
                    if (yy < 0 || xx < 0 || yy >= xs[1] || xx >= xs[2]) {
                      continue;
                    }
                    s += xv[b][yy][xx][c] * dyv[b][oy][ox][o];
                  }
                }
              }
              worst = Math.max(worst, Math.abs(s - dwv[i][j][c][o]));
            }
          }
        }
      }
      assert.ok(
        worst < 1e-4,
        `${xs} * ${fs} stride ${stride} ${JSON.stringify(pad)}: off by ${worst}`,
      );
    }
  });
}

for (const backend of CPU_BACKENDS) {
  // cpu and blas update in place in one fused loop; wasm with tensor ops.
  Deno.test({
    name: `Adam follows PyTorch's update over several steps on ${backend}`,
    ignore: await backendMissing(backend, `tests/ops_test.ts`),
  }, async () => {
    await useBackend(backend);
    const opts = { lr: 0.01, beta1: 0.5, beta2: 0.999, eps: 1e-8 };
    const p = tf.tidy(() => tf.variable(tf.tensor1d([1, -2, 0.5])));
    const dataId = p.dataId;
    const adam = new Adam(new Map([["p", p]]), opts);
    const ref = [1, -2, 0.5], m = [0, 0, 0], v = [0, 0, 0];
    const grads = [[0.3, -1, 0], [0.1, 2, 1e-9], [-0.5, 0.5, 3]];
    grads.forEach((g, t) => {
      adam.update(new Map([["p", tf.tensor1d(g)]]));
      for (let i = 0; i < 3; i++) {
        m[i] = opts.beta1 * m[i] + (1 - opts.beta1) * g[i];
        v[i] = opts.beta2 * v[i] + (1 - opts.beta2) * g[i] * g[i];
        const step = opts.lr / (1 - opts.beta1 ** (t + 1));
        ref[i] -= step * m[i] /
          (Math.sqrt(v[i]) / Math.sqrt(1 - opts.beta2 ** (t + 1)) + opts.eps);
      }
    });
    // The fused loop writes into the variable's own buffer.
    assert.equal(p.dataId === dataId, backend !== "wasm", "in place on the cpu backend only");
    const got = p.dataSync();
    ref.forEach((r, i) => close(got[i], r, 1e-6));
    const saved = await adam.getState();
    assert.equal(saved.step, 3);
    const again = new Adam(
      new Map([["p", tf.variable(tf.tensor1d([0, 0, 0]))]]),
      opts,
    );
    again.setState(saved);
    assert.deepEqual(await again.getState(), saved);
    assert.throws(
      () => again.setState({ ...saved, m: new Map() }),
      /m of "p" is missing/,
    );
  });
}

Deno.test("the WASM SIMD Adam equals the plain loop, odd lengths and padding included", async () => {
  const { AdamArena } = await import("../ops/runtime/wasm/adam_simd.ts");
  const { adamUpdateInPlace } = await import("../ops/runtime/adam_kernel.ts");
  for (const n of [1, 7, 64, 1001]) {
    const arena = new AdamArena(3 * (n + 4) + 8, n);
    const [p, m, v] = [arena.alloc(n), arena.alloc(n), arena.alloc(n)];
    const neighbour = arena.alloc(4).fill(42); // right after v's padding
    const p2 = new Float32Array(n), m2 = new Float32Array(n), v2 = new Float32Array(n);
    for (let i = 0; i < n; i++) p[i] = p2[i] = Math.sin(i);
    for (let step = 1; step <= 3; step++) {
      const g = Float32Array.from(
        { length: n },
        (_, i) => Math.cos(i * step) * (i % 5 === 0 ? 1e-9 : 1),
      );
      arena.step(p, g, m, v, step, 2e-4, 0.5, 0.999, 1e-8);
      adamUpdateInPlace(p2, g, m2, v2, step, 2e-4, 0.5, 0.999, 1e-8);
    }
    for (let i = 0; i < n; i++) close(p[i], p2[i], 1e-6);
    assert.deepEqual([...neighbour], [42, 42, 42, 42], "nothing written past the arrays");
    assert.ok(arena.owns(p) && !arena.owns(p2));
  }
});

for (const backend of CPU_BACKENDS) {
  Deno.test({
    name: `LeakyReLU's gradient equals TF.js's where(x > 0, dy, dy * alpha) on ${backend}`,
    ignore: await backendMissing(backend, `tests/ops_test.ts`),
  }, async () => {
    await useBackend(backend);
    const { leakyRelu } = await import("../ops/leaky_relu.ts");
    const x = tf.tensor1d([
      -2,
      -0.5,
      -0,
      0,
      0.25,
      3,
      ...Array.from({ length: 1500 }, (_, i) => i - 700),
    ]);
    const dy = tf.randomNormal(x.shape, 0, 1, "float32", 5);
    const ours = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(leakyRelu(t, 0.2), dy)))(x);
    const expected = tf.where(tf.greater(x, 0), dy, tf.mul(dy, 0.2));
    assert.deepEqual(ours.dataSync(), expected.dataSync());
  });
}

// The upsampling blocks in sub-pixel form against upsample, pad and conv: the
// U-Net's final 4x4 block and the ResNet's 3x3 ones.
const UPSAMPLE_CASES = [
  { block: "the U-Net's final block", kernel: 4, pad: [1, 0, 1, 0], fn: "upsampleConv" },
  { block: "the ResNet's 3x3 block", kernel: 3, pad: [0, 0, 0, 0], fn: "upsampleConv3x3" },
] as const;
for (const { block, kernel, pad, fn } of UPSAMPLE_CASES) {
  for (const backend of CPU_BACKENDS) {
    Deno.test({
      name:
        `${block} in sub-pixel form equals upsample, pad and conv, gradients too, on ${backend}`,
      ignore: await backendMissing(backend, `tests/ops_test.ts`),
    }, async () => {
      await useBackend(backend);
      const upsampling = await import("../ops/upsample_conv.ts");
      const { conv2d } = await import("../ops/conv.ts");
      const { convPadding } = await import("../ops/padding.ts");
      const x = tf.randomNormal([2, 5, 7, 4], 0, 1, "float32", 1) as tf.Tensor4D;
      const w = tf.randomNormal([kernel, kernel, 4, 3], 0, 1, "float32", 2);
      const b = tf.randomNormal([3], 0, 1, "float32", 3);
      const dy = tf.randomNormal([2, 10, 14, 3], 0, 1, "float32", 4);
      const direct = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) =>
        conv2d(upsampleNearest2x(xx as tf.Tensor4D), ww, bb, 1, convPadding([...pad], 1));
      const folded = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) =>
        upsampling[fn](xx as tf.Tensor4D, ww, bb);
      const loss = (f: typeof direct) => (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) =>
        tf.sum(tf.mul(f(xx, ww, bb), dy));
      const [ref, ours] = [direct(x, w, b), folded(x, w, b)];
      assert.deepEqual(ours.shape, ref.shape);
      const scale = tf.max(tf.abs(ref)).dataSync()[0];
      assert.ok(tf.max(tf.abs(tf.sub(ref, ours))).dataSync()[0] <= 1e-5 * scale);
      const gRef = tf.grads(loss(direct))([x, w, b]), gOurs = tf.grads(loss(folded))([x, w, b]);
      gRef.forEach((g, i) => {
        const s = tf.max(tf.abs(g)).dataSync()[0];
        const d = tf.max(tf.abs(tf.sub(g, gOurs[i]))).dataSync()[0];
        assert.ok(d <= 1e-5 * s, `gradient ${["x", "w", "b"][i]}: ${d} vs scale ${s}`);
      });
      // The direct form, as the bench counts FLOPs: the oracle's own operations.
      const before = upsampling.setUpsampleForm("direct");
      try {
        assert.deepEqual(folded(x, w, b).dataSync(), ref.dataSync());
      } finally {
        upsampling.setUpsampleForm(before);
      }
    });
  }
}

for (const backend of CPU_BACKENDS) {
  Deno.test({
    name: `instance norm's written-out gradient equals autodiff through its formula on ${backend}`,
    ignore: await backendMissing(backend, `tests/ops_test.ts`),
  }, async () => {
    await useBackend(backend);
    const { instanceNorm } = await import("../ops/instance_norm.ts");
    const x = tf.add(
      tf.mul(tf.randomNormal([2, 6, 5, 3], 0, 1, "float32", 5), 3),
      1,
    ) as tf.Tensor4D;
    const dy = tf.randomNormal([2, 6, 5, 3], 0, 1, "float32", 6);
    const byFormula = (t: tf.Tensor) => {
      const { mean, variance } = tf.moments(t, [1, 2], true);
      return tf.mul(tf.sub(t, mean), tf.rsqrt(tf.add(variance, 1e-5)));
    };
    const ref = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(byFormula(t), dy)))(x);
    const ours = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(instanceNorm(t as tf.Tensor4D), dy)))(x);
    const scale = tf.max(tf.abs(ref)).dataSync()[0];
    assert.ok(tf.max(tf.abs(tf.sub(ref, ours))).dataSync()[0] <= 1e-5 * scale);
    assert.ok(tf.max(tf.abs(tf.sub(byFormula(x), instanceNorm(x)))).dataSync()[0] < 1e-6);
    // What flows back sums to ~0 over H and W: a bias before the norm learns nothing.
    assert.ok(tf.max(tf.abs(tf.sum(ours, [1, 2]))).dataSync()[0] <= 1e-5 * scale);
  });
}

// The conv with bias keeps its input and weight for the backward pass, not its
// output (TF.js's fused conv kept the output), so the networks' layer scopes
// free the output once the next layer has read it. The gradients stay those
// of the composition conv + bias.
for (const backend of CPU_BACKENDS) {
  Deno.test({
    name: `conv2d with bias on ${backend}: the output is not kept for the backward pass`,
    ignore: await backendMissing(backend, `tests/ops_test.ts`),
  }, async () => {
    await useBackend(backend);
    const x = tf.variable(tf.randomNormal([2, 9, 9, 4], 0, 1, "float32", 3)) as tf.Variable<
      tf.Rank.R4
    >;
    const w = tf.variable(tf.randomNormal([3, 3, 4, 5], 0, 1, "float32", 4));
    const b = tf.variable(tf.randomNormal([5], 0, 1, "float32", 5));
    // What the conv's tape node saved for its backward pass: no tensor on the
    // output's array.
    type Node = { outputs: tf.Tensor[]; saved?: tf.Tensor[] };
    let keptOutput: boolean | undefined;
    const { value: loss, grads } = gradientsFreeing(() => {
      const y = conv2d(x as unknown as tf.Tensor4D, w, b, 2, 1);
      const tape = (tf.engine() as unknown as { state: { activeTape: Node[] } }).state.activeTape;
      const node = tape.find((n) => n.outputs.some((o) => o.id === y.id));
      keptOutput = node?.saved?.some((t) => t.dataId === y.dataId);
      return tf.sum(y) as tf.Scalar;
    }, [x, w, b]);
    assert.equal(keptOutput, false, "the conv's node saves its inputs, not its output");
    const reference = tf.grads((xx, ww, bb) =>
      tf.sum(tf.add(tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, 2, 1), bb))
    )([x, w, b]);
    for (let i = 0; i < 3; i++) {
      const got = grads[i]!.dataSync(), want = reference[i].dataSync();
      for (let k = 0; k < want.length; k++) close(got[k], want[k], 1e-4);
    }
    tf.dispose([loss, ...grads as tf.Tensor[], ...reference, x, w, b]);
  });
}

// As PyTorch's autograd, the backward pass computes an input's gradient only
// when the input leads to a variable: none for an image fed to the first
// layer, none for a detached fake in the discriminators' step.
for (const backend of CPU_BACKENDS) {
  Deno.test({
    name: `conv2d with bias on ${backend}: no input gradient for an input that needs none`,
    ignore: await backendMissing(backend, `tests/ops_test.ts`),
  }, async () => {
    await useBackend(backend);
    const image = tf.randomNormal([2, 9, 9, 4], 0, 1, "float32", 3) as tf.Tensor4D;
    const w1 = tf.variable(tf.randomNormal([3, 3, 4, 5], 0, 1, "float32", 4));
    const w2 = tf.variable(tf.randomNormal([3, 3, 5, 2], 0, 1, "float32", 6));
    const b1 = tf.variable(tf.zeros([5])), b2 = tf.variable(tf.zeros([2]));
    const backpropInputs = async (xs: tf.Variable[]) => {
      const info = await tf.profile(() => {
        const { value, grads } = gradientsFreeing(
          () => tf.sum(conv2d(conv2d(image, w1, b1, 1, 1), w2, b2, 1, 1)) as tf.Scalar,
          xs,
        );
        tf.dispose([value, ...grads as tf.Tensor[]]);
      });
      return info.kernels.filter((k) => k.name === "Conv2DBackpropInput").length;
    };
    // Both layers' weights: only the second layer's input (the first's output) needs a gradient.
    assert.equal(await backpropInputs([w1, b1, w2, b2]), 1);
    // The second layer's weights alone: nothing below it is differentiated.
    assert.equal(await backpropInputs([w2, b2]), 0);
    tf.dispose([image, w1, w2, b1, b2]);
  });
}

// oneDNN keeps each weight reordered into its primitives' layout between
// calls (ops/runtime/onednn/onednn.ts); Adam's in-place updates must make the
// copies stale. Several eager steps (updates during the backward pass, as
// training makes them) must follow the stock cpu kernels.
Deno.test({
  name: "onednn: kept filter copies follow Adam's in-place updates",
  ignore: await backendMissing("onednn", "tests/ops_test.ts"),
}, async () => {
  const trajectory = async (backend: "cpu" | "onednn") => {
    await useBackend(backend);
    const x = tf.randomNormal([2, 8, 8, 16], 0, 1, "float32", 7) as tf.Tensor4D;
    const x2 = tf.randomNormal([2, 8, 8, 16], 0, 1, "float32", 10) as tf.Tensor4D;
    // Made in a tidy, as the networks' parameters are: each variable alone owns
    // its values, which Adam then updates in place.
    const variable = (init: () => tf.Tensor) => tf.tidy(() => tf.variable(init()));
    const params = new Map([
      ["w1", variable(() => tf.randomNormal([3, 3, 16, 32], 0, 0.1, "float32", 8))],
      ["b1", variable(() => tf.zeros([32]))],
      ["w2", variable(() => tf.randomNormal([3, 3, 32, 16], 0, 0.1, "float32", 9))],
      ["b2", variable(() => tf.zeros([16]))],
    ]);
    const p = (k: string) => params.get(k)!;
    const adam = new Adam(params, { lr: 0.05, beta1: 0.5, beta2: 0.999, eps: 1e-8 });
    const totals: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await minimize(params, adam, { eager: true }, () => {
        // w1 reads images alone, in two passes: forward only, in the same
        // layout every step, so only the write stamps tell its copy is stale.
        // w2 is read forward and backward, as a generator's inner layers are.
        const y = tf.add(conv2d(x, p("w1"), p("b1"), 1, 1), conv2d(x2, p("w1"), p("b1"), 1, 1));
        const h = conv2d(tf.tanh(y as tf.Tensor4D), p("w2"), p("b2"), 1, 1);
        return { total: tf.mean(tf.square(tf.sub(h, 0.5))) as tf.Scalar, terms: {} };
      });
      totals.push(r.total);
    }
    const w = [...params.values()].map((v) => [...v.dataSync()]);
    tf.dispose([x, x2, ...params.values()]);
    adam.dispose();
    return { totals, w };
  };
  const ours = await trajectory("onednn"), stock = await trajectory("cpu");
  for (let i = 0; i < 4; i++) close(ours.totals[i], stock.totals[i], 1e-4);
  ours.w.forEach((w, k) => w.forEach((v, i) => close(v, stock.w[k][i], 1e-4)));
});
