// A full disk while writing a checkpoint, and a run directory that cannot be
// created: clear errors, and nothing already written is damaged.
import assert from "node:assert/strict";
import { join } from "node:path";
import { useBackend } from "../ops/runtime/backend.ts";
import { createDiscoGan } from "../models/discogan.ts";
import { createTrainingState } from "../pipeline/training_state.ts";
import { ensureDefaultDataset } from "../pipeline/default_dataset.ts";
import { listCheckpoints, loadCheckpoint } from "../pipeline/checkpoint.ts";
import { train } from "../pipeline/train.ts";

const quiet = { quiet: true, log: () => {} };

async function sh(...args: string[]): Promise<void> {
  const { code, stderr } = await new Deno.Command(args[0], { args: args.slice(1), stderr: "piped" })
    .output();
  assert.equal(code, 0, `${args.join(" ")}: ${new TextDecoder().decode(stderr)}`);
}

for (const [what, sampleEvery] of [["checkpoint", 0], ["sample grid", 2]] as const) {
  Deno.test(`a full disk while writing a ${what} stops the run clearly; earlier files stay whole`, async () => {
    const root = await Deno.makeTempDir();
    const data = await ensureDefaultDataset({ root: join(root, "emoji"), limit: 24 });
    const disk = join(root, "disk");
    await Deno.mkdir(disk);
    // A 1 MiB file system: room for one checkpoint of these networks (~0.6 MB), not two.
    await sh("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", disk);
    try {
      const runDir = join(disk, "run");
      const options = {
        dataA: data.trainA,
        dataB: data.trainB,
        ngf: 2,
        ndf: 2,
        batchSize: 2,
        backend: "wasm" as const,
        iterations: 8,
        checkpointEvery: 2,
        keepCheckpoints: 3,
        sampleEvery,
        runDir,
      };
      await assert.rejects(train(options, quiet), (e: Error) => {
        assert.match(e.message, /cannot write .*(disk full|no space left)/i);
        assert.match(
          e.message,
          what === "checkpoint" ? /checkpoint .*iter_\d+/ : /samples\/iter_\d+\.png/,
        );
        assert.match(e.message, new RegExp(disk));
        return true;
      });
      const checkpoints = await listCheckpoints(join(runDir, "checkpoints"));
      assert.ok(checkpoints.length >= 1, "the first checkpoint was written");
      await useBackend("wasm");
      for (const c of checkpoints) {
        const state = createTrainingState(createDiscoGan({ ngf: 2, ndf: 2 }));
        assert.equal((await loadCheckpoint(c, state)).iteration % 2, 0);
      }
      const leftovers = [...Deno.readDirSync(join(runDir, "checkpoints"))].filter((e) =>
        e.name.startsWith(".")
      );
      assert.deepEqual(leftovers, [], "no half-written checkpoint left behind");
      const lines = (await Deno.readTextFile(join(runDir, "metrics.jsonl"))).split("\n");
      assert.equal(lines.pop(), "");
      lines.forEach((l, i) => assert.equal(JSON.parse(l).iteration, i + 1));
      for (const e of Deno.readDirSync(join(runDir, "samples"))) {
        assert.match(e.name, /^iter_\d{7}\.png$/, "only whole sample files");
      }
    } finally {
      await sh("umount", disk);
    }
  });
}

Deno.test("a run directory that cannot be created is refused before training, naming it", async () => {
  const root = await Deno.makeTempDir();
  const data = await ensureDefaultDataset({ root: join(root, "emoji"), limit: 24 });
  const file = join(root, "a-file");
  await Deno.writeTextFile(file, "");
  await assert.rejects(
    train({
      dataA: data.trainA,
      dataB: data.trainB,
      ngf: 2,
      ndf: 2,
      backend: "wasm",
      runDir: join(file, "run"),
    }, quiet),
    /cannot create the run directory .*a-file\/run.*Choose a writable --run-dir/,
  );
});
