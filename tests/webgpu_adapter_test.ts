// The webgpu backend's adapter and device setup (ops/runtime/webgpu_device.ts)
// against a fake adapter that reports what NVIDIA's Vulkan driver reports under
// Deno: BigInt limits (maxBufferSize u64::MAX, gfx-rs/wgpu#4020), features
// TF.js does not know, and an `info` that throws once requestDevice has
// consumed the adapter. Its requestDevice refuses what Deno's WebIDL refuses
// (nested feature arrays, BigInt or out-of-range limits), so these tests need
// no GPU. The last test loses a real device (lavapipe in CI).
import { missing } from "./native.ts";
import assert from "node:assert/strict";
import { tf } from "../ops/tf.ts";
import {
  deviceFeatures,
  deviceLimits,
  type GpuAdapterLike,
  type GpuDeviceLike,
  type GpuLike,
  guardWebGpuBackend,
  openWebGpuDevice,
  readAdapterInfo,
  registerWebGpuBackend,
  TFJS_MAX_BUFFER_BYTES,
  type WebGpuDeviceError,
  type WebGpuDeviceRequest,
} from "../ops/runtime/webgpu_device.ts";

const NVIDIA_FEATURES = [
  "depth-clip-control",
  "timestamp-query",
  "texture-compression-bc",
  "bgra8unorm-storage",
  "float32-filterable",
  "shader-f16",
  "chromium-experimental-timestamp-query-inside-passes",
  "vendor-specific-feature-tfjs-never-heard-of",
];

const NVIDIA_LIMITS: Record<string, bigint> = {
  maxBufferSize: 2n ** 64n - 1n,
  maxStorageBufferBindingSize: 2n ** 32n - 1n,
  maxComputeWorkgroupStorageSize: 49152n,
  maxComputeWorkgroupsPerDimension: 65535n,
  maxComputeWorkgroupSizeX: 1024n,
  maxComputeInvocationsPerWorkgroup: 1024n,
  maxUniformBufferBindingSize: 65536n,
};

interface Fake {
  gpu: GpuLike;
  /** Every descriptor requestDevice accepted, as given. */
  requests: WebGpuDeviceRequest[];
  /** Reads of `adapter.info` after requestDevice (each threw). */
  lateInfoReads: number;
  /** Loses the device the fake handed out. */
  lose(reason: string, message: string): void;
  /** Reports an uncaught error on the device. */
  uncaptured(kind: string, message: string): void;
}

/** An adapter that behaves as NVIDIA's does under Deno, with the same WebIDL checks. */
function fakeNvidia(overrides: Partial<GpuAdapterLike> & { refuse?: Error } = {}): Fake {
  let consumed = false;
  let lost: (info: { reason: string; message: string }) => void = () => {};
  const listeners: ((e: { error: Error }) => void)[] = [];
  const device: GpuDeviceLike = {
    lost: new Promise((resolve) => (lost = resolve)),
    addEventListener: (_type, listener) => listeners.push(listener),
  };
  const fake: Fake = {
    gpu: { requestAdapter: () => Promise.resolve(adapter) },
    requests: [],
    lateInfoReads: 0,
    lose: (reason, message) => lost({ reason, message }),
    uncaptured: (kind, message) => {
      const error = new Error(message);
      Object.defineProperty(error, "constructor", { value: { name: kind } });
      for (const l of listeners) l({ error });
    },
  };
  const adapter: GpuAdapterLike = {
    features: new Set(NVIDIA_FEATURES),
    limits: { ...NVIDIA_LIMITS },
    get info() {
      if (consumed) {
        fake.lateInfoReads++;
        throw new TypeError("GPUAdapter has been consumed by requestDevice");
      }
      return {
        vendor: "nvidia",
        architecture: "hopper",
        device: "0x2335",
        description: "NVIDIA H200",
      };
    },
    requestDevice(request: WebGpuDeviceRequest) {
      if (overrides.refuse) return Promise.reject(overrides.refuse);
      // What Deno's WebIDL conversion of GPUDeviceDescriptor refuses.
      for (const f of request.requiredFeatures as unknown[]) {
        if (typeof f !== "string") {
          return Promise.reject(new TypeError(`feature ${JSON.stringify(f)} is not a string`));
        }
        if (!NVIDIA_FEATURES.includes(f)) {
          return Promise.reject(new TypeError(`feature "${f}" is not supported`));
        }
      }
      for (
        const [name, value] of Object.entries(request.requiredLimits as Record<string, unknown>)
      ) {
        if (typeof value !== "number") {
          return Promise.reject(
            new TypeError(`'requiredLimits' ${name} can not be converted to a unsigned long long`),
          );
        }
        if (!Number.isSafeInteger(value) || value < 0) {
          return Promise.reject(new TypeError(`'requiredLimits' ${name} is outside the range`));
        }
        if (name in NVIDIA_LIMITS && BigInt(value) > NVIDIA_LIMITS[name]) {
          return Promise.reject(new Error(`OperationError: ${name} above the adapter's`));
        }
      }
      consumed = true;
      fake.requests.push(request);
      return Promise.resolve(device);
    },
    ...overrides,
  };
  return fake;
}

/** Collects the failures openWebGpuDevice reports instead of printing them. */
function failures(): { seen: WebGpuDeviceError[]; onFailure: (e: WebGpuDeviceError) => void } {
  const seen: WebGpuDeviceError[] = [];
  return { seen, onFailure: (e) => seen.push(e) };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

Deno.test("the fake adapter refuses what tfjs-backend-webgpu 4.22 asks of it", async () => {
  // The descriptor TF.js builds from this adapter: a nested feature array and
  // the adapter's limits as they come.
  const { gpu } = fakeNvidia();
  const adapter = (await gpu.requestAdapter()) as GpuAdapterLike;
  const tfjsRequest = {
    requiredFeatures: ["timestamp-query", ["bgra8unorm-storage"]],
    requiredLimits: { ...NVIDIA_LIMITS },
  } as unknown as WebGpuDeviceRequest;
  await assert.rejects(adapter.requestDevice(tfjsRequest), /is not a string/);
  const asNumbers = {
    requiredFeatures: ["timestamp-query"],
    requiredLimits: Object.fromEntries(
      Object.entries(NVIDIA_LIMITS).map(([k, v]) => [k, Number(v)]),
    ),
  };
  await assert.rejects(adapter.requestDevice(asNumbers), /maxBufferSize is outside the range/);
});

Deno.test("an NVIDIA-like adapter gets flat feature names and clamped numeric limits", async () => {
  const fake = fakeNvidia();
  const { seen, onFailure } = failures();
  const gpu = await openWebGpuDevice({ gpu: fake.gpu, onFailure });
  assert.equal(fake.requests.length, 1);
  const [request] = fake.requests;
  // Flat, strings only, and only the two TF.js uses: the unknown ones stay out.
  assert.deepEqual(request.requiredFeatures, ["timestamp-query", "bgra8unorm-storage"]);
  assert.ok(request.requiredFeatures.every((f) => typeof f === "string"));
  // Numbers, whole, within the adapter's values and TF.js's i32 indexing.
  for (const [name, value] of Object.entries(request.requiredLimits)) {
    assert.equal(typeof value, "number", name);
    assert.ok(Number.isInteger(value) && value >= 0, `${name}: ${value}`);
    assert.ok(BigInt(value) <= NVIDIA_LIMITS[name], `${name}: ${value} above the adapter's`);
  }
  assert.deepEqual(request.requiredLimits, {
    maxComputeWorkgroupStorageSize: 49152,
    maxComputeWorkgroupsPerDimension: 65535,
    maxStorageBufferBindingSize: TFJS_MAX_BUFFER_BYTES,
    maxBufferSize: TFJS_MAX_BUFFER_BYTES,
    maxComputeWorkgroupSizeX: 1024,
    maxComputeInvocationsPerWorkgroup: 1024,
  });
  assert.equal(TFJS_MAX_BUFFER_BYTES, 2 ** 31 - 1);
  // The description was read before requestDevice: never after, when it throws.
  assert.equal(fake.lateInfoReads, 0);
  assert.deepEqual(gpu.adapter, {
    vendor: "nvidia",
    architecture: "hopper",
    device: "0x2335",
    description: "NVIDIA H200",
    isFallbackAdapter: false,
    name: "nvidia hopper 0x2335 NVIDIA H200",
  });
  assert.equal(gpu.failure(), null);
  gpu.check(); // healthy: does not throw
  assert.deepEqual(seen, []);
});

Deno.test("limits and features: BigInt, numeric text, absent, nonsense and throwing values", () => {
  const limits = {
    maxBufferSize: 2n ** 40n, // above the cap
    maxStorageBufferBindingSize: "134217728", // numeric text
    maxComputeWorkgroupStorageSize: -1, // nonsense: left at the default
    maxComputeWorkgroupsPerDimension: Number.NaN,
    get maxComputeWorkgroupSizeX(): number {
      throw new Error("getter throws");
    },
    maxComputeInvocationsPerWorkgroup: 256.7, // fractional: floored
  };
  assert.deepEqual(deviceLimits(limits), {
    maxBufferSize: TFJS_MAX_BUFFER_BYTES,
    maxStorageBufferBindingSize: 134217728,
    maxComputeInvocationsPerWorkgroup: 256,
  });
  assert.deepEqual(deviceLimits({}), {});
  // Lavapipe's own values pass through unchanged.
  assert.deepEqual(
    deviceLimits({ maxBufferSize: 2147483647, maxStorageBufferBindingSize: 2 ** 27 }),
    {
      maxBufferSize: 2147483647,
      maxStorageBufferBindingSize: 2 ** 27,
    },
  );
  assert.deepEqual(deviceFeatures([]), []);
  assert.deepEqual(
    deviceFeatures(["bgra8unorm-storage", ["timestamp-query"], 7, "shader-f16"]),
    ["bgra8unorm-storage"],
  );
});

Deno.test("adapter descriptions: info, the older requestAdapterInfo, and nothing at all", async () => {
  assert.deepEqual(
    await readAdapterInfo({
      requestAdapterInfo: () =>
        Promise.resolve({ vendor: "intel", architecture: "gen-12lp", description: "" }),
      isFallbackAdapter: false,
    }),
    {
      vendor: "intel",
      architecture: "gen-12lp",
      device: "",
      description: "",
      isFallbackAdapter: false,
      name: "intel gen-12lp",
    },
  );
  const throwing = {
    get info(): never {
      throw new TypeError("consumed");
    },
  };
  assert.equal((await readAdapterInfo(throwing)).name, "unnamed adapter");
  const lavapipe = await readAdapterInfo({
    info: {
      vendor: 65541,
      description: "llvmpipe (LLVM 15.0.6, 256 bits)",
      isFallbackAdapter: true,
    },
  });
  assert.equal(lavapipe.vendor, "65541");
  assert.equal(lavapipe.isFallbackAdapter, true);
});

Deno.test("no adapter, or none to be had, is a clear error", async () => {
  for (
    const gpu of [
      null,
      { requestAdapter: () => Promise.resolve(null) },
      { requestAdapter: () => Promise.reject(new Error("Vulkan loader not found")) },
    ]
  ) {
    await assert.rejects(openWebGpuDevice({ gpu }), (e: WebGpuDeviceError) => {
      assert.equal(e.name, "WebGpuDeviceError");
      assert.equal(e.reason, "no-adapter");
      assert.match(e.message, /^backend "webgpu": /);
      assert.match(e.message, /Install a Vulkan driver/);
      assert.match(e.message, /--backend onednn, blas or wasm/);
      return true;
    });
  }
});

Deno.test("an adapter that refuses the device (lost, or busy) names itself and what to do", async () => {
  const fake = fakeNvidia({ refuse: new Error("OperationError: the adapter is lost") });
  await assert.rejects(openWebGpuDevice({ gpu: fake.gpu }), (e: WebGpuDeviceError) => {
    assert.equal(e.reason, "request-device");
    assert.equal(e.adapter, "nvidia hopper 0x2335 NVIDIA H200");
    assert.match(e.message, /"nvidia hopper 0x2335 NVIDIA H200" refused a device/);
    assert.match(e.message, /the adapter is lost/);
    assert.match(e.message, /features \[timestamp-query,bgra8unorm-storage\]/);
    assert.match(e.message, /nvidia-smi/);
    assert.match(e.message, /--backend onednn, blas or wasm/);
    assert.ok(e.cause instanceof Error);
    return true;
  });
});

Deno.test("a lost device fails the next kernel and a read that would never finish", async () => {
  const fake = fakeNvidia();
  const { seen, onFailure } = failures();
  const gpu = await openWebGpuDevice({ gpu: fake.gpu, onFailure });
  let launched = 0;
  const backend = guardWebGpuBackend({
    runWebGPUProgram: () => ++launched,
    // A read on a lost device: the buffer mapping never completes.
    read: (dataId: object) =>
      "hang" in dataId ? new Promise<never>(() => {}) : Promise.resolve(new Float32Array([1])),
  }, gpu);
  // Healthy: calls pass through.
  assert.equal(backend.runWebGPUProgram(), 1);
  assert.deepEqual(await backend.read({}), new Float32Array([1]));

  const waiting = backend.read({ hang: true });
  fake.lose("unknown", "Vulkan device lost (VK_ERROR_DEVICE_LOST)");
  const lost = (e: WebGpuDeviceError) => {
    assert.equal(e.reason, "lost");
    assert.match(
      e.message,
      /the device on "nvidia hopper 0x2335 NVIDIA H200" was lost \(reason: unknown; Vulkan device lost/,
    );
    assert.match(e.message, /smaller --batch-size or --image-size/);
    return true;
  };
  await assert.rejects(waiting, lost);
  assert.throws(() => backend.runWebGPUProgram(), lost);
  assert.equal(launched, 1, "no kernel launched on the lost device");
  await assert.rejects(backend.read({}), lost);
  assert.throws(() => gpu.check(), lost);
  assert.equal(seen.length, 1, "reported once");
  assert.equal(seen[0], gpu.failure());
});

Deno.test("an uncaught device error (out of memory) fails the next kernel; the first cause is kept", async () => {
  const fake = fakeNvidia();
  const { seen, onFailure } = failures();
  const gpu = await openWebGpuDevice({ gpu: fake.gpu, onFailure });
  fake.uncaptured("GPUOutOfMemoryError", "Not enough memory left");
  fake.lose("unknown", "lost after the error");
  await tick();
  assert.equal(seen.length, 1);
  assert.throws(() => gpu.check(), (e: WebGpuDeviceError) => {
    assert.equal(e.reason, "error");
    assert.match(e.message, /reported GPUOutOfMemoryError: Not enough memory left/);
    assert.match(e.message, /ran out of memory: use a smaller --batch-size or --image-size/);
    return true;
  });
});

const ignoreGpu = await missing("vulkan", "tests/webgpu_adapter_test.ts (a real device lost)");

Deno.test({
  name: "webgpu on a real adapter: computes, then a lost device fails reads clearly",
  ignore: ignoreGpu,
}, async () => {
  const { seen, onFailure } = failures();
  const gpu = await registerWebGpuBackend({ onFailure });
  assert.ok(await tf.setBackend("webgpu"));
  assert.deepEqual(await tf.add(tf.tensor1d([1, 2]), 1).data(), new Float32Array([2, 3]));
  assert.ok(gpu.request.requiredFeatures.every((f) => typeof f === "string"));
  (gpu.device as unknown as { destroy(): void }).destroy();
  await gpu.failed.catch(() => {}); // the loss arrives as an event, after destroy() returns
  await assert.rejects(
    () => tf.add(tf.tensor1d([1, 2]), 1).data(),
    (e: WebGpuDeviceError) => {
      assert.equal(e.reason, "lost");
      assert.match(
        e.message,
        new RegExp(`the device on "${gpu.adapter.name.replace(/[()]/g, ".")}"`),
      );
      assert.match(e.message, /reason: destroyed/);
      return true;
    },
  );
  assert.equal(seen.length, 1);
  tf.removeBackend("webgpu");
});
