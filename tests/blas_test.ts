import * as tf from "@tensorflow/tfjs";
import { missing } from "./native.ts";
import assert from "node:assert/strict";
import {
  CBLAS_COL_MAJOR,
  CBLAS_NO_TRANS,
  CBLAS_TRANS,
  loadOpenBlas,
  type OpenBlas,
  openBlasLoadError,
} from "../ops/runtime/openblas/openblas.ts";
import {
  BLAS_KERNEL_NAMES,
  blasKernelsRegistered,
  blasKernelStats,
  registerBlasKernels,
  unregisterBlasKernels,
} from "../ops/runtime/openblas/conv_kernels.ts";
import { adamUpdateInPlace } from "../ops/runtime/adam_kernel.ts";

const INSTALL_HINT =
  "OpenBLAS is required for ops/runtime/openblas (run: apt-get install -y libopenblas0-pthread)";

// Without OpenBLAS these are ignored, with a line saying so (tests/native.ts).
const ignoreBlas = await missing("openblas", "tests/blas_test.ts (sgemm and the conv kernels)");
function blasTest(name: string, fn: () => void | Promise<void>): void {
  Deno.test({ name, ignore: ignoreBlas, fn });
}

function requireBlas(): OpenBlas {
  const blas = loadOpenBlas();
  if (!blas) {
    throw new Error(`${INSTALL_HINT}; loader said: ${openBlasLoadError()}`);
  }
  return blas;
}

/** Deterministic values in [-1, 1). */
function rand(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** max |a - b| <= tol * max(|ref|) (summation order differs between kernels). */
function assertClose(
  actual: Float32Array,
  ref: Float32Array,
  what: string,
  tol = 1e-5,
): void {
  assert.equal(actual.length, ref.length, `${what}: length`);
  let maxRef = 0, maxDiff = 0, at = -1;
  for (let i = 0; i < ref.length; i++) {
    maxRef = Math.max(maxRef, Math.abs(ref[i]));
    const d = Math.abs(actual[i] - ref[i]);
    if (!(d <= maxDiff)) {
      maxDiff = d;
      at = i;
    }
  }
  assert.ok(
    maxDiff <= tol * Math.max(maxRef, 1e-6),
    `${what}: max diff ${maxDiff} at ${at} (got ${actual[at]}, want ${
      ref[at]
    }) vs max |ref| ${maxRef}`,
  );
}

function naiveGemm(
  tA: boolean,
  tB: boolean,
  m: number,
  n: number,
  k: number,
  a: Float32Array,
  lda: number,
  b: Float32Array,
  ldb: number,
): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) {
        s += (tA ? a[p * lda + i] : a[i * lda + p]) *
          (tB ? b[j * ldb + p] : b[p * ldb + j]);
      }
      c[i * n + j] = s;
    }
  }
  return c;
}

blasTest("OpenBLAS is installed and loadable", () => {
  const blas = requireBlas();
  assert.ok(blas.path.length > 0);
  assert.equal(loadOpenBlas(), blas, "handle is cached");
});

blasTest("sgemm honours subarray offsets, leading dims and transposes", () => {
  const blas = requireBlas();
  const m = 5, n = 7, k = 3;
  for (const tA of [false, true]) {
    for (const tB of [false, true]) {
      // Padded leading dims and non-zero view offsets everywhere.
      const lda = (tA ? m : k) + 2, ldb = (tB ? k : n) + 1, ldc = n + 3;
      const aRows = tA ? k : m, bRows = tB ? n : k;
      const aBig = rand(7 + aRows * lda, 1), bBig = rand(5 + bRows * ldb, 2);
      const a = aBig.subarray(7), b = bBig.subarray(5);
      const cBig = new Float32Array(11 + m * ldc).fill(123);
      const c = cBig.subarray(11);
      blas.sgemm(tA, tB, m, n, k, 2, a, b, 0, c, lda, ldb, ldc);
      const want = naiveGemm(tA, tB, m, n, k, a, lda, b, ldb);
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          const got = c[i * ldc + j];
          assert.ok(
            Math.abs(got - 2 * want[i * n + j]) < 1e-5,
            `tA=${tA} tB=${tB} (${i},${j}): ${got} vs ${2 * want[i * n + j]}`,
          );
        }
        // Padding columns of C are untouched.
        for (let j = n; j < ldc && i * ldc + j < c.length; j++) {
          assert.equal(c[i * ldc + j], 123);
        }
      }
      for (let i = 0; i < 11; i++) assert.equal(cBig[i], 123, "before view");
    }
  }
  // beta = 1 accumulates; column-major raw call equals row-major transpose.
  const a = rand(6, 3), b = rand(6, 4);
  const c = new Float32Array(4).fill(1);
  blas.cblasSgemm(
    CBLAS_COL_MAJOR,
    CBLAS_TRANS,
    CBLAS_NO_TRANS,
    2,
    2,
    3,
    1,
    a,
    3,
    b,
    3,
    1,
    c,
    2,
  );
  // Column-major: C[i,j] at c[j*2+i] = sum_p A[p,i] * B[p,j], A[p,i]=a[i*3+p].
  for (let i = 0; i < 2; i++) {
    for (let j = 0; j < 2; j++) {
      let s = 1;
      for (let p = 0; p < 3; p++) s += a[i * 3 + p] * b[j * 3 + p];
      assert.ok(Math.abs(c[j * 2 + i] - s) < 1e-5);
    }
  }
});

blasTest("sgemm rejects out-of-range buffers before calling native code", () => {
  const blas = requireBlas();
  const a = new Float32Array(6), b = new Float32Array(6);
  assert.throws(
    () => blas.sgemm(false, false, 2, 2, 3, 1, a, b, 0, new Float32Array(3)),
    RangeError,
  );
  assert.throws(
    () => blas.sgemm(false, false, 3, 2, 3, 1, a, b, 0, new Float32Array(6)),
    RangeError,
  );
  assert.throws(
    () => blas.sgemm(false, false, 2, 2, 3, 1, a, b, 0, new Float32Array(4), 2),
    RangeError,
  );
  // k = 0 scales C by beta without touching A/B.
  const c = new Float32Array([1, 2, 3, 4]);
  blas.sgemm(false, false, 2, 2, 0, 1, a, b, 0.5, c);
  assert.deepEqual(Array.from(c), [0.5, 1, 1.5, 2]);
});

type PadSpec = "same" | "valid" | tf.backend_util.ExplicitPadding;
interface Case {
  n: number;
  h: number;
  w: number;
  ci: number;
  co: number;
  k: number | [number, number];
  s: number | [number, number];
  pad: PadSpec;
  dil?: number;
}

const EXPLICIT: tf.backend_util.ExplicitPadding = [[0, 0], [2, 1], [2, 1], [
  0,
  0,
]];

const CASES: Case[] = [
  { n: 1, h: 9, w: 7, ci: 3, co: 5, k: 3, s: 1, pad: "same" },
  { n: 3, h: 9, w: 11, ci: 4, co: 6, k: 3, s: 2, pad: "same" },
  { n: 3, h: 10, w: 10, ci: 5, co: 7, k: 4, s: 2, pad: "same" },
  { n: 1, h: 9, w: 9, ci: 6, co: 5, k: 4, s: 2, pad: "same" },
  { n: 1, h: 13, w: 9, ci: 3, co: 4, k: 7, s: 1, pad: "valid" },
  { n: 3, h: 11, w: 12, ci: 3, co: 4, k: 7, s: 2, pad: "valid" },
  { n: 1, h: 9, w: 9, ci: 2, co: 3, k: 7, s: 1, pad: "same" },
  { n: 3, h: 8, w: 9, ci: 6, co: 5, k: 4, s: 2, pad: EXPLICIT },
  { n: 1, h: 7, w: 7, ci: 4, co: 3, k: 3, s: 1, pad: EXPLICIT },
  { n: 3, h: 1, w: 1, ci: 8, co: 6, k: 1, s: 1, pad: "valid" },
  { n: 3, h: 1, w: 1, ci: 8, co: 6, k: 3, s: 1, pad: "same" },
  { n: 1, h: 1, w: 1, ci: 5, co: 4, k: 4, s: 2, pad: "same" },
  { n: 3, h: 5, w: 5, ci: 8, co: 6, k: 1, s: 1, pad: "same" },
  { n: 2, h: 6, w: 7, ci: 4, co: 5, k: 1, s: 2, pad: "valid" },
  { n: 3, h: 4, w: 4, ci: 16, co: 8, k: 4, s: 1, pad: "valid" },
  { n: 2, h: 5, w: 6, ci: 3, co: 4, k: [3, 2], s: [1, 2], pad: "same" },
  { n: 2, h: 9, w: 8, ci: 3, co: 4, k: 3, s: 1, pad: "same", dil: 2 },
  { n: 1, h: 10, w: 7, ci: 2, co: 3, k: 3, s: 1, pad: "valid", dil: 3 },
];

function label(c: Case): string {
  const pad = typeof c.pad === "string" ? c.pad : "explicit";
  return `x[${c.n},${c.h},${c.w},${c.ci}] k${c.k} s${c.s} ${pad} co${c.co}` +
    (c.dil ? ` dil${c.dil}` : "");
}

/** Every kernel output we compare, computed with whatever is registered. */
function computeAll(c: Case, seed: number): Map<string, Float32Array> {
  const [kh, kw] = typeof c.k === "number" ? [c.k, c.k] : c.k;
  const xShape: [number, number, number, number] = [c.n, c.h, c.w, c.ci];
  const wShape: [number, number, number, number] = [kh, kw, c.ci, c.co];
  const dil = c.dil ?? 1;
  const out = new Map<string, Float32Array>();
  tf.tidy(() => {
    const x = tf.tensor4d(rand(c.n * c.h * c.w * c.ci, seed), xShape);
    const w = tf.tensor4d(rand(kh * kw * c.ci * c.co, seed + 1), wShape);
    const bias = tf.tensor1d(rand(c.co, seed + 2));
    const y = tf.conv2d(x, w, c.s, c.pad, "NHWC", dil);
    out.set("Conv2D", y.dataSync() as Float32Array);
    const fused = tf.fused.conv2d({
      x,
      filter: w,
      strides: c.s,
      pad: c.pad,
      dilations: dil,
      bias,
      activation: "leakyrelu",
      leakyreluAlpha: 0.2,
    });
    out.set("FusedConv2D+bias+leakyrelu", fused.dataSync() as Float32Array);
    const fusedLinear = tf.fused.conv2d({
      x,
      filter: w,
      strides: c.s,
      pad: c.pad,
      dilations: dil,
      bias: tf.scalar(0.25),
    });
    out.set("FusedConv2D+scalar bias", fusedLinear.dataSync() as Float32Array);
    if (dil !== 1) return; // tfjs has no dilated conv gradients
    const dy = tf.tensor4d(rand(y.size, seed + 3), y.shape);
    const attrs = {
      strides: c.s,
      pad: c.pad,
      dataFormat: "NHWC",
      dimRoundingMode: undefined,
    } as unknown as tf.NamedAttrMap;
    const dx = tf.engine().runKernel(
      "Conv2DBackpropInput",
      { dy, filter: w },
      { ...attrs, inputShape: xShape },
    ) as tf.Tensor;
    out.set("Conv2DBackpropInput", dx.dataSync() as Float32Array);
    const dw = tf.engine().runKernel(
      "Conv2DBackpropFilter",
      { x, dy },
      { ...attrs, filterShape: wShape },
    ) as tf.Tensor;
    out.set("Conv2DBackpropFilter", dw.dataSync() as Float32Array);
    // Gradients through the public ops.
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.s, c.pad).mul(dy).sum()
    )([x, w]);
    out.set("grad conv2d dx", g[0].dataSync() as Float32Array);
    out.set("grad conv2d dw", g[1].dataSync() as Float32Array);
    const gf = tf.grads((a: tf.Tensor, b: tf.Tensor, bb: tf.Tensor) =>
      tf.fused.conv2d({
        x: a as tf.Tensor4D,
        filter: b as tf.Tensor4D,
        strides: c.s,
        pad: c.pad,
        bias: bb,
      }).mul(dy).sum()
    )([x, w, bias]);
    gf.forEach((t, i) => out.set(`grad fused conv2d #${i}`, t.dataSync() as Float32Array));
    const t = tf.conv2dTranspose(dy, w, xShape, c.s, c.pad);
    out.set("conv2dTranspose", t.dataSync() as Float32Array);
    const r = tf.tensor4d(rand(x.size, seed + 4), xShape);
    const gt = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.conv2dTranspose(a as tf.Tensor4D, b as tf.Tensor4D, xShape, c.s, c.pad)
        .mul(r).sum()
    )([dy, w]);
    out.set("grad conv2dTranspose d(input)", gt[0].dataSync() as Float32Array);
    out.set("grad conv2dTranspose dw", gt[1].dataSync() as Float32Array);
  });
  return out;
}

function stockConfigs(): Map<string, tf.KernelConfig | undefined> {
  return new Map(BLAS_KERNEL_NAMES.map((n) => [n, tf.getKernel(n, "cpu")]));
}

blasTest("BLAS conv kernels match the stock cpu kernels", async () => {
  requireBlas();
  await tf.setBackend("cpu");
  const before = stockConfigs();
  const refs = CASES.map((c, i) => computeAll(c, 100 + 10 * i));
  try {
    // Default scratch, then a tiny one that forces im2col chunking (chunk
    // boundaries inside an image and across the batch).
    for (const maxScratchElements of [undefined, 50]) {
      assert.ok(registerBlasKernels({ maxScratchElements }));
      assert.ok(blasKernelsRegistered());
      blasKernelStats(true);
      CASES.forEach((c, i) => {
        const got = computeAll(c, 100 + 10 * i);
        assert.equal(got.size, refs[i].size);
        for (const [name, ref] of refs[i]) {
          assertClose(
            got.get(name)!,
            ref,
            `${label(c)} ${name} scratch=${maxScratchElements ?? "default"}`,
          );
        }
      });
      const stats = blasKernelStats(true);
      for (const name of BLAS_KERNEL_NAMES) {
        assert.ok((stats[name]?.blas ?? 0) > 0, `${name} used BLAS`);
        assert.equal(stats[name]?.fallback ?? 0, 0, `${name} fell back`);
      }
      unregisterBlasKernels();
    }
  } finally {
    unregisterBlasKernels();
  }
  assert.ok(!blasKernelsRegistered());
  for (const [name, cfg] of stockConfigs()) {
    assert.equal(cfg, before.get(name), `${name} stock kernel restored`);
  }
});

blasTest("tf.layers conv/deconv model: same outputs and gradients", async () => {
  requireBlas();
  await tf.setBackend("cpu");
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({
        inputShape: [16, 16, 3],
        filters: 8,
        kernelSize: 4,
        strides: 2,
        padding: "same",
        activation: "relu",
        kernelInitializer: init(1),
        biasInitializer: "ones",
      }),
      tf.layers.conv2d({
        filters: 16,
        kernelSize: 4,
        strides: 2,
        padding: "same",
        kernelInitializer: init(2),
      }),
      tf.layers.leakyReLU({ alpha: 0.2 }),
      tf.layers.conv2dTranspose({
        filters: 8,
        kernelSize: 4,
        strides: 2,
        padding: "same",
        kernelInitializer: init(3),
      }),
      tf.layers.conv2dTranspose({
        filters: 3,
        kernelSize: 4,
        strides: 2,
        padding: "same",
        activation: "tanh",
        kernelInitializer: init(4),
      }),
    ],
  });
  const x = tf.tensor4d(rand(2 * 16 * 16 * 3, 42), [2, 16, 16, 3]);
  const run = (): Float32Array[] =>
    tf.tidy(() => {
      const pred = model.predict(x) as tf.Tensor;
      const { value, grads } = tf.variableGrads(() =>
        (model.apply(x, { training: true }) as tf.Tensor).sub(x).square()
          .mean() as tf.Scalar
      );
      return [pred, value, ...Object.values(grads)].map((t) => t.dataSync() as Float32Array);
    });
  const ref = run();
  try {
    assert.ok(registerBlasKernels());
    blasKernelStats(true);
    const got = run();
    assert.equal(got.length, ref.length);
    got.forEach((g, i) => assertClose(g, ref[i], `layers output/grad #${i}`));
    const stats = blasKernelStats(true);
    for (const name of BLAS_KERNEL_NAMES) {
      assert.ok((stats[name]?.blas ?? 0) > 0, `${name} used BLAS`);
    }
  } finally {
    unregisterBlasKernels();
    model.dispose();
    x.dispose();
  }
});

blasTest("unsupported variants fall back to the stock kernels", async () => {
  requireBlas();
  await tf.setBackend("cpu");
  const x = tf.tensor4d(rand(2 * 6 * 6 * 3, 7), [2, 6, 6, 3]);
  const w = tf.tensor4d(rand(3 * 3 * 3 * 4, 8), [3, 3, 3, 4]);
  const alpha = tf.tensor1d(rand(4, 9));
  const run = () => [
    tf.fused.conv2d({
      x,
      filter: w,
      strides: 1,
      pad: "same",
      activation: "prelu",
      preluActivationWeights: alpha,
    }).dataSync() as Float32Array,
    tf.conv2d(x.transpose([0, 3, 1, 2]) as tf.Tensor4D, w, 1, "same", "NCHW")
      .dataSync() as Float32Array,
  ];
  const ref = run();
  try {
    assert.ok(registerBlasKernels());
    blasKernelStats(true);
    const got = run();
    got.forEach((g, i) => assertClose(g, ref[i], `fallback ${i}`));
    const stats = blasKernelStats(true);
    assert.ok((stats.FusedConv2D?.fallback ?? 0) > 0, "prelu fell back");
    assert.ok((stats.Conv2D?.fallback ?? 0) > 0, "NCHW fell back");
  } finally {
    unregisterBlasKernels();
    tf.dispose([x, w, alpha]);
  }
});

Deno.test("adamUpdateInPlace matches a float64 reference of PyTorch Adam", () => {
  const n = 1000;
  const p = rand(n, 11), m = new Float32Array(n), v = new Float32Array(n);
  const pRef = Float64Array.from(p), mRef = new Float64Array(n);
  const vRef = new Float64Array(n);
  const [lr, b1, b2, eps] = [2e-4, 0.5, 0.999, 1e-8];
  for (let t = 1; t <= 5; t++) {
    const g = rand(n, 100 + t);
    adamUpdateInPlace(p, g, m, v, t, lr, b1, b2, eps);
    for (let i = 0; i < n; i++) {
      mRef[i] = b1 * mRef[i] + (1 - b1) * g[i];
      vRef[i] = b2 * vRef[i] + (1 - b2) * g[i] * g[i];
      const mh = mRef[i] / (1 - b1 ** t), vh = vRef[i] / (1 - b2 ** t);
      pRef[i] -= lr * mh / (Math.sqrt(vh) + eps);
    }
  }
  assertClose(p, Float32Array.from(pRef), "adam params", 1e-6);
  assertClose(m, Float32Array.from(mRef), "adam m", 1e-6);
  assertClose(v, Float32Array.from(vRef), "adam v", 1e-6);
  assert.throws(
    () => adamUpdateInPlace(p, new Float32Array(3), m, v, 1, lr, b1, b2, eps),
    RangeError,
  );
  assert.throws(
    () => adamUpdateInPlace(p, new Float32Array(n), m, v, 0, lr, b1, b2, eps),
    RangeError,
  );
});
