// One training iteration on two backends from the same weights and batch,
// compared: the check that the webgpu backend trains the full-width networks
// as the CPU does (the parity fixtures are narrow: ngf 6, ndf 8). Used by the
// device kit's check (scripts/device/check.ts).
//
// Thresholds, from our CPU backends against each other at ngf = ndf = 64,
// 128 px (onednn vs cpu): losses 3e-7, D gradients 3.5e-6 of the largest,
// 99.7% of updated weights within 1e-6 (Adam's first step moves every weight
// by about lr whatever its gradient's size, so a tiny gradient that changes
// sign moves it 2 lr the other way). At 64 px the same pair differs by 2.5e-3
// in the D gradients: the U-Net's innermost InstanceNorm there normalises
// 2x2 pixels, and a channel with almost no spread turns rounding into real
// differences. So the check runs at 128 px (4x4).
import { type BackendName, useBackend } from "../../ops/runtime/backend.ts";
import { tf } from "../../ops/tf.ts";
import { createDiscoGan } from "../../models/discogan.ts";
import { discoGanIteration } from "../../pipeline/iteration.ts";
import { createTrainingState, networkParams } from "../../pipeline/training_state.ts";

/** What is compared, and on which backends. */
export interface IterationCompareOptions {
  /** The backend under test. */
  backend: BackendName;
  /** The backend it is held to. */
  reference: BackendName;
  /** Image side, pixels. */
  imageSize: number;
  /** Images per domain. */
  batchSize: number;
  /** Generator width (64: full width). */
  ngf: number;
  /** Discriminator width (64: full width). */
  ndf: number;
}

/** One backend's iteration: losses, the discriminator step's gradients, the updated weights. */
interface IterationCapture {
  backend: string;
  seconds: number;
  losses: Record<string, number>;
  dGrads: Map<string, Float32Array>;
  after: Map<string, Float32Array>;
}

/** The two iterations side by side, and whether they agree. */
export interface IterationComparison extends IterationCompareOptions {
  /** Seconds of the reference's iteration and of the tested one's (its first: shaders compile). */
  seconds: { reference: number; backend: number };
  /** Each loss on both backends. */
  losses: Record<string, { reference: number; backend: number }>;
  /** Largest |difference| / |reference| over the losses. */
  lossRelDiff: number;
  /**
   * The discriminator step's gradients: the largest |difference| over the largest
   * |reference| gradient and the tensor it is in, and the relative L2 difference of all.
   */
  gradRelDiff: { value: number; param: string; l2: number };
  /** Updated weights: elements compared, the share within 1e-6, the largest |difference|. */
  weights: { elements: number; within1e6: number; maxAbsDiff: number; beyondTwoLr: number };
  /** Every threshold met: losses 1e-4, gradients 1e-4, 99% of weights within 1e-6, none beyond 2 lr. */
  pass: boolean;
  /** The thresholds not met. */
  problems: string[];
}

/** Uniform values in [-1, 1) from a 32-bit seed (mulberry32): the same batch on any backend. */
function uniform(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let a = seed >>> 0;
  for (let i = 0; i < n; i++) {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

async function iterate(
  backend: BackendName,
  o: IterationCompareOptions,
  init: Map<string, Float32Array> | null,
  images: { a: Float32Array; b: Float32Array },
): Promise<{ capture: IterationCapture; init: Map<string, Float32Array> }> {
  const active = await useBackend(backend);
  const models = createDiscoGan({ imageSize: o.imageSize, ngf: o.ngf, ndf: o.ndf });
  const params = networkParams(models, ["gAB", "gBA", "dA", "dB"]);
  if (init) {
    for (const [key, v] of params) v.assign(tf.tensor(init.get(key) as Float32Array, v.shape));
  } else {
    init = new Map();
    for (const [key, v] of params) init.set(key, (await v.data()) as Float32Array);
  }
  // Dropout off: its masks are drawn per backend and would differ.
  const state = createTrainingState(models, { dropout: false });
  const dGrads = new Map<string, Float32Array>();
  const update = state.dOptimizer.update.bind(state.dOptimizer);
  const pending: Promise<void>[] = [];
  state.dOptimizer.update = (grads, guard) => {
    for (const [k, g] of grads) {
      const copy = tf.keep(g.clone());
      pending.push(
        copy.data().then((d) => {
          dGrads.set(k, d as Float32Array);
          copy.dispose();
        }),
      );
    }
    return update(grads, guard);
  };
  const shape: [number, number, number, number] = [o.batchSize, o.imageSize, o.imageSize, 3];
  const batch = {
    realA: tf.tensor4d(images.a, shape),
    realB: tf.tensor4d(images.b, shape),
  };
  const t0 = performance.now();
  const losses = await discoGanIteration(state, batch);
  const seconds = (performance.now() - t0) / 1000;
  await Promise.all(pending);
  if (losses.skipped) throw new Error(`${active}: the iteration was skipped (a loss not finite)`);
  const after = new Map<string, Float32Array>();
  for (const [key, v] of params) after.set(key, (await v.data()) as Float32Array);
  const values: Record<string, number> = {};
  for (const [k, x] of Object.entries(losses)) if (typeof x === "number") values[k] = x;
  tf.dispose([batch.realA, batch.realB]);
  tf.disposeVariables();
  return {
    capture: { backend: active, seconds, losses: values, dGrads, after },
    init,
  };
}

function maxAbs(xs: Float32Array): number {
  let m = 0;
  for (const x of xs) m = Math.max(m, Math.abs(x));
  return m;
}

/**
 * Runs one iteration on `reference`, then on `backend` from the same initial
 * weights and batch, and compares losses, discriminator gradients and updated
 * weights.
 */
export async function compareIteration(o: IterationCompareOptions): Promise<IterationComparison> {
  const n = o.batchSize * o.imageSize * o.imageSize * 3;
  const images = { a: uniform(n, 1), b: uniform(n, 2) };
  const first = await iterate(o.reference, o, null, images);
  const ref = first.capture;
  const { capture: ours } = await iterate(o.backend, o, first.init, images);

  const losses: IterationComparison["losses"] = {};
  let lossRelDiff = 0;
  for (const [k, r] of Object.entries(ref.losses)) {
    const b = ours.losses[k];
    losses[k] = { reference: r, backend: b };
    lossRelDiff = Math.max(lossRelDiff, Math.abs(b - r) / Math.max(Math.abs(r), 1e-12));
  }
  // Over all discriminator gradients at once: a tensor's own scale would let the
  // noise-level gradients of biases InstanceNorm cancels decide the result.
  let largest = 0, sumSq = 0, diffSq = 0;
  const gradRelDiff = { value: 0, param: "", l2: 0 };
  for (const g of ref.dGrads.values()) largest = Math.max(largest, maxAbs(g));
  for (const [k, r] of ref.dGrads) {
    const b = ours.dGrads.get(k) as Float32Array;
    for (let i = 0; i < r.length; i++) {
      const d = Math.abs(b[i] - r[i]);
      sumSq += r[i] * r[i];
      diffSq += d * d;
      if (d / largest > gradRelDiff.value) {
        Object.assign(gradRelDiff, { value: d / largest, param: k });
      }
    }
  }
  gradRelDiff.l2 = Math.sqrt(diffSq / sumSq);
  const lr = 2e-4; // the default, createTrainingState's
  const weights = { elements: 0, within1e6: 0, maxAbsDiff: 0, beyondTwoLr: 0 };
  let close = 0;
  for (const [k, r] of ref.after) {
    const b = ours.after.get(k) as Float32Array;
    for (let i = 0; i < r.length; i++) {
      const d = Math.abs(b[i] - r[i]);
      if (d <= 1e-6) close++;
      if (d > 2 * lr + 1e-6) weights.beyondTwoLr++;
      if (d > weights.maxAbsDiff) weights.maxAbsDiff = d;
    }
    weights.elements += r.length;
  }
  weights.within1e6 = close / weights.elements;
  const problems: string[] = [];
  if (!(lossRelDiff <= 1e-4)) {
    problems.push(`losses differ by ${lossRelDiff.toExponential(2)} > 1e-4`);
  }
  if (!(gradRelDiff.value <= 1e-4)) {
    problems.push(
      `gradient ${gradRelDiff.param} differs by ${gradRelDiff.value.toExponential(2)} > 1e-4`,
    );
  }
  if (!(weights.within1e6 >= 0.99)) {
    problems.push(`only ${(100 * weights.within1e6).toFixed(3)}% of weights within 1e-6`);
  }
  if (weights.beyondTwoLr) problems.push(`${weights.beyondTwoLr} weights off by more than 2 lr`);
  return {
    ...o,
    seconds: { reference: ref.seconds, backend: ours.seconds },
    losses,
    lossRelDiff,
    gradRelDiff,
    weights,
    pass: problems.length === 0,
    problems,
  };
}
