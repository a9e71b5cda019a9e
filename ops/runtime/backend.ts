/**
 * Choosing and preparing a TF.js backend.
 *
 * - `wasm`: WebAssembly with SIMD, one thread; the default on CPU. Its missing
 *   `Conv2DBackpropFilter` is supplied by {@link registerConvFilterGrad}.
 * - `cpu`: plain JavaScript, no memory cap; gets the same filter-gradient kernel
 *   (about 10x faster than its own) and faster element-wise kernels.
 * - `blas`: the `cpu` backend with its convolutions done by OpenBLAS through
 *   Deno's FFI (`apt-get install libopenblas0-pthread`); no memory cap.
 * - `onednn`: `blas` with its convolutions done by oneDNN, the library
 *   PyTorch's CPU convolutions use (`apt-get install libdnnl2`); OpenBLAS, when
 *   present, keeps the input gradients of layers with few pixels.
 * - `webgpu`: Deno's `navigator.gpu` (Vulkan). Needs a Vulkan driver.
 * - `tensorflow`: the native TensorFlow bindings (`@tensorflow/tfjs-node-gpu`,
 *   else `@tensorflow/tfjs-node`), loaded only when asked for.
 * - `auto`: `webgpu` when a hardware GPU adapter exists, else `onednn` when
 *   oneDNN loads, else `blas` when OpenBLAS loads, else `wasm`.
 * @module
 */
import { tf } from "../tf.ts";
import { registerConvFilterGrad } from "./filter_grad.ts";
import { installArrayPool } from "./array_pool.ts";
import { readEnv } from "./native_library.ts";
import {
  blasKernelsRegistered,
  registerBlasKernels,
  unregisterBlasKernels,
} from "./openblas/conv_kernels.ts";
import { loadOpenBlas, openBlasLoadError } from "./openblas/openblas.ts";
import { fastCpuKernelsRegistered, registerFastCpuKernels } from "./elementwise_kernels.ts";
import {
  oneDnnKernelsRegistered,
  registerOneDnnKernels,
  unregisterOneDnnKernels,
} from "./onednn/conv_kernels.ts";
import { loadOneDnn, oneDnnLoadError } from "./onednn/onednn.ts";
import { type GpuLike, readAdapterInfo, registerWebGpuBackend } from "./webgpu_device.ts";

/** The backends that can be asked for. */
export type BackendName = "auto" | "wasm" | "cpu" | "blas" | "onednn" | "webgpu" | "tensorflow";

/** Every accepted backend name, for option validation. */
export const BACKEND_NAMES: readonly BackendName[] = [
  "auto",
  "wasm",
  "cpu",
  "blas",
  "onednn",
  "webgpu",
  "tensorflow",
];

const SOFTWARE_ADAPTER =
  /llvmpipe|lavapipe|softpipe|swiftshader|warp|basic render driver|software/i;

async function requestAdapter() {
  // Absent where Deno runs without WebGPU; resolves to null without a driver.
  const gpu = (globalThis.navigator as { gpu?: GpuLike } | undefined)?.gpu;
  if (!gpu) return null;
  // libwayland, loaded with the Vulkan drivers, complains on stderr without it.
  if (!Deno.env.get("XDG_RUNTIME_DIR")) Deno.env.set("XDG_RUNTIME_DIR", "/tmp");
  try {
    return await gpu.requestAdapter({ powerPreference: "high-performance" });
  } catch {
    return null;
  }
}

/**
 * Describes the WebGPU adapter Deno would use, or null when there is none.
 * `hardware` is false for software rasterisers (Mesa's lavapipe, SwiftShader).
 *
 * @example
 * ```ts
 * import { gpuAdapterInfo } from "./backend.ts";
 * console.log(await gpuAdapterInfo()); // e.g. { name: "llvmpipe ...", hardware: false } or null
 * ```
 */
export async function gpuAdapterInfo(): Promise<
  { name: string; hardware: boolean } | null
> {
  const adapter = await requestAdapter();
  if (!adapter) return null;
  const info = await readAdapterInfo(adapter);
  return {
    name: info.name,
    hardware: !info.isFallbackAdapter && !SOFTWARE_ADAPTER.test(info.name),
  };
}

async function loadTensorflowBindings(): Promise<void> {
  // tfjs-node calls util.isNullOrUndefined, which Deno's node:util lacks.
  const util = (await import("node:util")) as unknown as Record<
    string,
    unknown
  >;
  const nodeUtil = (util.default ?? util) as Record<string, unknown>;
  nodeUtil.isNullOrUndefined ??= (v: unknown) => v === null || v === undefined;
  const errors: string[] = [];
  // Bare names: they resolve only once the user has added a package to
  // deno.json, so nothing is downloaded behind their back.
  for (const pkg of ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]) {
    try {
      await import(pkg);
      return;
    } catch (e) {
      errors.push(`  ${pkg}: ${(e as Error).message.split("\n")[0]}`);
    }
  }
  throw new Error(
    'backend "tensorflow" needs the native TensorFlow bindings, which are not installed.\n' +
      "With CUDA 11.2 and cuDNN 8.1: deno add npm:@tensorflow/tfjs-node-gpu@4.22.0 && " +
      "deno install --allow-scripts=npm:@tensorflow/tfjs-node-gpu\n" +
      "CPU only: deno add npm:@tensorflow/tfjs-node@4.22.0 && " +
      "deno install --allow-scripts=npm:@tensorflow/tfjs-node\n" +
      "(their install scripts download libtensorflow). Or choose --backend wasm, cpu or webgpu.\n" +
      errors.join("\n"),
  );
}

const prepared = new Set<string>();
// OpenBLAS' own thread count, before the onednn backend set it to one.
let blasThreads: number | null = null;

/**
 * Loads, prepares and activates a backend; returns the name of the active one.
 * Custom kernels are registered once per backend.
 *
 * @example
 * ```ts
 * import { useBackend } from "./backend.ts";
 * console.log(await useBackend("wasm")); // "wasm"
 * ```
 */
export async function useBackend(name: BackendName = "auto"): Promise<string> {
  if (!BACKEND_NAMES.includes(name)) {
    throw new Error(
      `unknown backend "${name}": choose one of ${BACKEND_NAMES.join(", ")}`,
    );
  }
  let chosen: string = name;
  if (name === "auto") {
    chosen = (await gpuAdapterInfo())?.hardware
      ? "webgpu"
      : loadOneDnn()
      ? "onednn"
      : loadOpenBlas()
      ? "blas"
      : "wasm";
  }
  if (!prepared.has(chosen)) {
    if (chosen === "wasm") {
      await import("@tensorflow/tfjs-backend-wasm");
      registerConvFilterGrad("wasm");
    } else if (chosen === "webgpu") {
      // Our adapter and device, not the package's: see webgpu_device.ts.
      await registerWebGpuBackend();
    } else if (chosen === "tensorflow") {
      await loadTensorflowBindings();
    }
    prepared.add(chosen);
  }
  // cpu, blas and onednn share TF.js's cpu backend and its faster element-wise
  // kernels; they differ in their conv kernels. oneDNN's wrap OpenBLAS's, so
  // they come off first.
  const onCpu = chosen === "cpu" || chosen === "blas" || chosen === "onednn";
  if (onCpu && !fastCpuKernelsRegistered()) registerFastCpuKernels();
  const blas = onCpu ? loadOpenBlas() : null;
  if (blas && blasThreads === null) blasThreads = blas.getNumThreads();
  if (chosen === "onednn") {
    if (!oneDnnKernelsRegistered()) {
      // Optional: OpenBLAS serves the small layers when present. On one
      // thread: its idle pool threads spin, and on a 2-core machine they took
      // the core oneDNN's OpenMP threads needed (64 px batch 1: 0.39 s per
      // iteration with one OpenBLAS thread, 0.54 s with two).
      if (registerBlasKernels() && !readEnv("DISCOGAN_OPENBLAS_THREADS")) blas?.setNumThreads(1);
      if (!registerOneDnnKernels()) {
        throw new Error(
          `backend "onednn" needs oneDNN 2.x (${oneDnnLoadError() ?? "not found"}): ` +
            "apt-get install libdnnl2, or set DISCOGAN_ONEDNN to libdnnl.so.2; " +
            "or choose --backend blas, wasm or cpu.",
        );
      }
    }
  } else if (onCpu) {
    unregisterOneDnnKernels();
    if (blas && blasThreads && blasThreads > 0 && !readEnv("DISCOGAN_OPENBLAS_THREADS")) {
      blas.setNumThreads(blasThreads);
    }
  }
  if (chosen === "cpu") {
    if (blasKernelsRegistered()) unregisterBlasKernels();
    registerConvFilterGrad("cpu");
  } else if (chosen === "blas") {
    if (!registerBlasKernels()) {
      throw new Error(
        `backend "blas" needs OpenBLAS (${openBlasLoadError() ?? "not found"}): ` +
          "apt-get install libopenblas0-pthread, or set DISCOGAN_OPENBLAS to libopenblas.so; " +
          "or choose --backend wasm or cpu.",
      );
    }
  }
  const tfName = onCpu ? "cpu" : chosen;
  if (!(await tf.setBackend(tfName))) {
    throw new Error(`backend "${chosen}" failed to initialise`);
  }
  await tf.ready();
  if (onCpu) installArrayPool(tf.backend());
  return chosen;
}
