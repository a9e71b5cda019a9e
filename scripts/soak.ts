// Soak benchmark: a long run at small widths through the whole training graph
// (sources, steps, sinks, checkpoints), reporting the TF.js tensor count and
// the process RSS every 100 iterations. Both should be flat after warm-up.
//
//   deno task soak [--iterations 2000] [--backend wasm] [--out runs/soak-DATE]
import { join } from "node:path";
import { tf } from "../ops/tf.ts";
import { ensureDefaultDataset } from "../pipeline/default_dataset.ts";
import { disposeTrainResult, train } from "../pipeline/train.ts";
import { exitOnOptionError, parseFlags } from "./cli_args.ts";

exitOnOptionError();
const { values } = parseFlags(Deno.args, {
  iterations: "number",
  backend: "string",
  out: "string",
  every: "number",
});
const iterations = (values.iterations ?? 2000) as number;
const every = (values.every ?? 100) as number;
const out = (values.out ?? `runs/soak-${new Date().toISOString().replace(/[:.]/g, "-")}`) as string;
const data = await ensureDefaultDataset();
const rows: { iteration: number; tensors: number; bytes: number; rssMiB: number }[] = [];
const started = performance.now();
console.log("iteration  tensors  tensor MiB  RSS MiB  s/iter");
const result = await train({
  dataA: data.trainA,
  dataB: data.trainB,
  ngf: 8,
  ndf: 8,
  batchSize: 4,
  iterations,
  backend: (values.backend ?? "wasm") as "wasm",
  sampleEvery: 500,
  checkpointEvery: 500,
  runDir: join(out, "run"),
}, {
  quiet: true,
  log: () => {},
  sinks: [{
    write(r) {
      if (r.iteration % every !== 0) return;
      const m = tf.memory();
      const row = {
        iteration: r.iteration,
        tensors: m.numTensors,
        bytes: m.numBytes,
        rssMiB: Math.round(Deno.memoryUsage().rss / 2 ** 20),
      };
      rows.push(row);
      console.log(
        `${String(row.iteration).padStart(9)} ${String(row.tensors).padStart(8)} ` +
          `${(row.bytes / 2 ** 20).toFixed(1).padStart(11)} ${String(row.rssMiB).padStart(8)} ` +
          `${r.secondsPerIteration.toFixed(3).padStart(7)}`,
      );
    },
  }],
});
disposeTrainResult(result);
const after = rows.filter((r) => r.iteration >= 2 * every);
const flat = (k: "tensors" | "rssMiB") =>
  Math.max(...after.map((r) => r[k])) - Math.min(...after.map((r) => r[k]));
const summary = {
  iterations,
  seconds: (performance.now() - started) / 1000,
  tensorCountSpreadAfterWarmup: flat("tensors"),
  rssSpreadMiBAfterWarmup: flat("rssMiB"),
  rows,
};
await Deno.writeTextFile(join(out, "soak.json"), JSON.stringify(summary, null, 2));
console.log(
  `tensor count spread after warm-up: ${summary.tensorCountSpreadAfterWarmup}; ` +
    `RSS spread: ${summary.rssSpreadMiBAfterWarmup} MiB; written ${join(out, "soak.json")}`,
);
Deno.exit(0);
