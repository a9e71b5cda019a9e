// The paper's networks (models/paper_*.ts) and BatchNorm (ops/batch_norm.ts)
// against PyTorch: tests/fixtures/paper/ (see its README).
import { missing } from "./native.ts";
import assert from "node:assert/strict";
import { tf } from "../ops/tf.ts";
import { type BackendName, useBackend } from "../ops/runtime/backend.ts";
import { batchNorm2d } from "../ops/batch_norm.ts";
import { gradientsFreeing } from "../ops/gradients.ts";
import { readSafetensors, type SafetensorsFile } from "../ops/formats/safetensors.ts";
import { checkPaperSize, paperGenerator, type PaperNetwork } from "../models/paper_generator.ts";
import { type PaperDiscriminator, paperDiscriminator } from "../models/paper_discriminator.ts";
import { loadNetwork, loadStateDict, saveNetwork, stateDict } from "../models/weights.ts";
import { maxAbs, maxAbsDiff } from "./fixtures.ts";

const DIR = new URL("./fixtures/paper/", import.meta.url).pathname;

// Per tensor, |ours - PyTorch| <= TOL · max|PyTorch|. The fixture README
// measures PyTorch's float32 against its float64 at worst 1.1e-6 of the largest
// value (forward, buffers) and 6.6e-6 (gradients); a ReLU input on the wrong
// side of 0 would show as a whole element off (the fixtures avoid near-ties).
const FORWARD_TOL = 1e-4;
const GRAD_TOL = 2e-4;

const BACKENDS: { name: BackendName; available: boolean }[] = [
  { name: "cpu", available: true },
  { name: "blas", available: !await missing("openblas", "tests/parity_paper_test.ts on blas") },
  { name: "onednn", available: !await missing("onednn", "tests/parity_paper_test.ts on onednn") },
  { name: "wasm", available: true },
];

const files = new Map<string, Promise<SafetensorsFile>>();
function fixture(name: string): Promise<SafetensorsFile> {
  if (!files.has(name)) files.set(name, readSafetensors(`${DIR}${name}.safetensors`));
  return files.get(name) as Promise<SafetensorsFile>;
}

/** A fixture tensor; NCHW images become NHWC, conv weights [kh, kw, a, b]. */
async function ref(
  file: string,
  name: string,
  layout: "image" | "param" | "plain" = "plain",
): Promise<tf.Tensor> {
  const rec = (await fixture(file)).tensors.get(name);
  if (!rec) throw new Error(`fixture ${file} has no tensor ${name}`);
  return tf.tidy(() => {
    const t = tf.tensor(rec.data, rec.shape);
    if (rec.shape.length !== 4 || layout === "plain") return t;
    return tf.transpose(t, layout === "image" ? [0, 2, 3, 1] : [2, 3, 1, 0]);
  });
}

/** The three fixture networks, as the script builds them. */
const NETS = {
  g: () => paperGenerator({ channels: 3, ngf: 8 }),
  g_bottleneck: () => paperGenerator({ channels: 1, ngf: 4, bottleneck: true }),
  d: () => paperDiscriminator({ channels: 3, ndf: 8 }),
} as const;
type NetName = keyof typeof NETS;

async function loaded(name: NetName): Promise<PaperNetwork> {
  const net = NETS[name]();
  loadStateDict(net, await fixture(name), `${DIR}${name}.safetensors`);
  return net;
}

async function inputs(net: PaperNetwork): Promise<{ x: tf.Tensor4D; w: tf.Tensor4D }> {
  const channels = net.params.get("main.0.weight")?.shape[2] as number;
  const x = await ref("inputs", "x", "image");
  const w = await ref("inputs", net.kind === "paper-generator" ? "w.g" : "w.d", "image");
  const take = (t: tf.Tensor) =>
    t.shape[3] === channels
      ? t as tf.Tensor4D
      : tf.tidy(() => tf.slice(t, 0, [-1, -1, -1, channels]) as tf.Tensor4D);
  return { x: take(x), w: net.kind === "paper-generator" ? take(w) : w as tf.Tensor4D };
}

/** The worst measured error of each check, printed at the end of a run. */
const worst = new Map<string, { diff: number; ratio: number; at: string }>();

async function compare(
  label: string,
  ours: tf.Tensor,
  theirs: tf.Tensor,
  tol: number,
): Promise<void> {
  const diff = await maxAbsDiff(ours, theirs);
  const size = await maxAbs(theirs);
  const ratio = size > 0 ? diff / size : diff;
  // "cpu g grad.main.2.weight" counts for "g grad.<param>", over backends.
  const key = label.replace(/^\S+ /, "").replace(/grad\.main\..*/, "grad.<param>")
    .replace(/after\.main\.\d+\./, "after.").replace(/\.\d+$/, ".<i>");
  const w = worst.get(key) ?? { diff: 0, ratio: 0, at: "" };
  if (ratio >= w.ratio) worst.set(key, { diff, ratio, at: label.split(" ")[0] });
  assert.ok(diff <= tol * size, `${label}: max |diff| ${diff} > ${tol} · ${size}`);
}

for (const backend of BACKENDS) {
  for (const name of Object.keys(NETS) as NetName[]) {
    Deno.test({
      name:
        `${name}: train and eval forward, running buffers and gradients match PyTorch on ${backend.name}`,
      ignore: !backend.available,
      fn: async () => {
        await useBackend(backend.name);
        const net = await loaded(name);
        const file = `${name}_ref`;
        const { x, w } = await inputs(net);
        const input = tf.variable(x, true);
        const params = [...net.params.values()];
        const d = net.kind === "paper-discriminator" ? net as PaperDiscriminator : null;
        let out: tf.Tensor4D | undefined;
        let features: tf.Tensor4D[] = [];
        const { value, grads } = tf.variableGrads(() => {
          const r = d
            ? d.applyWithFeatures(input, { training: true })
            : { logits: net.apply(input, { training: true }), features: [] };
          out = tf.keep(r.logits);
          features = r.features.map((f) => tf.keep(f));
          return tf.sum(tf.mul(r.logits, w));
        }, [input, ...params]);
        const tag = `${backend.name} ${name}`;
        // Relative to sum |out · w|: the sum cancels (g_bottleneck: 3.0 from 12288 terms).
        const loss = (await ref(file, "loss")).dataSync()[0];
        const scale = tf.tidy(() => tf.sum(tf.abs(tf.mul(out as tf.Tensor4D, w))).dataSync()[0]);
        assert.ok(
          Math.abs(value.dataSync()[0] - loss) <= 1e-5 * scale,
          `${tag} loss ${value.dataSync()[0]} vs ${loss}`,
        );
        const lossDiff = Math.abs(value.dataSync()[0] - loss);
        const lw = worst.get(`${name} loss`) ?? { diff: 0, ratio: 0, at: "" };
        if (lossDiff / scale >= lw.ratio) {
          worst.set(`${name} loss`, { diff: lossDiff, ratio: lossDiff / scale, at: backend.name });
        }
        await compare(
          `${tag} out.train`,
          out as tf.Tensor4D,
          await ref(file, "out.train", "image"),
          FORWARD_TOL,
        );
        for (const [i, f] of features.entries()) {
          await compare(
            `${tag} features.train.${i}`,
            f,
            await ref(file, `features.train.${i}`, "image"),
            FORWARD_TOL,
          );
        }
        for (const [bName, b] of net.buffers) {
          await compare(`${tag} after.${bName}`, b, await ref(file, `after.${bName}`), FORWARD_TOL);
        }
        for (const [pName, p] of net.params) {
          await compare(
            `${tag} grad.${pName}`,
            grads[p.name],
            await ref(file, `grad.${pName}`, "param"),
            GRAD_TOL,
          );
        }
        await compare(
          `${tag} grad.input`,
          grads[input.name],
          await ref(file, "grad.input", "image"),
          GRAD_TOL,
        );

        const evalOut = d ? d.applyWithFeatures(x) : { logits: net.apply(x), features: [] };
        await compare(
          `${tag} out.eval`,
          evalOut.logits,
          await ref(file, "out.eval", "image"),
          FORWARD_TOL,
        );
        for (const [i, f] of evalOut.features.entries()) {
          await compare(
            `${tag} features.eval.${i}`,
            f,
            await ref(file, `features.eval.${i}`, "image"),
            FORWARD_TOL,
          );
        }
        tf.disposeVariables();
      },
    });
  }
}

Deno.test("gradientsFreeing gives variableGrads' gradients and updates the buffers once", async () => {
  await useBackend("cpu");
  const net = await loaded("d");
  const { x, w } = await inputs(net);
  const params = [...net.params.values()];
  const loss = () => tf.sum(tf.mul(net.apply(x, { training: true }), w));
  const { grads } = gradientsFreeing(loss, params);
  for (const [bName, b] of net.buffers) {
    await compare(
      `cpu d/gradientsFreeing after.${bName}`,
      b,
      await ref("d_ref", `after.${bName}`),
      FORWARD_TOL,
    );
  }
  for (const [i, [pName, p]] of [...net.params].entries()) {
    await compare(
      `cpu d/gradientsFreeing grad.${pName}`,
      grads[i] as tf.Tensor,
      await ref("d_ref", `grad.${pName}`, "param"),
      GRAD_TOL,
    );
    assert.ok(grads[i], p.name);
  }
  tf.disposeVariables();
});

Deno.test("training passes inside variableGrads and gradientsFreeing leak no tensors", async () => {
  await useBackend("cpu");
  const g = paperGenerator({ ngf: 4, bottleneck: true, seed: 3 });
  const d = paperDiscriminator({ ndf: 4, seed: 4 });
  const x = tf.randomNormal([2, 64, 64, 3]) as tf.Tensor4D;
  const step = () => {
    const loss = () => tf.sum(d.apply(g.apply(x, { training: true }), { training: true }));
    const a = tf.variableGrads(loss as () => tf.Scalar);
    const b = gradientsFreeing(loss, [...g.params.values()]);
    const r = d.applyWithFeatures(x, { training: true });
    tf.dispose([a.value, ...Object.values(a.grads), b.value, r.logits, ...r.features]);
    tf.dispose(b.grads.filter((t): t is tf.Tensor => t !== undefined));
    tf.dispose(g.apply(x));
  };
  step();
  const before = tf.memory().numTensors;
  step();
  step();
  assert.equal(tf.memory().numTensors, before);
  assert.equal(g.buffers.get("main.3.num_batches_tracked")?.dataSync()[0], 6);
  assert.equal(d.buffers.get("main.3.num_batches_tracked")?.dataSync()[0], 9);
  tf.disposeVariables();
});

Deno.test("batchNorm2d training: batch statistics, PyTorch's running update, gradient through the statistics", async () => {
  await useBackend("cpu");
  const x = tf.randomNormal([3, 2, 2, 4], 0.5, 2, "float32", 7) as tf.Tensor4D;
  const gamma = tf.variable(tf.tensor1d([1, 2, 0.5, -1]));
  const beta = tf.variable(tf.tensor1d([0, 1, -1, 0.25]));
  const rm = tf.variable(tf.tensor1d([0.5, -0.5, 1, 0]), false);
  const rv = tf.variable(tf.tensor1d([1, 2, 0.5, 3]), false);
  const count = tf.variable(tf.scalar(4), false);
  const m = 0.3;
  const [rm0, rv0] = [rm.dataSync().slice(), rv.dataSync().slice()];
  const dy = tf.randomNormal([3, 2, 2, 4], 0, 1, "float32", 8);
  const f = (input: tf.Tensor) =>
    tf.sum(tf.mul(
      batchNorm2d(input as tf.Tensor4D, gamma, beta, rm, rv, {
        training: true,
        momentum: m,
        numBatchesTracked: count,
      }),
      dy,
    ));
  // Inside a gradient tape: the update happens once, and the gradient is autodiff's.
  const { value, grads } = tf.variableGrads(() => f(x) as tf.Scalar, [gamma, beta]);
  const dx = tf.grad(f)(x);
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  const n = 12;
  const mu = mean.dataSync(), v = variance.dataSync();
  const expectMean = [0, 1, 2, 3].map((c) => (1 - m) * ((1 - m) * rm0[c] + m * mu[c]) + m * mu[c]);
  const expectVar = [0, 1, 2, 3].map((c) => {
    const once = (1 - m) * rv0[c] + m * v[c] * n / (n - 1);
    return (1 - m) * once + m * v[c] * n / (n - 1);
  });
  // Two training calls (variableGrads, then tf.grad): two updates.
  for (let c = 0; c < 4; c++) {
    assert.ok(Math.abs(rm.dataSync()[c] - expectMean[c]) < 1e-6, `running_mean ${c}`);
    assert.ok(Math.abs(rv.dataSync()[c] - expectVar[c]) < 1e-5, `running_var ${c}`);
  }
  assert.equal(count.dataSync()[0], 6);
  // Reference: the same function written with autodiff through tf.moments.
  const plain = (input: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
    const s = tf.moments(input, [0, 1, 2]);
    const y = tf.add(
      tf.mul(tf.div(tf.sub(input, s.mean), tf.sqrt(tf.add(s.variance, 1e-5))), g),
      b,
    );
    return tf.sum(tf.mul(y, dy));
  };
  const [rx, rg, rb] = tf.grads(plain)([x, gamma, beta]);
  assert.ok(Math.abs(value.dataSync()[0] - plain(x, gamma, beta).dataSync()[0]) < 1e-4);
  assert.ok((await maxAbsDiff(dx, rx)) < 1e-5 * Math.max(1, await maxAbs(rx)), "dx");
  assert.ok(
    (await maxAbsDiff(grads[gamma.name], rg)) < 1e-5 * Math.max(1, await maxAbs(rg)),
    "dgamma",
  );
  assert.ok(
    (await maxAbsDiff(grads[beta.name], rb)) < 1e-5 * Math.max(1, await maxAbs(rb)),
    "dbeta",
  );
  assert.throws(
    () => batchNorm2d(tf.zeros([1, 1, 1, 4]), gamma, beta, rm, rv, { training: true }),
    (e: Error) => e instanceof RangeError && /more than one value per channel/.test(e.message),
  );
  tf.disposeVariables();
});

Deno.test("batchNorm2d eval uses the running statistics and leaves them alone", async () => {
  await useBackend("cpu");
  const x = tf.randomNormal([2, 3, 3, 2], 0, 1, "float32", 3) as tf.Tensor4D;
  const rm = tf.variable(tf.tensor1d([0.25, -1]), false);
  const rv = tf.variable(tf.tensor1d([4, 0.5]), false);
  const count = tf.variable(tf.scalar(2), false);
  const gamma = tf.tensor1d([1.5, -0.5]), beta = tf.tensor1d([0.1, 0.2]);
  const y = batchNorm2d(x, gamma, beta, rm, rv, { training: false, numBatchesTracked: count });
  const expect = tf.add(tf.mul(tf.div(tf.sub(x, rm), tf.sqrt(tf.add(rv, 1e-5))), gamma), beta);
  assert.ok((await maxAbsDiff(y, expect)) < 1e-6);
  assert.deepEqual([...rm.dataSync()], [0.25, -1]);
  assert.deepEqual([...rv.dataSync()], [4, 0.5]);
  assert.equal(count.dataSync()[0], 2);
  tf.disposeVariables();
});

Deno.test("eval mode is deterministic, uses the running statistics and changes no buffer", async () => {
  await useBackend("cpu");
  const g = await loaded("g_bottleneck");
  const { x } = await inputs(g);
  tf.dispose(g.apply(x, { training: true })); // buffers away from their init
  const before = await stateDict(g);
  const a = g.apply(x), b = g.apply(x);
  assert.deepEqual(a.dataSync(), b.dataSync(), "two eval passes agree bit for bit");
  const after = await stateDict(g);
  for (const [n, rec] of before) assert.deepEqual(after.get(n)?.data, rec.data, n);
  // Moving a running mean moves the eval output, not the train output.
  const train = g.apply(x, { training: true });
  const rm = g.buffers.get("main.3.running_mean") as tf.Variable;
  rm.assign(tf.add(rm, 0.5));
  assert.ok(
    (await maxAbsDiff(g.apply(x), a)) > 1e-3 * (await maxAbs(a)),
    "eval follows running_mean",
  );
  assert.ok((await maxAbsDiff(g.apply(x, { training: true }), train)) === 0, "train ignores it");
  tf.disposeVariables();
});

Deno.test("parameter and buffer names at 64 px, in PyTorch's state_dict order", async () => {
  await useBackend("cpu");
  const bn = (i: number) =>
    ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"].map((k) =>
      `main.${i}.${k}`
    );
  const conv = (i: number) => [`main.${i}.weight`];
  const plain = [
    ...conv(0),
    ...[2, 5, 8, 11, 14, 17].flatMap((i) => [...conv(i), ...bn(i + 1)]),
    ...conv(20),
  ];
  const bottleneck = [
    ...conv(0),
    ...[2, 5, 8, 11, 14, 17, 20, 23].flatMap((i) => [...conv(i), ...bn(i + 1)]),
    ...conv(26),
  ];
  const disc = [...conv(0), ...[2, 5, 8].flatMap((i) => [...conv(i), ...bn(i + 1)]), ...conv(11)];
  for (
    const [name, net, expected] of [
      ["g", paperGenerator({ ngf: 8 }), plain],
      ["g_bottleneck", paperGenerator({ ngf: 4, channels: 1, bottleneck: true }), bottleneck],
      ["d", paperDiscriminator({ ndf: 8 }), disc],
    ] as const
  ) {
    const keys = [...(await stateDict(net)).keys()];
    assert.deepEqual(keys, expected, name);
    assert.deepEqual(
      keys,
      [...(await fixture(name)).tensors.keys()],
      `${name}: the fixture's order`,
    );
  }
  // Full width: the official code's sizes (3·64·16 + ... conv weights, BatchNorm 2·C each).
  const count = (net: PaperNetwork) => [...net.params.values()].reduce((s, v) => s + v.size, 0);
  const k = 16;
  const enc = 3 * 64 * k + 64 * 128 * k + 128 * 256 * k + 256 * 512 * k;
  const bns = 2 * (128 + 256 + 512);
  assert.equal(count(paperGenerator()), 2 * enc + bns + 2 * (256 + 128 + 64));
  assert.equal(count(paperDiscriminator()), enc + bns + 512 * k);
  assert.equal(
    count(paperGenerator({ bottleneck: true })),
    2 * enc + bns + 2 * (256 + 128 + 64) + 2 * 512 * 100 * k + 2 * (100 + 512),
  );
  // InstanceNorm: the same indices, conv weights only, no buffers.
  const inst = paperGenerator({ ngf: 8, norm: "instance" });
  assert.deepEqual([...inst.params.keys()], [0, 2, 5, 8, 11, 14, 17, 20].flatMap(conv));
  assert.equal(inst.buffers.size, 0);
  const y = inst.apply(tf.randomNormal([2, 64, 64, 3]), { training: true });
  assert.deepEqual(y.shape, [2, 64, 64, 3]);
  tf.disposeVariables();
});

Deno.test("other image sizes: one level per doubling, bottleneck included; bad sizes are refused", async () => {
  await useBackend("cpu");
  for (const size of [16, 32, 128]) {
    const g = paperGenerator({ ngf: 2, imageSize: size, bottleneck: true });
    const d = paperDiscriminator({ ndf: 2, imageSize: size });
    const x = tf.randomNormal([2, size, size, 3]) as tf.Tensor4D;
    assert.deepEqual(g.apply(x, { training: true }).shape, [2, size, size, 3]);
    const { logits, features } = d.applyWithFeatures(x, { training: true });
    assert.deepEqual(logits.shape, [2, 1, 1, 1]);
    assert.equal(features.length, Math.log2(size) - 3);
    assert.deepEqual(features[features.length - 1].shape.slice(1, 3), [4, 4]);
  }
  for (const size of [0, 8, 48, 100, 96, 65.5]) {
    for (
      const make of [
        () => checkPaperSize(size),
        () => paperGenerator({ imageSize: size }),
        () => paperDiscriminator({ imageSize: size }),
      ]
    ) {
      assert.throws(
        make,
        (e: Error) =>
          e instanceof RangeError && e.message.includes(`${size}x${size}`) &&
          /16, 32, 64, 128, 256, 512/.test(e.message),
      );
    }
  }
  assert.throws(() => checkPaperSize(64, 32), RangeError);
  const d = paperDiscriminator({ ndf: 2 });
  assert.throws(
    () => d.apply(tf.zeros([1, 128, 128, 3])),
    (e: Error) => e instanceof RangeError && /built for 64x64/.test(e.message),
  );
  tf.disposeVariables();
});

Deno.test("save and load round-trip parameters and buffers with PyTorch names", async () => {
  await useBackend("cpu");
  const g = await loaded("g_bottleneck");
  // The F16 fixture values come back exactly.
  const ref = (await fixture("g_bottleneck")).tensors;
  for (const [n, rec] of await stateDict(g)) {
    assert.deepEqual(rec.shape, ref.get(n)?.shape, n);
    assert.deepEqual(rec.data, ref.get(n)?.data, n);
  }
  const { x } = await inputs(g);
  tf.dispose(g.apply(x, { training: true }));
  const dir = await Deno.makeTempDir();
  await saveNetwork(`${dir}/g.safetensors`, g);
  const again = paperGenerator({ channels: 1, ngf: 4, bottleneck: true, seed: 9 });
  await loadNetwork(`${dir}/g.safetensors`, again);
  for (const [n, v] of [...g.params, ...g.buffers]) {
    const other = again.params.get(n) ?? again.buffers.get(n);
    assert.deepEqual(other?.dataSync(), v.dataSync(), n);
  }
  assert.equal(again.buffers.get("main.3.num_batches_tracked")?.dataSync()[0], 1);
  const file = await readSafetensors(`${dir}/g.safetensors`);
  assert.deepEqual(file.tensors.get("main.3.num_batches_tracked")?.shape, []);
  assert.equal(file.metadata.kind, "paper-generator");
  // A file without the buffers is refused, naming them.
  const tensors = new Map(file.tensors);
  tensors.delete("main.3.running_var");
  await assert.rejects(
    Promise.resolve().then(() => loadStateDict(again, { tensors, metadata: {} }, "partial")),
    /missing 1 tensor\(s\): main\.3\.running_var/,
  );
  await Deno.remove(dir, { recursive: true });
  tf.disposeVariables();
});

Deno.test({
  name: "worst errors measured against PyTorch",
  sanitizeOps: false,
  fn: () => {
    const rows = [...worst].map(([k, { diff, ratio, at }]) =>
      `${k.padEnd(40)} ${ratio.toExponential(2)}  ${diff.toExponential(2)}  ${at}`
    );
    console.log(
      [
        "check: worst max|diff|/max|ref| over tensors and backends, that tensor's max|diff|, backend",
        ...rows,
      ].join("\n"),
    );
  },
});
