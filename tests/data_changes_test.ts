// Data that change under a run: files deleted, truncated or replaced while a
// source reads them are skipped once each (or read anew), and a resume after
// files were added or removed says what changed and stays deterministic.
import { tinyDataset } from "./tiny_data.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import sharp from "sharp";
import { unpairedSource } from "../pipeline/batch_source.ts";
import { readDataManifest } from "../pipeline/data_manifest.ts";
import { readMetrics } from "../pipeline/sinks/metrics_sink.ts";
import { disposeTrainResult, train } from "../pipeline/train.ts";

const solidPng = (value: number) =>
  sharp({ create: { width: 4, height: 4, channels: 3, background: { r: value, g: 0, b: 0 } } })
    .png().toBuffer();

// The red byte of each row of a batch's A images.
const redsOf = (a: Float32Array, rows: number) =>
  Array.from({ length: rows }, (_, r) => Math.round((a[r * 48] + 1) * 127.5));

Deno.test("files deleted, truncated or replaced during a run are skipped once each, or read anew", async () => {
  const root = await Deno.makeTempDir();
  const [dirA, dirB] = [join(root, "A"), join(root, "B")];
  await Deno.mkdir(dirA);
  await Deno.mkdir(dirB);
  for (const [i, red] of [10, 20, 30, 40].entries()) {
    await Deno.writeFile(join(dirA, `${i}.png`), await solidPng(red));
  }
  await Deno.writeFile(join(dirB, "b.png"), await solidPng(99));
  const skipped: string[] = [];
  const source = await unpairedSource(dirA, dirB, {
    batchSize: 4,
    size: 4,
    seed: 3,
    prefetch: 0,
    onSkip: (s) => skipped.push(s.path),
  });
  assert.deepEqual(redsOf((await source.next()).a, 4).sort(), [10, 20, 30, 40]);

  await Deno.remove(join(dirA, "0.png"));
  await Deno.truncate(join(dirA, "1.png"), 20);
  await Deno.writeFile(join(dirA, "2.png"), await solidPng(77)); // replaced: read anew
  const seen = new Set<number>();
  for (let k = 0; k < 4; k++) for (const red of redsOf((await source.next()).a, 4)) seen.add(red);
  await source.close();
  assert.deepEqual([...seen].sort(), [40, 77], "only the readable files, as they are now");
  assert.deepEqual(skipped.sort(), [join(dirA, "0.png"), join(dirA, "1.png")], "once each");
});

Deno.test("a resume after files were added and removed says what changed, and is deterministic", async () => {
  const data = await tinyDataset(10);
  // Copies of the folders, to change.
  const tmp = await Deno.makeTempDir();
  const dirs = { a: join(tmp, "A"), b: join(tmp, "B") };
  for (const [key, from] of [["a", data.trainA], ["b", data.trainB]] as const) {
    await Deno.mkdir(dirs[key]);
    for await (const e of Deno.readDir(from)) {
      await Deno.copyFile(join(from, e.name), join(dirs[key], e.name));
    }
  }
  const options = {
    dataA: dirs.a,
    dataB: dirs.b,
    ngf: 4,
    ndf: 4,
    batchSize: 2,
    iterations: 2,
    backend: "cpu" as const,
    sampleEvery: 0,
    checkpointEvery: 2,
    runDir: join(tmp, "run"),
  };
  disposeTrainResult(await train(options, { quiet: true, log: () => {} }));
  const before = await readDataManifest(options.runDir);
  assert.ok(before, "data.json written");
  const names = (await Array.fromAsync(Deno.readDir(dirs.b))).map((e) => e.name).sort();
  assert.deepEqual(before.b.files, names);

  // Two copies of the stopped run, resumed alike after the same changes.
  const copy = join(tmp, "copy");
  await new Deno.Command("cp", { args: ["-r", options.runDir, copy] }).output();
  await Deno.copyFile(join(dirs.b, names[1]), join(dirs.a, "new.png"));
  await Deno.remove(join(dirs.b, names[0]));
  const runs = [];
  for (const dir of [options.runDir, copy]) {
    const logs: string[] = [];
    disposeTrainResult(
      await train({ iterations: 4 }, { quiet: true, log: (m) => logs.push(m), resume: dir }),
    );
    runs.push({ logs, metrics: await readMetrics(join(dir, "metrics.jsonl")) });
  }
  const changed = runs[0].logs.filter((m) => m.startsWith("data changed"));
  assert.equal(changed.length, 2, runs[0].logs.join("\n"));
  assert.match(
    changed[0],
    /^data changed since the run last started: A \(.*\): 1 added \(new\.png\)/,
  );
  assert.match(
    changed[1],
    new RegExp(`B \\(.*\\): 1 removed \\(${names[0].replace(".", "\\.")}\\)`),
  );
  assert.deepEqual((await readDataManifest(options.runDir))?.b.files, names.slice(1));
  for (const key of ["d", "g", "g_cycle"]) {
    assert.deepEqual(
      runs[0].metrics.map((m) => m[key]),
      runs[1].metrics.map((m) => m[key]),
      `${key}: the same order of the new files in both resumes`,
    );
  }
});
