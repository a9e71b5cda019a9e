/**
 * One DiscoGAN training iteration, in the order of the spec: the four
 * generator passes, the discriminator step on the fakes, then the generator
 * step judged by the updated discriminators. With a D update interval above 1
 * (the paper's code), one side steps per iteration, on losses from one set of
 * passes. Usable on its own, without RxJS.
 * @module
 */
import { type Scalar, type Tensor4D, tf } from "../ops/tf.ts";
import { withoutTape } from "../ops/gradients.ts";
import { distance, ganLoss } from "../ops/losses.ts";
import { minimize, type Objective } from "../ops/minimize.ts";
import type { Network } from "../models/network.ts";
import type { PaperDiscriminator } from "../models/paper_discriminator.ts";
import {
  type Batch,
  featureLayerList,
  learningRate,
  networkParams,
  type TrainingState,
} from "./training_state.ts";
import { seededNormal } from "./seeded.ts";
import { OptionError } from "../models/options.ts";

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
  /** Feature matching term (before its share); only when `featureMatching` > 0. */
  g_fm?: number;
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
 * // (and g_fm with feature matching, g_pixelwise when paired, g_identity with its weight)
 * ```
 */
export async function discoGanIteration(
  state: TrainingState,
  batch: Batch,
): Promise<IterationLosses> {
  const { lr, lrDecayIterations, dUpdateInterval: every } = state.optimizer;
  if (lrDecayIterations > 0) {
    // A decay counts back from the run's end: without it the option would do
    // nothing, silently (as eval:glyphs once did).
    if (state.totalIterations === undefined) {
      throw new OptionError(
        "--lr-decay-iterations",
        "the decay counts back from the run's last iteration, and this training state has no " +
          "totalIterations: set it to the run's length",
      );
    }
    const now = learningRate(lr, state.iteration, state.totalIterations, lrDecayIterations);
    state.gOptimizer.options.lr = state.dOptimizer.options.lr = now;
  }
  let losses: IterationLosses;
  if (every > 1) {
    // The paper's schedule: one side steps, on losses from the same passes.
    losses = await oneSideStep(state, batch, state.iteration % every === 0 ? "d" : "g");
  } else {
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
    losses = { ...d, ...g };
    if (d.skipped || g.skipped) losses.skipped = true;
  }
  state.iteration++;
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
    { eager: true, guard: state.losses.skipNonFinite, weightDecay: state.optimizer.weightDecay },
    () => {
      const t = generatorPasses(state, batch, state.dropout);
      onTranslated?.(t);
      // Judged by the discriminators as they are now (updated, in discoGanIteration).
      const fm = state.losses.featureMatching > 0;
      const judged = {
        a: fm
          ? judge(state.models.dA, batch.realA, t.fakeA, true)
          : fakesOnly(state.models.dA, t.fakeA),
        b: fm
          ? judge(state.models.dB, batch.realB, t.fakeB, true)
          : fakesOnly(state.models.dB, t.fakeB),
      };
      return generatorObjective(state, batch, t, judged);
    },
  );
  const losses = { g: total, ...terms } as GeneratorLosses;
  return applied ? losses : { ...losses, skipped: true };
}

/**
 * The generators' objective on translations `t`, with the discriminators'
 * outputs on them (`judged`): adversarial + λ_cycle·cycle, or with the
 * paper's rate `(1 - rate)·adversarial + rate·λ_cycle·cycle`; the adversarial
 * term is `(1 - x)·GAN + x·FM` with feature matching share x; plus
 * λ_pixelwise·pixelwise when paired and λ_identity·identity.
 *
 * @example
 * ```ts
 * import { tf } from "../ops/tf.ts";
 * import { createDiscoGan } from "../models/discogan.ts";
 * import { createTrainingState } from "./training_state.ts";
 * import { generatorObjective, generatorPasses, judge } from "./iteration.ts";
 * const state = createTrainingState(createDiscoGan({ ngf: 4, ndf: 4 }));
 * const zeros = () => tf.zeros([1, 64, 64, 3]) as tf.Tensor4D;
 * const batch = { realA: zeros(), realB: zeros() };
 * const t = generatorPasses(state, batch, false);
 * const judged = {
 *   a: judge(state.models.dA, batch.realA, t.fakeA, false),
 *   b: judge(state.models.dB, batch.realB, t.fakeB, false),
 * };
 * generatorObjective(state, batch, t, judged).total.print();
 * ```
 */
export function generatorObjective(
  state: TrainingState,
  { realA, realB }: Batch,
  t: Translations,
  judged: { a: Judged; b: Judged },
): Objective<string> {
  const { gAB, gBA } = state.models;
  const o = state.losses;
  const gan = ganLoss(o.ganLoss), cycle = distance(o.cycleLoss);
  const terms: Record<string, Scalar> = {
    g_gan: mean2(gan.generator(judged.b.fake.logits), gan.generator(judged.a.fake.logits)),
    g_cycle: mean2(cycle(t.recovA, realA), cycle(t.recovB, realB)),
  };
  let adversarial = terms.g_gan;
  if (o.featureMatching > 0) {
    const layers = featureLayerList(o.featureLayers);
    terms.g_fm = mean2(featureMatching(judged.b, layers), featureMatching(judged.a, layers));
    adversarial = tf.add(
      tf.mul(terms.g_gan, 1 - o.featureMatching),
      tf.mul(terms.g_fm, o.featureMatching),
    );
  }
  let total: Scalar;
  if (o.defaultRate === undefined) {
    total = tf.add(adversarial, tf.mul(terms.g_cycle, o.lambdaCycle));
  } else {
    const rate = state.iteration < o.ganCurriculum
      ? o.startingRate ?? o.defaultRate
      : o.defaultRate;
    total = tf.add(tf.mul(adversarial, 1 - rate), tf.mul(terms.g_cycle, rate * o.lambdaCycle));
  }
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
  return { total, terms };
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
  const { total, terms, applied } = await minimize(
    networkParams(state.models, ["dA", "dB"]),
    state.dOptimizer,
    { guard: state.losses.skipNonFinite, weightDecay: state.optimizer.weightDecay },
    () => {
      const shown = pooled(state, fakes);
      return discriminatorObjective(state, {
        a: judge(dA, batch.realA, shown.fakeA, false),
        b: judge(dB, batch.realB, shown.fakeB, false),
      });
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
  if (usesBatchStatistics(gAB)) {
    // BatchNorm: a stacked pass would share batch statistics between the two.
    const fakeB = run(gAB, batch.realA, 0);
    return {
      fakeB,
      fakeA,
      recovA: run(gBA, cycleNoise(state, fakeB, "b"), 2),
      recovB: run(gAB, cycleNoise(state, fakeA, "a"), 3),
    };
  }
  const both = run(gAB, tf.concat([batch.realA, cycleNoise(state, fakeA, "a")], 0), 0);
  const [fakeB, recovB] = tf.split(both, [n, fakeA.shape[0]], 0) as [Tensor4D, Tensor4D];
  return { fakeB, fakeA, recovA: run(gBA, cycleNoise(state, fakeB, "b"), 2), recovB };
}

// A translation on its way back for the cycle term, with the objective's
// Gaussian noise added (the same numbers for the same seed, iteration, domain
// and row: a resumed run and the PyTorch bridge draw them alike).
function cycleNoise(state: TrainingState, fake: Tensor4D, domain: "a" | "b"): Tensor4D {
  const sigma = state.losses.cycleNoise;
  if (!sigma) return fake;
  const [n, h, w, c] = fake.shape, per = h * w * c;
  const noise = new Float32Array(n * per);
  for (let row = 0; row < n; row++) {
    noise.set(
      seededNormal(`${state.seed}/cycle-noise/${domain}/${state.iteration}/${row}`, per),
      row * per,
    );
  }
  return tf.add(fake, tf.mul(tf.tensor4d(noise, fake.shape), sigma));
}

function dropoutSeed(state: TrainingState, call: number): number {
  // Up to 8 generator calls an iteration get distinct masks.
  return ((state.seed * 1_000_003 + state.iteration) * 8 + call) % 2 ** 40;
}

function mean2(a: Scalar, b: Scalar): Scalar {
  return tf.div(tf.add(a, b), 2);
}

/** A discriminator's outputs on real and fake images of one domain. */
export interface Judged {
  /** On the real images: logits, and the features when asked for. */
  real?: { logits: Tensor4D; features?: Tensor4D[] };
  /** On the fakes. */
  fake: { logits: Tensor4D; features?: Tensor4D[] };
}

/**
 * Runs discriminator `d` (training mode) on real and fake images, with its
 * features when `features`: in one pass when its values are per image, in two
 * when it normalises over the batch (BatchNorm), which a stacked pass would mix.
 *
 * @example
 * ```ts
 * import { tf } from "../ops/tf.ts";
 * import { createDiscoGan } from "../models/discogan.ts";
 * import { judge } from "./iteration.ts";
 * const { dA } = createDiscoGan({ ngf: 4, ndf: 4 });
 * const x = tf.zeros([2, 64, 64, 3]) as tf.Tensor4D;
 * console.log(judge(dA, x, x, false).fake.logits.shape); // [2, 8, 8, 1]
 * ```
 */
export function judge(d: Network, real: Tensor4D, fake: Tensor4D, features: boolean): Judged {
  const run = (x: Tensor4D) => {
    if (!features) return { logits: d.apply(x, { training: true }) };
    const withFeatures = (d as Partial<PaperDiscriminator>).applyWithFeatures;
    if (!withFeatures) {
      throw new Error(`feature matching: the ${d.kind} discriminator has no features`);
    }
    return withFeatures(x, { training: true });
  };
  if (features || usesBatchStatistics(d)) return { real: run(real), fake: run(fake) };
  // Real and fake images in one pass (instance norm is per image: same values).
  const both = d.apply(tf.concat([real, fake], 0), { training: true });
  const [onReal, onFake] = tf.split(both, [real.shape[0], fake.shape[0]], 0) as Tensor4D[];
  return { real: { logits: onReal }, fake: { logits: onFake } };
}

/**
 * The discriminators' objective: for each, the GAN loss on real images as real
 * and on fakes as fake, averaged; the two averaged.
 *
 * @example
 * ```ts
 * import { tf } from "../ops/tf.ts";
 * import { createDiscoGan } from "../models/discogan.ts";
 * import { createTrainingState } from "./training_state.ts";
 * import { discriminatorObjective, judge } from "./iteration.ts";
 * const state = createTrainingState(createDiscoGan({ ngf: 4, ndf: 4 }));
 * const x = tf.zeros([1, 64, 64, 3]) as tf.Tensor4D;
 * const j = judge(state.models.dA, x, x, false);
 * discriminatorObjective(state, { a: j, b: j }).total.print();
 * ```
 */
export function discriminatorObjective(
  state: TrainingState,
  judged: { a: Judged; b: Judged },
): Objective<"d_a" | "d_b"> {
  const gan = ganLoss(state.losses.ganLoss);
  const side = (j: Judged) =>
    mean2(gan.discriminator(j.real!.logits, true), gan.discriminator(j.fake.logits, false));
  const terms = { d_a: side(judged.a), d_b: side(judged.b) };
  return { total: mean2(terms.d_a, terms.d_b), terms };
}

// One side steps on losses computed from one set of passes (the official
// code's update_interval): the other side's losses are reported, not applied.
async function oneSideStep(
  state: TrainingState,
  batch: Batch,
  side: "d" | "g",
): Promise<IterationLosses> {
  const { dA, dB } = state.models;
  const fm = state.losses.featureMatching > 0;
  const judgedOn = (fakes: Pick<Translations, "fakeA" | "fakeB">) => ({
    a: judge(dA, batch.realA, fakes.fakeA, fm),
    b: judge(dB, batch.realB, fakes.fakeB, fm),
  });
  // `shown`: what the discriminators learn from (a pool's images); the
  // generators' terms are always judged on the newest fakes.
  const objectives = (t: Translations, shown: Pick<Translations, "fakeA" | "fakeB"> = t) => {
    const judged = judgedOn(t);
    const d = discriminatorObjective(state, shown === t ? judged : judgedOn(shown)),
      g = generatorObjective(state, batch, t, judged);
    const terms = { d: d.total, ...d.terms, g: g.total, ...g.terms };
    return { total: side === "d" ? d.total : g.total, terms };
  };
  const options = { guard: state.losses.skipNonFinite, weightDecay: state.optimizer.weightDecay };
  let result;
  if (side === "g") {
    result = await minimize(
      networkParams(state.models, ["gAB", "gBA"]),
      state.gOptimizer,
      { ...options, eager: true },
      () => objectives(generatorPasses(state, batch, state.dropout)),
    );
  } else {
    // The fakes are constants of the discriminator step.
    const [fakeB, fakeA, recovA, recovB] = tf.tidy(() => {
      const out = generatorPasses(state, batch, state.dropout);
      return [out.fakeB, out.fakeA, out.recovA, out.recovB];
    });
    const t: Translations = { fakeB, fakeA, recovA, recovB };
    try {
      result = await minimize(
        networkParams(state.models, ["dA", "dB"]),
        state.dOptimizer,
        options,
        () => objectives(t, pooled(state, t)),
      );
    } finally {
      tf.dispose(Object.values(t));
    }
  }
  const losses = result.terms as unknown as IterationLosses;
  return result.applied ? losses : { ...losses, skipped: true };
}

// Feature matching on one domain: for each chosen layer (2 = the second conv),
// the mean over elements of (batch mean of real features - batch mean of fake
// features)², summed over the layers.
function featureMatching(j: Judged, layers: number[]): Scalar {
  const real = j.real?.features, fake = j.fake.features;
  if (!real || !fake) throw new Error("feature matching: the discriminator gave no features");
  const per = layers.map((layer) => {
    const k = layer - 2;
    if (k >= fake.length) {
      throw new Error(
        `feature matching: layer ${layer} asked for, the discriminator has layers 2..${
          fake.length + 1
        }`,
      );
    }
    return tf.mean(tf.squaredDifference(tf.mean(real[k], 0), tf.mean(fake[k], 0))) as Scalar;
  });
  return (per.length === 1 ? per[0] : tf.addN(per)) as Scalar;
}

// The fakes the discriminators are shown: through each domain's pool of past
// fakes, which this updates; the fakes themselves when pools are off.
function pooled(
  state: TrainingState,
  fakes: Pick<Translations, "fakeA" | "fakeB">,
): Pick<Translations, "fakeA" | "fakeB"> {
  const { a, b } = state.pools;
  if (a.capacity === 0) return fakes;
  const key = (domain: string) => `${state.seed}/pool/${domain}/${state.iteration}`;
  return { fakeA: a.query(fakes.fakeA, key("a")), fakeB: b.query(fakes.fakeB, key("b")) };
}

function fakesOnly(d: Network, fake: Tensor4D): Judged {
  return { fake: { logits: d.apply(fake, { training: true }) } };
}

function usesBatchStatistics(net: Network): boolean {
  return (net.buffers?.size ?? 0) > 0;
}
