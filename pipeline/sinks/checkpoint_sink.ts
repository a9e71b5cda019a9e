/**
 * Checkpoints every N iterations and when training stops.
 * @module
 */
import { pruneCheckpoints, saveCheckpoint } from "../checkpoint.ts";
import type { TrainingState } from "../training_state.ts";
import type { IterationRecord, Sink } from "../record.ts";

/**
 * Saves a checkpoint every `every` iterations (0: only at the end) and when
 * training stops, keeping the newest `keep`.
 *
 * @example
 * ```ts
 * import { createDiscoGan } from "../../models/discogan.ts";
 * import { createTrainingState } from "../training_state.ts";
 * import { checkpointSink } from "./checkpoint_sink.ts";
 * const state = createTrainingState(createDiscoGan({ ngf: 4, ndf: 4 }));
 * const sink = checkpointSink("/tmp/checkpoints", state, { every: 500, keep: 3 });
 * ```
 */
export function checkpointSink(
  dir: string,
  state: TrainingState,
  options: { every: number; keep: number; onSaved?: (path: string) => void },
): Sink {
  let lastSaved = -1;
  const save = async (r: IterationRecord) => {
    // One batch per iteration: the next batch's index is the iteration count.
    const path = await saveCheckpoint(dir, state, { epoch: r.epoch, nextBatch: r.iteration });
    await pruneCheckpoints(dir, options.keep);
    lastSaved = r.iteration;
    options.onSaved?.(path);
  };
  return {
    async write(r) {
      if (options.every > 0 && r.iteration % options.every === 0) await save(r);
    },
    async close(last) {
      if (last && last.iteration !== lastSaved) await save(last);
    },
  };
}
