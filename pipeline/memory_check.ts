/**
 * Sizes that do not fit are refused before training. The memory of a run is
 * estimated from what it is made of: the parameters with Adam's two moments,
 * the gradients and temporaries of a step (proportional to the parameters),
 * and the activations of an iteration (proportional to the batch and to the
 * activations one image keeps for its backward pass, which one recorded
 * forward pass at 64 px measures and the pixel count scales). The two factors
 * are upper bounds measured on our networks (see {@link MEMORY_MODEL}); the
 * estimate errs high, its activations by up to 3x (the U-Net at widths 16).
 * @module
 */
import { type Tensor4D, tf } from "../ops/tf.ts";
import { gradientsFreeing } from "../ops/gradients.ts";
import type { DiscoGanModels } from "../models/discogan.ts";

/**
 * The estimate's factors. Measured on cpu (2026-12-01): peak tensor bytes of
 * a second iteration (`tf.profile`) above the bytes before the networks were
 * built, against the parameters P (with Adam: 4.5·P) and the tensor bytes A1
 * one image holds at the end of a recorded forward pass of G_AB and D_A (what
 * their backward pass keeps; the networks free the rest as they go). Tensor
 * bytes as `tf.memory()` counts them: a saved clone counts apart from the
 * tensor whose array it shares, so A1 is above the arrays' bytes; K absorbs it. Every
 * generator with every discriminator, widths 4-16, 64 px, batch 2-8, gave
 * 4.5·P + K·n·A1 with K from 1.5 (U-Net, widths 16) to 4.3 (paper + PatchGAN,
 * batch 8).
 *
 * @example
 * ```ts
 * import { MEMORY_MODEL } from "./memory_check.ts";
 * console.log(MEMORY_MODEL.perImageActivations); // 4.5
 * ```
 */
export const MEMORY_MODEL = {
  /** Bytes of the iteration's gradients and temporaries, per parameter byte. */
  perParameter: 1.5,
  /** Bytes of the iteration's activations, per byte one image's forward pass keeps. */
  perImageActivations: 4.5,
  /** Side at which the forward pass is measured (the estimate scales it by pixels). */
  probeSize: 64,
  /** The process beyond its tensors (runtime, decoders, prefetched batches), bytes. */
  runtimeBytes: 256 * 2 ** 20,
} as const;

/** What an estimate is made of, in bytes. */
export interface MemoryEstimate {
  /** Parameters, with Adam's two moments. */
  state: number;
  /** Gradients and temporaries of a step. */
  step: number;
  /** Activations of one iteration at the batch size. */
  activations: number;
  /** Activations per image of the batch. */
  perImage: number;
  /** All of it, with the runtime. */
  total: number;
}

/**
 * Estimates the peak memory of training `models` at `imageSize` and `batchSize`.
 *
 * @example
 * ```ts
 * import { createDiscoGan } from "../models/discogan.ts";
 * import { estimateTrainingMemory } from "./memory_check.ts";
 * const models = createDiscoGan({ ngf: 8, ndf: 8 });
 * const e = await estimateTrainingMemory(models, 64, 4);
 * console.log(e.total > e.state); // true
 * ```
 */
export function estimateTrainingMemory(
  models: DiscoGanModels,
  imageSize: number,
  batchSize: number,
): Promise<MemoryEstimate> {
  let parameterBytes = 0;
  for (const net of Object.values(models)) {
    for (const v of net.params.values()) parameterBytes += v.size * 4;
  }
  const probe = Math.min(imageSize, MEMORY_MODEL.probeSize);
  // Two images: BatchNorm in training needs more than one value per channel,
  // and the paper generator's bottleneck is 1x1.
  const x = tf.zeros([2, probe, probe, 3]) as Tensor4D;
  // Training mode updates BatchNorm's running statistics: the probe must not.
  const buffers = [...(models.gAB.buffers ?? []), ...(models.dA.buffers ?? [])].map((
    [, v],
  ) => [v, tf.clone(v)] as const);
  const before = tf.memory().numBytes;
  // Recorded for a gradient, as in an iteration, so what the backward pass
  // keeps is held at the end of the forward pass; training mode runs BatchNorm
  // on batch statistics.
  let held = 0;
  const { value, grads } = gradientsFreeing(() => {
    const y = tf.add(
      tf.sum(models.gAB.apply(x, { training: true })),
      tf.sum(models.dA.apply(x, { training: true })),
    ) as tf.Scalar;
    held = tf.memory().numBytes - before;
    return y;
  }, [x]);
  tf.dispose([value, x, ...grads.filter((g) => g !== undefined)]);
  for (const [v, saved] of buffers) {
    v.assign(saved);
    saved.dispose();
  }
  const probeBytes = Math.max(0, held) / 2;
  const perImage = MEMORY_MODEL.perImageActivations * probeBytes * (imageSize / probe) ** 2;
  const state = 3 * parameterBytes, step = MEMORY_MODEL.perParameter * parameterBytes;
  const activations = perImage * batchSize;
  // A promise, as when the probe was profiled asynchronously: callers await it.
  return Promise.resolve({
    state,
    step,
    activations,
    perImage,
    total: state + step + activations + MEMORY_MODEL.runtimeBytes,
  });
}

/**
 * Bytes a backend can give a run: the wasm heap's 4 GiB, the machine's
 * available memory for the cpu family; undefined where it is not known
 * (webgpu, tensorflow).
 *
 * @example
 * ```ts
 * import { memoryLimit } from "./memory_check.ts";
 * console.log(memoryLimit("wasm")?.bytes); // 4294967296
 * ```
 */
export function memoryLimit(backend: string): { bytes: number; what: string } | undefined {
  if (backend === "wasm") return { bytes: 4 * 2 ** 30, what: "the wasm backend's 4 GiB heap" };
  if (backend === "cpu" || backend === "blas" || backend === "onednn") {
    try {
      const info = Deno.systemMemoryInfo();
      return { bytes: info.available, what: "the memory this machine has available" };
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * Throws, before anything is trained or written, when the estimate of
 * {@link estimateTrainingMemory} exceeds what `backend` can give; the message
 * gives both numbers and the largest batch that would fit.
 *
 * @example
 * ```ts
 * import { createDiscoGan } from "../models/discogan.ts";
 * import { checkMemoryFits } from "./memory_check.ts";
 * await checkMemoryFits(createDiscoGan({ ngf: 8, ndf: 8 }), { imageSize: 64, batchSize: 1 }, "wasm");
 * ```
 */
export async function checkMemoryFits(
  models: DiscoGanModels,
  o: { imageSize: number; batchSize: number },
  backend: string,
): Promise<void> {
  const limit = memoryLimit(backend);
  if (!limit) return;
  const e = await estimateTrainingMemory(models, o.imageSize, o.batchSize);
  if (e.total <= limit.bytes) return;
  const room = limit.bytes - (e.total - e.activations);
  const batch = Math.floor(room / e.perImage);
  const advice = batch >= 1
    ? `lower --batch-size to ${batch} or less, or --image-size`
    : `even a batch of 1 does not fit: lower --image-size or the widths (--ngf, --ndf)`;
  throw new MemoryFitError(
    `--image-size ${o.imageSize} with --batch-size ${o.batchSize} needs about ${gib(e.total)} ` +
      `(estimate: ${gib(e.state)} of weights and Adam state, ${gib(e.activations)} of ` +
      `activations), more than ${limit.what} (${gib(limit.bytes)}): ${advice}` +
      (backend === "wasm" ? "; or use --backend onednn, blas or cpu" : "") +
      `. --no-memory-check trains anyway.`,
  );
}

/** A run that would not fit in memory, refused before it started. */
export class MemoryFitError extends Error {
  /** "MemoryFitError". */
  override name = "MemoryFitError";
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(bytes < 2 ** 30 ? 2 : 1)} GiB`;
}
