import assert from "node:assert/strict";
import { join } from "node:path";

// A tiny run of the glyph benchmark through its command line: the report has
// the result and every baseline, and the reader reads real script letters,
// the held-out renders and those in styles no training image has.
Deno.test("eval:glyphs writes its report with the reader's ceiling and its tolerance", async () => {
  const out = await Deno.makeTempDir();
  try {
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "scripts/eval_glyphs.ts",
        ...["--chars", "aox", "--train-per-char", "2", "--heldout-per-char", "2"],
        ...["--iterations", "2", "--ngf", "4", "--ndf", "4", "--batch-size", "2"],
        ...["--backend", "cpu", "--out", out],
      ],
      stdout: "null",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    const report = JSON.parse(await Deno.readTextFile(join(out, "report.json")));
    const { baselines, result } = report;
    assert.ok(result.accuracy >= 0 && result.accuracy <= 1);
    assert.equal(Object.keys(result.perChar).sort().join(""), "aox");
    assert.equal(baselines.classifierCeiling.accuracy, 1);
    assert.ok(baselines.unseenStyles.accuracy >= 2 / 3, JSON.stringify(baselines.unseenStyles));
    assert.deepEqual(baselines.unseenStyles.ranges.strokeWidth, [0.8, 4]);
    for (const key of ["identity", "untrained"]) {
      assert.ok(baselines[key].accuracy >= 0 && baselines[key].accuracy <= 1, key);
    }
    const png = await Deno.readFile(join(out, "grid.png"));
    assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]); // "PNG"
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
