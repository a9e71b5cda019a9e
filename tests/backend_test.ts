// Backend choice: names checked, the optional TensorFlow bindings fail clearly.
import { missing } from "./native.ts";
import assert from "node:assert/strict";
import { tf } from "../ops/tf.ts";
import { type BackendName, useBackend } from "../ops/runtime/backend.ts";

Deno.test("an unknown backend name is refused with the list of names", async () => {
  await assert.rejects(
    useBackend("cuda" as BackendName),
    /unknown backend "cuda": choose one of auto, wasm, cpu, blas, onednn, webgpu, tensorflow/,
  );
});

Deno.test("the tensorflow backend, when not installed, says how to install it and breaks nothing", async () => {
  await assert.rejects(useBackend("tensorflow"), (e: Error) => {
    assert.match(e.message, /deno add npm:@tensorflow\/tfjs-node-gpu@4\.22\.0/);
    assert.match(e.message, /CUDA 11\.2 and cuDNN 8\.1/);
    assert.match(e.message, /--backend wasm, cpu or webgpu/);
    return true;
  });
  assert.equal(await useBackend("wasm"), "wasm");
  assert.deepEqual(
    tf.add(tf.ones([2]), 1).dataSync(),
    new Float32Array([2, 2]),
  );
});

Deno.test("auto picks webgpu on a hardware GPU, else onednn, else blas, else wasm", async () => {
  const { gpuAdapterInfo } = await import("../ops/runtime/backend.ts");
  const { loadOpenBlas } = await import("../ops/runtime/openblas/openblas.ts");
  const { loadOneDnn } = await import("../ops/runtime/onednn/onednn.ts");
  const adapter = await gpuAdapterInfo();
  const chosen = await useBackend("auto");
  const cpuChoice = loadOneDnn() ? "onednn" : loadOpenBlas() ? "blas" : "wasm";
  assert.equal(chosen, adapter?.hardware ? "webgpu" : cpuChoice);
});

const ignoreBlas = await missing(
  "openblas",
  "tests/backend_test.ts (the blas and onednn switches)",
);
const ignoreDnn = await missing("onednn", "tests/backend_test.ts (the onednn switch)");

Deno.test({
  name: "cpu and blas switch the conv kernels of the shared cpu backend",
  ignore: ignoreBlas,
}, async () => {
  const { blasKernelsRegistered } = await import("../ops/runtime/openblas/conv_kernels.ts");
  assert.equal(await useBackend("blas"), "blas");
  assert.equal(blasKernelsRegistered(), true);
  assert.equal(tf.getBackend(), "cpu");
  assert.equal(await useBackend("cpu"), "cpu");
  assert.equal(blasKernelsRegistered(), false);
});

Deno.test({
  name: "onednn puts oneDNN in front of the OpenBLAS kernels; blas and cpu take it off",
  ignore: ignoreBlas || ignoreDnn,
}, async () => {
  const { blasKernelsRegistered } = await import("../ops/runtime/openblas/conv_kernels.ts");
  const { oneDnnKernelsRegistered, oneDnnCalls } = await import(
    "../ops/runtime/onednn/conv_kernels.ts"
  );
  const { loadOpenBlas } = await import("../ops/runtime/openblas/openblas.ts");
  const blas = loadOpenBlas();
  const ownThreads = blas?.getNumThreads();
  assert.equal(await useBackend("onednn"), "onednn");
  assert.equal(tf.getBackend(), "cpu");
  // OpenBLAS on one thread beside oneDNN's OpenMP threads, its own count back on blas.
  if (blas && !Deno.env.get("DISCOGAN_OPENBLAS_THREADS")) assert.equal(blas.getNumThreads(), 1);
  assert.equal(oneDnnKernelsRegistered(), true);
  assert.equal(blasKernelsRegistered(), true);
  const before = oneDnnCalls();
  // 256 output pixels: oneDNN's; 16: OpenBLAS's (the small layers).
  tf.conv2d(
    tf.ones([1, 32, 32, 3]) as tf.Tensor4D,
    tf.ones([4, 4, 3, 4]) as tf.Tensor4D,
    2,
    "same",
  );
  assert.equal(oneDnnCalls(), before + 1);
  tf.conv2d(tf.ones([1, 8, 8, 3]) as tf.Tensor4D, tf.ones([4, 4, 3, 4]) as tf.Tensor4D, 2, "same");
  assert.equal(oneDnnCalls(), before + 1);
  assert.equal(await useBackend("blas"), "blas");
  assert.equal(oneDnnKernelsRegistered(), false);
  assert.equal(blasKernelsRegistered(), true);
  if (blas && !Deno.env.get("DISCOGAN_OPENBLAS_THREADS")) {
    assert.equal(blas.getNumThreads(), ownThreads);
  }
  tf.conv2d(
    tf.ones([1, 32, 32, 3]) as tf.Tensor4D,
    tf.ones([4, 4, 3, 4]) as tf.Tensor4D,
    2,
    "same",
  );
  assert.equal(oneDnnCalls(), before + 1);
  assert.equal(await useBackend("cpu"), "cpu");
  assert.equal(blasKernelsRegistered(), false);
});
