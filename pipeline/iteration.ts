/**
 * One DiscoGAN training iteration, in the order of the spec: the four
 * generator passes, the discriminator step on the fakes, then the generator
 * step judged by the updated discriminators. Usable on its own, without RxJS.
 * @module
 */
import { type Scalar, type Tensor4D, tf } from "../ops/tf.ts";
import { withoutTape } from "../ops/gradients.ts";
import { distance, ganLoss } from "../ops/losses.ts";
import { minimize, type Objective } from "../ops/minimize.ts";
import type { Network } from "../models/network.ts";
import { type Batch, networkParams, type TrainingState } from "./training_state.ts";

/** The four generator outputs of an iteration. */
export interface Translations {
  /** G_AB(real_A). */
  fakeB: Tensor4D;
  /** G_BA(real_B). */
  fakeA: Tensor4D;
  /** G_BA(G_AB(real_A)). */
  recovA: Tensor4D;
  /** G_AB(G_BA(real_B)). */
  recovB: Tensor4D;
}

/** Discriminator losses, computed before the discriminators' update. */
export interface DiscriminatorLosses {
  /** (loss_D_A + loss_D_B) / 2. */
  d: number;
  /** D_A's loss on real A and fake A. */
  d_a: number;
  /** D_B's loss on real B and fake B. */
  d_b: number;
  /** Set when a non-finite loss or gradient left the networks untouched (`skipNonFinite`). */
  skipped?: true;
}

/** Generator losses, judged by the updated discriminators. */
export interface GeneratorLosses {
  /** The total the generators minimise. */
  g: number;
  /** Adversarial term. */
  g_gan: number;
  /** Cycle reconstruction term (before lambda). */
  g_cycle: number;
  /** Pixelwise term (before lambda); paired mode only. */
  g_pixelwise?: number;
  /** Identity term (before lambda); only when its lambda is not 0. */
  g_identity?: number;
  /** Set when a non-finite loss or gradient left the networks untouched (`skipNonFinite`). */
  skipped?: true;
}

/** The losses of one iteration. */
export type IterationLosses = DiscriminatorLosses & GeneratorLosses;

/**
 * One full iteration of the spec, and the iteration `deno task train` runs.
 *
 * @example
 * ```ts
 * import { tf } from "../ops/tf.ts";
 * import { createDiscoGan } from "../models/discogan.ts";
 * import { createTrainingState } from "./training_state.ts";
 * import { discoGanIteration } from "./iteration.ts";
 * const state = createTrainingState(createDiscoGan({ ngf: 8, ndf: 8 }));
 * const zeros = () => tf.zeros([1, 64, 64, 3]) as tf.Tensor4D;
 * const batch = { realA: zeros(), realB: zeros() };
 * console.log(await discoGanIteration(state, batch)); // { d, d_a, d_b, g, g_gan, g_cycle }
 * ```
 */
export async function discoGanIteration(
  state: TrainingState,
  batch: Batch,
): Promise<IterationLosses> {
  let dStep!: Promise<DiscriminatorLosses>;
  // The generator step's tape spans the whole iteration, so that the four
  // generator passes run once and serve both steps.
  const g = await generatorStep(state, batch, (fakes) => {
    // The discriminator step on these fakes, before the generator losses. Off
    // the generator tape: it is constant to the generator gradient, so its
    // activations need not live until the generators' backward pass.
    dStep = withoutTape(() => discriminatorStep(state, batch, fakes));
  });
  const d = await dStep;
  state.iteration++;
  const losses: IterationLosses = { ...d, ...g };
  if (d.skipped || g.skipped) losses.skipped = true;
  return losses;
}

/**
 * The generator step: the four generator passes, then (after `onTranslated`,
 * where {@link discoGanIteration} runs the discriminator step) the adversarial,
 * cycle, pixelwise and identity terms judged by the discriminators as they are
 * then, and Adam's update of G_AB and G_BA.
 *
 * @example
 * ```ts
 * import { tf } from "../ops/tf.ts";
 * import { createDiscoGan } from "../models/discogan.ts";
 * import { createTrainingState } from "./training_state.ts";
 * import { generatorStep } from "./iteration.ts";
 * const state = createTrainingState(createDiscoGan({ ngf: 4, ndf: 4 }));
 * const zeros = () => tf.zeros([1, 64, 64, 3]) as tf.Tensor4D;
 * console.log((await generatorStep(state, { realA: zeros(), realB: zeros() })).g_cycle);
 * ```
 */
export async function generatorStep(
  state: TrainingState,
  batch: Batch,
  onTranslated?: (t: Translations) => void,
): Promise<GeneratorLosses> {
  const { total, terms, applied } = await minimize(
    networkParams(state.models, ["gAB", "gBA"]),
    state.gOptimizer,
    // Eager: Adam updates each weight as its gradient is final, so the
    // gradients of all the generators' weights never coexist.
    { eager: true, guard: state.losses.skipNonFinite },
    () => {
      const t = generatorPasses(state, batch, state.dropout);
      onTranslated?.(t);
      return generatorObjective(state, batch, t);
    },
  );
  const losses = { g: total, ...terms } as GeneratorLosses;
  return applied ? losses : { ...losses, skipped: true };
}

/**
 * The generators' objective on translations `t`:
 * GAN + λ_cycle·cycle (+ λ_pixelwise·pixelwise when paired, + λ_identity·identity).
 *
 * @example
 * ```ts
 * import { tf } from "../ops/tf.ts";
 * import { createDiscoGan } from "../models/discogan.ts";
 * import { createTrainingState } from "./training_state.ts";
 * import { generatorObjective, generatorPasses } from "./iteration.ts";
 * const state = createTrainingState(createDiscoGan({ ngf: 4, ndf: 4 }));
 * const zeros = () => tf.zeros([1, 64, 64, 3]) as tf.Tensor4D;
 * const batch = { realA: zeros(), realB: zeros() };
 * generatorObjective(state, batch, generatorPasses(state, batch, false)).total.print();
 * ```
 */
export function generatorObjective(
  state: TrainingState,
  { realA, realB }: Batch,
  t: Translations,
): Objective<string> {
  const { gAB, gBA, dA, dB } = state.models;
  const o = state.losses;
  const gan = ganLoss(o.ganLoss), cycle = distance(o.cycleLoss);
  const terms: Record<string, Scalar> = {
    g_gan: mean2(gan.generator(dB.apply(t.fakeB)), gan.generator(dA.apply(t.fakeA))),
    g_cycle: mean2(cycle(t.recovA, realA), cycle(t.recovB, realB)),
  };
  let total = tf.add(terms.g_gan, tf.mul(terms.g_cycle, o.lambdaCycle));
  if (o.paired) {
    const pixelwise = distance(o.pixelwiseLoss);
    terms.g_pixelwise = mean2(pixelwise(t.fakeA, realA), pixelwise(t.fakeB, realB));
    total = tf.add(total, tf.mul(terms.g_pixelwise, o.lambdaPixelwise));
  }
  if (o.lambdaIdentity > 0) {
    const l1 = distance("l1");
    const same = (g: Network, x: Tensor4D, call: number) =>
      g.apply(x, { training: state.dropout, seed: dropoutSeed(state, call) });
    terms.g_identity = mean2(l1(same(gBA, realA, 4), realA), l1(same(gAB, realB, 5), realB));
    total = tf.add(total, tf.mul(terms.g_identity, o.lambdaIdentity));
  }
  return { total: total as Scalar, terms };
}

/**
 * The discriminator step: D_A and D_B learn to tell real images from the
 * given fakes (used as constants), then Adam updates them. All tensor work
 * happens before the first `await`, so it can run inside the generator step
 * (as {@link discoGanIteration} runs it).
 *
 * @example
 * ```ts
 * import { tf } from "../ops/tf.ts";
 * import { createDiscoGan } from "../models/discogan.ts";
 * import { createTrainingState } from "./training_state.ts";
 * import { discriminatorStep, generatorPasses } from "./iteration.ts";
 * const state = createTrainingState(createDiscoGan({ ngf: 8, ndf: 8 }));
 * const zeros = () => tf.zeros([1, 64, 64, 3]) as tf.Tensor4D;
 * const batch = { realA: zeros(), realB: zeros() };
 * const losses = await discriminatorStep(state, batch, generatorPasses(state, batch, false));
 * console.log(losses.d);
 * ```
 */
export async function discriminatorStep(
  state: TrainingState,
  batch: Batch,
  fakes: Pick<Translations, "fakeA" | "fakeB">,
): Promise<DiscriminatorLosses> {
  const { dA, dB } = state.models;
  const gan = ganLoss(state.losses.ganLoss);
  // Real and fake images in one pass (instance norm is per image: same values).
  const judge = (d: Network, real: Tensor4D, fake: Tensor4D) => {
    const both = d.apply(tf.concat([real, fake], 0));
    const [onReal, onFake] = tf.split(both, [real.shape[0], fake.shape[0]], 0);
    return mean2(gan.discriminator(onReal, true), gan.discriminator(onFake, false));
  };
  const { total, terms, applied } = await minimize(
    networkParams(state.models, ["dA", "dB"]),
    state.dOptimizer,
    { guard: state.losses.skipNonFinite },
    () => {
      const terms = {
        d_a: judge(dA, batch.realA, fakes.fakeA),
        d_b: judge(dB, batch.realB, fakes.fakeB),
      };
      return { total: mean2(terms.d_a, terms.d_b), terms };
    },
  );
  const losses: DiscriminatorLosses = { d: total, ...terms };
  return applied ? losses : { ...losses, skipped: true };
}

/**
 * The four generator passes, in three calls: G_AB runs once on real A and
 * fake A stacked (instance norm is per image, so stacking changes no value,
 * and its weights are read, and its gradients summed, once). Dropout is on when
 * `training`; its masks depend only on the seed and the iteration, so an
 * iteration can be replayed.
 *
 * @example
 * ```ts
 * import { tf } from "../ops/tf.ts";
 * import { createDiscoGan } from "../models/discogan.ts";
 * import { createTrainingState } from "./training_state.ts";
 * import { generatorPasses } from "./iteration.ts";
 * const state = createTrainingState(createDiscoGan({ ngf: 4, ndf: 4 }));
 * const zeros = () => tf.zeros([1, 64, 64, 3]) as tf.Tensor4D;
 * const { fakeB, recovA } = generatorPasses(state, { realA: zeros(), realB: zeros() }, false);
 * ```
 */
export function generatorPasses(
  state: TrainingState,
  batch: Batch,
  training: boolean,
): Translations {
  const { gAB, gBA } = state.models;
  const run = (g: Network, x: Tensor4D, call: number) =>
    g.apply(x, { training, seed: dropoutSeed(state, call) });
  const n = batch.realA.shape[0];
  const fakeA = run(gBA, batch.realB, 1);
  const both = run(gAB, tf.concat([batch.realA, fakeA], 0), 0);
  const [fakeB, recovB] = tf.split(both, [n, fakeA.shape[0]], 0) as [Tensor4D, Tensor4D];
  return { fakeB, fakeA, recovA: run(gBA, fakeB, 2), recovB };
}

function dropoutSeed(state: TrainingState, call: number): number {
  // Up to 8 generator calls an iteration get distinct masks.
  return ((state.seed * 1_000_003 + state.iteration) * 8 + call) % 2 ** 40;
}

function mean2(a: Scalar, b: Scalar): Scalar {
  return tf.div(tf.add(a, b), 2);
}
