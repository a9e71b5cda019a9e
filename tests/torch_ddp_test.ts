// A run moves to PyTorch's distributed training and back: torchrun with two
// CPU processes (gloo) continues a run written here from its checkpoint, and
// `train --resume` continues from the checkpoint it wrote, with no gap or
// duplicate in the metrics and Adam's step count right. A rank killed mid-run
// leaves the earlier checkpoints whole and the run resumable.
import assert from "node:assert/strict";
import { join } from "node:path";
import { tinyDataset } from "./tiny_data.ts";
import { missing } from "./native.ts";
import { createDiscoGan } from "../models/discogan.ts";
import { listCheckpoints, loadCheckpoint } from "../pipeline/checkpoint.ts";
import { readMetrics } from "../pipeline/sinks/metrics_sink.ts";
import { readRunOptions } from "../pipeline/run_dir.ts";
import { createTrainingState } from "../pipeline/training_state.ts";
import { disposeTrainResult, train } from "../pipeline/train.ts";
import type { TrainOptions } from "../pipeline/options.ts";

const root = new URL("..", import.meta.url).pathname;
const noTorch = await missing("torch", "tests/torch_ddp_test.ts");
const SCRIPT = join(root, "scripts/torch/train_ddp.py");
// torchrun, through the shim that mends it for Debian's PyTorch 1.13 on Python 3.11.
const TORCHRUN = join(root, "scripts/torch/torchrun.py");

function torchrun(args: string[]): Deno.ChildProcess {
  return new Deno.Command("/usr/bin/python3", {
    args: [TORCHRUN, ...args],
    env: { OMP_NUM_THREADS: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function tinyRun(more: Partial<TrainOptions>): Promise<string> {
  const data = await tinyDataset(8);
  const runDir = join(await Deno.makeTempDir({ prefix: "ddp_" }), "run");
  const result = await train({
    dataA: data.trainA,
    dataB: data.trainB,
    ngf: 4,
    ndf: 4,
    batchSize: 2,
    sampleEvery: 0,
    backend: "auto",
    runDir,
    ...more,
  }, { quiet: true, log: () => {} });
  disposeTrainResult(result);
  return runDir;
}

// Every checkpoint of the run loads into the run's networks and optimizers.
Deno.test({
  name: "train --export-torch refuses a run without a checkpoint, or processes that split no batch",
  ignore: noTorch,
}, async () => {
  const run = await tinyRun({ iterations: 1 });
  const cli = async (args: string[]) => {
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "scripts/train.ts", ...args],
      cwd: root,
    }).output();
    return { code: r.code, stderr: new TextDecoder().decode(r.stderr) };
  };
  let r = await cli(["--export-torch", run, "--nproc", "3"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--nproc: 3 processes cannot share the run's batch of 2/);
  await Deno.remove(join(run, "checkpoints"), { recursive: true });
  r = await cli(["--export-torch", run]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /has no checkpoint yet/);
});

async function checkpointsLoad(runDir: string): Promise<number[]> {
  const o = await readRunOptions(runDir);
  const iterations = [];
  for (const path of await listCheckpoints(join(runDir, "checkpoints"))) {
    const state = createTrainingState(createDiscoGan(o), {
      adam: o,
      losses: { ...o, paired: o.paired !== undefined },
    });
    iterations.push((await loadCheckpoint(path, state)).iteration);
    assert.equal(state.gOptimizer.step, state.iteration, `${path}: Adam's step`);
  }
  return iterations;
}

function assertConsecutive(iterations: number[], last: number) {
  assert.deepEqual(iterations, Array.from({ length: last }, (_, i) => i + 1));
}

Deno.test({
  name: "torchrun (2 processes, gloo) continues a run, and train --resume continues after it",
  ignore: noTorch,
}, async () => {
  const run = await tinyRun({ iterations: 3, checkpointEvery: 3 });
  // The command `train --export-torch` prints, run as printed (through the shim).
  const printed = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "scripts/train.ts",
      "--export-torch",
      run,
      "--nproc",
      "2",
      "--iterations",
      "6",
    ],
    cwd: root,
    stderr: "inherit",
  }).output();
  assert.equal(printed.code, 0);
  const command = new TextDecoder().decode(printed.stdout).trim().split(" ");
  assert.deepEqual(command.slice(0, 4), ["torchrun", "--standalone", "--nproc_per_node", "2"]);
  assert.deepEqual(command.slice(4), [SCRIPT, run, "--iterations", "6"]);
  const child = torchrun(command.slice(1));
  const { code, stderr } = await child.output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  assert.match(new TextDecoder().decode(stderr), /on 2 process\(es\)/);

  const [newest] = (await listCheckpoints(join(run, "checkpoints"))).slice(-1);
  const info = JSON.parse(await Deno.readTextFile(join(newest, "state.json")));
  assert.equal(info.iteration, 6);
  assert.equal(info.nextBatch, 6, "the data order goes on where it was");
  assert.deepEqual(await checkpointsLoad(run), [3, 6]);
  let metrics = await readMetrics(join(run, "metrics.jsonl"));
  assertConsecutive(metrics.map((l) => l.iteration), 6);
  // PyTorch's lines carry the keys of ours, with finite values.
  const keys = Object.keys(metrics[0]).sort();
  for (const line of metrics.slice(3)) {
    assert.deepEqual(Object.keys(line).sort(), keys, `iteration ${line.iteration}: keys`);
    for (const key of keys.filter((k) => k !== "time")) {
      assert.ok(Number.isFinite(line[key]), `iteration ${line.iteration}: ${key}`);
    }
  }

  const resumed = await train({ iterations: 8 }, { resume: run, quiet: true, log: () => {} });
  assert.equal(resumed.state.iteration, 8);
  assert.equal(resumed.state.gOptimizer.step, 8);
  assert.equal(resumed.state.dOptimizer.step, 8);
  disposeTrainResult(resumed);
  metrics = await readMetrics(join(run, "metrics.jsonl"));
  assertConsecutive(metrics.map((l) => l.iteration), 8);
});

// The worker processes torchrun started for `agent`, with their LOCAL_RANK.
async function workers(agent: number): Promise<Map<number, number>> {
  const found = new Map<number, number>();
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = await Deno.readTextFile(`/proc/${entry.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid !== agent) continue;
      const env = await Deno.readTextFile(`/proc/${entry.name}/environ`);
      const rank = /(?:^|\0)LOCAL_RANK=(\d+)/.exec(env);
      if (rank) found.set(Number(rank[1]), Number(entry.name));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

Deno.test({
  name: "a torchrun rank killed mid-run leaves the checkpoints whole and the run resumable",
  ignore: noTorch,
}, async () => {
  const run = await tinyRun({ iterations: 2, checkpointEvery: 2, keepCheckpoints: 10 });
  const child = torchrun([
    ...["--standalone", "--nproc_per_node", "2", SCRIPT, run],
    ...["--iterations", "100000", "--device", "cpu"],
  ]);
  const stderr = child.stderr.pipeTo(new WritableStream());
  await child.stdout.cancel();
  // Wait for two checkpoints PyTorch wrote, then kill rank 1.
  const deadline = Date.now() + 120_000;
  while ((await listCheckpoints(join(run, "checkpoints"))).length < 3) {
    assert.ok(Date.now() < deadline, "torchrun wrote no checkpoint within 2 minutes");
    await new Promise((r) => setTimeout(r, 200));
  }
  const ranks = await workers(child.pid);
  assert.equal(ranks.size, 2, `two workers under torchrun (found ${[...ranks]})`);
  Deno.kill(ranks.get(1) as number, "SIGKILL");
  const status = await child.status;
  await stderr;
  assert.notEqual(status.code, 0, "torchrun reports the lost rank");

  const kept = await checkpointsLoad(run);
  assert.ok(kept.length >= 3 && kept[0] === 2, `checkpoints ${kept}`);
  const last = kept.at(-1) as number;
  const resumed = await train({ iterations: last + 2 }, {
    resume: run,
    quiet: true,
    log: () => {},
  });
  assert.equal(resumed.state.iteration, last + 2);
  disposeTrainResult(resumed);
  const metrics = await readMetrics(join(run, "metrics.jsonl"));
  assertConsecutive(metrics.map((l) => l.iteration), last + 2);
});
