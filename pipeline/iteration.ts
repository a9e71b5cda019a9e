/**
 * One DiscoGAN training iteration, as the spec writes it, in two steps.
 * Usable on its own, without RxJS.
 * @module
 */
import { type Scalar, type Tensor, type Tensor4D, tf, type Variable } from "../ops/tf.ts";
import { Adam, type AdamOptions, DISCOGAN_ADAM } from "../ops/adam.ts";
import { gradientsFreeing, withoutTape } from "../ops/gradients.ts";
import { distance, type DistanceName, ganLoss, type GanLossName } from "../ops/losses.ts";
import type { DiscoGanModels } from "../models/discogan.ts";
import type { Network } from "../models/network.ts";

/** The losses and weights of the objective. */
export interface LossOptions {
  /** Adversarial loss. Default "bce" (BCE with logits). */
  ganLoss: GanLossName;
  /** Distance of the cycle reconstruction term. Default "l2" (DiscoGAN's MSE). */
  cycleLoss: DistanceName;
  /** Distance of the pixelwise translation term (paired data only). Default "l2". */
  pixelwiseLoss: DistanceName;
  /** Weight of the cycle term. Default 10. */
  lambdaCycle: number;
  /** Weight of the pixelwise term; used only when `paired`. Default 1. */
  lambdaPixelwise: number;
  /**
   * Weight of the identity term `|G_AB(b) - b|₁ + |G_BA(a) - a|₁` (CycleGAN's,
   * not DiscoGAN's: it keeps colours and figure/ground from flipping). Default 0.
   */
  lambdaIdentity: number;
  /**
   * Leave the networks and optimizers untouched by a step whose loss or
   * gradients are not finite (a "skipped" batch). Costs one reduction over the
   * gradients and a synchronous read per step. Default false.
   */
  skipNonFinite: boolean;
  /** Whether A and B images of a batch correspond (pix2pix layout). Default false. */
  paired: boolean;
}

/** Defaults of {@link LossOptions}. */
export const DEFAULT_LOSS_OPTIONS: LossOptions = {
  ganLoss: "bce",
  cycleLoss: "l2",
  pixelwiseLoss: "l2",
  lambdaCycle: 10,
  lambdaPixelwise: 1,
  lambdaIdentity: 0,
  skipNonFinite: false,
  paired: false,
};

/** Everything an iteration reads and updates. */
export interface TrainingState {
  /** The four networks. */
  models: DiscoGanModels;
  /** Adam over G_AB and G_BA. */
  gOptimizer: Adam;
  /** Adam over D_A and D_B. */
  dOptimizer: Adam;
  /** The objective. */
  losses: LossOptions;
  /** Seed of the dropout masks. */
  seed: number;
  /** Dropout in the generator passes (PyTorch's `train()`); off reproduces `eval()`. */
  dropout: boolean;
  /** Iterations completed. */
  iteration: number;
}

/** A batch: NHWC images in [-1, 1]; paired batches correspond row by row. */
export interface Batch {
  /** Images of domain A. */
  realA: Tensor4D;
  /** Images of domain B. */
  realB: Tensor4D;
}

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
 * Parameters of the given roles as one map, keyed `role.name` (e.g. `g_ab.final.2.bias`).
 *
 * @example
 * ```ts
 * import { createDiscoGan } from "../models/discogan.ts";
 * import { namedParams } from "./iteration.ts";
 * const { gAB, gBA } = createDiscoGan({ ngf: 4, ndf: 4 });
 * console.log(namedParams({ g_ab: gAB, g_ba: gBA }).has("g_ba.final.2.bias")); // true
 * ```
 */
export function namedParams(
  nets: Record<string, Network>,
): Map<string, Variable> {
  const out = new Map<string, Variable>();
  for (const [role, net] of Object.entries(nets)) {
    for (const [name, v] of net.params) out.set(`${role}.${name}`, v);
  }
  return out;
}

/**
 * Builds the training state: networks plus one Adam per side.
 *
 * @example
 * ```ts
 * import { createDiscoGan } from "../models/discogan.ts";
 * import { createTrainingState } from "./iteration.ts";
 * const state = createTrainingState(createDiscoGan({ ngf: 8, ndf: 8 }));
 * console.log(state.iteration); // 0
 * ```
 */
export function createTrainingState(
  models: DiscoGanModels,
  options: {
    losses?: Partial<LossOptions>;
    adam?: Partial<AdamOptions>;
    seed?: number;
    dropout?: boolean;
  } = {},
): TrainingState {
  const adam = { ...DISCOGAN_ADAM, ...options.adam };
  return {
    models,
    gOptimizer: new Adam(
      namedParams({ g_ab: models.gAB, g_ba: models.gBA }),
      adam,
    ),
    dOptimizer: new Adam(namedParams({ d_a: models.dA, d_b: models.dB }), adam),
    losses: { ...DEFAULT_LOSS_OPTIONS, ...options.losses },
    seed: options.seed ?? 0,
    dropout: options.dropout ?? true,
    iteration: 0,
  };
}

// Gradients of `f` for the variables in `params`, keyed like `params`, as
// tf.variableGrads gives them (same checks), but computed by gradientsFreeing:
// saved activations and intermediate gradients are freed during the backward
// pass. With an `optimizer`, each parameter is updated by it as soon as its
// gradient is final, which is then freed at once and left out of `grads`.
function gradientsOf(
  params: Map<string, Variable>,
  f: () => Scalar,
  optimizer?: Adam,
): { value: Scalar; grads: Map<string, Tensor> } {
  const trainable = [...params].filter(([, v]) => v.trainable);
  if (!trainable.length) throw new Error("gradientsOf: none of the parameters is trainable");
  const names = new Map(trainable.map(([key, v]) => [v, key]));
  let apply: ((name: string, grad: Tensor) => void) | undefined;
  const { value, grads } = gradientsFreeing(
    f,
    trainable.map(([, v]) => v),
    optimizer &&
      ((v, g) => {
        // The step is counted with the first gradient, so a forward pass that
        // throws counts none, as with Adam.update after the pass.
        apply ??= optimizer.beginStep();
        apply(names.get(v) as string, g);
        return true;
      }),
  );
  if (optimizer && !apply) optimizer.beginStep(); // Adam.update counts empty steps too
  const byName = new Map<string, Tensor>();
  trainable.forEach(([key], i) => {
    const g = grads[i];
    if (g) byName.set(key, g);
  });
  if (!apply && !byName.size) {
    tf.dispose(value);
    throw new Error("gradientsOf: the loss does not depend on any of the parameters");
  }
  if (value.rank !== 0) throw new Error(`gradientsOf: the loss has rank ${value.rank}, not 0`);
  return { value, grads: byName };
}

function dropoutSeed(state: TrainingState, call: number): number {
  // Up to 8 generator calls an iteration get distinct masks.
  return ((state.seed * 1_000_003 + state.iteration) * 8 + call) % 2 ** 40;
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
 * import { createTrainingState, translate } from "./iteration.ts";
 * const state = createTrainingState(createDiscoGan({ ngf: 4, ndf: 4 }));
 * const zeros = () => tf.zeros([1, 64, 64, 3]) as tf.Tensor4D;
 * const { fakeB, recovA } = translate(state, { realA: zeros(), realB: zeros() }, false);
 * ```
 */
export function translate(
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

function mean2(a: Scalar, b: Scalar): Scalar {
  return tf.div(tf.add(a, b), 2);
}

async function read<T extends Record<string, Scalar>>(
  t: T,
): Promise<Record<keyof T, number>> {
  const out = {} as Record<keyof T, number>;
  for (const [k, v] of Object.entries(t)) {
    out[k as keyof T] = (await v.data())[0];
    v.dispose();
  }
  return out;
}

/**
 * The discriminator step: D_A and D_B learn to tell real images from the
 * given fakes (used as constants), then Adam updates them. All tensor work
 * happens before the first `await`, so it can run inside another step's
 * gradient tape (as {@link discoGanIteration} runs it).
 *
 * @example
 * ```ts
 * import { tf } from "../ops/tf.ts";
 * import { createDiscoGan } from "../models/discogan.ts";
 * import { createTrainingState, discriminatorStep, translate } from "./iteration.ts";
 * const state = createTrainingState(createDiscoGan({ ngf: 8, ndf: 8 }));
 * const zeros = () => tf.zeros([1, 64, 64, 3]) as tf.Tensor4D;
 * const batch = { realA: zeros(), realB: zeros() };
 * const losses = await discriminatorStep(state, batch, translate(state, batch, false));
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
  let parts = {} as { d_a: Scalar; d_b: Scalar };
  const { value, grads } = gradientsOf(
    namedParams({ d_a: dA, d_b: dB }),
    () => {
      parts = {
        d_a: tf.keep(judge(dA, batch.realA, fakes.fakeA)),
        d_b: tf.keep(judge(dB, batch.realB, fakes.fakeB)),
      };
      return mean2(parts.d_a, parts.d_b);
    },
  );
  const applied = state.dOptimizer.update(grads, state.losses.skipNonFinite ? value : undefined);
  tf.dispose([...grads.values()]);
  // Kept: this step may run inside the generator step's tidy, which would
  // dispose the value before an asynchronous (GPU) read completes.
  const losses = await read({ d: tf.keep(value), ...parts });
  return applied ? losses : { ...losses, skipped: true };
}

/**
 * The generator step: the four generator passes, the adversarial, cycle and
 * (paired) pixelwise losses judged by the current discriminators, then Adam
 * updates G_AB and G_BA. `onTranslated` runs between the passes and the losses:
 * {@link discoGanIteration} runs the discriminator step there, so the
 * discriminators are updated before they judge the same fakes, as in the spec.
 *
 * @example
 * ```ts
 * import { tf } from "../ops/tf.ts";
 * import { createDiscoGan } from "../models/discogan.ts";
 * import { createTrainingState, generatorStep } from "./iteration.ts";
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
  const { gAB, gBA, dA, dB } = state.models;
  const o = state.losses;
  const gan = ganLoss(o.ganLoss),
    cycle = distance(o.cycleLoss),
    pw = distance(o.pixelwiseLoss);
  const { realA, realB } = batch;
  let parts = {} as Record<string, Scalar>;
  // Without the non-finite guard, which needs every gradient first, Adam
  // updates each weight during the backward pass as its gradient is final: the
  // gradients of all the generators' weights then never coexist.
  const eager = !o.skipNonFinite;
  const { value, grads } = gradientsOf(
    namedParams({ g_ab: gAB, g_ba: gBA }),
    () => {
      const t = translate(state, batch, state.dropout);
      onTranslated?.(t);
      parts = {
        g_gan: tf.keep(
          mean2(
            gan.generator(dB.apply(t.fakeB)),
            gan.generator(dA.apply(t.fakeA)),
          ),
        ),
        g_cycle: tf.keep(mean2(cycle(t.recovA, realA), cycle(t.recovB, realB))),
      };
      let total = tf.add(parts.g_gan, tf.mul(parts.g_cycle, o.lambdaCycle));
      if (o.paired) {
        parts.g_pixelwise = tf.keep(
          mean2(pw(t.fakeA, realA), pw(t.fakeB, realB)),
        );
        total = tf.add(total, tf.mul(parts.g_pixelwise, o.lambdaPixelwise));
      }
      if (o.lambdaIdentity > 0) {
        const l1 = distance("l1");
        const same = (g: Network, x: Tensor4D, call: number) =>
          g.apply(x, { training: state.dropout, seed: dropoutSeed(state, call) });
        parts.g_identity = tf.keep(
          mean2(l1(same(gBA, realA, 4), realA), l1(same(gAB, realB, 5), realB)),
        );
        total = tf.add(total, tf.mul(parts.g_identity, o.lambdaIdentity));
      }
      return total as Scalar;
    },
    eager ? state.gOptimizer : undefined,
  );
  const applied = eager || state.gOptimizer.update(grads, value);
  tf.dispose([...grads.values()]);
  const losses = (await read({ g: value, ...parts })) as unknown as GeneratorLosses;
  return applied ? losses : { ...losses, skipped: true };
}

/**
 * One full iteration of the spec: translate, discriminator step on the fakes,
 * generator step judged by the updated discriminators. The generator passes
 * run once: the discriminator step runs inside the generator step's tape.
 *
 * @example
 * ```ts
 * import { tf } from "../ops/tf.ts";
 * import { createDiscoGan } from "../models/discogan.ts";
 * import { createTrainingState, discoGanIteration } from "./iteration.ts";
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
  let dStep: Promise<DiscriminatorLosses> | undefined;
  const g = await generatorStep(state, batch, (t) => {
    // Off the generator's tape: the discriminator step is constant to the
    // generator gradient, so its activations need not live until the
    // generators' backward pass (and its Adam update can run in place).
    dStep = withoutTape(() => discriminatorStep(state, batch, t));
  });
  const d = await (dStep as Promise<DiscriminatorLosses>);
  state.iteration++;
  const losses = { ...d, ...g };
  if (d.skipped || g.skipped) losses.skipped = true;
  return losses;
}
