/**
 * What the training graph emits once per iteration, and what a sink is.
 * @module
 */
import type { IterationLosses } from "./iteration.ts";

/** One iteration's outcome: the loss stream's element. */
export interface IterationRecord {
  /** Iterations completed, this one included (1-based). */
  iteration: number;
  /** Epoch of the batch (0-based). */
  epoch: number;
  /** Every loss term. */
  losses: IterationLosses;
  /** Wall time of this iteration, data wait included. */
  secondsPerIteration: number;
  /** Images translated per second (both domains). */
  imagesPerSecond: number;
}

/**
 * A consumer of the loss stream. The graph awaits `write` before the next
 * iteration starts, so a sink sees the networks as they were after its record.
 */
export interface Sink {
  /** Handles one record. */
  write(record: IterationRecord): Promise<void> | void;
  /** Called once when training stops (normally, on Ctrl-C, or on an error). */
  close?(last: IterationRecord | undefined): Promise<void> | void;
}
