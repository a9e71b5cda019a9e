/**
 * Checkpoints: the four networks (safetensors, PyTorch names), both Adam
 * states, the discriminators' pools of past fakes, the iteration and what the data order and dropout masks derive
 * from. Each is a folder `checkpoints/iter_NNNNNNN/`, written under a temporary
 * name and renamed into place, so a kill mid-write leaves the previous
 * checkpoint whole and no partial one visible.
 * @module
 */
import { join } from "node:path";
import { ROLE_NAMES } from "../models/discogan.ts";
import { loadStateDict, stateDict } from "../models/weights.ts";
import type { AdamState } from "../ops/adam.ts";
import { writeFileAtomic } from "../ops/formats/atomic_write.ts";
import {
  readSafetensors,
  type TensorRecord,
  writeSafetensors,
} from "../ops/formats/safetensors.ts";
import type { TrainingState } from "./training_state.ts";
import { iterationName } from "./run_dir.ts";

/** What a checkpoint says about where training stands. */
export interface CheckpointInfo {
  /** Iterations completed. */
  iteration: number;
  /** Epoch of the last batch trained on. */
  epoch: number;
  /** Batches drawn from the data source; the next batch has this index. */
  nextBatch: number;
  /** Seed of data order and dropout masks. */
  seed: number;
  /** When it was written (ISO 8601). */
  time: string;
}

const NAME = /^iter_(\d+)$/;

/**
 * The folder name of the checkpoint after `iteration` iterations.
 *
 * @example
 * ```ts
 * import { checkpointName } from "./checkpoint.ts";
 * console.log(checkpointName(500)); // "iter_0000500"
 * ```
 */
export function checkpointName(iteration: number): string {
  return iterationName(iteration);
}

function adamTensors(state: AdamState): Map<string, TensorRecord> {
  const out = new Map<string, TensorRecord>();
  for (const [kind, src] of [["m", state.m], ["v", state.v]] as const) {
    for (const [name, data] of src) out.set(`${kind}.${name}`, { shape: [data.length], data });
  }
  return out;
}

function adamState(tensors: Map<string, TensorRecord>, step: number): AdamState {
  const state: AdamState = { step, m: new Map(), v: new Map() };
  for (const [key, rec] of tensors) {
    const [kind, name] = [key.slice(0, 1), key.slice(2)];
    (kind === "m" ? state.m : state.v).set(name, rec.data);
  }
  return state;
}

async function syncDir(path: string): Promise<void> {
  try {
    const dir = await Deno.open(path, { read: true });
    try {
      await dir.sync();
    } finally {
      dir.close();
    }
  } catch {
    // Best effort: some file systems cannot sync a directory.
  }
}

/**
 * Writes a checkpoint of `state` into `checkpointsDir` and returns its path.
 *
 * @example
 * ```ts
 * import { createDiscoGan } from "../models/discogan.ts";
 * import { createTrainingState } from "./iteration.ts";
 * import { saveCheckpoint } from "./checkpoint.ts";
 * const state = createTrainingState(createDiscoGan({ ngf: 4, ndf: 4 }));
 * const dir = await Deno.makeTempDir();
 * console.log(await saveCheckpoint(dir, state, { epoch: 0, nextBatch: 0 }));
 * ```
 */
export async function saveCheckpoint(
  checkpointsDir: string,
  state: TrainingState,
  position: { epoch: number; nextBatch: number },
): Promise<string> {
  const final = join(checkpointsDir, checkpointName(state.iteration));
  const temp = join(checkpointsDir, `.${checkpointName(state.iteration)}.tmp-${Deno.pid}`);
  await Deno.remove(temp, { recursive: true }).catch(() => {});
  await Deno.mkdir(temp, { recursive: true });
  try {
    for (const [key, role] of Object.entries(ROLE_NAMES)) {
      const net = state.models[key as keyof typeof ROLE_NAMES];
      await writeSafetensors(join(temp, `${role}.safetensors`), await stateDict(net), {
        format: "pt",
        kind: net.kind,
      });
    }
    for (const [side, opt] of [["g", state.gOptimizer], ["d", state.dOptimizer]] as const) {
      const s = await opt.getState();
      await writeSafetensors(join(temp, `adam_${side}.safetensors`), adamTensors(s), {
        step: String(s.step),
      });
    }
    const pools = new Map<string, TensorRecord>();
    for (const [domain, pool] of Object.entries(state.pools)) {
      const saved = pool.snapshot();
      if (saved) pools.set(domain, saved);
    }
    if (pools.size > 0) await writeSafetensors(join(temp, "pools.safetensors"), pools);
    const info: CheckpointInfo = {
      iteration: state.iteration,
      ...position,
      seed: state.seed,
      time: new Date().toISOString(),
    };
    // state.json last: a folder without it is never taken for a checkpoint.
    await writeFileAtomic(join(temp, "state.json"), JSON.stringify(info, null, 2) + "\n");
    await syncDir(temp);
    // A checkpoint of the same iteration (a replay after resume) is replaced
    // whole: moved aside first, so a kill never leaves neither.
    const aside = `${temp}.old`;
    const replaced = await Deno.rename(final, aside).then(() => true, () => false);
    await Deno.rename(temp, final);
    await syncDir(checkpointsDir);
    if (replaced) await Deno.remove(aside, { recursive: true });
  } catch (e) {
    await Deno.remove(temp, { recursive: true }).catch(() => {});
    throw new Error(`cannot write checkpoint ${final}: ${(e as Error).message}`, { cause: e });
  }
  return final;
}

/**
 * The complete checkpoints in a folder, oldest first (partial ones ignored).
 *
 * @example
 * ```ts
 * import { listCheckpoints } from "./checkpoint.ts";
 * console.log(await listCheckpoints("runs/example/checkpoints")); // [] when there are none
 * ```
 */
export async function listCheckpoints(checkpointsDir: string): Promise<string[]> {
  const found: [number, string][] = [];
  try {
    for await (const e of Deno.readDir(checkpointsDir)) {
      const m = NAME.exec(e.name);
      if (!m || !e.isDirectory) continue;
      const path = join(checkpointsDir, e.name);
      const complete = await Deno.stat(join(path, "state.json")).then(() => true, () => false);
      if (complete) found.push([Number(m[1]), path]);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return found.sort((a, b) => a[0] - b[0]).map(([, p]) => p);
}

/**
 * Deletes all but the newest `keep` checkpoints, and leftovers of writes
 * that were killed.
 *
 * @example
 * ```ts
 * import { pruneCheckpoints } from "./checkpoint.ts";
 * await pruneCheckpoints("runs/example/checkpoints", 3);
 * ```
 */
export async function pruneCheckpoints(checkpointsDir: string, keep: number): Promise<void> {
  const all = await listCheckpoints(checkpointsDir);
  for (const path of all.slice(0, Math.max(0, all.length - keep))) {
    await Deno.remove(path, { recursive: true });
  }
  for await (const e of Deno.readDir(checkpointsDir)) {
    if (/^\.iter_\d+\.tmp-\d+(\.old)?$/.test(e.name)) {
      await Deno.remove(join(checkpointsDir, e.name), { recursive: true }).catch(() => {});
    }
  }
}

/**
 * Restores `state` (networks, optimizers, iteration, seed) from a checkpoint
 * folder. The networks must have the checkpoint's architecture and widths;
 * otherwise the error names the file and the differing tensors.
 *
 * @example
 * ```ts
 * import { createDiscoGan } from "../models/discogan.ts";
 * import { createTrainingState } from "./iteration.ts";
 * import { loadCheckpoint, saveCheckpoint } from "./checkpoint.ts";
 * const state = createTrainingState(createDiscoGan({ ngf: 4, ndf: 4 }));
 * const path = await saveCheckpoint(await Deno.makeTempDir(), state, { epoch: 0, nextBatch: 0 });
 * console.log((await loadCheckpoint(path, state)).iteration); // 0
 * ```
 */
export async function loadCheckpoint(path: string, state: TrainingState): Promise<CheckpointInfo> {
  const infoPath = join(path, "state.json");
  let info: CheckpointInfo;
  try {
    info = JSON.parse(await Deno.readTextFile(infoPath));
  } catch (e) {
    throw new Error(`${infoPath}: not a readable checkpoint (${(e as Error).message})`);
  }
  for (const key of ["iteration", "epoch", "nextBatch", "seed"] as const) {
    if (!Number.isInteger(info[key]) || info[key] < 0) {
      throw new Error(`${infoPath}: "${key}" is missing or not a whole number`);
    }
  }
  for (const [key, role] of Object.entries(ROLE_NAMES)) {
    const file = join(path, `${role}.safetensors`);
    loadStateDict(state.models[key as keyof typeof ROLE_NAMES], await readSafetensors(file), file);
  }
  for (const [side, opt] of [["g", state.gOptimizer], ["d", state.dOptimizer]] as const) {
    const file = join(path, `adam_${side}.safetensors`);
    const saved = await readSafetensors(file);
    const step = Number(saved.metadata.step);
    try {
      opt.setState(adamState(saved.tensors, step));
    } catch (e) {
      throw new Error(`${file}: ${(e as Error).message}`);
    }
  }
  // Written only when a pool holds images: no file, empty pools.
  const poolFile = join(path, "pools.safetensors");
  const pools = await Deno.stat(poolFile).then(() => readSafetensors(poolFile), () => undefined);
  for (const [domain, pool] of Object.entries(state.pools)) {
    try {
      pool.restore(pools?.tensors.get(domain));
    } catch (e) {
      throw new Error(`${poolFile}: ${(e as Error).message}; resume with the run's --pool-size`);
    }
  }
  state.iteration = info.iteration;
  state.seed = info.seed;
  return info;
}
