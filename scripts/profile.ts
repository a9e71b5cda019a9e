// Where one full-width DiscoGAN iteration spends its time, by TF.js kernel:
//   deno run -A scripts/profile.ts BACKEND [SIZE] [BATCH]   e.g. blas 64 1
// (Adam's fused in-place loop on cpu/blas is not a kernel: it is the gap
// between "total wall" and "kernel sum".)
import { tf } from "../ops/tf.ts";
import { useBackend } from "../ops/runtime/backend.ts";
import { createDiscoGan } from "../models/discogan.ts";
import { discoGanIteration } from "../pipeline/iteration.ts";
import { createTrainingState } from "../pipeline/training_state.ts";
await useBackend(Deno.args[0] as "blas");
const size = +(Deno.args[1] ?? 64), n = +(Deno.args[2] ?? 1);
const state = createTrainingState(createDiscoGan({ ngf: 64, ndf: 64, imageSize: size }));
const b = {
  realA: tf.randomUniform([n, size, size, 3], -1, 1) as tf.Tensor4D,
  realB: tf.randomUniform([n, size, size, 3], -1, 1) as tf.Tensor4D,
};
await discoGanIteration(state, b);
const t0 = performance.now();
const info = await tf.profile(async () => {
  await discoGanIteration(state, b);
});
const total = performance.now() - t0;
const by = new Map<string, [number, number]>();
for (const k of info.kernels) {
  const e = by.get(k.name) ?? [0, 0];
  e[0] += k.kernelTimeMs as number;
  e[1]++;
  by.set(k.name, e);
}
const rows = [...by].sort((a, b) => b[1][0] - a[1][0]).slice(0, 25);
let sum = 0;
for (const [, [ms]] of by) sum += ms;
console.log("total wall", total.toFixed(0), "kernel sum", sum.toFixed(0));
for (const [name, [ms, c]] of rows) console.log(name.padEnd(28), ms.toFixed(0).padStart(7), c);
