// The PyTorch bridge (scripts/torch/): from the same checkpoint and the same
// batch, one iteration in PyTorch gives the losses, weights, BatchNorm
// statistics, Adam moments and pools of one iteration here.
import assert from "node:assert/strict";
import { join } from "node:path";
import { tf } from "../ops/tf.ts";
import { useBackend } from "../ops/runtime/backend.ts";
import { resolveOptions } from "../models/options.ts";
import { createDiscoGan, type DiscoGanModels, ROLE_NAMES } from "../models/discogan.ts";
import { stateDict } from "../models/weights.ts";
import { writeSafetensors } from "../ops/formats/safetensors.ts";
import { TRAIN_OPTIONS, type TrainOptions } from "../pipeline/options.ts";
import { PRESETS } from "../pipeline/presets.ts";
import { createRunDir } from "../pipeline/run_dir.ts";
import { createTrainingState, type TrainingState } from "../pipeline/training_state.ts";
import { discoGanIteration } from "../pipeline/iteration.ts";
import { listCheckpoints, loadCheckpoint, saveCheckpoint } from "../pipeline/checkpoint.ts";
import { backendMissing, missing } from "./native.ts";

const root = new URL("..", import.meta.url).pathname;
const noTorch = await missing("torch", "tests/torch_bridge_test.ts");
const REPORT = Deno.env.get("DISCOGAN_BRIDGE_REPORT") === "1";

// Measured (blas backend, PyTorch 1.13 on one thread, DISCOGAN_BRIDGE_REPORT=1): losses up
// to 4.3e-7 relative; weights after the step up to 4.1e-7 from PyTorch's, 5.3e-9 root mean
// square per tensor; BatchNorm statistics 1.1e-7 of their scale; Adam's moments 4.0e-5 of
// their tensor's largest. An element whose gradient is 0 or nearly (the U-Net's bottleneck
// taps that only meet padding) can be moved by Adam up to lr either way by rounding alone,
// so single elements are allowed 2·lr; the root mean square per tensor is what catches a
// tensor stepped from another gradient (off by about lr throughout).
const LOSS_TOL = 2e-5;
const PARAM_MAX = 2 * 2e-4 + 1e-6;
const PARAM_RMS = 1e-6;
const BUFFER_TOL = 5e-5;
const MOMENT_TOL = 2e-4;

function stateFor(o: TrainOptions): TrainingState {
  const state = createTrainingState(createDiscoGan(o), {
    seed: o.seed,
    adam: o,
    losses: { ...o, paired: o.paired !== undefined },
    dropout: false,
  });
  state.totalIterations = o.iterations;
  return state;
}

function randomBatch(o: TrainOptions, seed: number): { realA: tf.Tensor4D; realB: tf.Tensor4D } {
  const shape: [number, number, number, number] = [o.batchSize, o.imageSize, o.imageSize, 3];
  return {
    realA: tf.randomUniform(shape, -1, 1, "float32", seed) as tf.Tensor4D,
    realB: tf.randomUniform(shape, -1, 1, "float32", seed + 1) as tf.Tensor4D,
  };
}

async function pythonOneStep(run: string, batchFile: string, out: string, total: number) {
  const { code, stderr } = await new Deno.Command("/usr/bin/python3", {
    args: [
      "scripts/torch/train_ddp.py",
      run,
      ...["--one-step", batchFile, "--out", out, "--total", String(total)],
    ],
    cwd: root,
    env: { OMP_NUM_THREADS: "1" },
    stdin: "null",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
}

// Biases of convolutions followed by InstanceNorm: the mean subtraction cancels them, so
// their gradient is rounding noise and Adam moves them by about ±lr either way. Only how
// far they moved is checked.
function cancelledBias(models: DiscoGanModels, key: keyof DiscoGanModels, name: string): boolean {
  const net = models[key];
  if (!name.endsWith(".bias")) return false;
  if (net.kind === "unet") return /^(down[2-5]|up[1-5])\.model\.0\.bias$/.test(name);
  if (net.kind === "patchgan") return /^model\.[25]\.bias$/.test(name);
  if (net.kind === "resnet") return name !== [...net.params.keys()].at(-1);
  return false;
}

async function compareModels(
  ours: DiscoGanModels,
  theirs: DiscoGanModels,
  before: Map<string, Float32Array>,
  lr: number,
  where: string,
) {
  const worst = { param: 0, paramRms: 0, buffer: 0 };
  for (const [key, role] of Object.entries(ROLE_NAMES) as [keyof DiscoGanModels, string][]) {
    const a = await stateDict(ours[key]), b = await stateDict(theirs[key]);
    for (const [name, { data }] of a) {
      const ref = (b.get(name) as { data: Float32Array }).data;
      let diff = 0, scale = 0, sumSq = 0;
      for (let i = 0; i < data.length; i++) {
        diff = Math.max(diff, Math.abs(data[i] - ref[i]));
        scale = Math.max(scale, Math.abs(ref[i]));
        sumSq += (data[i] - ref[i]) ** 2;
      }
      const rms = Math.sqrt(sumSq / data.length);
      const buffer = /running_|num_batches/.test(name);
      if (cancelledBias(ours, key, name)) {
        const start = before.get(`${role}.${name}`) as Float32Array;
        const moved = data.reduce((m, v, i) => Math.max(m, Math.abs(v - start[i])), 0);
        // Adam's step is at most about lr on a first step, a few lr with warm moments.
        assert.ok(moved <= 5 * lr, `${where} ${role}.${name} moved ${moved}`);
      } else if (buffer) {
        worst.buffer = Math.max(worst.buffer, diff / Math.max(scale, 1e-12));
        if (name.endsWith("num_batches_tracked")) assert.equal(diff, 0, `${where} ${role}.${name}`);
        else assert.ok(diff <= BUFFER_TOL * scale, `${where} ${role}.${name}: ${diff} of ${scale}`);
      } else {
        worst.param = Math.max(worst.param, diff);
        worst.paramRms = Math.max(worst.paramRms, rms);
        assert.ok(diff <= PARAM_MAX, `${where} ${role}.${name}: max |ours - PyTorch| ${diff}`);
        assert.ok(rms <= PARAM_RMS, `${where} ${role}.${name}: root mean square error ${rms}`);
      }
    }
  }
  return worst;
}

async function compareAdam(ours: TrainingState, theirs: TrainingState, where: string) {
  const cancelled = (full: string) => {
    const [role, ...rest] = full.split(".");
    const key = (Object.keys(ROLE_NAMES) as (keyof DiscoGanModels)[])
      .find((k) => ROLE_NAMES[k] === role) as keyof DiscoGanModels;
    return cancelledBias(ours.models, key, rest.join("."));
  };
  let worst = 0;
  for (const side of ["gOptimizer", "dOptimizer"] as const) {
    const a = await ours[side].getState(), b = await theirs[side].getState();
    assert.equal(b.step, a.step, `${where}: ${side} step`);
    for (const kind of ["m", "v"] as const) {
      for (const [name, data] of a[kind]) {
        if (cancelled(name)) continue;
        const ref = b[kind].get(name) as Float32Array;
        let diff = 0, scale = 0;
        for (let i = 0; i < data.length; i++) {
          diff = Math.max(diff, Math.abs(data[i] - ref[i]));
          scale = Math.max(scale, Math.abs(ref[i]));
        }
        const rel = diff / Math.max(scale, 1e-30);
        worst = Math.max(worst, rel);
        assert.ok(rel <= MOMENT_TOL, `${where} ${side} ${kind}.${name}: ${rel} of its scale`);
      }
    }
  }
  return worst;
}

const CASES: [string, Partial<TrainOptions>, number][] = [
  // The default networks and objective with the identity term, a pool (the warm-up
  // iterations fill it, so the step draws its coin flips) and noise on the way back.
  ["pytorch-gan preset, identity, pool, cycle noise", {
    ...PRESETS["pytorch-gan"],
    lambdaIdentity: 5,
    poolSize: 3,
    cycleNoise: 0.1,
  }, 2],
  // The paper's networks and objective: BatchNorm, feature matching, curriculum, weight
  // decay, one side stepping per iteration (interval 2 here, the preset's 3: iteration 2
  // steps the discriminators, 3 the generators).
  [
    "paper preset, discriminator step",
    { ...PRESETS.paper, dUpdateInterval: 2, ganCurriculum: 4 },
    2,
  ],
  ["paper preset, generator step, lr decay, cycle noise", {
    ...PRESETS.paper,
    dUpdateInterval: 2,
    ganCurriculum: 2,
    lrDecayIterations: 6,
    poolSize: 2,
    cycleNoise: 0.05,
  }, 3],
  // ResNet, LSGAN, paired with an L1 pixelwise term, bottleneck-free paper D with instance norm.
  ["resnet + paper D, lsgan, paired", {
    generator: "resnet",
    discriminator: "paper",
    norm: "instance",
    nResidualBlocks: 2,
    ganLoss: "lsgan",
    pixelwiseLoss: "l1",
    paired: "/paired-images",
  }, 2],
];

for (const [label, given, warmup] of CASES) {
  Deno.test({
    name: `torch bridge: one iteration equals ours (${label})`,
    ignore: noTorch,
  }, async () => {
    // blas when OpenBLAS is there, else cpu: their convolutions sum in PyTorch's order
    // closely enough. onednn's filter gradients round differently, and the first layer's
    // gradient under cycle noise is a small sum of large terms: there its Adam moments came
    // out 1% (of their largest) from PyTorch's, against 2e-6 on blas.
    await useBackend(await backendMissing("blas", "tests/torch_bridge_test.ts") ? "cpu" : "blas");
    const o = resolveOptions(TRAIN_OPTIONS, {
      ...given,
      ngf: 8,
      ndf: 8,
      imageSize: 64,
      batchSize: 2,
      iterations: 8,
      seed: 3,
    });
    const dir = await Deno.makeTempDir({ prefix: "bridge_" });
    const run = await createRunDir(dir, o);
    // Warm-up iterations: Adam's moments, BatchNorm statistics and pools no longer at init.
    const state = stateFor(o);
    for (let i = 0; i < warmup; i++) {
      const batch = randomBatch(o, 100 + 2 * i);
      await discoGanIteration(state, batch);
      tf.dispose([batch.realA, batch.realB]);
    }
    await saveCheckpoint(run.checkpoints, state, { epoch: 0, nextBatch: warmup });
    const before = new Map<string, Float32Array>();
    for (const [key, role] of Object.entries(ROLE_NAMES) as [keyof DiscoGanModels, string][]) {
      for (const [name, rec] of await stateDict(state.models[key])) {
        before.set(`${role}.${name}`, rec.data);
      }
    }
    const batch = randomBatch(o, 7);
    const batchFile = join(dir, "batch.safetensors");
    await writeSafetensors(batchFile, {
      realA: { shape: batch.realA.shape, data: batch.realA.dataSync() as Float32Array },
      realB: { shape: batch.realB.shape, data: batch.realB.dataSync() as Float32Array },
    });
    const out = join(dir, "torch");
    await pythonOneStep(dir, batchFile, out, o.iterations as number);

    const losses = await discoGanIteration(state, batch) as unknown as Record<string, number>;
    const theirs = JSON.parse(await Deno.readTextFile(join(out, "losses.json")));
    assert.deepEqual(Object.keys(theirs).sort(), Object.keys(losses).sort(), "loss names");
    let lossWorst = 0;
    for (const [name, value] of Object.entries(losses)) {
      const rel = Math.abs(value - theirs[name]) / Math.max(Math.abs(theirs[name]), 1e-12);
      lossWorst = Math.max(lossWorst, rel);
      assert.ok(rel <= LOSS_TOL, `${label} ${name}: ${value} vs PyTorch ${theirs[name]}`);
    }
    const torchState = stateFor(o);
    const [checkpoint] = await listCheckpoints(join(out, "checkpoints"));
    const info = await loadCheckpoint(checkpoint, torchState);
    assert.equal(info.iteration, warmup + 1);
    assert.equal(torchState.iteration, state.iteration);
    const worst = await compareModels(state.models, torchState.models, before, o.lr, label);
    const moments = await compareAdam(state, torchState, label);
    for (const domain of ["a", "b"] as const) {
      const a = state.pools[domain].snapshot(), b = torchState.pools[domain].snapshot();
      assert.deepEqual(b?.shape, a?.shape, `${label}: pool ${domain} size`);
      if (a && b) {
        const diff = a.data.reduce((m, v, i) => Math.max(m, Math.abs(v - b.data[i])), 0);
        assert.ok(diff <= 1e-5, `${label}: pool ${domain} images differ by ${diff}`);
      }
    }
    if (REPORT) console.log(label, { loss: lossWorst, ...worst, moments });
    tf.dispose([batch.realA, batch.realB]);
  });
}
