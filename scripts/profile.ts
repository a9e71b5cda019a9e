// Where one DiscoGAN iteration spends its time, by TF.js kernel:
//   deno task profile BACKEND [SIZE] [BATCH] [--generator G] [--discriminator D]
//     [--ngf 64] [--ndf 64] [--preset NAME]           e.g. blas 64 1 --generator resnet
// Full width (64) unless --ngf/--ndf say otherwise; a preset brings its
// networks and schedule. (Adam's fused in-place loop on cpu/blas is not a
// kernel: it is the gap between "total wall" and "kernel sum".)
import { tf } from "../ops/tf.ts";
import { type BackendName, useBackend } from "../ops/runtime/backend.ts";
import { createDiscoGan } from "../models/discogan.ts";
import { resolveTrainOptions, type TrainOptions } from "../pipeline/options.ts";
import { discoGanIteration } from "../pipeline/iteration.ts";
import { createTrainingState } from "../pipeline/training_state.ts";
import { exitOnOptionError, parseFlags } from "./cli_args.ts";

exitOnOptionError();
const { values: flags, positionals: positional } = parseFlags(Deno.args, {
  generator: "string",
  discriminator: "string",
  ngf: "number",
  ndf: "number",
  preset: "string",
});
const given = Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined));
const size = +(positional[1] ?? 64), n = +(positional[2] ?? 1);
const o = resolveTrainOptions(
  { ngf: 64, ndf: 64, ...given, imageSize: size, batchSize: n } as Partial<TrainOptions>,
);
await useBackend((positional[0] ?? "auto") as BackendName);
const state = createTrainingState(createDiscoGan(o), {
  adam: o,
  losses: { ...o, paired: false },
  seed: o.seed,
});
const b = {
  realA: tf.randomUniform([n, size, size, 3], -1, 1) as tf.Tensor4D,
  realB: tf.randomUniform([n, size, size, 3], -1, 1) as tf.Tensor4D,
};
// With a D update interval the iterations differ: time one whole cycle.
const cycle = o.dUpdateInterval;
for (let i = 0; i < cycle; i++) await discoGanIteration(state, b);
const t0 = performance.now();
const info = await tf.profile(async () => {
  for (let i = 0; i < cycle; i++) await discoGanIteration(state, b);
});
const total = (performance.now() - t0) / cycle;
const by = new Map<string, [number, number]>();
for (const k of info.kernels) {
  const e = by.get(k.name) ?? [0, 0];
  e[0] += (k.kernelTimeMs as number) / cycle;
  e[1] += 1 / cycle;
  by.set(k.name, e);
}
const rows = [...by].sort((a, b) => b[1][0] - a[1][0]).slice(0, 25);
let sum = 0;
for (const [, [ms]] of by) sum += ms;
console.log(
  `${o.generator} + ${o.discriminator}, ngf ${o.ngf}, ndf ${o.ndf}, ${size} px, batch ${n}; ` +
    `per iteration (ms):`,
);
console.log("total wall", total.toFixed(0), "kernel sum", sum.toFixed(0));
for (const [name, [ms, c]] of rows) {
  console.log(name.padEnd(28), ms.toFixed(0).padStart(7), c.toFixed(c % 1 ? 1 : 0));
}
