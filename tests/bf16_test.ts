// --precision bf16: a training run on onednn whose convolutions read bf16,
// recorded in options.json, close to (and not the same as) the fp32 run; a
// backend without bf16 convolutions is refused naming the option.
import assert from "node:assert/strict";
import { join } from "node:path";
import { backendMissing } from "./native.ts";
import { tinyDataset } from "./tiny_data.ts";
import { disposeTrainResult, train } from "../pipeline/train.ts";
import { OptionError, type TrainOptions } from "../pipeline/options.ts";
import { readMetrics } from "../pipeline/sinks/metrics_sink.ts";
import { readRunOptions } from "../pipeline/run_dir.ts";
import { oneDnnPrecision } from "../ops/runtime/onednn/conv_kernels.ts";

const ignoreDnn = await backendMissing("onednn", "tests/bf16_test.ts (bf16 convolutions)");

Deno.test({
  name: "--precision bf16 trains on onednn, close to fp32 but not equal, and is recorded",
  ignore: ignoreDnn,
  fn: async () => {
    const data = await tinyDataset(8);
    const tmp = await Deno.makeTempDir();
    const losses: Record<string, number[]> = {};
    for (const precision of ["fp32", "bf16"] as const) {
      const runDir = join(tmp, precision);
      const options: Partial<TrainOptions> = {
        dataA: data.trainA,
        dataB: data.trainB,
        ngf: 8,
        ndf: 8,
        batchSize: 4,
        iterations: 3,
        backend: "onednn",
        precision,
        seed: 5,
        runDir,
      };
      disposeTrainResult(await train(options, { quiet: true, log: () => {} }));
      assert.equal((await readRunOptions(runDir)).precision, precision);
      losses[precision] = (await readMetrics(join(runDir, "metrics.jsonl")))
        .flatMap((m) => [m.d, m.g] as number[]);
    }
    assert.equal(oneDnnPrecision(), "bf16", "the run set the convolutions' precision");
    const [fp32, bf16] = [losses.fp32, losses.bf16];
    assert.equal(fp32.length, bf16.length);
    assert.ok(bf16.every(Number.isFinite), `non-finite bf16 loss: ${bf16}`);
    const worst = Math.max(
      ...fp32.map((v, i) => Math.abs(v - bf16[i]) / Math.max(1e-3, Math.abs(v))),
    );
    console.log(`bf16 vs fp32 losses: worst relative difference ${worst}`);
    assert.ok(worst > 0, "bf16 losses equal fp32's: the bf16 path was not taken");
    assert.ok(worst < 0.01, `bf16 losses differ from fp32's by ${(100 * worst).toFixed(1)}%`);
  },
});

Deno.test("--precision bf16 on a backend other than onednn is refused, naming the option", async () => {
  const data = await tinyDataset(4);
  const runDir = join(await Deno.makeTempDir(), "run");
  await assert.rejects(
    train(
      { dataA: data.trainA, dataB: data.trainB, backend: "wasm", precision: "bf16", runDir },
      { quiet: true, log: () => {} },
    ),
    (e) => e instanceof OptionError && /--precision: bf16 needs the onednn backend/.test(e.message),
  );
  await assert.rejects(Deno.stat(runDir), Deno.errors.NotFound, "nothing was written");
});
