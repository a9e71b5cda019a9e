// gradientsFreeing against TF.js's own engine.gradients: same bits, same
// tensors left, lower peak.
import assert from "node:assert/strict";
import { type Tensor, tf, type Variable } from "../ops/tf.ts";
import { useBackend } from "../ops/runtime/backend.ts";
import { gradientsFreeing } from "../ops/gradients.ts";
import { upsampleNearest2x } from "../ops/upsample.ts";
import { CPU_BACKENDS } from "./fixtures.ts";
import { createDiscoGan } from "../models/discogan.ts";
import { discoGanIteration } from "../pipeline/iteration.ts";
import { createTrainingState, networkParams } from "../pipeline/training_state.ts";
import { backendMissing } from "./native.ts";

type Case = { f: () => tf.Scalar; xs: Variable[] };
type Grad = (
  f: () => tf.Scalar,
  xs: Variable[],
) => { value: Tensor; grads: (Tensor | undefined)[] };
const viaEngine: Grad = (f, xs) => tf.engine().gradients(f, xs, undefined, true);

let seed = 1;
const variable = (shape: number[]) =>
  tf.tidy(() => tf.variable(tf.randomNormal(shape, 0, 0.5, "float32", seed++)));

const kernel = (shape: number[]) => variable(shape) as tf.Variable<tf.Rank.R4>;

function bits(t: Tensor | undefined): number[] | undefined {
  return t && [...new Uint32Array(Float32Array.from(t.dataSync() as Float32Array).buffer)];
}

/** Runs both, checks equal bits and equal tensor counts, then frees the results. */
function compare(name: string, c: Case) {
  const before = tf.memory().numTensors;
  const theirs = viaEngine(c.f, c.xs);
  const theirCount = tf.memory().numTensors - before;
  const ours = gradientsFreeing(c.f, c.xs);
  const ourCount = tf.memory().numTensors - before - theirCount;
  assert.deepEqual(bits(ours.value), bits(theirs.value), `${name}: value`);
  assert.equal(ours.grads.length, theirs.grads.length);
  theirs.grads.forEach((g, i) => {
    assert.deepEqual(bits(ours.grads[i]), bits(g), `${name}: gradient ${i}`);
  });
  assert.equal(ourCount, theirCount, `${name}: tensors left`);
  const results = [theirs.value, ...theirs.grads, ours.value, ...ours.grads];
  // (A loss that is one of the variables stays.)
  tf.dispose(results.filter((t) => t && !(t instanceof tf.Variable)) as Tensor[]);
  assert.equal(tf.memory().numTensors, before, `${name}: tensors after disposing the results`);
}

// A gradient that is dy itself, for one or both inputs.
const passThrough = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
  const x = args[0] as Tensor;
  return { value: tf.mul(x, 1.5), gradFunc: (dy: Tensor) => dy };
}) as (x: Tensor) => Tensor;
const passBoth = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
  const [a, b] = args as Tensor[];
  return { value: tf.add(a, b), gradFunc: (dy: Tensor) => [dy, dy] };
}) as (a: Tensor, b: Tensor) => Tensor;
// Saves tensors of its own, as instance norm does.
const scaled = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
  const [x, save] = args as [Tensor, tf.GradSaveFunc];
  const s = tf.sigmoid(x);
  save([x, s]);
  return {
    value: tf.mul(x, s),
    gradFunc: (dy: Tensor, [xs, ss]: Tensor[]) =>
      tf.mul(dy, tf.add(ss, tf.mul(xs, tf.mul(ss, tf.sub(1, ss))))),
  };
}) as (x: Tensor) => Tensor;

function graphs(): [string, Case][] {
  const w = variable([4, 6]), b = variable([6]), v = variable([6, 3]), unused = variable([2]);
  const s = tf.tidy(() => tf.variable(tf.scalar(2))) as tf.Variable<tf.Rank.R0>;
  const x = tf.randomNormal([5, 4], 0, 1, "float32", 7);
  const k1 = kernel([3, 3, 3, 8]), k2 = kernel([3, 3, 8, 4]), k3 = kernel([1, 1, 4, 3]);
  const img = tf.randomNormal([2, 8, 8, 3], 0, 1, "float32", 9) as tf.Tensor4D;
  const norm = (t: tf.Tensor4D) => {
    const { mean, variance } = tf.moments(t, [1, 2], true);
    return tf.div(tf.sub(t, mean), tf.sqrt(tf.add(variance, 1e-5))) as tf.Tensor4D;
  };
  return [
    ["small network", {
      xs: [k1, k2, k3],
      f: () => {
        let h = tf.leakyRelu(norm(tf.conv2d(img, k1, 2, "same")), 0.2) as tf.Tensor4D;
        h = tf.relu(norm(tf.conv2d(upsampleNearest2x(h), k2, 1, "same")));
        const out = tf.tanh(
          tf.conv2d(tf.concat([h, h], 3).slice([0, 0, 0, 0], [-1, -1, -1, 4]), k3, 1, "valid"),
        );
        return tf.mean(tf.square(tf.sub(out, img)));
      },
    }],
    ["add, reshape, clone (Identity) chains", {
      xs: [w, b],
      f: () => {
        const h = tf.clone(tf.reshape(tf.add(tf.matMul(x, w), b), [30]));
        return tf.sum(tf.reshape(tf.clone(tf.add(h, 0)), [5, 6]));
      },
    }],
    ["a tensor used twice, a weight used twice", {
      xs: [w, v],
      f: () => {
        const h = tf.tanh(tf.matMul(x, w));
        return tf.sum(tf.add(tf.mul(h, h), tf.matMul(tf.matMul(h, v), tf.transpose(v))));
      },
    }],
    ["customGrad returning dy, twice", {
      xs: [w, b],
      f: () => {
        const h = passThrough(tf.matMul(x, w));
        return tf.sum(tf.square(passBoth(passBoth(h, tf.mul(tf.ones([5, 1]), b)), scaled(h))));
      },
    }],
    ["customGrad with one tensor as both inputs", {
      xs: [w],
      f: () => tf.sum(tf.square(passBoth(passThrough(w), passThrough(w)))),
    }],
    ["concat and split, an output unused", {
      xs: [w, b, unused],
      f: () => {
        const [p, , r] = tf.split(
          tf.concat([tf.matMul(x, w), tf.tile(tf.reshape(b, [1, 6]), [5, 1])], 1),
          3,
          1,
        );
        return tf.sum(tf.mul(tf.sin(p), r));
      },
    }],
    ["the loss is a slice of a variable", {
      xs: [w, b],
      f: () => b.slice(0, 1).reshape([]) as tf.Scalar,
    }],
    ["the loss is a variable", { xs: [s, w], f: () => s }],
  ];
}

for (const backend of CPU_BACKENDS) {
  Deno.test({
    name: `same gradients, bit for bit, and same tensors left as engine.gradients on ${backend}`,
    ignore: await backendMissing(backend, `tests/gradients_test.ts`),
  }, async () => {
    await useBackend(backend);
    const base = tf.memory().numTensors;
    const cases = graphs();
    for (const [name, c] of cases) compare(name, c);
    tf.dispose(cases.flatMap(([, c]) => c.xs));
    assert.equal(tf.memory().numTensors, base + 2); // the two inputs made in graphs()
  });
}

Deno.test("nested in another gradient computation, both levels match the engine", async () => {
  await useBackend("cpu");
  const a = variable([4, 4]), d = variable([4, 1]);
  const x = tf.randomNormal([3, 4], 0, 1, "float32", 3);
  const run = (grad: Grad) => {
    let inner: tf.Tensor[] = [];
    const outer = grad(() => {
      const h = tf.tanh(tf.matMul(x, a));
      // Like the discriminator step inside the generator step.
      const r = grad(() => tf.sum(tf.sigmoid(tf.matMul(tf.mul(h, 1), d))), [d]);
      inner = [tf.keep(r.value), ...r.grads.map((g) => tf.keep(g as Tensor))];
      return tf.sum(tf.square(tf.matMul(h, d)));
    }, [a]);
    return [outer.value, ...outer.grads, ...inner] as Tensor[];
  };
  const before = tf.memory().numTensors;
  const theirs = run(viaEngine);
  const theirCount = tf.memory().numTensors - before;
  const ours = run(gradientsFreeing);
  assert.equal(tf.memory().numTensors - before - theirCount, theirCount);
  ours.forEach((t, i) => assert.deepEqual(bits(t), bits(theirs[i])));
  tf.dispose([...theirs, ...ours]);
  assert.equal(tf.memory().numTensors, before);
  // A second-order gradient goes through the tape of the nested call.
  const w = variable([3]);
  const second = (grad: Grad) =>
    grad(() => {
      const inner = grad(() => tf.sum(tf.mul(tf.square(w), w)), [w]);
      return tf.sum(tf.mul(inner.grads[0] as Tensor, w)); // sum(3 w³): 9 w²
    }, [w]);
  const [e, o] = [second(viaEngine), second(gradientsFreeing)];
  assert.deepEqual(bits(o.grads[0]), bits(e.grads[0]));
  const expected = tf.mul(tf.square(w), 9).dataSync();
  o.grads[0]?.dataSync().forEach((g, i) => assert.ok(Math.abs(g - expected[i]) < 1e-5));
});

Deno.test("onGradient gets each final gradient once, during the pass; true consumes it", async () => {
  await useBackend("cpu");
  const ws = [variable([4, 8]), variable([8, 8]), variable([8, 2])];
  const x = tf.randomNormal([6, 4], 0, 1, "float32", 5);
  const f = () => {
    let h: Tensor = x;
    for (const w of ws) h = tf.tanh(tf.matMul(h, w));
    return tf.sum(tf.square(h)) as tf.Scalar;
  };
  const reference = tf.engine().gradients(f, ws, undefined, true);
  const expected = ws.map((w, i) => tf.sub(w, tf.mul(reference.grads[i] as Tensor, 0.1)));
  const seen: number[] = [];
  const before = tf.memory().numTensors;
  // SGD in place of each weight as soon as its gradient is final: the last
  // layer's first, and no later gradient may see an updated weight.
  const { value, grads } = gradientsFreeing(f, ws, (w, g) => {
    seen.push(ws.indexOf(w as Variable));
    if (w === ws[1]) return false;
    (w as Variable).assign(tf.tidy(() => tf.sub(w, tf.mul(g, 0.1))));
    return true;
  });
  assert.deepEqual(seen, [2, 1, 0]);
  assert.deepEqual(grads.map((g) => g === undefined), [true, false, true]);
  assert.deepEqual(bits(value), bits(reference.value));
  assert.deepEqual(bits(grads[1]), bits(reference.grads[1]));
  assert.equal(tf.memory().numTensors - before, 2); // value and the one gradient kept
  for (const i of [0, 2]) assert.deepEqual(bits(ws[i]), bits(expected[i]));
  tf.dispose([value, ...grads.filter((g) => g), reference.value, ...reference.grads, ...expected]);
});

Deno.test("the peak during a deep chain is lower than the engine's", async () => {
  await useBackend("cpu");
  const kernels = Array.from({ length: 8 }, () => kernel([3, 3, 16, 16]));
  const x = tf.randomNormal([1, 32, 32, 16], 0, 1, "float32", 11) as tf.Tensor4D;
  const f = () => {
    let h = x;
    // Each layer in a scope of its own, as Network.apply's layers are.
    for (const k of kernels) h = tf.tidy(() => tf.relu(tf.conv2d(h, k, 1, "same")));
    const y = tf.mean(h) as tf.Scalar;
    tf.step(tf.scalar(0)); // marks the end of the forward pass in the profile
    return y;
  };
  type Result = { value: Tensor; grads: (Tensor | undefined)[] };
  const peaks = async (grad: () => Result) => {
    let out: Tensor[] = [];
    const info = await tf.profile(() => {
      const r = grad();
      out = [r.value, ...r.grads.filter((g) => g) as Tensor[]];
    });
    tf.dispose(out);
    const marker = info.kernels.findLastIndex((k) => k.name === "Step");
    const backward = info.kernels.slice(marker + 1).map((k) => k.totalBytesSnapshot);
    return { call: info.peakBytes, backward: Math.max(...backward) };
  };
  const theirs = await peaks(() => tf.engine().gradients(f, kernels, undefined, true));
  const ours = await peaks(() => gradientsFreeing(f, kernels));
  const eager = await peaks(() => gradientsFreeing(f, kernels, () => true));
  // Each layer's gradients (64 KiB twice) and saved inputs (64 KiB twice) go
  // as the pass leaves it; the engine holds all of them to the end.
  assert.ok(
    ours.backward < theirs.backward - 8 * 128 * 1024,
    `${ours.backward} vs ${theirs.backward}`,
  );
  assert.ok(ours.call < theirs.call, `${ours.call} vs ${theirs.call}`);
  assert.ok(eager.backward < ours.backward, `${eager.backward} vs ${ours.backward}`);
});

for (const backend of ["blas", "onednn"] as const) {
  Deno.test({
    name: `on ${backend}, a weight used twice sums its gradients in place, to the engine's bits`,
    ignore: await backendMissing(backend, `tests/gradients_test.ts`),
  }, async () => {
    await useBackend(backend);
    const w = kernel([4, 4, 8, 8]);
    const x = tf.randomNormal([1, 32, 32, 8], 0, 1, "float32", 12) as tf.Tensor4D;
    // Two passes through the same weight, as G_BA runs twice an iteration.
    const f = () => tf.mean(tf.conv2d(tf.conv2d(x, w, 2, 1), w, 2, 1)) as tf.Scalar;
    const theirs = viaEngine(f, [w]);
    let ours: { value: Tensor; grads: (Tensor | undefined)[] } | undefined;
    const info = await tf.profile(() => {
      ours = gradientsFreeing(f, [w]);
    });
    assert.deepEqual(bits(ours?.grads[0]), bits(theirs.grads[0]));
    // The engine adds the two filter gradients into a new array; here no Add runs.
    assert.equal(info.kernels.filter((k) => k.name === "Add").length, 0);
    tf.dispose([
      theirs.value,
      ...theirs.grads as Tensor[],
      ours?.value as Tensor,
      ...ours?.grads as Tensor[],
      w,
      x,
    ]);
  });
}

for (const backend of CPU_BACKENDS) {
  Deno.test({
    name:
      `Adam during the generators' backward pass gives the weights of Adam after it on ${backend}`,
    ignore: await backendMissing(backend, `tests/gradients_test.ts`),
  }, async () => {
    await useBackend(backend);
    const weights = async (skipNonFinite: boolean) => {
      // skipNonFinite keeps the update after the pass (its guard needs every gradient).
      const models = createDiscoGan({ ngf: 4, ndf: 4, seed: 5 });
      const state = createTrainingState(models, { losses: { skipNonFinite }, seed: 2 });
      const batch = {
        realA: tf.randomUniform([2, 64, 64, 3], -1, 1, "float32", 1) as tf.Tensor4D,
        realB: tf.randomUniform([2, 64, 64, 3], -1, 1, "float32", 2) as tf.Tensor4D,
      };
      const before = tf.memory().numTensors;
      const losses = [await discoGanIteration(state, batch), await discoGanIteration(state, batch)];
      assert.equal(tf.memory().numTensors, before);
      const params = networkParams(models, ["gAB", "gBA", "dA"]);
      const out = new Map([...params].map(([k, v]) => [k, bits(v)]));
      const adam = await state.gOptimizer.getState();
      tf.dispose([
        batch.realA,
        batch.realB,
        ...params.values(),
        ...networkParams(models, ["dB"]).values(),
      ]);
      state.gOptimizer.dispose();
      state.dOptimizer.dispose();
      return { losses, out, step: adam.step, m: adam.m };
    };
    const eager = await weights(false), after = await weights(true);
    assert.deepEqual(eager.losses, after.losses);
    assert.equal(eager.step, 2);
    assert.equal(after.step, 2);
    for (const [name, b] of after.out) assert.deepEqual(eager.out.get(name), b, name);
    for (const [name, m] of after.m) assert.deepEqual(eager.m.get(name), m, name);
  });
}

Deno.test("errors name the kernel, as the engine's do", async () => {
  await useBackend("cpu");
  const w = variable([3]);
  tf.registerKernel({
    kernelName: "GradientsTestNoGrad",
    backendName: "cpu",
    kernelFunc: ({ inputs, backend }) => {
      const x = inputs.x as tf.TensorInfo;
      const values = (backend as unknown as { readSync(id: unknown): Float32Array }).readSync(
        x.dataId,
      );
      return (backend as unknown as {
        makeTensorInfo(s: number[], d: string, v: Float32Array): tf.TensorInfo;
      })
        .makeTensorInfo(x.shape, "float32", values.slice());
    },
  });
  const noGrad = () =>
    tf.sum(tf.engine().runKernel("GradientsTestNoGrad", { x: w }) as Tensor) as tf.Scalar;
  assert.throws(
    () => gradientsFreeing(noGrad, [w]),
    /gradient function not found for GradientsTestNoGrad/,
  );
  const badShape = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => ({
    value: tf.mul(args[0] as Tensor, 2),
    gradFunc: () => tf.zeros([2]),
  })) as (x: Tensor) => Tensor;
  const message = (grad: Grad) => {
    try {
      grad(() => tf.sum(badShape(w)) as tf.Scalar, [w]);
    } catch (e) {
      return (e as Error).message;
    }
  };
  assert.match(
    message(gradientsFreeing) ?? "",
    /has shape '2', which does not match the shape of the input '3'/,
  );
  assert.equal(message(gradientsFreeing), message(viaEngine));
  tf.unregisterKernel("GradientsTestNoGrad", "cpu");
  w.dispose();
});
