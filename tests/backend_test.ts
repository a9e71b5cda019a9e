// Backend choice: names checked, the optional TensorFlow bindings fail clearly.
import assert from "node:assert/strict";
import { tf } from "../ops/tf.ts";
import { type BackendName, useBackend } from "../ops/backend.ts";

Deno.test("an unknown backend name is refused with the list of names", async () => {
  await assert.rejects(
    useBackend("cuda" as BackendName),
    /unknown backend "cuda": choose one of auto, wasm, cpu, blas, webgpu, tensorflow/,
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

Deno.test("auto picks webgpu on a hardware GPU, else blas when OpenBLAS loads, else wasm", async () => {
  const { gpuAdapterInfo } = await import("../ops/backend.ts");
  const { loadOpenBlas } = await import("../ops/blas/openblas.ts");
  const adapter = await gpuAdapterInfo();
  const chosen = await useBackend("auto");
  assert.equal(chosen, adapter?.hardware ? "webgpu" : loadOpenBlas() ? "blas" : "wasm");
});

Deno.test("cpu and blas switch the conv kernels of the shared cpu backend", async () => {
  const { blasKernelsRegistered } = await import("../ops/blas/conv_kernels.ts");
  assert.equal(await useBackend("blas"), "blas");
  assert.equal(blasKernelsRegistered(), true);
  assert.equal(tf.getBackend(), "cpu");
  assert.equal(await useBackend("cpu"), "cpu");
  assert.equal(blasKernelsRegistered(), false);
});
