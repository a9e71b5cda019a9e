import assert from "node:assert/strict";
import { join } from "node:path";

// A tiny run of the rotation benchmark through its command line, on an icon pair
// of its own (horse to dog): four images a folder, two iterations of widths 4.
// The pair's data set lands in its own folder under the working directory, the
// dog's templates read the real dogs (the perfect answer), and the report and
// picture name the pair.
Deno.test("eval:rotation on another icon pair: its own data folder, reader and report", async () => {
  const cwd = await Deno.makeTempDir();
  const script = join(Deno.cwd(), "scripts", "eval_rotation.ts");
  try {
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        script,
        ...["--icon-a", "horse", "--icon-b", "dog", "--train-count", "4", "--test-count", "4"],
        ...["--iterations", "2", "--ngf", "4", "--ndf", "4", "--batch-size", "2"],
        ...["--backend", "cpu", "--out", "out"],
      ],
      cwd,
      stdout: "null",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    const report = JSON.parse(await Deno.readTextFile(join(cwd, "out", "report.json")));
    assert.deepEqual(report.data.icons, { A: "horse", B: "dog" });
    assert.equal(report.data.root, join(cwd, "data", "rotation-64-horse-dog"));
    const readme = await Deno.readTextFile(join(report.data.root, "README.txt"));
    assert.match(readme, /Domain A: Fluent Emoji "horse"/);
    assert.match(readme, /Domain B: Fluent Emoji "dog"/);
    assert.match(report.data.reader, /^nearest dog template \(every whole degree .* ±2 px$/);
    assert.equal(report.baselines.perfect.relation.within10, 1);
    assert.ok(report.baselines.perfect.meanTemplateCorrelation > 0.9);
    assert.equal(report.perImage.length, 4);
    const png = await Deno.readFile(join(cwd, "out", "rotation.png"));
    assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]); // "PNG"
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});
