/**
 * DiscoGAN's toy experiment (Kim et al., 2017, the 2-D Gaussian mixtures):
 * does a translation G_AB from 5 modes (A) to 10 modes (B) send the A modes to
 * distinct B modes, or collapse several onto one?
 *
 *   deno run -A scripts/eval_toy.ts [--iterations 12000] [--seed 0]
 *     [--variants gan,gan-recon,discogan] [--out runs/eval_toy] [--backend auto]
 *     [--lr 0.002] [--decay-from 0.5] [--width N] [--g-width 64] [--d-width 32]
 *     [--batch-size 128] [--lambda-recon 1] [--heldout 1000] [--precision fp32]
 *     [--init normal|pytorch] [--ema 0]
 *
 * Data and metrics: scripts/toy_mixtures.ts (A: 5 modes on a line, B: 10 on the
 * unit circle, σ = 0.03). Three objectives, each trained from the same seed
 * (same initial weights, same batches), with the same networks and optimizer:
 *
 * - `gan`: G_AB against D_B alone.
 * - `gan-recon`: G_AB and G_BA, D_B, plus λ·|G_BA(G_AB(a)) − a|² on A only.
 * - `discogan`: both directions: D_A and D_B, and reconstruction of A and of B.
 *
 * Every variant is trained from scratch from the seed alone, so a variant's
 * numbers do not depend on which other variants run with it (the runs can be
 * split, e.g. `--variants discogan`, and give the same table rows).
 *
 * Networks (the paper's toy shapes): generators 3 linear layers with ReLU
 * between (2 → 64 → 64 → 2), discriminators 5 linear layers with ReLU between
 * (2 → 32 → 32 → 32 → 32 → 1) giving a logit; weights drawn from the seed as
 * DCGAN draws them, N(0, 0.02) with zero biases (`--init pytorch`: PyTorch's
 * Linear default, U(±1/√fan_in), which the paper's image code keeps). Losses:
 * BCE on logits, D: 0.5·(BCE(real, 1) + BCE(fake, 0)), G: non-saturating
 * BCE(D(G(x)), 1), as the paper's code.
 * Each iteration: one D step on fresh fakes, then one G step, each by
 * ops/minimize.ts with our PyTorch-exact Adam (betas 0.5, 0.999). The G_AB
 * judged is the last step's, or with `--ema D` the moving average of its
 * weights (decay D), as StyleGAN judges its generator; the report then gives
 * the last step's numbers beside it.
 *
 * Defaults, chosen for a budget under 15 minutes on a 2-core CPU (the paper
 * shows 40k iterations): batch 128, 12000 iterations, lr 2e-3 constant for the
 * first half, then decaying linearly to 0. Why each:
 * - The normal draw: PyTorch's puts the five A modes apart before training,
 *   and GAN alone then kept them apart on ten seeds of ten (8000 iterations,
 *   96.3-99.6% within 3σ), so the toy could not tell the objectives apart.
 *   From the normal draw GAN alone left several A modes on one B mode, or
 *   spread them, on five seeds of six (widths 32, 12000 iterations).
 * - Generators of width 64: at width 32 DiscoGAN sent the five modes to five B
 *   modes but smeared one mode's tail toward a neighbour, 94.4-94.8% within
 *   3σ on seeds 0, 1 and 3 (4 modes on seed 2); at width 64 it reached 95.6%,
 *   97.3% and 97.0% (seeds 0, 1, 2). The wider generator helps GAN alone too:
 *   on seed 0 it still misses (5 modes, 18.0% within 3σ), but on seeds 1 and
 *   2 it reached 5 modes and over 95%; on seed 3 GAN alone missed (4 modes) and
 *   DiscoGAN reached 94.9%. Seed 4 met (GAN alone 88.3%, DiscoGAN 96.0%);
 *   on seed 5 all three stayed under 90% (DiscoGAN 87.1%). So the contrast
 *   shows on seeds 0 and 4 of six.
 *   Batch 256 at width 32 also lifted DiscoGAN (96.1%, seed 0) but took 1.5
 *   times as long.
 * - No averaging: `--ema 0.999` at width 64 lifted seed 0 to 97.1%, seed 2 to
 *   97.9%, and lowered seed 1 to 95.2% (its average straddled a late change
 *   of mode); at width 32 it gave 95.9%, 95.3% and 94.9% (seeds 0, 1, 3).
 * - The schedule: with PyTorch's draw and width 32, 3000 iterations at lr 4e-3
 *   gave 89.3% (seed 0), 8000 at lr 4e-3 93.5%, and 8000 at lr 2e-3 98.6%,
 *   96.3% and 96.5% (seeds 0, 1, 2). At the paper's lr 2e-4 (no decay)
 *   DiscoGAN had 17% after 3000 iterations (seed 0, wasm); the late decay is
 *   what brings the modes to σ's scale. λ = 1: λ = 10 did worse in a trial
 *   (66% within 3σ at lr 1e-3 over 2000 iterations). Longer did not help:
 *   16000 iterations (normal draw, width 32) ended at 89.1% (seed 0).
 *
 * `--precision bf16` (onednn only) is accepted as `deno task train` accepts it,
 * so the learning benchmarks can all be run with it; it changes nothing here:
 * bf16 applies to convolutions, and these networks have none (their matrix
 * products stay fp32).
 *
 * Judged on `--heldout` balanced A samples never trained on: per A mode the B
 * mode most of its translations land nearest to, the number of distinct B
 * modes that makes (5 is the goal, 1 is total collapse), and the share of
 * translations within 3σ of a B mode. Baselines in the same report: identity,
 * untrained G_AB, a constant answer (one B mode centre) and a perfect answer
 * (5 distinct B modes, each point moved with its offset).
 *
 * Writes `report.json` and `toy.png` (one panel per trained variant after the
 * untrained G_AB; B modes as 3σ circles, A samples as faint dots and their
 * translations as solid dots, coloured by A mode) to --out.
 * @module
 */
import { join } from "node:path";
import sharp from "sharp";
import { type Scalar, type Tensor, tf, type Variable } from "../ops/tf.ts";
import { type BackendName, useBackend } from "../ops/runtime/backend.ts";
import { applyPrecision } from "../pipeline/precision.ts";
import { Adam, DISCOGAN_ADAM } from "../ops/adam.ts";
import { minimize } from "../ops/minimize.ts";
import { GAN_LOSSES } from "../ops/losses.ts";
import { seededNormal, seededRandom } from "../pipeline/seeded.ts";
import { OptionError } from "../pipeline/options.ts";
import { exitOnOptionError, parseFlags } from "./cli_args.ts";
import {
  constantAnswer,
  type Mixture,
  MIXTURE_A,
  MIXTURE_B,
  moveToModes,
  sampleMixture,
  type Samples,
  type TranslationMetrics,
  translationMetrics,
} from "./toy_mixtures.ts";

/** The objectives compared. */
type Variant = "gan" | "gan-recon" | "discogan";
const VARIANTS: readonly Variant[] = ["gan", "gan-recon", "discogan"];
const VARIANT_LABELS: Record<Variant, string> = {
  gan: "GAN only",
  "gan-recon": "GAN + reconstruction",
  discogan: "DiscoGAN",
};

exitOnOptionError();
const { values: flags } = parseFlags(Deno.args, {
  iterations: "number",
  seed: "number",
  out: "string",
  variants: "string",
  backend: "string",
  lr: "number",
  width: "number",
  gWidth: "number",
  dWidth: "number",
  batchSize: "number",
  lambdaRecon: "number",
  heldout: "number",
  logEvery: "number",
  evalEvery: "number",
  decayFrom: "number",
  precision: "string",
  init: "string",
  ema: "number",
});
const iterations = (flags.iterations as number | undefined) ?? 12000;
const seed = (flags.seed as number | undefined) ?? 0;
const outDir = (flags.out as string | undefined) ?? "runs/eval_toy";
const lr = (flags.lr as number | undefined) ?? 2e-3;
// Generators twice as wide as the discriminators by default: a wider G_AB can
// turn sharply between B modes in the empty space between A modes, instead of
// smearing an A mode's tail toward a neighbour (`--width` sets both).
const width = flags.width as number | undefined;
const gWidth = (flags.gWidth as number | undefined) ?? width ?? 64;
const dWidth = (flags.dWidth as number | undefined) ?? width ?? 32;
const batchSize = (flags.batchSize as number | undefined) ?? 128;
const lambdaRecon = (flags.lambdaRecon as number | undefined) ?? 1;
// Linear decay of the learning rate to 0 from this fraction of the run on
// (1: constant), as CycleGAN's schedule: late steps refine instead of hopping.
const decayFrom = (flags.decayFrom as number | undefined) ?? 0.5;
// Initial weights: DCGAN's N(0, 0.02) with zero biases, or PyTorch's Linear
// default. The small normal draw starts G_AB with all five A modes on nearly
// one point, so whether the objective separates them is what the run shows;
// PyTorch's draw has them apart before training, and then every objective
// keeps them apart (GAN alone on ten seeds of ten).
const INITS = ["normal", "pytorch"] as const;
const init = String(flags.init ?? "normal") as (typeof INITS)[number];
if (!INITS.includes(init)) {
  throw new OptionError("--init", `unknown "${init}"; choose normal or pytorch`);
}
// Polyak averaging of G_AB's weights (0: off): the translation judged is the
// exponential moving average of the weights over the last ~1/(1 − ema) steps,
// as StyleGAN's generator, instead of the last step's weights alone.
const ema = (flags.ema as number | undefined) ?? 0;
if (!(ema >= 0 && ema < 1)) {
  throw new OptionError("--ema", `${ema} is outside [0, 1); try 0.999, or 0 for off`);
}
const heldoutCount = (flags.heldout as number | undefined) ?? 1000;
const logEvery = (flags.logEvery as number | undefined) ?? 500;
const evalEvery = (flags.evalEvery as number | undefined) ??
  Math.max(1, Math.round(iterations / 10));
const variants = String(flags.variants ?? VARIANTS.join(",")).split(",").map((v) => {
  if (!VARIANTS.includes(v as Variant)) {
    throw new OptionError("--variants", `unknown "${v}"; choose from ${VARIANTS.join(", ")}`);
  }
  return v as Variant;
});

const t0 = performance.now();
const backend = await useBackend((flags.backend as BackendName | undefined) ?? "auto");
const precision = String(flags.precision ?? "fp32");
applyPrecision(precision, backend);
const adamOptions = { ...DISCOGAN_ADAM, lr };
const gan = GAN_LOSSES.bce;

// ---------------------------------------------------------------- networks
interface Mlp {
  readonly layers: { w: Variable; b: Variable }[];
  /** Every parameter by a unique name, for the optimizer. */
  readonly params: Map<string, Variable>;
}

/**
 * The `--init` draw, from our seeded generator so that every backend starts
 * alike: PyTorch's default Linear initialisation, U(±1/√fan_in) for weights
 * and biases, or N(0, 0.02) weights and zero biases.
 */
function createMlp(name: string, sizes: number[]): Mlp {
  const random = seededRandom(`${seed}/init/${name}`);
  const layers: Mlp["layers"] = [];
  const params = new Map<string, Variable>();
  for (let i = 0; i + 1 < sizes.length; i++) {
    const [fanIn, fanOut] = [sizes[i], sizes[i + 1]];
    const bound = 1 / Math.sqrt(fanIn);
    const uniform = (n: number) =>
      Float32Array.from({ length: n }, () => (2 * random() - 1) * bound);
    const weights = init === "normal"
      ? seededNormal(`${seed}/init/${name}/${i}`, fanIn * fanOut).map((v) => 0.02 * v)
      : uniform(fanIn * fanOut);
    const w = tf.variable(tf.tensor2d(weights, [fanIn, fanOut]), true, `${name}.${i}.w`);
    const biases = init === "normal" ? new Float32Array(fanOut) : uniform(fanOut);
    const b = tf.variable(tf.tensor1d(biases), true, `${name}.${i}.b`);
    layers.push({ w, b });
    params.set(`${name}.${i}.w`, w);
    params.set(`${name}.${i}.b`, b);
  }
  return { layers, params };
}

function forward(net: Mlp, x: Tensor): Tensor {
  return tf.tidy(() => {
    let h = x;
    net.layers.forEach(({ w, b }, i) => {
      // One fused kernel per layer instead of three: with layers this small,
      // each kernel's fixed cost is a large part of an iteration.
      const activation = i + 1 < net.layers.length ? "relu" : "linear";
      h = tf.fused.matMul({ a: h, b: w, bias: b, activation });
    });
    return h;
  });
}

/** A copy of `net` that no optimizer updates: the start of a moving average. */
function frozenCopy(net: Mlp): Mlp {
  const copy = (t: Variable) => tf.tidy(() => tf.variable(t.clone(), false));
  const layers = net.layers.map(({ w, b }) => ({ w: copy(w), b: copy(b) }));
  return { layers, params: new Map() };
}

/** average ← decay·average + (1 − decay)·net, parameter by parameter. */
function updateAverage(average: Mlp, net: Mlp, decay: number): void {
  tf.tidy(() => {
    average.layers.forEach((avg, i) => {
      for (const key of ["w", "b"] as const) {
        avg[key].assign(tf.add(tf.mul(avg[key], decay), tf.mul(net.layers[i][key], 1 - decay)));
      }
    });
  });
}

const generatorSizes = [2, gWidth, gWidth, 2];
const discriminatorSizes = [2, dWidth, dWidth, dWidth, dWidth, 1];

function mergeParams(nets: Mlp[]): Map<string, Variable> {
  return new Map(nets.flatMap((n) => [...n.params]));
}

/** Mean over points of the squared Euclidean distance: the brief's |x − y|². */
function squaredDistance(x: Tensor, y: Tensor): Scalar {
  return tf.tidy(() => tf.mul(tf.mean(tf.square(tf.sub(x, y))), 2) as Scalar);
}

function discriminatorLoss(d: Mlp, real: Tensor, fake: Tensor): Scalar {
  return tf.tidy(() => {
    // Real and fake in one pass: half the kernel launches of two passes.
    const logits = forward(d, tf.concat([real, fake], 0));
    const n = real.shape[0];
    const onReal = tf.slice(logits, [0, 0], [n, 1]), onFake = tf.slice(logits, [n, 0], [-1, 1]);
    return tf.mul(
      tf.add(gan.discriminator(onReal, true), gan.discriminator(onFake, false)),
      0.5,
    ) as Scalar;
  });
}

// ---------------------------------------------------------------- data
const heldA = sampleMixture(MIXTURE_A, heldoutCount, `${seed}/A/heldout`, true);
const heldB = sampleMixture(MIXTURE_B, heldoutCount, `${seed}/B/heldout`, true);
const heldATensor = tf.tensor2d(heldA.points, [heldoutCount, 2]);
const measure = (points: ArrayLike<number>): TranslationMetrics =>
  translationMetrics(points, heldA.labels, MIXTURE_A.modes.length, MIXTURE_B);

async function translate(g: Mlp): Promise<Float32Array> {
  const y = forward(g, heldATensor);
  const out = (await y.data()) as Float32Array;
  y.dispose();
  return out;
}

// ---------------------------------------------------------------- baselines
// Every A mode to an even-numbered B mode: one of the perfect assignments.
const perfectAssignment = [0, 2, 4, 6, 8];
const untrainedG = createMlp("gAB", generatorSizes);
const untrainedPoints = await translate(untrainedG);
tf.dispose([...untrainedG.params.values()]);
const baselines = {
  identity: measure(heldA.points),
  untrained: measure(untrainedPoints),
  constant: measure(constantAnswer(heldoutCount, MIXTURE_B)),
  perfect: measure(moveToModes(heldA, MIXTURE_A, MIXTURE_B, perfectAssignment)),
  realB: translationMetrics(heldB.points, heldB.labels, MIXTURE_B.modes.length, MIXTURE_B),
};

// ---------------------------------------------------------------- training
interface VariantResult {
  variant: Variant;
  metrics: TranslationMetrics;
  /** Metrics every `evalEvery` iterations. */
  curve: { iteration: number; distinctModes: number; withinShare: number }[];
  /** Losses every `logEvery` iterations. */
  history: { iteration: number; d: number; g: number }[];
  trainSeconds: number;
  points: Float32Array;
  /**
   * With --ema: the metrics of the last step's own weights, beside the
   * average's, and how far apart the two put the points.
   */
  lastStep?: TranslationMetrics & { meanDistanceToAverage: number };
}

/** The learning rate of iteration `it` (1-based): constant, then linear decay to 0. */
function lrAt(it: number): number {
  const start = Math.floor(decayFrom * iterations);
  if (it <= start) return lr;
  return lr * (1 - (it - start) / (iterations - start + 1));
}

function batch(mixture: Mixture, domain: string, it: number): Tensor {
  const s: Samples = sampleMixture(mixture, batchSize, `${seed}/${domain}/train/${it}`);
  return tf.tensor2d(s.points, [batchSize, 2]);
}

async function train(variant: Variant): Promise<VariantResult> {
  const both = variant === "discogan", recon = variant !== "gan";
  const gAB = createMlp("gAB", generatorSizes);
  const gBA = createMlp("gBA", generatorSizes);
  const dB = createMlp("dB", discriminatorSizes);
  const dA = createMlp("dA", discriminatorSizes);
  const generators = recon ? [gAB, gBA] : [gAB];
  const discriminators = both ? [dA, dB] : [dB];
  const gParams = mergeParams(generators), dParams = mergeParams(discriminators);
  // The G_AB judged: its weights, or their moving average (--ema).
  const judged = ema > 0 ? frozenCopy(gAB) : gAB;
  // Copies: the schedule changes each optimizer's own learning rate.
  const gAdam = new Adam(gParams, { ...adamOptions }),
    dAdam = new Adam(dParams, { ...adamOptions });
  const curve: VariantResult["curve"] = [];
  const history: VariantResult["history"] = [];
  const started = performance.now();
  for (let it = 1; it <= iterations; it++) {
    const rate = lrAt(it);
    gAdam.options.lr = rate;
    dAdam.options.lr = rate;
    const a = batch(MIXTURE_A, "A", it), b = batch(MIXTURE_B, "B", it);
    // Fakes for D, from the generators before this iteration's G step (no
    // gradient reaches the generators from D's loss: they are constants here).
    const fakeB = forward(gAB, a);
    const fakeA = both ? forward(gBA, b) : null;
    const d = await minimize(dParams, dAdam, {}, () => {
      let total = discriminatorLoss(dB, b, fakeB);
      if (fakeA) total = tf.add(total, discriminatorLoss(dA, a, fakeA));
      return { total, terms: {} };
    });
    tf.dispose([fakeB, fakeA ?? []].flat());
    const g = await minimize(gParams, gAdam, {}, () => {
      const ab = forward(gAB, a);
      let total: Scalar = gan.generator(forward(dB, ab));
      if (recon) {
        total = tf.add(total, tf.mul(squaredDistance(forward(gBA, ab), a), lambdaRecon));
      }
      if (both) {
        const ba = forward(gBA, b);
        total = tf.add(total, gan.generator(forward(dA, ba)));
        total = tf.add(total, tf.mul(squaredDistance(forward(gAB, ba), b), lambdaRecon));
      }
      return { total, terms: {} };
    });
    tf.dispose([a, b]);
    // TensorFlow's warm-up of the decay: early averages forget the random start.
    if (judged !== gAB) updateAverage(judged, gAB, Math.min(ema, (1 + it) / (10 + it)));
    if (it % logEvery === 0 || it === iterations) {
      history.push({ iteration: it, d: d.total, g: g.total });
    }
    if (it % evalEvery === 0 || it === iterations) {
      const m = measure(await translate(judged));
      curve.push({ iteration: it, distinctModes: m.distinctModes, withinShare: m.withinShare });
      const seconds = (performance.now() - started) / 1000;
      console.log(
        `${variant} it ${it}/${iterations}  d ${d.total.toFixed(3)}  g ${g.total.toFixed(3)}  ` +
          `modes ${m.distinctModes} ${JSON.stringify(m.assignment)}  ` +
          `within 3σ ${pct(m.withinShare)}  ${(1000 * seconds / it).toFixed(1)} ms/it`,
      );
    }
  }
  const trainSeconds = (performance.now() - started) / 1000;
  const points = await translate(judged);
  const lastPoints = judged !== gAB ? await translate(gAB) : undefined;
  const lastStep = lastPoints && {
    ...measure(lastPoints),
    meanDistanceToAverage: meanDistance(points, lastPoints),
  };
  gAdam.dispose();
  dAdam.dispose();
  tf.dispose([gAB, gBA, dA, dB].flatMap((n) => [...n.params.values()]));
  if (judged !== gAB) tf.dispose(judged.layers.flatMap(({ w, b }) => [w, b]));
  return { variant, metrics: measure(points), curve, history, trainSeconds, points, lastStep };
}

/** Mean Euclidean distance between two point lists of the same samples. */
function meanDistance(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i += 2) sum += Math.hypot(a[i] - b[i], a[i + 1] - b[i + 1]);
  return sum / (a.length / 2);
}

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

console.log(
  `backend ${backend} (${precision}); ${iterations} iterations per variant, batch ${batchSize}, widths G ${gWidth} D ${dWidth}, ` +
    `lr ${lr}, lambda ${lambdaRecon}, seed ${seed}${
      ema > 0 ? `, G_AB judged by its weights' average (--ema ${ema})` : ""
    }`,
);
const results: VariantResult[] = [];
for (const v of variants) results.push(await train(v));
const wallSeconds = (performance.now() - t0) / 1000;

// ---------------------------------------------------------------- report
const summary = (m: TranslationMetrics) => ({
  distinctModes: m.distinctModes,
  withinShare: m.withinShare,
  assignment: m.assignment,
  agreement: m.agreement,
  withinShareByMode: m.withinShareByMode,
  histograms: m.histograms,
});
const report = {
  settings: {
    backend,
    precision,
    seed,
    iterations,
    batchSize,
    generator: `MLP ${generatorSizes.join("-")}, ReLU between layers`,
    discriminator: `MLP ${discriminatorSizes.join("-")}, ReLU between layers, logit output`,
    init: init === "normal"
      ? "N(0, 0.02) weights, zero biases, seeded"
      : "PyTorch Linear default, U(±1/sqrt(fan_in)), seeded",
    adam: adamOptions,
    lrSchedule: decayFrom < 1
      ? `constant to iteration ${Math.floor(decayFrom * iterations)}, then linear decay to 0`
      : "constant",
    judged: ema > 0
      ? `G_AB's exponential moving average of weights, decay ${ema} (warm-up min(decay, (1 + t)/(10 + t)))`
      : "G_AB's weights after the last step",
    ganLoss: "bce (D: 0.5·(real→1 + fake→0); G: non-saturating)",
    lambdaRecon,
    reconstruction: "mean over points of the squared Euclidean distance",
    schedule: "per iteration: one D step on fresh fakes, then one G step",
    mixtureA: { ...MIXTURE_A },
    mixtureB: { ...MIXTURE_B },
    heldout: heldoutCount,
    metric: `per A mode the B mode most of its translations land nearest to; distinct B modes ` +
      `among the 5; share of translations within 3σ = ${3 * MIXTURE_B.sigma} of a B mode`,
    target: "DiscoGAN: 5 distinct B modes with ≥ 95% within 3σ; GAN alone: not",
  },
  results: Object.fromEntries(results.map((r) => [r.variant, {
    ...summary(r.metrics),
    ...(r.lastStep && {
      lastStep: {
        ...summary(r.lastStep),
        meanDistanceToAverage: r.lastStep.meanDistanceToAverage,
      },
    }),
    trainSeconds: r.trainSeconds,
    curve: r.curve,
    history: r.history,
  }])),
  baselines: {
    identity: summary(baselines.identity),
    untrainedGAB: summary(baselines.untrained),
    constantBMode0: summary(baselines.constant),
    perfect: { ...summary(baselines.perfect), assignmentUsed: perfectAssignment },
    realBSamples: { withinShare: baselines.realB.withinShare },
  },
  targetMet: (() => {
    const disco = results.find((r) => r.variant === "discogan")?.metrics;
    const ganOnly = results.find((r) => r.variant === "gan")?.metrics;
    if (!disco || !ganOnly) return null;
    return disco.distinctModes === 5 && disco.withinShare >= 0.95 &&
      !(ganOnly.distinctModes === 5 && ganOnly.withinShare >= 0.95);
  })(),
  seconds: {
    wall: wallSeconds,
    train: Object.fromEntries(results.map((r) => [r.variant, r.trainSeconds])),
  },
};
await Deno.mkdir(outDir, { recursive: true });
await Deno.writeTextFile(join(outDir, "report.json"), JSON.stringify(report, null, 2) + "\n");
await writePicture(join(outDir, "toy.png"));

const row = (m: TranslationMetrics) => ({
  "distinct B modes": m.distinctModes,
  "within 3σ": pct(m.withinShare),
  "A mode → B mode": m.assignment.join(" "),
});
console.log(
  `\nresults (${heldoutCount} held-out A samples, ${
    heldoutCount / MIXTURE_A.modes.length
  } per mode)`,
);
console.table({
  ...Object.fromEntries(results.map((r) => [VARIANT_LABELS[r.variant], row(r.metrics)])),
  "identity (A as is)": row(baselines.identity),
  "untrained G_AB": row(baselines.untrained),
  "constant (B mode 0)": row(baselines.constant),
  "perfect (0 2 4 6 8)": row(baselines.perfect),
});
console.log(
  `real B samples within 3σ: ${
    pct(baselines.realB.withinShare)
  }; target met: ${report.targetMet}; ` +
    `wall ${wallSeconds.toFixed(0)} s (` +
    results.map((r) => `${r.variant} ${r.trainSeconds.toFixed(0)} s`).join(", ") +
    `); report in ${outDir}`,
);

/** One panel per trained variant (after the untrained G_AB), as the paper's figure. */
async function writePicture(path: string): Promise<void> {
  const colours = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4"];
  const panels: { title: string; points: Float32Array; m: TranslationMetrics }[] = [
    { title: "untrained G_AB", points: untrainedPoints, m: baselines.untrained },
    ...results.map((r) => ({ title: VARIANT_LABELS[r.variant], points: r.points, m: r.metrics })),
  ];
  const size = 360, half = 1.6, scale = size / (2 * half), head = 40;
  const px = (x: number) => (x + half) * scale, py = (y: number) => (half - y) * scale;
  const svgPanels = panels.map((p, k) => {
    const parts: string[] = [];
    parts.push(`<rect width="${size}" height="${size}" fill="white" stroke="#999"/>`);
    for (const [x, y] of MIXTURE_B.modes) {
      parts.push(
        `<circle cx="${px(x)}" cy="${py(y)}" r="${3 * MIXTURE_B.sigma * scale}" ` +
          `fill="#eee" stroke="#555" stroke-width="1"/>`,
      );
    }
    for (let i = 0; i < heldoutCount; i++) {
      const c = colours[heldA.labels[i]];
      parts.push(
        `<circle cx="${px(heldA.points[2 * i]).toFixed(1)}" cy="${
          py(heldA.points[2 * i + 1]).toFixed(1)
        }" r="1.5" fill="${c}" fill-opacity="0.25"/>`,
      );
    }
    for (let i = 0; i < heldoutCount; i++) {
      const [x, y] = [p.points[2 * i], p.points[2 * i + 1]];
      if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
      parts.push(
        `<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="1.8" ` +
          `fill="${colours[heldA.labels[i]]}"/>`,
      );
    }
    const caption = `${p.m.distinctModes} distinct B modes, ${pct(p.m.withinShare)} within 3σ`;
    return `<g transform="translate(${k * (size + 10)}, 0)">` +
      `<text x="4" y="16" font-family="sans-serif" font-size="15">${p.title}</text>` +
      `<text x="4" y="34" font-family="sans-serif" font-size="13">${caption}</text>` +
      `<g transform="translate(0, ${head})"><clipPath id="c${k}"><rect width="${size}" ` +
      `height="${size}"/></clipPath><g clip-path="url(#c${k})">${parts.join("")}</g></g></g>`;
  });
  const w = panels.length * (size + 10) - 10, h = size + head;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}">` +
    `<rect width="${w}" height="${h}" fill="white"/>${svgPanels.join("")}</svg>`;
  await sharp(new TextEncoder().encode(svg)).png().toFile(path);
}
