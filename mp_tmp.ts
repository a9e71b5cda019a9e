import { tf } from "./ops/tf.ts";
import { useBackend } from "./ops/runtime/backend.ts";
import { oneDnnCalls } from "./ops/runtime/onednn/conv_kernels.ts";
await useBackend("onednn");
const x = tf.randomNormal([8, 32, 32, 16]) as tf.Tensor4D;
const w = tf.randomNormal([4, 4, 16, 32]) as tf.Tensor4D;
const wt = tf.randomNormal([4, 4, 16, 32]) as tf.Tensor4D; // transpose: [kh,kw,out,in]
const y16 = tf.randomNormal([8, 16, 16, 32]) as tf.Tensor4D;
const time = (name: string, f: () => tf.Tensor) => {
  for (let i = 0; i < 3; i++) tf.tidy(() => f().dataSync());
  const c0 = oneDnnCalls();
  const t0 = performance.now();
  for (let i = 0; i < 10; i++) tf.tidy(() => f().dataSync());
  console.log(
    name.padEnd(30),
    ((performance.now() - t0) / 10).toFixed(2),
    "ms; onednn calls",
    (oneDnnCalls() - c0) / 10,
  );
};
time("conv s2 pad1", () => tf.conv2d(x, w, 2, [[0, 0], [1, 1], [1, 1], [0, 0]]));
time("convT s2 same", () => tf.conv2dTranspose(y16, wt, [8, 32, 32, 16], 2, "same"));
time(
  "grad convT",
  () =>
    tf.grad((t) => tf.sum(tf.conv2dTranspose(t as tf.Tensor4D, wt, [8, 32, 32, 16], 2, "same")))(
      y16,
    ),
);
time(
  "grad conv",
  () =>
    tf.grad((t) => tf.sum(tf.conv2d(t as tf.Tensor4D, w, 2, [[0, 0], [1, 1], [1, 1], [0, 0]])))(x),
);
