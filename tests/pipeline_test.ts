// The training graph end to end: run directory, metrics, samples, checkpoints,
// translate, exact resume, one step at a time, bounded pulls.
import assert from "node:assert/strict";
import { join } from "node:path";
import { from, lastValueFrom, Subject, take, tap, toArray } from "rxjs";
import sharp from "sharp";
import { useBackend } from "../ops/runtime/backend.ts";
import { createDiscoGan } from "../models/discogan.ts";
import { readSafetensors } from "../ops/formats/safetensors.ts";
import { ensureDefaultDataset } from "../pipeline/default_dataset.ts";
import { createTrainingState } from "../pipeline/training_state.ts";
import { listCheckpoints, loadCheckpoint } from "../pipeline/checkpoint.ts";
import { readMetrics } from "../pipeline/sinks/metrics_sink.ts";
import {
  discoGanSteps,
  discriminatorSteps,
  generatorSteps,
  pullBatches,
  type TensorBatch,
  toTensors,
} from "../pipeline/operators.ts";
import type { BatchSource, HostBatch } from "../pipeline/batch_source.ts";
import { disposeTrainResult, train } from "../pipeline/train.ts";
import { translateFiles } from "../pipeline/translate.ts";

const tiny = { ngf: 4, ndf: 4, batchSize: 2, backend: "wasm" as const, seed: 3 };
const quiet = { quiet: true, log: () => {} };

async function tinyData() {
  const root = await Deno.makeTempDir();
  return await ensureDefaultDataset({ root: join(root, "emoji"), limit: 24 });
}

Deno.test("a tiny run writes options, metrics, samples and checkpoints; translate uses them", async () => {
  const data = await tinyData();
  const runDir = join(await Deno.makeTempDir(), "run");
  const result = await train(
    {
      ...tiny,
      dataA: data.trainA,
      dataB: data.trainB,
      iterations: 4,
      sampleEvery: 2,
      checkpointEvery: 2,
      runDir,
    },
    quiet,
  );
  assert.equal(result.state.iteration, 4);
  const options = JSON.parse(await Deno.readTextFile(join(runDir, "options.json")));
  assert.equal(options.ngf, 4);
  assert.equal(options.dataA, data.trainA);
  const metrics = await readMetrics(join(runDir, "metrics.jsonl"));
  assert.deepEqual(metrics.map((m) => m.iteration), [1, 2, 3, 4]);
  for (const m of metrics) {
    for (
      const key of ["d", "d_a", "d_b", "g", "g_gan", "g_cycle", "sec_per_iter", "images_per_sec"]
    ) {
      assert.ok(Number.isFinite(m[key]), `metrics line ${m.iteration} lacks ${key}`);
    }
  }
  for (const name of ["iter_0000002.png", "iter_0000004.png"]) {
    const meta = await sharp(join(runDir, "samples", name)).metadata();
    assert.equal(meta.width, 6 * 64 + 7 * 2, "six tiles and their gaps");
    assert.equal(meta.height, 4 * 64 + 3 * 2, "four sample rows");
  }
  const checkpoints = await listCheckpoints(join(runDir, "checkpoints"));
  assert.deepEqual(checkpoints.map((c) => c.split("/").at(-1)), ["iter_0000002", "iter_0000004"]);
  const gab = await readSafetensors(join(checkpoints[1], "g_ab.safetensors"));
  assert.deepEqual(
    gab.tensors.get("down1.model.0.weight")?.shape,
    [4, 3, 4, 4],
    "PyTorch names and layout",
  );

  const out = join(await Deno.makeTempDir(), "out");
  const written = await translateFiles(runDir, "ab", [data.testA], out);
  const testImages = [...Deno.readDirSync(data.testA)].length;
  assert.equal(written.length, testImages);
  const meta = await sharp(written[0]).metadata();
  assert.deepEqual([meta.width, meta.height, meta.format], [64, 64, "png"]);
  await assert.rejects(translateFiles(out, "ab", [data.testA], out), /neither a run directory/);
  disposeTrainResult(result);
});

Deno.test("a resumed run continues exactly: same losses and weights as an uninterrupted run", async () => {
  const data = await tinyData();
  const base = await Deno.makeTempDir();
  const common = {
    ...tiny,
    dataA: data.trainA,
    dataB: data.trainB,
    sampleEvery: 0,
    checkpointEvery: 3,
  };
  const whole = await train({ ...common, iterations: 6, runDir: join(base, "whole") }, quiet);
  const part = await train({ ...common, iterations: 3, runDir: join(base, "part") }, quiet);
  disposeTrainResult(part);
  const resumed = await train({ iterations: 6 }, { ...quiet, resume: join(base, "part") });
  assert.equal(resumed.state.iteration, 6);
  const a = await readMetrics(join(base, "whole", "metrics.jsonl"));
  const b = await readMetrics(join(base, "part", "metrics.jsonl"));
  assert.deepEqual(b.map((m) => m.iteration), [1, 2, 3, 4, 5, 6]);
  for (let i = 0; i < 6; i++) {
    for (const key of ["d", "d_a", "d_b", "g", "g_gan", "g_cycle", "epoch"]) {
      assert.equal(b[i][key], a[i][key], `iteration ${i + 1}: ${key}`);
    }
  }
  for (const [name, v] of whole.state.models.gAB.params) {
    assert.deepEqual(resumed.state.models.gAB.params.get(name)?.dataSync(), v.dataSync(), name);
  }
  disposeTrainResult(whole);
  disposeTrainResult(resumed);
});

Deno.test("a new run refuses a directory that holds a run; resume refuses a non-run", async () => {
  const data = await tinyData();
  const runDir = join(await Deno.makeTempDir(), "run");
  const opts = { ...tiny, dataA: data.trainA, dataB: data.trainB, iterations: 1, runDir };
  disposeTrainResult(await train(opts, quiet));
  await assert.rejects(train(opts, quiet), /already holds a run: pass --resume/);
  await assert.rejects(train({}, { ...quiet, resume: data.root }), /cannot read the run's options/);
});

Deno.test("a checkpoint loads only into networks of its widths", async () => {
  const data = await tinyData();
  const runDir = join(await Deno.makeTempDir(), "run");
  disposeTrainResult(
    await train({ ...tiny, dataA: data.trainA, dataB: data.trainB, iterations: 1, runDir }, quiet),
  );
  const [checkpoint] = await listCheckpoints(join(runDir, "checkpoints"));
  const wider = createTrainingState(createDiscoGan({ ngf: 8, ndf: 4 }));
  await assert.rejects(loadCheckpoint(checkpoint, wider), /g_ab\.safetensors.*wrong shape/s);
});

/** A source of random batches that counts how often it is pulled. */
function countingSource(): BatchSource & { pulls: number } {
  let index = 0;
  const source = {
    pulls: 0,
    imagesA: 8,
    imagesB: 8,
    batchesPerEpoch: 4,
    inFlight: 0,
    next(): Promise<HostBatch> {
      source.pulls++;
      const n = 1 * 64 * 64 * 3;
      const a = Float32Array.from({ length: n }, (_, i) => Math.sin(i + index));
      const b = Float32Array.from({ length: n }, (_, i) => Math.cos(i * 0.5 + index));
      return Promise.resolve({ a, b, shape: [1, 64, 64, 3], index: index++, epoch: 0 });
    },
    close: () => Promise.resolve(),
  };
  return source;
}

/** The next `n` batches of a source, as the graph's tensor batches. */
async function tensorBatches(source: BatchSource, n: number): Promise<TensorBatch[]> {
  const out: TensorBatch[] = [];
  for (let i = 0; i < n; i++) out.push({ ...toTensors(await source.next()), waitSeconds: 0 });
  return out;
}

Deno.test("the graph pulls one batch per step and never runs two steps at once", async () => {
  await useBackend("wasm");
  const state = createTrainingState(createDiscoGan({ ngf: 4, ndf: 4 }));
  // Record the order of the parts of each step.
  const events: string[] = [];
  const apply = state.models.gAB.apply;
  state.models.gAB.apply = (x, o) => (events.push(`g${state.iteration}`), apply(x, o));
  // Every Adam step starts here, whether applied after the backward pass
  // (update) or during it, one weight at a time.
  const beginStep = state.gOptimizer.beginStep.bind(state.gOptimizer);
  state.gOptimizer.beginStep = () => (events.push(`u${state.iteration}`), beginStep());
  const source = countingSource();
  const demand$ = new Subject<void>();
  const pullsAtStep: number[] = [];
  const done = lastValueFrom(
    pullBatches(source, demand$).pipe(
      discoGanSteps(state),
      tap((r) => {
        events.push(`done${r.iteration}`);
        pullsAtStep.push(source.pulls);
      }),
      take(4),
      tap(() => queueMicrotask(() => demand$.next())),
      toArray(),
    ),
  );
  demand$.next();
  await done;
  assert.deepEqual(pullsAtStep, [1, 2, 3, 4], "one pull per step, none ahead");
  // Even a stream that pushes every batch at once is stepped one at a time.
  events.length = 0;
  const batches = await tensorBatches(source, 3);
  await lastValueFrom(from(batches).pipe(discoGanSteps(state), toArray()));
  const expected = [4, 5, 6].flatMap((i) => [`g${i}`, `u${i}`, `done${i + 1}`]);
  assert.deepEqual(
    events.filter((e) => !e.startsWith("done")),
    expected.filter((e) => !e.startsWith("done")),
  );
  assert.equal(state.iteration, 7);
});

Deno.test("the discriminator and generator step operators compute the fused iteration", async () => {
  await useBackend("wasm");
  const run = async (split: boolean) => {
    const state = createTrainingState(createDiscoGan({ ngf: 4, ndf: 4, seed: 2 }), { seed: 9 });
    const source = countingSource();
    const batches = await tensorBatches(source, 2);
    const steps = split
      ? from(batches).pipe(discriminatorSteps(state), generatorSteps(state))
      : from(batches).pipe(discoGanSteps(state));
    return (await lastValueFrom(steps.pipe(toArray()))).map((r) => r.losses);
  };
  const fused = await run(false), split = await run(true);
  for (let i = 0; i < 2; i++) {
    for (const [k, v] of Object.entries(fused[i])) {
      assert.ok(
        Math.abs(v - (split[i] as unknown as Record<string, number>)[k]) <= 1e-5 * Math.abs(v),
        `${i} ${k}: ${v} vs ${(split[i] as unknown as Record<string, number>)[k]}`,
      );
    }
  }
});
