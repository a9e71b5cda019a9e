// The fast float32 cpu kernels of ops/runtime/elementwise_kernels.ts against the
// stock tfjs-backend-cpu kernels (bit-identical), through gradients, and in the
// PyTorch parity iteration on the blas backend.
import assert from "node:assert/strict";
import { checkIteration } from "./iteration_check.ts";
import { tf } from "../ops/tf.ts";
import { useBackend } from "../ops/runtime/backend.ts";
import { upsampleNearest2x } from "../ops/upsample.ts";
import {
  FAST_CPU_KERNEL_NAMES,
  fastCpuKernelsRegistered,
  fastCpuKernelStats,
  registerFastCpuKernels,
  unregisterFastCpuKernels,
} from "../ops/runtime/elementwise_kernels.ts";
import { backendMissing } from "./native.ts";

/** Deterministic values in [-2, 2), with exact ties, zeros, -0 and (optionally) NaN mixed in. */
function rand(n: number, seed: number, nan = false): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = s / 2 ** 31 - 1;
    const k = s % 17;
    out[i] = k === 0 ? 0 : k === 1 ? -0 : k === 2 ? Math.round(u * 4) / 2 : 2 * u;
    if (nan && k === 3) out[i] = NaN;
  }
  return out;
}

let seed = 1;
function randTensor(shape: number[], dtype: "float32" | "int32" = "float32", nan = false) {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = rand(n, seed++, nan);
  return dtype === "int32"
    ? tf.tensor(Int32Array.from(v, (x) => Math.round(4 * x)), shape, "int32")
    : tf.tensor(v, shape);
}

/** Runs `f` with the stock kernels and with the fast ones; returns both results' values. */
async function both(
  f: () => tf.Tensor | tf.Tensor[],
): Promise<{ stock: tf.TypedArray[][]; fast: tf.TypedArray[][]; shapes: number[][][] }> {
  const run = async () => {
    const out = tf.tidy(f);
    const list = Array.isArray(out) ? out : [out];
    const vals = await Promise.all(list.map((t) => t.data()));
    const shapes = list.map((t) => t.shape);
    const dtypes = list.map((t) => t.dtype);
    tf.dispose(list);
    return { vals, shapes, dtypes };
  };
  unregisterFastCpuKernels();
  const s = await run();
  registerFastCpuKernels();
  const r = await run();
  assert.deepEqual(r.shapes, s.shapes, "shapes");
  assert.deepEqual(r.dtypes, s.dtypes, "dtypes");
  return { stock: [s.vals], fast: [r.vals], shapes: [s.shapes] };
}

function assertIdentical(actual: tf.TypedArray, expected: tf.TypedArray, what: string): void {
  assert.equal(actual.constructor, expected.constructor, `${what}: array type`);
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    if (!Object.is(actual[i], expected[i])) {
      assert.fail(`${what}: element ${i} is ${actual[i]}, stock ${expected[i]}`);
    }
  }
}

/**
 * Asserts `f` gives the stock kernels' exact result with the fast kernels, and that
 * `kernel` took the fast path (`path` "fast") or was forwarded ("fallback").
 */
async function check(
  what: string,
  kernel: string,
  path: "fast" | "fallback",
  f: () => tf.Tensor | tf.Tensor[],
): Promise<void> {
  fastCpuKernelStats(true);
  const { stock, fast } = await both(f);
  const stats = fastCpuKernelStats(true)[kernel] ?? { fast: 0, fallback: 0 };
  assert.ok(
    stats[path] > 0,
    `${what}: ${kernel} did not take the ${path} path (${JSON.stringify(stats)})`,
  );
  if (path === "fast") assert.equal(stats.fallback, 0, `${what}: ${kernel} fell back`);
  for (let i = 0; i < stock[0].length; i++) {
    assertIdentical(fast[0][i], stock[0][i], `${what} [output ${i}]`);
  }
}

await tf.setBackend("cpu");

const BINARY: [string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor][] = [
  ["Add", tf.add],
  ["Sub", tf.sub],
  ["Multiply", tf.mul],
  ["RealDiv", tf.div],
  ["Maximum", tf.maximum],
  ["Minimum", tf.minimum],
  ["SquaredDifference", tf.squaredDifference],
];

/** [a shape, b shape, fast path expected]. */
const BROADCASTS: [number[], number[], boolean][] = [
  [[2, 5, 7, 3], [2, 5, 7, 3], true], // same shape
  [[1, 3, 5], [3, 5], true], // same size, different rank
  [[2, 5, 7, 3], [], true], // scalar
  [[], [2, 5, 7, 3], true],
  [[2, 5, 7, 3], [1, 1, 1, 1], true], // size 1
  [[1], [2, 5, 7, 3], true],
  [[2, 5, 7, 3], [3], true], // per channel
  [[3], [2, 5, 7, 3], true],
  [[2, 5, 7, 3], [1, 1, 1, 3], true],
  [[1, 1, 1, 3], [2, 5, 7, 3], true],
  [[2, 5, 7, 3], [2, 1, 1, 3], true], // per sample and channel
  [[2, 1, 1, 3], [2, 5, 7, 3], true],
  [[3, 9, 11, 5], [3, 1, 1, 5], true], // odd sizes, batch 3
  [[4, 6], [4, 1], true], // per row
  [[2, 5, 7, 3], [1, 5, 1, 1], true], // middle block
  [[5, 1], [1, 7], false], // both broadcast
  [[2, 5, 7, 3], [2, 1, 7, 1], false], // four blocks
];

Deno.test("binary kernels: every broadcast case equals the stock kernel", async () => {
  for (const [name, op] of BINARY) {
    for (const [sa, sb, fast] of BROADCASTS) {
      const a = randTensor(sa), b = randTensor(sb);
      await check(`${name} ${sa} ${sb}`, name, fast ? "fast" : "fallback", () => op(a, b));
      tf.dispose([a, b]);
    }
  }
});

Deno.test("binary kernels: int32 and NaN inputs", async () => {
  for (const [name, op] of BINARY) {
    if (name === "RealDiv") continue; // tf.div of int32 is FloorDiv
    const a = randTensor([3, 4, 5], "int32"), b = randTensor([3, 4, 5], "int32");
    await check(`${name} int32`, name, "fallback", () => op(a, b));
    const c = randTensor([3, 4, 5], "float32", true), d = randTensor([5], "float32", true);
    await check(`${name} NaN`, name, "fast", () => op(c, d));
    tf.dispose([a, b, c, d]);
  }
});

Deno.test("comparison kernels and Select equal the stock kernels", async () => {
  const ops: [string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor][] = [
    ["Greater", tf.greater],
    ["GreaterEqual", tf.greaterEqual],
    ["Less", tf.less],
    ["LessEqual", tf.lessEqual],
  ];
  for (const [name, op] of ops) {
    const a = randTensor([2, 5, 7, 3], "float32", true), b = randTensor([2, 5, 7, 3]);
    const z = tf.scalar(0);
    await check(`${name} same`, name, "fast", () => op(a, b));
    await check(`${name} scalar`, name, "fast", () => op(a, z));
    await check(`${name} scalar a`, name, "fast", () => op(z, b));
    const c = randTensor([3]);
    await check(`${name} channel`, name, "fallback", () => op(a, c));
    tf.dispose([a, b, c, z]);
  }
  const t = randTensor([3, 5, 7, 2]), e = randTensor([3, 5, 7, 2]);
  await check("Select", "Select", "fast", () => tf.where(tf.greater(t, e), t, e));
  const rows = tf.tensor1d([true, false, true], "bool");
  // tf.where broadcasts the condition; the kernel itself also takes a rank-1 one.
  await check(
    "Select rows",
    "Select",
    "fallback",
    () => tf.engine().runKernel("Select", { condition: rows, t, e }) as tf.Tensor,
  );
  tf.dispose([t, e, rows]);
});

Deno.test("unary kernels equal the stock kernels", async () => {
  const ops: [string, (x: tf.Tensor) => tf.Tensor][] = [
    ["Square", tf.square],
    ["Sqrt", tf.sqrt],
    ["Rsqrt", tf.rsqrt],
    ["Neg", tf.neg],
    ["Abs", tf.abs],
    ["Floor", tf.floor],
    ["Tanh", tf.tanh],
    ["Relu", tf.relu],
    ["LeakyRelu", (x) => tf.leakyRelu(x, 0.2)],
    ["Step", (x) => tf.step(x, 0.3)],
  ];
  for (const [name, op] of ops) {
    const x = randTensor([2, 5, 7, 3], "float32", true);
    await check(name, name, "fast", () => op(x));
    const s = randTensor([]);
    await check(`${name} scalar`, name, "fast", () => op(s));
    tf.dispose([x, s]);
  }
  for (const [name, op] of ops.filter(([n]) => ["Neg", "Abs", "Relu", "Square"].includes(n))) {
    const i = randTensor([4, 5], "int32");
    await check(`${name} int32`, name, "fallback", () => op(i));
    i.dispose();
  }
});

Deno.test("unary, comparison and select kernels on special values", async () => {
  const negNaN = new Float32Array(new Int32Array([0xffc00000 | 0]).buffer)[0];
  const special = [0, -0, NaN, negNaN, Infinity, -Infinity, 1e-45, -1e-45, 3.5, -3.5, 1, -1];
  const x = tf.tensor(special, [3, 4]);
  const ops: [string, () => tf.Tensor][] = [
    ["Square", () => tf.square(x)],
    ["Sqrt", () => tf.sqrt(x)],
    ["Rsqrt", () => tf.rsqrt(x)],
    ["Neg", () => tf.neg(x)],
    ["Abs", () => tf.abs(x)],
    ["Floor", () => tf.floor(x)],
    ["Tanh", () => tf.tanh(x)],
    ["Relu", () => tf.relu(x)],
    ["LeakyRelu", () => tf.leakyRelu(x, 0.2)],
    ["Step", () => tf.step(x, 0.7)],
    ["Greater", () => tf.greater(x, tf.reverse(x))],
    ["Select", () => tf.where(tf.greater(x, 0), x, tf.reverse(x))],
  ];
  for (const [name, op] of ops) await check(`${name} special`, name, "fast", op);
  x.dispose();
});

Deno.test("Sum and Mean equal the stock kernels for every axis pattern", async () => {
  const cases: [number[], number | number[] | undefined][] = [
    [[2, 5, 7, 3], [1, 2]], // instance norm
    [[3, 9, 11, 5], [1, 2]],
    [[1, 64, 64, 8], [1, 2]], // long sums
    [[2, 5, 7, 3], [0, 1, 2]], // bias gradient
    [[2, 5, 7, 3], undefined], // all
    [[2, 3, 2, 5, 2, 4], [2, 4]], // upsample gradient
    [[2, 5, 7, 3], -1],
    [[2, 5, 7, 3], 0],
    [[2, 5, 7, 3], [3, 1]], // unsorted, four blocks
    [[2, 5, 7, 3], [0, 2]],
    [[2, 1, 7, 1], [1, 2]], // size-1 dims
    [[1, 1, 1], [0, 1]],
    [[5], 0],
    [[], undefined],
  ];
  for (const [shape, axis] of cases) {
    for (const keepDims of [false, true]) {
      const x = randTensor(shape);
      const what = `${shape} axis ${axis} keepDims ${keepDims}`;
      await check(`Sum ${what}`, "Sum", "fast", () => tf.sum(x, axis, keepDims));
      await check(`Mean ${what}`, "Mean", "fast", () => tf.mean(x, axis, keepDims));
      tf.dispose(x);
    }
  }
  const big = tf.tensor(rand(1 << 16, 7).map((v) => 1e4 * v + 3), [1, 128, 128, 4]);
  await check("Sum large values", "Sum", "fast", () => tf.sum(big, [1, 2]));
  await check("Mean large values", "Mean", "fast", () => tf.mean(big, [1, 2]));
  const i = randTensor([3, 4, 5], "int32");
  await check("Sum int32", "Sum", "fallback", () => tf.sum(i, [1, 2]));
  tf.dispose([big, i]);
});

Deno.test("SplitV and Concat equal the stock kernels on every axis", async () => {
  const x = randTensor([2, 5, 7, 6]);
  await check("SplitV last", "SplitV", "fast", () => tf.split(x, [2, 4], -1));
  await check("SplitV even", "SplitV", "fast", () => tf.split(x, 3, 3));
  await check("SplitV -1", "SplitV", "fast", () => tf.split(x, [1, -1, 2], 1));
  await check("SplitV axis 0", "SplitV", "fast", () => tf.split(x, [1, 1], 0));
  const u = randTensor([2, 8, 8, 512]);
  await check("SplitV U-Net", "SplitV", "fast", () => tf.split(u, 2, -1));
  const i = randTensor([4, 6], "int32");
  await check("SplitV int32", "SplitV", "fallback", () => tf.split(i, 2, 1));
  const a = randTensor([2, 5, 7, 3]), b = randTensor([2, 5, 7, 4]), c = randTensor([2, 5, 7, 1]);
  await check("Concat last", "Concat", "fast", () => tf.concat([a, b], -1));
  await check("Concat three", "Concat", "fast", () => tf.concat([a, b, c], 3));
  const d = randTensor([3, 5, 7, 3]);
  await check("Concat axis 0", "Concat", "fast", () => tf.concat([a, d], 0));
  const e = randTensor([2, 2, 7, 3]);
  await check("Concat axis 1", "Concat", "fast", () => tf.concat([a, e], 1));
  const ua = randTensor([2, 8, 8, 256]), ub = randTensor([2, 8, 8, 256]);
  await check("Concat U-Net", "Concat", "fast", () => tf.concat([ua, ub], -1));
  const j = randTensor([4, 6], "int32");
  await check("Concat int32", "Concat", "fallback", () => tf.concat([i, j], 1));
  tf.dispose([x, u, i, a, b, c, d, e, ua, ub, j]);
});

Deno.test("Transpose equals the stock kernel for every kind of permutation", async () => {
  const x = randTensor([2, 3, 4, 2, 2, 5]);
  const perms = [
    [0, 1, 3, 2, 4, 5], // the sub-pixel interleave: runs of 10
    [3, 1, 4, 2, 0, 5], // the folded kernel's
    [5, 4, 3, 2, 1, 0], // no run at all
    [1, 0, 2, 3, 4, 5],
    [0, 1, 2, 3, 4, 5], // identity: one run
  ];
  for (const p of perms) {
    await check(`transpose ${p}`, "Transpose", "fast", () => tf.transpose(x, p));
  }
  const m = randTensor([7, 9]);
  await check("transpose 2-D", "Transpose", "fast", () => tf.transpose(m));
  const i = randTensor([4, 6], "int32");
  await check("transpose int32", "Transpose", "fallback", () => tf.transpose(i));
  tf.dispose([x, m, i]);
});

Deno.test("ResizeNearestNeighbor equals the stock kernel", async () => {
  const x = randTensor([2, 3, 5, 4]);
  const sizes: [number, number][] = [[6, 10], [7, 9], [3, 5], [2, 3]];
  for (const size of sizes) {
    for (const [align, half] of [[false, false], [true, false], [false, true]]) {
      await check(
        `resize ${size} ${align} ${half}`,
        "ResizeNearestNeighbor",
        "fast",
        () => tf.image.resizeNearestNeighbor(x as tf.Tensor4D, size, align, half),
      );
    }
  }
  x.dispose();
});

/** A small U-Net-like net: conv, instance norm, leaky relu, upsample, concat, bias, tanh. */
function smallNet(params: tf.Tensor[], x: tf.Tensor4D): tf.Scalar {
  const [w1, b1, w2, w3, b3] = params as [
    tf.Tensor4D,
    tf.Tensor1D,
    tf.Tensor4D,
    tf.Tensor4D,
    tf.Tensor1D,
  ];
  const norm = (t: tf.Tensor4D) => {
    const { mean, variance } = tf.moments(t, [1, 2], true);
    return tf.mul(tf.sub(t, mean), tf.rsqrt(tf.add(variance, 1e-5))) as tf.Tensor4D;
  };
  const h1 = tf.leakyRelu(tf.add(tf.conv2d(x, w1, 2, "same"), b1), 0.2) as tf.Tensor4D;
  const h2 = tf.relu(norm(tf.conv2d(h1, w2, 1, "same"))) as tf.Tensor4D;
  const up = upsampleNearest2x(h2);
  const cat = tf.concat([up, x], -1) as tf.Tensor4D;
  const y = tf.tanh(tf.add(tf.conv2d(cat, w3, 1, "same"), b3));
  return tf.add(tf.mean(tf.square(tf.sub(y, 0.5))), tf.mul(0.1, tf.mean(tf.abs(y)))) as tf.Scalar;
}

Deno.test("gradients through a small conv net equal the stock ones", async () => {
  const params = [
    randTensor([3, 3, 3, 8]),
    randTensor([8]),
    randTensor([3, 3, 8, 6]),
    randTensor([3, 3, 9, 3]),
    randTensor([3]),
  ].map((p) => tf.mul(p, 0.3));
  const x = randTensor([3, 10, 10, 3]) as tf.Tensor4D;
  const grad = tf.grads((...ps: tf.Tensor[]) => smallNet(ps, x));
  fastCpuKernelStats(true);
  const { stock, fast } = await both(() => grad(params));
  const stats = fastCpuKernelStats(true);
  for (
    const k of [
      "Add",
      "Multiply",
      "Sum",
      "Mean",
      "SplitV",
      "Concat",
      "Sub",
      "ResizeNearestNeighbor",
    ]
  ) {
    assert.ok((stats[k]?.fast ?? 0) > 0, `${k} not exercised: ${JSON.stringify(stats)}`);
  }
  for (let i = 0; i < params.length; i++) {
    assertIdentical(fast[0][i], stock[0][i], `gradient ${i}`);
  }
  tf.dispose([...params, x]);
});

Deno.test("unregisterFastCpuKernels restores the stock kernels", async () => {
  unregisterFastCpuKernels();
  const before = new Map(FAST_CPU_KERNEL_NAMES.map((n) => [n, tf.getKernel(n, "cpu")]));
  registerFastCpuKernels();
  registerFastCpuKernels(); // idempotent
  assert.ok(fastCpuKernelsRegistered());
  for (const n of FAST_CPU_KERNEL_NAMES) {
    assert.notEqual(tf.getKernel(n, "cpu")?.kernelFunc, before.get(n)?.kernelFunc, n);
  }
  unregisterFastCpuKernels();
  unregisterFastCpuKernels(); // safe twice
  assert.ok(!fastCpuKernelsRegistered());
  for (const n of FAST_CPU_KERNEL_NAMES) assert.equal(tf.getKernel(n, "cpu"), before.get(n), n);
  fastCpuKernelStats(true);
  const a = randTensor([2, 3]);
  (await tf.add(a, a).data()) satisfies tf.TypedArray;
  assert.deepEqual(fastCpuKernelStats(true), {}, "no fast kernel ran");
  a.dispose();
});

for (const file of ["step", "step_unpaired"] as const) {
  Deno.test({
    name: `${file}: one iteration matches PyTorch on blas with the fast kernels`,
    ignore: await backendMissing("blas", "tests/elementwise_kernels_test.ts"),
  }, async () => {
    await useBackend("blas");
    registerFastCpuKernels();
    try {
      fastCpuKernelStats(true);
      await checkIteration(file);
      const stats = fastCpuKernelStats(true);
      assert.ok((stats.Add?.fast ?? 0) > 0 && (stats.SplitV?.fast ?? 0) > 0, JSON.stringify(stats));
    } finally {
      unregisterFastCpuKernels();
    }
  });
}
