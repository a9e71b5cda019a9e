import assert from "node:assert/strict";
import {
  constantAnswer,
  MIXTURE_A,
  MIXTURE_B,
  moveToModes,
  nearestMode,
  sampleMixture,
  TOY_SIGMA,
  translationMetrics,
} from "../scripts/toy_mixtures.ts";

const A_MODES = MIXTURE_A.modes.length;

Deno.test("mixtures: 5 A modes on a line, 10 B modes on the unit circle, none shared", () => {
  assert.equal(A_MODES, 5);
  assert.equal(MIXTURE_B.modes.length, 10);
  for (const [x, y] of MIXTURE_B.modes) assert.ok(Math.abs(Math.hypot(x, y) - 1) < 1e-12);
  // The identity map must not be an accidental answer: every A mode far from every B mode.
  for (const p of MIXTURE_A.modes) {
    assert.ok(nearestMode(p, MIXTURE_B.modes).distance > 10 * TOY_SIGMA);
  }
});

Deno.test("nearestMode: index and distance", () => {
  const modes = [[0, 0], [1, 0], [0, 2]] as const;
  const near = nearestMode([0.9, 0.1], modes);
  assert.equal(near.index, 1);
  assert.ok(Math.abs(near.distance - Math.hypot(0.1, 0.1)) < 1e-12);
  assert.equal(nearestMode([0.2, 1.5], modes).index, 2);
  assert.equal(nearestMode([-5, -5], modes).index, 0);
});

Deno.test("sampleMixture: mode means and σ within tolerance", () => {
  const n = 20000;
  for (const mixture of [MIXTURE_A, MIXTURE_B]) {
    const { points, labels } = sampleMixture(mixture, n, "test/stats");
    const m = mixture.modes.length;
    const count = new Array(m).fill(0), sx = new Array(m).fill(0), sy = new Array(m).fill(0);
    for (let i = 0; i < n; i++) {
      count[labels[i]]++;
      sx[labels[i]] += points[2 * i];
      sy[labels[i]] += points[2 * i + 1];
    }
    const sq = new Array(m).fill(0);
    for (let k = 0; k < m; k++) {
      // Modes equally likely: each count within 5 binomial standard deviations.
      const sd = Math.sqrt(n * (1 / m) * (1 - 1 / m));
      assert.ok(Math.abs(count[k] - n / m) < 5 * sd, `mode ${k}: ${count[k]} of ${n}`);
      const [cx, cy] = mixture.modes[k];
      // Mean within 5 standard errors of the centre.
      const se = mixture.sigma / Math.sqrt(count[k]);
      assert.ok(Math.abs(sx[k] / count[k] - cx) < 5 * se, `${mixture.name} mode ${k} x mean`);
      assert.ok(Math.abs(sy[k] / count[k] - cy) < 5 * se, `${mixture.name} mode ${k} y mean`);
    }
    for (let i = 0; i < n; i++) {
      const [cx, cy] = mixture.modes[labels[i]];
      sq[labels[i]] += (points[2 * i] - cx) ** 2 + (points[2 * i + 1] - cy) ** 2;
    }
    for (let k = 0; k < m; k++) {
      const sigma = Math.sqrt(sq[k] / (2 * count[k]));
      assert.ok(Math.abs(sigma / mixture.sigma - 1) < 0.05, `${mixture.name} mode ${k} σ ${sigma}`);
    }
  }
});

Deno.test("sampleMixture: the same key gives the same points, another key others", () => {
  const a = sampleMixture(MIXTURE_B, 500, "0/B/train/7");
  const b = sampleMixture(MIXTURE_B, 500, "0/B/train/7");
  const c = sampleMixture(MIXTURE_B, 500, "0/B/train/8");
  assert.deepEqual(a.points, b.points);
  assert.deepEqual(a.labels, b.labels);
  assert.notDeepEqual(a.points, c.points);
});

Deno.test("sampleMixture: balanced takes the modes in turn", () => {
  const { labels } = sampleMixture(MIXTURE_A, 12, "test/balanced", true);
  assert.deepEqual([...labels], [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1]);
});

Deno.test("translationMetrics: a perfect assignment gives 5 distinct modes, ~100% within 3σ", () => {
  const held = sampleMixture(MIXTURE_A, 1000, "test/perfect", true);
  const assignment = [1, 3, 5, 7, 9];
  const moved = moveToModes(held, MIXTURE_A, MIXTURE_B, assignment);
  const m = translationMetrics(moved, held.labels, A_MODES, MIXTURE_B);
  assert.deepEqual(m.assignment, assignment);
  assert.equal(m.distinctModes, 5);
  assert.equal(m.agreement, 1);
  // A 2-D Gaussian lies within 3σ with probability 1 - e^-4.5 ≈ 0.989.
  assert.ok(m.withinShare > 0.97 && m.withinShare <= 1, `within ${m.withinShare}`);
  for (const [a, h] of m.histograms.entries()) {
    assert.equal(h[assignment[a]], 200);
    assert.equal(h.reduce((s, c) => s + c, 0), 200);
  }
  // Points exactly on the centres: every one within.
  const centres = moveToModes(
    { points: new Float32Array(2 * 1000), labels: held.labels },
    { ...MIXTURE_A, modes: MIXTURE_A.modes.map(() => [0, 0] as const) },
    MIXTURE_B,
    assignment,
  );
  assert.equal(translationMetrics(centres, held.labels, A_MODES, MIXTURE_B).withinShare, 1);
});

Deno.test("translationMetrics: everything on one mode gives 1 distinct mode", () => {
  const held = sampleMixture(MIXTURE_A, 500, "test/constant", true);
  const m = translationMetrics(constantAnswer(500, MIXTURE_B, 6), held.labels, A_MODES, MIXTURE_B);
  assert.deepEqual(m.assignment, [6, 6, 6, 6, 6]);
  assert.equal(m.distinctModes, 1);
  assert.equal(m.withinShare, 1);
});

Deno.test("translationMetrics: points far from every mode give 0% within 3σ", () => {
  const held = sampleMixture(MIXTURE_A, 500, "test/far", true);
  const far = new Float32Array(1000).fill(50);
  assert.equal(translationMetrics(far, held.labels, A_MODES, MIXTURE_B).withinShare, 0);
  // The identity map: A's modes lie 0.4 or more from B's.
  const identity = translationMetrics(held.points, held.labels, A_MODES, MIXTURE_B);
  assert.equal(identity.withinShare, 0);
  // Non-finite outputs (a diverged network) count as outside.
  const nan = new Float32Array(1000).fill(NaN);
  assert.equal(translationMetrics(nan, held.labels, A_MODES, MIXTURE_B).withinShare, 0);
});

Deno.test("translationMetrics: majority, per-mode shares and histograms", () => {
  // A mode 0: 3 points on B mode 2, 1 on B mode 4; A mode 1: 2 points on B mode 2, 1 far away.
  const at = (k: number) => MIXTURE_B.modes[k];
  const pts = [at(2), at(2), at(2), at(4), at(2), at(2), [9, 9]].flat();
  const labels = [0, 0, 0, 0, 1, 1, 1];
  const m = translationMetrics(pts, labels, 2, MIXTURE_B);
  assert.deepEqual(m.assignment, [2, 2]);
  assert.equal(m.distinctModes, 1);
  assert.deepEqual(m.withinShareByMode, [1, 2 / 3]);
  assert.equal(m.withinShare, 6 / 7);
  assert.equal(m.histograms[0][2], 3);
  assert.equal(m.histograms[0][4], 1);
  assert.equal(m.agreement, 5 / 7);
  assert.throws(() => translationMetrics([0, 0, 1], [0, 0], 1, MIXTURE_B));
});
