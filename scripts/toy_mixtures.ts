/**
 * The toy experiment of DiscoGAN (Kim et al., 2017), data and metrics only:
 * two 2-D Gaussian mixtures and the measures of a translation between them.
 *
 * - Domain A ({@link MIXTURE_A}): 5 modes on a horizontal line, x = -1.2, -0.6,
 *   0, 0.6, 1.2 (y = 0), mode spacing 0.6.
 * - Domain B ({@link MIXTURE_B}): 10 modes on the unit circle at angles
 *   18° + 36°·k, mode spacing 2·sin 18° ≈ 0.618. The half-step rotation keeps
 *   every A mode off every B mode (nearest: 0.40 away), so the identity map is
 *   no accidental answer.
 * - Both: isotropic σ = 0.03 per coordinate ({@link TOY_SIGMA}), about 0.05 of
 *   the mode spacing; modes equally likely.
 *
 * A translated point "lands on" the B mode nearest to it; it is "within 3σ"
 * when that distance is at most 3σ (a real B sample is, with probability
 * 1 - e^(-4.5) ≈ 98.9%).
 * @module
 */
import { seededRandom } from "../pipeline/seeded.ts";

/** A point of the plane. */
export type Point = readonly [number, number];

/** An equally weighted mixture of isotropic 2-D Gaussians. */
export interface Mixture {
  /** Short name, for reports. */
  readonly name: string;
  /** The mode centres. */
  readonly modes: readonly Point[];
  /** Standard deviation of each coordinate around a mode. */
  readonly sigma: number;
}

/**
 * σ of both mixtures: about 0.05 of their mode spacings (0.6 in A, 0.618 in B).
 *
 * @example
 * ```ts
 * import { TOY_SIGMA } from "./toy_mixtures.ts";
 * console.log(3 * TOY_SIGMA); // 0.09: the "within 3σ" radius
 * ```
 */
export const TOY_SIGMA = 0.03;

/**
 * Domain A: 5 modes on the x axis, 0.6 apart, centred on the origin.
 *
 * @example
 * ```ts
 * import { MIXTURE_A } from "./toy_mixtures.ts";
 * console.log(MIXTURE_A.modes.length); // 5
 * ```
 */
export const MIXTURE_A: Mixture = {
  name: "A: 5 modes on a line",
  modes: [0, 1, 2, 3, 4].map((k) => [0.6 * (k - 2), 0] as const),
  sigma: TOY_SIGMA,
};

/**
 * Domain B: 10 modes on the unit circle, at 18° + 36°·k.
 *
 * @example
 * ```ts
 * import { MIXTURE_B } from "./toy_mixtures.ts";
 * console.log(MIXTURE_B.modes[0]); // [0.951..., 0.309...]
 * ```
 */
export const MIXTURE_B: Mixture = {
  name: "B: 10 modes on the unit circle",
  modes: Array.from({ length: 10 }, (_, k) => {
    const angle = (Math.PI / 5) * (k + 0.5);
    return [Math.cos(angle), Math.sin(angle)] as const;
  }),
  sigma: TOY_SIGMA,
};

/** Samples of a mixture: flat coordinates and the mode each was drawn from. */
export interface Samples {
  /** `[x0, y0, x1, y1, ...]`, `2·n` values: the layout of an `[n, 2]` tensor. */
  readonly points: Float32Array;
  /** The mode index of each point. */
  readonly labels: Int32Array;
}

/**
 * Draws `n` points of `mixture`, seeded by `key`: the same key gives the same
 * points. Modes are chosen uniformly at random, or, with `balanced`, in turn
 * (point i from mode i mod m), for held-out sets with equal counts per mode.
 * Normals by Box-Muller on {@link seededRandom}'s uniforms.
 *
 * @example
 * ```ts
 * import { MIXTURE_A, sampleMixture } from "./toy_mixtures.ts";
 * const { points, labels } = sampleMixture(MIXTURE_A, 4, "0/A/train/0");
 * console.log(points.length, labels.length); // 8 4
 * ```
 */
export function sampleMixture(
  mixture: Mixture,
  n: number,
  key: string,
  balanced = false,
): Samples {
  const random = seededRandom(key);
  const m = mixture.modes.length;
  const points = new Float32Array(2 * n);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const mode = balanced ? i % m : Math.min(m - 1, Math.floor(random() * m));
    // 1 - u keeps the logarithm's argument in (0, 1].
    const r = Math.sqrt(-2 * Math.log(1 - random())) * mixture.sigma;
    const theta = 2 * Math.PI * random();
    const [cx, cy] = mixture.modes[mode];
    points[2 * i] = cx + r * Math.cos(theta);
    points[2 * i + 1] = cy + r * Math.sin(theta);
    labels[i] = mode;
  }
  return { points, labels };
}

/**
 * The mode nearest to `point` and its Euclidean distance.
 *
 * @example
 * ```ts
 * import { MIXTURE_B, nearestMode } from "./toy_mixtures.ts";
 * console.log(nearestMode([1, 0.3], MIXTURE_B.modes).index); // 0
 * ```
 */
export function nearestMode(
  point: Point,
  modes: readonly Point[],
): { index: number; distance: number } {
  let index = -1, best = Infinity;
  for (let k = 0; k < modes.length; k++) {
    const d = (point[0] - modes[k][0]) ** 2 + (point[1] - modes[k][1]) ** 2;
    if (d < best) [best, index] = [d, k];
  }
  return { index, distance: Math.sqrt(best) };
}

/** How a translation of A samples lands on B's modes. */
export interface TranslationMetrics {
  /**
   * For each A mode, the B mode most of its translated points land nearest to
   * (ties: the lower index); -1 for an A mode without points.
   */
  readonly assignment: number[];
  /** How many different B modes the assignment uses: 5 at best, 1 when collapsed. */
  readonly distinctModes: number;
  /** Share of all translated points within `radius` of their nearest B mode. */
  readonly withinShare: number;
  /** The same share per A mode. */
  readonly withinShareByMode: number[];
  /** `histograms[a][b]`: how many points of A mode `a` land nearest to B mode `b`. */
  readonly histograms: number[][];
  /** Share of all points that land on their A mode's assigned B mode. */
  readonly agreement: number;
  /** The radius used, 3σ of B unless given. */
  readonly radius: number;
}

/**
 * Measures translated points (`translated`, flat `[n, 2]`) of A samples with
 * mode labels `labels` against the modes of `target`: per A mode the B mode
 * most of its points land on, how many distinct B modes that makes, and the
 * share of points within `radius` (3σ of `target` by default) of any B mode.
 *
 * @example
 * ```ts
 * import { MIXTURE_A, MIXTURE_B, translationMetrics } from "./toy_mixtures.ts";
 * // Every point of every A mode sent to B mode 3's centre: collapsed.
 * const labels = Int32Array.from([0, 1, 2, 3, 4]);
 * const [x, y] = MIXTURE_B.modes[3];
 * const points = Float32Array.from({ length: 10 }, (_, i) => i % 2 ? y : x);
 * const m = translationMetrics(points, labels, MIXTURE_A.modes.length, MIXTURE_B);
 * console.log(m.distinctModes, m.withinShare); // 1 1
 * ```
 */
export function translationMetrics(
  translated: ArrayLike<number>,
  labels: ArrayLike<number>,
  sourceModes: number,
  target: Mixture,
  radius = 3 * target.sigma,
): TranslationMetrics {
  const n = labels.length;
  if (translated.length !== 2 * n) {
    throw new Error(`translationMetrics: ${translated.length} values for ${n} points`);
  }
  const histograms = Array.from(
    { length: sourceModes },
    () => new Array<number>(target.modes.length).fill(0),
  );
  const within = new Array<number>(sourceModes).fill(0);
  const counts = new Array<number>(sourceModes).fill(0);
  let withinAll = 0;
  const landed = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const a = labels[i];
    const { index, distance } = nearestMode(
      [translated[2 * i], translated[2 * i + 1]],
      target.modes,
    );
    landed[i] = index;
    histograms[a][index]++;
    counts[a]++;
    // A NaN distance (a diverged network) counts as outside.
    if (distance <= radius) {
      within[a]++;
      withinAll++;
    }
  }
  const assignment = histograms.map((h, a) =>
    counts[a] ? h.reduce((best, c, b) => (c > h[best] ? b : best), 0) : -1
  );
  let agree = 0;
  for (let i = 0; i < n; i++) if (landed[i] === assignment[labels[i]]) agree++;
  return {
    assignment,
    distinctModes: new Set(assignment.filter((b) => b >= 0)).size,
    withinShare: n ? withinAll / n : 0,
    withinShareByMode: within.map((w, a) => (counts[a] ? w / counts[a] : 0)),
    histograms,
    agreement: n ? agree / n : 0,
    radius,
  };
}

/**
 * Moves every A sample by the offset from its A mode to the B mode
 * `assignment[mode]`: the perfect translation for that assignment (each point
 * keeps its offset from its mode centre).
 *
 * @example
 * ```ts
 * import { MIXTURE_A, MIXTURE_B, moveToModes, sampleMixture } from "./toy_mixtures.ts";
 * const a = sampleMixture(MIXTURE_A, 100, "demo", true);
 * const moved = moveToModes(a, MIXTURE_A, MIXTURE_B, [0, 2, 4, 6, 8]);
 * console.log(moved.length); // 200
 * ```
 */
export function moveToModes(
  samples: Samples,
  source: Mixture,
  target: Mixture,
  assignment: readonly number[],
): Float32Array {
  const out = new Float32Array(samples.points.length);
  samples.labels.forEach((a, i) => {
    const [sx, sy] = source.modes[a];
    const [tx, ty] = target.modes[assignment[a]];
    out[2 * i] = samples.points[2 * i] - sx + tx;
    out[2 * i + 1] = samples.points[2 * i + 1] - sy + ty;
  });
  return out;
}

/**
 * Every point replaced by one B mode centre (`mode`, 0 by default): a constant
 * answer, perfectly "on a mode" and fully collapsed.
 *
 * @example
 * ```ts
 * import { constantAnswer, MIXTURE_B } from "./toy_mixtures.ts";
 * console.log(constantAnswer(2, MIXTURE_B).length); // 4
 * ```
 */
export function constantAnswer(n: number, target: Mixture, mode = 0): Float32Array {
  const [x, y] = target.modes[mode];
  const out = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    out[2 * i] = x;
    out[2 * i + 1] = y;
  }
  return out;
}
