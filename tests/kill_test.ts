// A real training process killed with SIGKILL again and again (during
// checkpoint writes too), resumed each time, ends exactly where an
// uninterrupted run ends; Ctrl-C saves a checkpoint and exits cleanly.
import assert from "node:assert/strict";
import { join } from "node:path";
import { ensureDefaultDataset } from "../pipeline/default_dataset.ts";
import { listCheckpoints } from "../pipeline/checkpoint.ts";
import { readSafetensors } from "../ops/formats/safetensors.ts";

const TRAIN = new URL("../scripts/train.ts", import.meta.url).pathname;
const ITERATIONS = 60;

function trainProcess(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", TRAIN, "--quiet", ...args],
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

/** Arguments of a tiny training run on `data`, with `more` flags added. */
function tinyRunArgs(
  data: { trainA: string; trainB: string },
  more: Record<string, number>,
): string[] {
  const flags = {
    "data-a": data.trainA,
    "data-b": data.trainB,
    ngf: 4,
    ndf: 4,
    "batch-size": 2,
    backend: "wasm",
    ...more,
  };
  return Object.entries(flags).flatMap(([k, v]) => [`--${k}`, String(v)]);
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

async function tempCheckpointAppears(dir: string, timeoutMs: number): Promise<boolean> {
  const end = performance.now() + timeoutMs;
  while (performance.now() < end) {
    try {
      for (const e of Deno.readDirSync(dir)) if (e.name.includes(".tmp-")) return true;
    } catch { /* not created yet */ }
    await new Promise((r) => setTimeout(r, 1));
  }
  return false;
}

// Waits until metrics.jsonl has a line more than when called.
async function progressed(path: string, timeoutMs: number): Promise<void> {
  const count = async () => (await Deno.readTextFile(path).catch(() => "")).split("\n").length;
  const start = await count(), end = performance.now() + timeoutMs;
  while (performance.now() < end && (await count()) <= start) {
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function weights(checkpoint: string): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const net of ["g_ab", "g_ba", "d_a", "d_b", "adam_g", "adam_d"]) {
    const file = await readSafetensors(join(checkpoint, `${net}.safetensors`));
    for (const [name, t] of file.tensors) out.set(`${net}.${name}`, t.data);
  }
  return out;
}

Deno.test("SIGKILL at random moments, resume each time: the final weights equal an uninterrupted run's", async () => {
  const root = await Deno.makeTempDir();
  const data = await ensureDefaultDataset({ root: join(root, "emoji"), limit: 24 });
  const common = tinyRunArgs(data, {
    iterations: ITERATIONS,
    "checkpoint-every": 1,
    "keep-checkpoints": 2,
    "sample-every": 3,
    seed: 5,
  });
  const whole = join(root, "whole");
  const ref = trainProcess([...common, "--run-dir", whole]);
  assert.equal((await ref.output()).code, 0);

  const run = join(root, "killed");
  let kills = 0, midCheckpoint = 0, seed = 12345;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let attempt = 0; attempt < 60; attempt++) {
    const started = await exists(join(run, "options.json"));
    const child = trainProcess(started ? ["--resume", run] : [...common, "--run-dir", run]);
    const finished = child.status;
    if (kills < 12) {
      // Every third kill waits for a checkpoint being written; the others land
      // at a random moment after the run has made progress.
      if (kills % 3 === 0) {
        if (await tempCheckpointAppears(join(run, "checkpoints"), 15000)) midCheckpoint++;
      } else {
        await progressed(join(run, "metrics.jsonl"), 15000);
        await new Promise((r) => setTimeout(r, random() * 300));
      }
      try {
        child.kill("SIGKILL");
      } catch { /* already exited */ }
      const status = await finished;
      await child.stderr.cancel();
      if (status.signal === "SIGKILL") kills++;
      continue;
    }
    const { code } = await finished;
    const stderr = new TextDecoder().decode(await new Response(child.stderr).arrayBuffer());
    assert.equal(code, 0, stderr);
    break;
  }
  assert.ok(kills >= 10, `only ${kills} kills landed`);
  assert.ok(midCheckpoint >= 3, `only ${midCheckpoint} kills landed during a checkpoint write`);

  // Every checkpoint on disk loads; the last equals the uninterrupted run's.
  const checkpoints = await listCheckpoints(join(run, "checkpoints"));
  assert.ok(checkpoints.length >= 1);
  for (const c of checkpoints) await weights(c);
  const last = checkpoints.at(-1) as string;
  assert.match(last, new RegExp(`iter_${String(ITERATIONS).padStart(7, "0")}$`));
  const a = await weights((await listCheckpoints(join(whole, "checkpoints"))).at(-1) as string);
  const b = await weights(last);
  assert.deepEqual([...b.keys()], [...a.keys()]);
  for (const [name, values] of a) assert.deepEqual(b.get(name), values, name);

  // metrics.jsonl: whole lines, iterations 1..N once each, the same losses.
  const lines = (await Deno.readTextFile(join(run, "metrics.jsonl"))).split("\n");
  assert.equal(lines.pop(), "", "ends with a newline");
  const parsed = lines.map((l) => JSON.parse(l));
  assert.deepEqual(parsed.map((m) => m.iteration), [...Array(ITERATIONS)].map((_, i) => i + 1));
  const reference = (await Deno.readTextFile(join(whole, "metrics.jsonl"))).trim().split("\n")
    .map((l) => JSON.parse(l));
  parsed.forEach((m, i) => assert.equal(m.g, reference[i].g, `iteration ${i + 1}`));
});

Deno.test("Ctrl-C (SIGINT) saves a checkpoint at the current iteration and exits cleanly", async () => {
  const root = await Deno.makeTempDir();
  const data = await ensureDefaultDataset({ root: join(root, "emoji"), limit: 24 });
  const run = join(root, "run");
  const child = trainProcess([
    ...tinyRunArgs(data, { iterations: 100000, "checkpoint-every": 0, "sample-every": 0 }),
    "--run-dir",
    run,
  ]);
  const metrics = join(run, "metrics.jsonl");
  for (let i = 0; i < 400; i++) {
    const text = await Deno.readTextFile(metrics).catch(() => "");
    if (text.split("\n").length > 3) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill("SIGINT");
  const { code } = await child.status;
  const stderr = new TextDecoder().decode(await new Response(child.stderr).arrayBuffer());
  assert.equal(code, 0, stderr);
  assert.match(stderr, /stopping after this iteration and saving a checkpoint/);
  const lines = (await Deno.readTextFile(metrics)).trim().split("\n");
  const lastIteration = JSON.parse(lines.at(-1) as string).iteration;
  const checkpoints = await listCheckpoints(join(run, "checkpoints"));
  assert.equal(checkpoints.length, 1);
  assert.match(checkpoints[0], new RegExp(`iter_${String(lastIteration).padStart(7, "0")}$`));
  const state = JSON.parse(await Deno.readTextFile(join(checkpoints[0], "state.json")));
  assert.equal(state.iteration, lastIteration);
});
