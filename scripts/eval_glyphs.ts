/**
 * Learning benchmark: DiscoGAN translating plain Hershey letters (domain A,
 * `futural`) into script letters (domain B, `scripts`) from unpaired data, then
 * judged on held-out renders.
 *
 *   deno task eval:glyphs [--preset NAME] [any option of `deno task train`]
 *     [--out runs/eval_glyphs] [--train-per-char 32] [--heldout-per-char 4]
 *     [--font-a futural] [--font-b scripts] [--chars abcdefghijklmnopqrstuvwxyz]
 *
 * Training options: those of `deno task train` (its option table), with this
 * benchmark's budget over a preset's sizes: 1000 iterations, widths 8, batch 8,
 * no flips (a flipped letter is another letter). Glyphs are drawn at
 * `--image-size` (64 by default), their shifts, strokes and the reader's
 * `--match-shift` (3 at 64) scaled with it.
 *
 * Training set: `--train-per-char` augmented renders (seeded shift, scale,
 * stroke width) of every letter in each domain, drawn in independent shuffles
 * (unpaired). Held-out set: `--heldout-per-char` A renders per letter with
 * augmentation keys never used in training. Each G_AB output (dropout off) is
 * classified by the nearest clean B template: the largest normalised
 * correlation (Pearson r of the ink maps, 1 - grey) over integer shifts of up
 * to `--match-shift` pixels. Reported: top-1 accuracy, mean pixel L1 (in [0, 1]
 * grey levels, per channel) to the clean script render of the same letter,
 * the same numbers for the untrained generator and for the identity map, and
 * the classifier's ceiling (held-out augmented real B renders) and tolerance
 * (real B renders in styles no training image has: strokes 0.8-4 px, scale
 * ±20%).
 *
 * Beside the benchmark's number (`otherDirections` in the report), read the
 * same way against the plain templates: G_BA on held-out B renders, and the
 * round trips G_BA(G_AB(a)) (plain) and G_AB(G_BA(b)) (script). `hiddenShare`
 * is the share of misread translations whose round trip still reads right:
 * the letter went through in detail the reader does not count, so the cycle
 * term was met without the translation showing the letter.
 *
 * `pairing` (beside top-1, for G_AB and for G_BA): the one-to-one pairing of
 * letters that agrees with the most answers, its share of agreeing answers and
 * the letters it sends elsewhere (scripts/letter_pairing.ts). An unpaired loss
 * cannot tell one pairing from another, so this separates a run that learned a
 * consistent relation with the wrong letters from one that learned none.
 *
 * `--paired-glyphs` is a diagnostic, not the benchmark: it feeds A and B renders of the
 * same letter together and adds the pixelwise loss (a supervised upper bound).
 * `--paired-until N`, another: paired as `--paired-glyphs` for the first N
 * iterations, then unpaired with the same networks and optimisers, to see
 * whether the unpaired objective keeps a relation it is given.
 *
 * Writes `report.json`, `grid.png` (rows: letters; per held-out render:
 * A | G_AB(A) | nearest template, the template framed red when wrong),
 * `grid_reverse.png` (the same for B | G_BA(B) | nearest plain template) and
 * `pairing.png` (G_AB's answer counts, plain letters by script letters read,
 * the best pairing's cells off the diagonal framed red) to --out.
 * @module
 */
import { join } from "node:path";
import sharp from "sharp";
import { tf } from "../ops/tf.ts";
import { useBackend } from "../ops/runtime/backend.ts";
import { applyPrecision } from "../pipeline/precision.ts";
import { createDiscoGan } from "../models/discogan.ts";
import { flagKinds } from "../models/options.ts";
import {
  OptionError,
  resolveTrainOptions,
  TRAIN_OPTIONS,
  type TrainOptions,
} from "../pipeline/options.ts";
import { exitOnOptionError, type FlagKind, parseFlags } from "./cli_args.ts";
import type { Network } from "../models/network.ts";
import type { IterationLosses } from "../pipeline/iteration.ts";
import { memorySource } from "../pipeline/memory_source.ts";
import { bestPairing } from "./letter_pairing.ts";
import { writePairingPicture } from "./pairing_picture.ts";
import type { Sink } from "../pipeline/record.ts";
import { runTraining } from "../pipeline/run_training.ts";
import { createTrainingState } from "../pipeline/training_state.ts";
import {
  type AugmentationRanges,
  GLYPH_SIZE,
  type GlyphImage,
  glyphPath,
  glyphScale,
  glyphTemplates,
  hersheyFontProblem,
  LOWERCASE,
  PLAIN_FONT,
  renderGlyphSet,
  SCRIPT_FONT,
  toSignedUnit,
} from "./glyph_dataset.ts";
import { settleAll } from "../pipeline/settle_all.ts";

// Every training option of `deno task train` (the table's flags, --preset
// included), and the benchmark's own.
const BENCHMARK_FLAGS: Record<string, FlagKind> = {
  out: "string",
  chars: "string",
  fontA: "string",
  fontB: "string",
  trainPerChar: "number",
  heldoutPerChar: "number",
  matchShift: "number",
  evalEvery: "number",
  logEvery: "number",
  dropout: "boolean",
  pairedGlyphs: "boolean",
  pairedUntil: "number",
};
exitOnOptionError();
const { values: flags } = parseFlags(Deno.args, {
  ...flagKinds(TRAIN_OPTIONS),
  ...BENCHMARK_FLAGS,
});
const own = (key: string) => flags[key];
const given: Record<string, unknown> = {};
for (const key of Object.keys(TRAIN_OPTIONS)) if (flags[key] !== undefined) given[key] = flags[key];
// The benchmark's budget (sizes for minutes on 2 cores) overrides a preset's
// sizes; flags override both.
const options = resolveTrainOptions({
  iterations: 1000,
  ngf: 8,
  ndf: 8,
  batchSize: 8,
  flip: false,
  ...given,
} as Partial<TrainOptions>);
const iterations = options.iterations as number;
const { ngf, ndf, batchSize, seed } = options;
const chars = String(own("chars") ?? LOWERCASE);
const fontA = String(own("fontA") ?? PLAIN_FONT), fontB = String(own("fontB") ?? SCRIPT_FONT);
checkGlyphOptions(chars, { "--font-a": fontA, "--font-b": fontB });
const trainPerChar = Number(own("trainPerChar") ?? 32);
const heldoutPerChar = Number(own("heldoutPerChar") ?? 4);
// Renders at --image-size (64 by default); shifts and strokes scale with it.
const S = options.imageSize;
const matchShift = Number(own("matchShift") ?? Math.round((3 * S) / GLYPH_SIZE));
const evalEvery = Number(own("evalEvery") ?? 0) || Math.max(1, Math.round(iterations / 10));
const logEvery = Number(own("logEvery") ?? 50);
const outDir = String(own("out") ?? "runs/eval_glyphs");
// Diagnostic only (--paired-glyphs): a supervised upper bound, A and B rows show the same letter.
const pairedGlyphs = own("pairedGlyphs") === true;
// Diagnostic only (--paired-until N): paired for the first N iterations, then unpaired.
const pairedUntil = Number(own("pairedUntil") ?? 0);
checkPairedUntil(pairedUntil, iterations, pairedGlyphs);
const dropout = own("dropout") !== false;
const backend = await useBackend(options.backend);
applyPrecision(options.precision, backend);

/** Refuses a --paired-until that is not a whole number of iterations inside the run. */
function checkPairedUntil(until: number, iterations: number, pairedThroughout: boolean): void {
  if (!(Number.isInteger(until) && until >= 0 && until < iterations)) {
    throw new OptionError(
      "--paired-until",
      `${until} is not a whole number of iterations in [0, ${iterations}); ` +
        `try --paired-until ${Math.floor(iterations / 2)}`,
    );
  }
  if (until > 0 && pairedThroughout) {
    throw new OptionError(
      "--paired-until",
      "pairs the first iterations only; leave out --paired-glyphs, which pairs them all",
    );
  }
}

/** Refuses, naming the flag, a font hersheytext lacks or a letter a font cannot draw. */
function checkGlyphOptions(chars: string, fonts: Record<string, string>): void {
  const letters = [...new Set(chars)];
  if (letters.length < 2) {
    throw new OptionError("--chars", `needs at least two different letters, got "${chars}"`);
  }
  for (const [flag, font] of Object.entries(fonts)) {
    const problem = hersheyFontProblem(font);
    if (problem) throw new OptionError(flag, problem);
    const missing = letters.filter((char) => {
      try {
        glyphPath(font, char);
        return false;
      } catch {
        return true;
      }
    });
    if (missing.length > 0) {
      throw new OptionError(
        "--chars",
        `font "${font}" (${flag}) has no glyph for "${missing.join("")}": leave these out`,
      );
    }
  }
}

// ---------------------------------------------------------------- data
const t0 = performance.now();
const unitScale = glyphScale([fontA, fontB], chars, S);
const render = (font: string, count: number, salt: string, ranges?: AugmentationRanges) =>
  renderGlyphSet({ font, chars, count, salt, seed, size: S, unitScale, ranges });
// Script renders in styles no training image has (strokes 0.8-4 px, scale ±20%): how
// far the reader tolerates outputs that are the right letter drawn differently.
const UNSEEN_STYLES: AugmentationRanges = {
  maxShift: 3,
  maxScaleChange: 0.2,
  strokeWidth: [0.8, 4],
};
const [trainA, trainB, heldA, heldB, unseenB] = await settleAll([
  render(fontA, trainPerChar, "train"),
  render(fontB, trainPerChar, "train"),
  render(fontA, heldoutPerChar, "heldout"),
  render(fontB, heldoutPerChar, "heldout"),
  render(fontB, heldoutPerChar, "unseen-styles", UNSEEN_STYLES),
]);
const templates = await glyphTemplates(fontB, chars, S, unitScale);
const plainTemplates = await glyphTemplates(fontA, chars, S, unitScale);
const renderSeconds = (performance.now() - t0) / 1000;

// Held-out renders in [-1, 1]: read as they are for the baselines, and translated.
const heldASigned = toSignedUnit(heldA), heldBSigned = toSignedUnit(heldB);

// ---------------------------------------------------------------- metric
/** Ink map (1 - grey, grey in [0, 1]) of RGB values in [0, 1]. */
function inkOf(rgb: Float32Array | Uint8Array, scale: number): Float32Array {
  const out = new Float32Array(rgb.length / 3);
  for (let i = 0; i < out.length; i++) {
    out[i] = 1 - (rgb[3 * i] + rgb[3 * i + 1] + rgb[3 * i + 2]) * scale / 3;
  }
  return out;
}

interface Prepared {
  ink: Float32Array;
  sum: number;
  sumSq: number;
}

function prepare(ink: Float32Array): Prepared {
  let sum = 0, sumSq = 0;
  for (const v of ink) {
    sum += v;
    sumSq += v * v;
  }
  return { ink, sum, sumSq };
}

/** Pearson r of `a` shifted by (dx, dy) (zero filled) with `b`. */
function correlation(a: Prepared, b: Prepared, dx: number, dy: number): number {
  const n = S * S;
  let sa = 0, saa = 0, sab = 0;
  const y0 = Math.max(0, dy), y1 = Math.min(S, S + dy);
  const x0 = Math.max(0, dx), x1 = Math.min(S, S + dx);
  for (let y = y0; y < y1; y++) {
    const rowA = (y - dy) * S - dx, rowB = y * S;
    for (let x = x0; x < x1; x++) {
      const va = a.ink[rowA + x];
      sa += va;
      saa += va * va;
      sab += va * b.ink[rowB + x];
    }
  }
  const cov = sab - (sa * b.sum) / n;
  const varA = saa - (sa * sa) / n, varB = b.sumSq - (b.sum * b.sum) / n;
  return varA <= 1e-9 || varB <= 1e-9 ? -1 : cov / Math.sqrt(varA * varB);
}

/** A font's clean templates, ready to read images against. */
type Reader = (Prepared & { char: string; signed: Float32Array })[];

function readerOf(clean: Map<string, GlyphImage>): Reader {
  return [...clean.values()].map((t) => ({
    char: t.char,
    ...prepare(inkOf(t.pixels, 1 / 255)),
    signed: toSignedUnit([t]),
  }));
}
// Script letters (the benchmark's reader), and plain letters for G_BA's direction.
const scriptReader = readerOf(templates), plainReader = readerOf(plainTemplates);

interface Judged {
  /** Fraction classified as their own letter. */
  accuracy: number;
  /** Mean |x - clean B render of the same letter|, grey levels in [0, 1]. */
  l1: number;
  /** Predicted letter of each image. */
  predicted: string[];
}

/** Classifies images (NHWC, [-1, 1], flat) against a font's templates (B's by default). */
function judge(images: Float32Array, truth: readonly string[], reader = scriptReader): Judged {
  const px = S * S * 3;
  let correct = 0, l1 = 0;
  const predicted: string[] = [];
  for (let i = 0; i < truth.length; i++) {
    const x = images.subarray(i * px, (i + 1) * px);
    const unit = x.map((v) => (v + 1) / 2);
    const a = prepare(inkOf(unit, 1));
    let best = -Infinity, bestChar = "";
    for (const t of reader) {
      for (let dy = -matchShift; dy <= matchShift; dy++) {
        for (let dx = -matchShift; dx <= matchShift; dx++) {
          const r = correlation(a, t, dx, dy);
          if (r > best) [best, bestChar] = [r, t.char];
        }
      }
    }
    predicted.push(bestChar);
    if (bestChar === truth[i]) correct++;
    const target = reader.find((t) => t.char === truth[i])!.signed;
    let d = 0;
    for (let k = 0; k < px; k++) d += Math.abs(x[k] - target[k]);
    l1 += d / px / 2; // [-1, 1] distance to [0, 1] grey levels
  }
  return { accuracy: correct / truth.length, l1: l1 / truth.length, predicted };
}

const heldTruth = heldA.map((g) => g.char), heldTruthB = heldB.map((g) => g.char);

/** `images` (NHWC, [-1, 1], flat) through generator `g` (dropout off), 32 at a time. */
async function translateHeldOut(
  g: Network,
  images: Float32Array = heldASigned,
): Promise<Float32Array> {
  const count = images.length / (S * S * 3);
  const out: Float32Array[] = [];
  for (let i = 0; i < count; i += 32) {
    const n = Math.min(32, count - i);
    const y = tf.tidy(() =>
      g.apply(tf.tensor4d(images.subarray(i * S * S * 3, (i + n) * S * S * 3), [n, S, S, 3]), {
        training: false,
      })
    );
    out.push((await y.data()) as Float32Array);
    y.dispose();
  }
  const all = new Float32Array(out.reduce((s, a) => s + a.length, 0));
  let o = 0;
  for (const a of out) {
    all.set(a, o);
    o += a.length;
  }
  return all;
}

// ---------------------------------------------------------------- baselines
const models = createDiscoGan(options);
const state = createTrainingState(models, {
  losses: { ...options, paired: pairedGlyphs || pairedUntil > 0 },
  adam: options,
  seed,
  dropout,
});
// The run's length, which --lr-decay-iterations counts back from (as train() sets it).
state.totalIterations = iterations;

const ceiling = judge(heldBSigned, heldTruthB);
const unseenStyles = judge(toSignedUnit(unseenB), unseenB.map((g) => g.char));
const identity = judge(heldASigned, heldTruth);
const untrained = judge(await translateHeldOut(models.gAB), heldTruth);
// For G_BA's direction: the plain reader on real held-out A, and on B as is.
const plainCeiling = judge(heldASigned, heldTruth, plainReader);
const reverseIdentity = judge(heldBSigned, heldTruthB, plainReader);
console.log(
  `rendered ${trainA.length}+${trainB.length} training and ${heldA.length} held-out glyphs ` +
    `in ${renderSeconds.toFixed(1)} s; backend ${backend}`,
);
console.log(
  `baselines: identity ${pct(identity.accuracy)}, untrained G_AB ${pct(untrained.accuracy)}, ` +
    `classifier ceiling (real held-out B) ${pct(ceiling.accuracy)}, ` +
    `real B in unseen styles ${pct(unseenStyles.accuracy)}`,
);

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

// ---------------------------------------------------------------- training
// Unpaired: A and B renders in independent seeded shuffles (paired: the same order).
// Converted once: with --paired-until both phases' sources read the same arrays.
const trainASigned = toSignedUnit(trainA), trainBSigned = toSignedUnit(trainB);
const trainSource = (paired: boolean) =>
  memorySource(trainASigned, trainBSigned, S, { batchSize, seed, paired });
const history: ({ iteration: number } & IterationLosses)[] = [];
const curve: { iteration: number; accuracy: number; l1: number }[] = [];
let trainSeconds = 0;
const progress: Sink = {
  async write(r) {
    trainSeconds += r.secondsPerIteration;
    const it = r.iteration, l = r.losses;
    if (it % logEvery === 0 || it === iterations) {
      history.push({ iteration: it, ...l });
      console.log(
        `it ${it}/${iterations}  d ${l.d.toFixed(3)}  g_gan ${l.g_gan.toFixed(3)}  ` +
          `g_cycle ${l.g_cycle.toFixed(4)}  ${(trainSeconds / it).toFixed(2)} s/it`,
      );
    }
    if (it % evalEvery === 0 && it !== iterations) {
      const fakes = await translateHeldOut(models.gAB);
      const j = judge(fakes, heldTruth);
      curve.push({ iteration: it, accuracy: j.accuracy, l1: j.l1 });
      await Deno.mkdir(outDir, { recursive: true });
      await writeGrid(join(outDir, "grid.png"), fakes, j.predicted); // progress view
      console.log(`  held-out accuracy ${pct(j.accuracy)}, L1 ${j.l1.toFixed(4)}`);
    }
  },
};
const tTrain = performance.now();
if (pairedUntil > 0) {
  const paired = trainSource(true);
  await runTraining(paired, state, [progress], { iterations: pairedUntil });
  await paired.close();
  // The same networks, optimisers and pools go on without the answer.
  state.losses = { ...state.losses, paired: false };
  console.log(`unpaired from iteration ${state.iteration + 1}`);
}
const source = trainSource(pairedGlyphs);
await runTraining(source, state, [progress], { iterations });
await source.close();
const wallTrain = (performance.now() - tTrain) / 1000;

// ---------------------------------------------------------------- evaluation
const outputs = await translateHeldOut(models.gAB);
const final = judge(outputs, heldTruth);
curve.push({ iteration: iterations, accuracy: final.accuracy, l1: final.l1 });
// The other direction and both round trips, each read by its target font's reader.
// A round trip that reads right where the translation read wrong means G_BA found
// the letter in detail the reader (and D_B) did not count: CycleGAN's hidden code.
const reversed = await translateHeldOut(models.gBA, heldBSigned);
const reverse = judge(reversed, heldTruthB, plainReader);
// The round trips take the translations above on: each generator runs once per image.
const cycleA = judge(await translateHeldOut(models.gBA, outputs), heldTruth, plainReader);
const cycleB = judge(await translateHeldOut(models.gAB, reversed), heldTruthB);
const misread = heldTruth.flatMap((c, i) => final.predicted[i] === c ? [] : [i]);
const recovered = misread.filter((i) => cycleA.predicted[i] === heldTruth[i]).length;
const hiddenShare = misread.length ? recovered / misread.length : 0;
const wall = (performance.now() - t0) / 1000;

/** Each letter's predictions, in held-out order: "a" -> "aaoa". */
function byLetter(truth: readonly string[], predicted: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  truth.forEach((c, i) => out[c] = (out[c] ?? "") + predicted[i]);
  return out;
}
const perChar = byLetter(heldTruth, final.predicted);
const letters = [...new Set(chars)];
// The relation the networks chose, right or not: a run can pair every letter
// consistently with the wrong one, which top-1 alone does not tell apart from noise.
const pairing = bestPairing(heldTruth, final.predicted, letters);
const readout = (j: Judged, truth: readonly string[]) => ({
  accuracy: j.accuracy,
  l1: j.l1,
  perChar: byLetter(truth, j.predicted),
});

await Deno.mkdir(outDir, { recursive: true });
const settings = {
  backend,
  iterations,
  ngf,
  ndf,
  batchSize,
  seed,
  options,
  losses: state.losses,
  // Iterations trained on pairs before the unpaired rest (--paired-until; 0: none).
  pairedUntil,
  dropout,
  chars,
  fontA,
  fontB,
  trainPerChar,
  heldoutPerChar,
  unitScale,
  metric: `nearest clean ${fontB} template by Pearson correlation of ink maps, ` +
    `best over integer shifts up to ±${matchShift} px; L1 in [0,1] grey levels`,
};
const report = {
  settings,
  // pairing: the one-to-one pairing of letters that agrees with the most answers,
  // its accuracy, the letters it sends elsewhere, and how many letters the answers use.
  result: { accuracy: final.accuracy, l1: final.l1, perChar, pairing },
  // G_BA(held-out B) read as plain letters; G_BA(G_AB(a)) as plain, G_AB(G_BA(b)) as
  // script; hiddenShare: of the misread translations, those whose round trip reads right.
  otherDirections: {
    reverse: {
      ...readout(reverse, heldTruthB),
      pairing: bestPairing(heldTruthB, reverse.predicted, letters),
    },
    cycleA: readout(cycleA, heldTruth),
    cycleB: readout(cycleB, heldTruthB),
    hiddenShare,
  },
  baselines: {
    identity: { accuracy: identity.accuracy, l1: identity.l1 },
    untrained: { accuracy: untrained.accuracy, l1: untrained.l1 },
    classifierCeiling: { accuracy: ceiling.accuracy, l1: ceiling.l1 },
    unseenStyles: { accuracy: unseenStyles.accuracy, l1: unseenStyles.l1, ranges: UNSEEN_STYLES },
    // For G_BA's direction: the plain reader on real held-out A, and on B as is.
    plainCeiling: { accuracy: plainCeiling.accuracy, l1: plainCeiling.l1 },
    reverseIdentity: { accuracy: reverseIdentity.accuracy, l1: reverseIdentity.l1 },
  },
  timing: {
    wallSeconds: wall,
    renderSeconds,
    trainWallSeconds: wallTrain,
    secondsPerIteration: trainSeconds / Math.max(1, iterations),
  },
  curve,
  history,
};
await Deno.writeTextFile(join(outDir, "report.json"), JSON.stringify(report, null, 2) + "\n");
await writeGrid(join(outDir, "grid.png"), outputs, final.predicted);
await writeGrid(
  join(outDir, "grid_reverse.png"),
  reversed,
  reverse.predicted,
  heldB,
  plainTemplates,
);
await writePairingPicture(
  join(outDir, "pairing.png"),
  heldTruth,
  final.predicted,
  letters,
  pairing,
  plainTemplates,
  templates,
);

console.log(`\nresults (${heldA.length} held-out ${fontA} glyphs, ${chars.length} letters)`);
console.table({
  "trained G_AB": { "top-1 accuracy": pct(final.accuracy), "L1 to true B": final.l1.toFixed(4) },
  "untrained G_AB": {
    "top-1 accuracy": pct(untrained.accuracy),
    "L1 to true B": untrained.l1.toFixed(4),
  },
  "identity (A as is)": {
    "top-1 accuracy": pct(identity.accuracy),
    "L1 to true B": identity.l1.toFixed(4),
  },
  "real B (ceiling)": {
    "top-1 accuracy": pct(ceiling.accuracy),
    "L1 to true B": ceiling.l1.toFixed(4),
  },
  "real B, unseen styles": {
    "top-1 accuracy": pct(unseenStyles.accuracy),
    "L1 to true B": unseenStyles.l1.toFixed(4),
  },
});
const swaps = Object.entries(pairing.swapped).map(([a, b]) => `${a}->${b}`).join(" ");
console.log(
  `pairing: ${pct(pairing.accuracy)} of the answers agree with the best one-to-one pairing ` +
    `of letters (${swaps || "each letter with itself"}); answers use ${pairing.lettersUsed} of ` +
    `${letters.length} letters`,
);
console.log(
  `G_BA (${fontB} to ${fontA}) ${pct(reverse.accuracy)} (B as is ${
    pct(reverseIdentity.accuracy)
  }, ` +
    `real A ${pct(plainCeiling.accuracy)}); round trips read back: A->B->A ` +
    `${pct(cycleA.accuracy)}, B->A->B ${pct(cycleB.accuracy)}; ` +
    `${recovered} of ${misread.length} misread translations read right after the round trip`,
);
console.log(
  `wall ${wall.toFixed(0)} s (training ${wallTrain.toFixed(0)} s), ` +
    `${(trainSeconds / Math.max(1, iterations)).toFixed(3)} s/iteration; ` +
    // Name a preset only when one was given: flags may have changed its networks.
    `${options.preset ? `preset ${options.preset}, ` : ""}` +
    `${options.generator}/${options.discriminator} ngf ${ngf} ndf ${ndf} batch ${batchSize}, ` +
    `precision ${options.precision}; report in ${outDir}`,
);

/**
 * Rows: letters; per held-out render: input | its translation | nearest template
 * (red frame if wrong). By default A | G_AB(A) | script template.
 */
async function writeGrid(
  path: string,
  fakes: Float32Array,
  predicted: string[],
  inputs: readonly GlyphImage[] = heldA,
  targetTemplates: Map<string, GlyphImage> = templates,
): Promise<void> {
  const gap = 6, triple = 3 * S + gap;
  const rows = chars.length, cols = heldoutPerChar;
  const width = cols * triple - gap, height = rows * (S + 2) - 2;
  const img = new Uint8Array(width * height * 3).fill(160);
  const put = (tile: ArrayLike<number>, toByte: (v: number) => number, x0: number, y0: number) => {
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        for (let c = 0; c < 3; c++) {
          img[((y0 + y) * width + x0 + x) * 3 + c] = toByte(tile[(y * S + x) * 3 + c]);
        }
      }
    }
  };
  const frame = (x0: number, y0: number) => {
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        if (x < 2 || y < 2 || x >= S - 2 || y >= S - 2) {
          img.set([220, 0, 0], ((y0 + y) * width + x0 + x) * 3);
        }
      }
    }
  };
  const px = S * S * 3;
  inputs.forEach((g, i) => {
    const row = chars.indexOf(g.char), col = i % cols;
    const x0 = col * triple, y0 = row * (S + 2);
    put(g.pixels, (v) => v, x0, y0);
    put(
      fakes.subarray(i * px, (i + 1) * px),
      (v) => Math.round(Math.min(1, Math.max(0, (v + 1) / 2)) * 255),
      x0 + S,
      y0,
    );
    put(targetTemplates.get(predicted[i])!.pixels, (v) => v, x0 + 2 * S, y0);
    if (predicted[i] !== g.char) frame(x0 + 2 * S, y0);
  });
  await sharp(img, { raw: { width, height, channels: 3 } }).png().toFile(path);
}
