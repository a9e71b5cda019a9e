import { tf } from "./ops/tf.ts";
import { reflectionPad2d } from "./ops/padding.ts";
import { useBackend } from "./ops/runtime/backend.ts";
await useBackend(Deno.args[0] as "cpu");
const x = tf.randomNormal([8, 16, 16, 64]) as tf.Tensor4D;
for (let r = 0; r < 3; r++) {
  let t0 = performance.now();
  for (let i = 0; i < 20; i++) {
    const y = reflectionPad2d(x, 1);
    y.dispose();
  }
  console.log("pad", ((performance.now() - t0) / 20).toFixed(2));
  t0 = performance.now();
  for (let i = 0; i < 20; i++) {
    const y = tf.mul(x, x);
    y.dispose();
  }
  console.log("mul", ((performance.now() - t0) / 20).toFixed(2));
  t0 = performance.now();
  for (let i = 0; i < 20; i++) {
    const y = tf.mirrorPad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], "reflect");
    y.dispose();
  }
  console.log("mirrorPad", ((performance.now() - t0) / 20).toFixed(2));
}
