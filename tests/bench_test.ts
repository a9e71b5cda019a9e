// `deno task bench` at tiny settings (one configuration, one backend, one
// iteration: the JSON must hold the row with finite numbers), and its PyTorch
// side building the same networks as ours.
import assert from "node:assert/strict";
import { createDiscoGan } from "../models/discogan.ts";
import { stateDict } from "../models/weights.ts";
import { tf } from "../ops/tf.ts";
import { iterationFlops } from "../scripts/bench_flops.ts";
import { backendMissing, missing } from "./native.ts";
import { conv2d } from "../ops/conv.ts";
import { useBackend } from "../ops/runtime/backend.ts";

const noTorch = await missing("torch", "the PyTorch network checks of tests/bench_test.ts");

Deno.test("the bench writes a JSON row with finite numbers", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = `${dir}/bench.json`;
    const root = new URL("..", import.meta.url).pathname;
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "scripts/bench.ts",
        ...["--configs", "64x1", "--ngf", "4", "--ndf", "4", "--iterations", "1", "--repeats", "2"],
        ...["--warmup", "0", "--backends", "wasm", "--no-torch", "--out", out],
      ],
      cwd: root,
      stdin: "null",
    }).output();
    const text = new TextDecoder().decode(stdout);
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    assert.match(text, /\| 64x1 +\| wasm +\|/);
    assert.match(text, new RegExp(`results: ${out}`));

    const json = JSON.parse(await Deno.readTextFile(out));
    assert.equal(json.rows.length, 1);
    const row = json.rows[0];
    assert.equal(row.config, "64x1");
    assert.equal(row.backend, "wasm");
    assert.equal(row.status, "ok", row.message);
    for (const key of ["secondsPerIteration", "imagesPerSecond", "peakRssBytes"]) {
      assert.ok(Number.isFinite(row[key]) && row[key] > 0, `${key}: ${row[key]}`);
    }
    assert.equal(row.seconds.length, 1);
    // Two rounds: the row is the faster one, and both rounds' medians are kept.
    const medians = row.details.roundMedians as number[];
    assert.equal(medians.length, 2);
    assert.equal(row.secondsPerIteration, Math.min(...medians));
    assert.ok(json.peakAtStart.gflops > 0 && json.peakAtEnd.gflops > 0);
    assert.equal(json.peak.gflops, Math.max(json.peakAtStart.gflops, json.peakAtEnd.gflops));
    assert.ok(row.details.flops > 0, "the iteration's convolution FLOPs are counted");
    assert.equal(row.pytorch, null);
    assert.equal(row.ratio, null);
    assert.ok(json.machine.cores >= 1);
    assert.equal(typeof json.machine.cpu, "string");
    assert.equal(json.torch, null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// The PyTorch side of the bench builds the same networks as ours: the same
// state_dict names and shapes, parameters and buffers.
for (
  const [generator, discriminator] of [["unet", "patchgan"], ["resnet", "patchgan"], [
    "paper",
    "paper",
  ]] as const
) {
  Deno.test({
    name: `the bench's PyTorch ${generator} + ${discriminator} are our networks`,
    ignore: noTorch,
  }, async () => {
    const root = new URL("..", import.meta.url).pathname;
    const { code, stdout, stderr } = await new Deno.Command("/usr/bin/python3", {
      args: [
        "scripts/torch/bench.py",
        "--check-params",
        ...["--generator", generator, "--discriminator", discriminator],
        ...["--ngf", "4", "--ndf", "8", "--image-size", "64"],
      ],
      cwd: root,
      stdin: "null",
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    const torch = JSON.parse(new TextDecoder().decode(stdout));
    const { gAB, dA } = createDiscoGan({ generator, discriminator, ngf: 4, ndf: 8 });
    for (const [net, key] of [[gAB, "generatorShapes"], [dA, "discriminatorShapes"]] as const) {
      const ours = Object.fromEntries(
        [...await stateDict(net)].map(([name, rec]) => [name, rec.shape]),
      );
      assert.deepEqual(ours, torch[key], `${net.kind}: names and shapes`);
    }
  });
}

Deno.test("the bench counts a convolution's FLOPs once forward and once per gradient", async () => {
  await tf.setBackend("cpu");
  const x = tf.randomNormal([2, 8, 8, 3]) as tf.Tensor4D;
  const w = tf.randomNormal([4, 4, 3, 5]) as tf.Tensor4D;
  // Stride 2, padded: a 4x4 output of 5 channels, 4·4·3 multiply-adds each, per image.
  const forward = 2 * 2 * 4 * 4 * 5 * 4 * 4 * 3;
  const f = (a: tf.Tensor, b: tf.Tensor) =>
    tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, [[0, 0], [1, 1], [1, 1], [0, 0]]));
  assert.equal(await iterationFlops(() => Promise.resolve(f(x, w).dispose())), forward);
  assert.equal(
    await iterationFlops(() => Promise.resolve(tf.dispose(tf.grads(f)([x, w])))),
    3 * forward,
  );
  tf.dispose([x, w]);
});

Deno.test("the bench counts a convolution with bias once forward and once per gradient, on every cpu backend", async () => {
  const x = tf.randomNormal([2, 8, 8, 3]) as tf.Tensor4D;
  const w = tf.randomNormal([4, 4, 3, 5]) as tf.Tensor4D;
  const b = tf.randomNormal([5]);
  const forward = 2 * 2 * 4 * 4 * 5 * 4 * 4 * 3;
  const f = (a: tf.Tensor, v: tf.Tensor, c: tf.Tensor) =>
    tf.sum(conv2d(a as tf.Tensor4D, v, c, 2, 1));
  for (const name of ["cpu", "blas", "onednn"] as const) {
    if (await backendMissing(name, `tests/bench_test.ts FLOP count on ${name}`)) continue;
    await useBackend(name);
    // The input, filter and bias gradients: the bias's comes with the filter's.
    const flops = await iterationFlops(() => Promise.resolve(tf.dispose(tf.grads(f)([x, w, b]))));
    assert.equal(flops, 3 * forward, name);
  }
  tf.dispose([x, w, b]);
});
