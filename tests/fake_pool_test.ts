// The pool of past fakes: CycleGAN's query rule, seeded coin flips, and a run
// with a pool that resumes exactly from its checkpointed contents.
import { tinyDataset } from "./tiny_data.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import { tf } from "../ops/tf.ts";
import { readSafetensors } from "../ops/formats/safetensors.ts";
import { listCheckpoints } from "../pipeline/checkpoint.ts";
import { FakePool } from "../pipeline/fake_pool.ts";
import { readMetrics } from "../pipeline/sinks/metrics_sink.ts";
import { disposeTrainResult, train } from "../pipeline/train.ts";
import type { TrainOptions } from "../pipeline/options.ts";

// A batch of n 1x1x1 images whose values are first, first+1, ...
const batchOf = (first: number, n: number) =>
  tf.tensor4d(Array.from({ length: n }, (_, i) => first + i), [n, 1, 1, 1]);
const values = (pool: FakePool) => pool.images.map((image) => image[0]);

Deno.test("a pool fills first, then swaps each fake for a stored one about half the time", () => {
  const pool = new FakePool(4);
  const first = pool.query(batchOf(0, 3), "k0");
  assert.deepEqual([...first.dataSync()], [0, 1, 2], "while filling, the fakes are shown");
  assert.deepEqual(values(pool), [0, 1, 2]);
  // The first image fills the last place (shown and stored), the others flip coins.
  const next = [...pool.query(batchOf(3, 3), "k00").dataSync()];
  assert.equal(next[0], 3);
  assert.equal(pool.size, 4);

  let swapped = 0, shownTotal = 0;
  for (let it = 1; it <= 50; it++) {
    const before = values(pool);
    const fresh = Array.from({ length: 8 }, (_, i) => 100 * it + i);
    const shown = [...pool.query(batchOf(100 * it, 8), `k${it}`).dataSync()];
    assert.equal(pool.size, 4, "the pool never grows past its capacity");
    // Nothing is lost or made up: what went in is what is shown or kept.
    const sort = (xs: number[]) => [...xs].sort((a, b) => a - b);
    assert.deepEqual(sort([...shown, ...values(pool)]), sort([...before, ...fresh]));
    swapped += shown.filter((v, i) => v !== fresh[i]).length;
    shownTotal += shown.length;
  }
  const share = swapped / shownTotal;
  assert.ok(share > 0.35 && share < 0.65, `share of swapped fakes ${share}`);
});

Deno.test("a pool's draws depend on its key only, and restore from a snapshot", () => {
  const run = () => {
    const pool = new FakePool(2);
    pool.query(batchOf(0, 2), "fill");
    return [...pool.query(batchOf(10, 16), "same key").dataSync(), ...values(pool)];
  };
  assert.deepEqual(run(), run());

  const pool = new FakePool(3);
  pool.query(batchOf(5, 2), "a");
  const copy = new FakePool(3);
  copy.restore(pool.snapshot());
  assert.deepEqual(values(copy), [5, 6]);
  assert.deepEqual(copy.imageShape, [1, 1, 1]);
  assert.throws(() => new FakePool(1).restore(pool.snapshot()), /does not fit a pool of 1/);
  assert.throws(() => copy.query(tf.zeros([1, 2, 2, 3]) as tf.Tensor4D, "b"), /one image size/);
  assert.equal(new FakePool(0).query(batchOf(1, 2), "x").dataSync()[1], 2, "size 0: as is");
});

Deno.test("a run with --pool-size resumes exactly, the pools in its checkpoints", async () => {
  const data = await tinyDataset(16);
  const options: Partial<TrainOptions> = {
    dataA: data.trainA,
    dataB: data.trainB,
    ngf: 4,
    ndf: 4,
    batchSize: 2,
    poolSize: 3,
    backend: "cpu",
    seed: 5,
    sampleEvery: 0,
    checkpointEvery: 4,
  };
  const quiet = { quiet: true, log: () => {} };
  const tmp = await Deno.makeTempDir();
  for (const [dir, extra] of [["a", {}], ["off", { poolSize: 0 }]] as const) {
    disposeTrainResult(
      await train({ ...options, ...extra, iterations: 8, runDir: join(tmp, dir) }, quiet),
    );
  }
  disposeTrainResult(await train({ ...options, iterations: 4, runDir: join(tmp, "b") }, quiet));
  disposeTrainResult(await train({ iterations: 8 }, { ...quiet, resume: join(tmp, "b") }));

  const [a, b, off] = await Promise.all(
    ["a", "b", "off"].map((dir) => readMetrics(join(tmp, dir, "metrics.jsonl"))),
  );
  for (let i = 0; i < 8; i++) {
    for (const key of ["d", "d_a", "d_b", "g", "g_gan", "g_cycle"]) {
      assert.equal(b[i][key], a[i][key], `${key} at iteration ${i + 1}: resumed vs straight`);
    }
  }
  // Iteration 1 fills the pools (same D loss as without); later D losses see stored fakes.
  assert.equal(a[0].d, off[0].d);
  assert.ok(a.slice(2).some((m, i) => m.d !== off[i + 2].d), "the pool changes what D sees");

  const last = (await listCheckpoints(join(tmp, "b", "checkpoints"))).at(-1) as string;
  const pools = await readSafetensors(join(last, "pools.safetensors"));
  assert.deepEqual(pools.tensors.get("a")?.shape, [3, 64, 64, 3]);
  assert.deepEqual(pools.tensors.get("b")?.shape, [3, 64, 64, 3]);
});
