// A run on the user's own data with the default networks says, once, that the
// U-Net keeps each input's shape and which preset to take for shape or pose;
// a run that chose its networks does not.
import assert from "node:assert/strict";
import { join } from "node:path";
import { tinyDataset } from "./tiny_data.ts";
import { disposeTrainResult, train } from "../pipeline/train.ts";
import type { TrainOptions } from "../pipeline/options.ts";

const hintsOf = (logs: string[]) => logs.filter((m) => m.includes("--preset shape"));

Deno.test("own data without --preset gets one hint toward --preset shape; a chosen preset none", async () => {
  const data = await tinyDataset(4);
  const tmp = await Deno.makeTempDir();
  const base: Partial<TrainOptions> = {
    dataA: data.trainA,
    dataB: data.trainB,
    ngf: 4,
    ndf: 4,
    batchSize: 2,
    iterations: 1,
    backend: "cpu",
    sampleEvery: 0,
  };
  const logsOf = async (extra: Partial<TrainOptions>, name: string) => {
    const logs: string[] = [];
    disposeTrainResult(
      await train({ ...base, ...extra, runDir: join(tmp, name) }, {
        quiet: true,
        log: (m) => logs.push(m),
      }),
    );
    return logs;
  };

  const plain = await logsOf({}, "plain");
  assert.equal(hintsOf(plain).length, 1, plain.join("\n"));
  assert.match(hintsOf(plain)[0], /U-Net.*keeps each input's shape/);
  for (const extra of [{ preset: "shape" as const }, { preset: "pytorch-gan" as const }]) {
    const logs = await logsOf(extra, extra.preset);
    assert.deepEqual(hintsOf(logs), [], `${extra.preset}: ${logs.join("\n")}`);
  }
  // Resuming the hinted run does not say it again.
  const resumed: string[] = [];
  disposeTrainResult(
    await train({ iterations: 2 }, {
      quiet: true,
      log: (m) => resumed.push(m),
      resume: join(tmp, "plain"),
    }),
  );
  assert.deepEqual(hintsOf(resumed), [], resumed.join("\n"));
});
