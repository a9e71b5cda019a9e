import assert from "node:assert/strict";
import { join } from "node:path";

/** Runs scripts/eval_toy.ts with `args`; its exit code, stderr and report (when written). */
async function runToy(args: string[]) {
  const out = await Deno.makeTempDir();
  try {
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "scripts/eval_toy.ts", ...args, "--out", out],
      stdout: "null",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const report = code === 0
      ? JSON.parse(await Deno.readTextFile(join(out, "report.json")))
      : undefined;
    return { code, stderr: new TextDecoder().decode(stderr), report };
  } finally {
    await Deno.remove(out, { recursive: true });
  }
}

const TINY = ["--iterations", "2", "--variants", "gan", "--heldout", "50", "--backend", "cpu"];

Deno.test("eval:toy draws its networks as --init says, and refuses an unknown init", async () => {
  const normal = await runToy([...TINY, "--init", "normal"]);
  assert.equal(normal.code, 0, normal.stderr);
  assert.match(normal.report.settings.init, /^N\(0, 0\.02\) weights, zero biases/);
  assert.equal(normal.report.targetMet, null, "no DiscoGAN run, no verdict");
  const plain = await runToy([...TINY, "--init", "pytorch"]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.report.settings.init, /^PyTorch Linear default/);
  // Other weights, so the untrained G_AB sends the A samples elsewhere.
  assert.notDeepEqual(
    normal.report.baselines.untrainedGAB.histograms,
    plain.report.baselines.untrainedGAB.histograms,
  );
  const bad = await runToy([...TINY, "--init", "xavier"]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--init: unknown "xavier"; choose normal or pytorch/);
});

Deno.test("eval:toy judges the weights' moving average with --ema, and refuses a decay outside [0, 1)", async () => {
  const args = [...TINY, "--iterations", "30", "--init", "normal"];
  const plain = await runToy(args);
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.report.settings.judged, /the last step/);
  assert.equal(plain.report.results.gan.lastStep, undefined);
  const averaged = await runToy([...args, "--ema", "0.9"]);
  assert.equal(averaged.code, 0, averaged.stderr);
  assert.match(averaged.report.settings.judged, /moving average of weights, decay 0\.9/);
  const { lastStep } = averaged.report.results.gan;
  // The same seed trains the same weights: the last step's are the plain run's.
  assert.deepEqual(lastStep.histograms, plain.report.results.gan.histograms);
  assert.equal(lastStep.withinShare, plain.report.results.gan.withinShare);
  // The average trails the moving weights, so it puts the points elsewhere.
  assert.ok(lastStep.meanDistanceToAverage > 1e-4, `${lastStep.meanDistanceToAverage}`);
  for (const decay of ["1", "-0.1"]) {
    const bad = await runToy([...TINY, `--ema=${decay}`]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /--ema: .* is outside \[0, 1\); try 0\.999, or 0 for off/);
  }
});
