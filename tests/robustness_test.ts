// Non-finite losses: stop with the last good checkpoint kept, or skip the batch.
import assert from "node:assert/strict";
import { join } from "node:path";
import { tf } from "../ops/tf.ts";
import { useBackend } from "../ops/runtime/backend.ts";
import { createDiscoGan } from "../models/discogan.ts";
import { discoGanIteration } from "../pipeline/iteration.ts";
import { createTrainingState } from "../pipeline/training_state.ts";
import { ensureDefaultDataset } from "../pipeline/default_dataset.ts";
import { listCheckpoints } from "../pipeline/checkpoint.ts";
import { readMetrics } from "../pipeline/sinks/metrics_sink.ts";
import { readSafetensors } from "../ops/formats/safetensors.ts";
import { disposeTrainResult, train } from "../pipeline/train.ts";
import type { TensorBatch } from "../pipeline/operators.ts";
import { backendMissing } from "./native.ts";

const quiet = { quiet: true, log: () => {} };

function batch(fill?: number) {
  const make = (seed: number) =>
    fill === undefined
      ? tf.randomUniform([1, 64, 64, 3], -1, 1, "float32", seed) as tf.Tensor4D
      : tf.fill([1, 64, 64, 3], fill) as tf.Tensor4D;
  return { realA: make(1), realB: make(2) };
}

for (const backend of ["wasm", "blas"] as const) {
  Deno.test({
    name: `skipNonFinite leaves networks and optimizers untouched by a NaN batch on ${backend}`,
    ignore: await backendMissing(backend, `tests/robustness_test.ts`),
  }, async () => {
    await useBackend(backend);
    const state = createTrainingState(createDiscoGan({ ngf: 4, ndf: 4 }), {
      losses: { skipNonFinite: true },
    });
    await discoGanIteration(state, batch());
    const before = [...state.models.gAB.params.values(), ...state.models.dA.params.values()]
      .map((v) => v.dataSync().slice());
    const steps = [state.gOptimizer.step, state.dOptimizer.step];
    const bad = await discoGanIteration(state, batch(NaN));
    assert.equal(bad.skipped, true);
    assert.ok(Number.isNaN(bad.g) && Number.isNaN(bad.d));
    const after = [...state.models.gAB.params.values(), ...state.models.dA.params.values()]
      .map((v) => v.dataSync());
    after.forEach((a, i) => assert.deepEqual(a, before[i]));
    assert.deepEqual([state.gOptimizer.step, state.dOptimizer.step], steps, "no Adam step taken");
    assert.equal(state.iteration, 2, "the batch still counts as drawn");
    const good = await discoGanIteration(state, batch());
    assert.equal(good.skipped, undefined);
    assert.equal(state.gOptimizer.step, steps[0] + 1);
    tf.disposeVariables();
  });
}

Deno.test("a non-finite loss stops the run; the last good checkpoint and metrics stay clean", async () => {
  const root = await Deno.makeTempDir();
  const data = await ensureDefaultDataset({ root: join(root, "emoji"), limit: 24 });
  const runDir = join(root, "run");
  const options = {
    dataA: data.trainA,
    dataB: data.trainB,
    ngf: 4,
    ndf: 4,
    batchSize: 2,
    backend: "wasm" as const,
    iterations: 12,
    checkpointEvery: 2,
    sampleEvery: 0,
    runDir,
  };
  // From iteration 6 on, every other batch is poisoned with NaN pixels.
  const poison = {
    mapBatch: (b: TensorBatch) => {
      if (b.index < 5 || b.index % 2 === 0) return b;
      tf.dispose([b.realA, b.realB]);
      return {
        ...b,
        realA: tf.fill(b.realA.shape, NaN),
        realB: tf.fill(b.realB.shape, NaN),
      } as TensorBatch;
    },
  };
  await assert.rejects(train(options, { ...quiet, ...poison }), (e: Error) => {
    assert.match(e.message, /iteration \d+: non-finite loss \(.*=(NaN|Infinity|-Infinity)/);
    assert.match(e.message, /iteration 6: /);
    assert.match(e.message, /The last good checkpoint is .*iter_0000004/);
    assert.match(e.message, /--on-non-finite skip/);
    return true;
  });
  const metrics = await readMetrics(join(runDir, "metrics.jsonl"));
  for (const m of metrics) {
    for (const k of ["d", "g"]) {
      assert.ok(Number.isFinite(m[k]), `metrics line ${m.iteration}: ${k}`);
    }
  }
  for (const checkpoint of await listCheckpoints(join(runDir, "checkpoints"))) {
    for (const net of ["g_ab", "g_ba", "d_a", "d_b"]) {
      const file = await readSafetensors(join(checkpoint, `${net}.safetensors`));
      for (const [name, t] of file.tensors) {
        assert.ok(t.data.every(Number.isFinite), `${checkpoint} ${net} ${name} is not finite`);
      }
    }
  }

  assert.deepEqual(metrics.map((m) => m.iteration), [1, 2, 3, 4, 5]);

  // The same with skip: the run completes, skipped batches flagged in the metrics.
  const saved = JSON.parse(await Deno.readTextFile(join(runDir, "options.json")));
  await Deno.writeTextFile(
    join(runDir, "options.json"),
    JSON.stringify({ ...saved, onNonFinite: "skip" }),
  );
  const result = await train({ iterations: 12 }, { ...quiet, ...poison, resume: runDir });
  assert.equal(result.state.iteration, 12);
  const lines = await readMetrics(join(runDir, "metrics.jsonl"));
  assert.deepEqual(lines.map((l) => l.iteration), [...Array(12)].map((_, i) => i + 1));
  assert.deepEqual(
    lines.filter((l) => l.skipped).map((l) => l.iteration),
    [6, 8, 10, 12],
    "the poisoned batches were skipped",
  );
  for (const v of result.state.models.gAB.params.values()) {
    assert.ok(v.dataSync().every(Number.isFinite), "weights stay finite");
  }
  disposeTrainResult(result);
});
