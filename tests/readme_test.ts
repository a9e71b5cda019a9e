// The README's custom pipeline example, run as written (with the package
// imports pointed at this checkout).
import assert from "node:assert/strict";
import { join } from "node:path";
import { ensureDefaultDataset } from "../pipeline/default_dataset.ts";
import { readMetrics } from "../pipeline/sinks/metrics_sink.ts";
import { listCheckpoints } from "../pipeline/checkpoint.ts";

Deno.test("the README's custom pipeline runs and writes what it says", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const section = readme.split("## Custom pipelines")[1];
  assert.ok(section, "README has a Custom pipelines section");
  const code = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(code, "the section has a TypeScript example");
  const dir = await Deno.makeTempDir();
  const script = join(dir, "example.ts");
  const mod = new URL("../mod.ts", import.meta.url).href;
  await Deno.writeTextFile(script, code.replace('"jsr:@discogan/discogan"', JSON.stringify(mod)));
  const data = await ensureDefaultDataset({ root: join(dir, "emoji"), limit: 24 });
  const out = join(dir, "out");
  const run = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--config",
      new URL("../deno.json", import.meta.url).pathname,
      script,
      data.trainA,
      data.trainB,
      out,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(run.stdout);
  assert.equal(run.code, 0, new TextDecoder().decode(run.stderr));
  assert.match(text, /^10 \d/m);
  assert.match(text, /^20 \d/m);
  assert.deepEqual(
    (await readMetrics(join(out, "losses.jsonl"))).map((m) => m.iteration).length,
    20,
  );
  assert.equal((await listCheckpoints(join(out, "checkpoints"))).length, 1);
});
