/**
 * The WebGPU adapter and device the `webgpu` backend runs on, asked for by us
 * rather than by tfjs-backend-webgpu 4.22, whose own setup breaks under Deno on
 * real adapters:
 *
 * - it pushes `["bgra8unorm-storage"]`, a nested array, into `requiredFeatures`;
 * - it copies `adapter.limits` as they come, and NVIDIA's Vulkan driver on Linux
 *   reports `maxBufferSize` as u64::MAX (gfx-rs/wgpu#4020), which arrives as a
 *   BigInt or as 2^64, and Deno's WebIDL refuses both;
 * - it reads `adapter.info` after `requestDevice`, when the adapter may already
 *   be consumed and the getter throws.
 *
 * Here the features are a flat list of names the adapter has, the limits are
 * numbers clamped to what the adapter and TF.js's 32-bit indexing allow, and
 * the adapter's description is read first. A device that is lost, or that
 * reports an error nobody caught (out of memory, validation), makes the
 * backend's next kernel or read throw a {@link WebGpuDeviceError} that names
 * the adapter and says what to do, instead of hanging on a read or computing
 * garbage.
 * @module
 */
import { tf } from "../tf.ts";

/** What an adapter says about itself, every field a string (empty when unknown). */
export interface WebGpuAdapterDescription {
  /** "nvidia", or a PCI vendor id as text. */
  vendor: string;
  /** "hopper", often empty. */
  architecture: string;
  /** Device id or name, often "0". */
  device: string;
  /** "NVIDIA H200", "llvmpipe (LLVM 15.0.6, 256 bits)". */
  description: string;
  /** True for software or fallback adapters as the adapter reports it. */
  isFallbackAdapter: boolean;
  /** The non-empty fields above, space-separated: the name used in messages. */
  name: string;
}

/** The fields of `GPUAdapterInfo` read here; anything may be missing. */
export interface GpuAdapterInfoLike {
  /** Vendor name or id. */
  vendor?: unknown;
  /** Architecture name. */
  architecture?: unknown;
  /** Device name or id. */
  device?: unknown;
  /** Driver's description. */
  description?: unknown;
  /** Whether the adapter is a fallback (software) one. */
  isFallbackAdapter?: unknown;
}

/** What is asked of an adapter for a device: flat feature names, numeric limits. */
export interface WebGpuDeviceRequest {
  /** Feature names, each a string. */
  requiredFeatures: string[];
  /** Limits, each a finite number within the adapter's and TF.js's range. */
  requiredLimits: Record<string, number>;
}

/** The parts of a `GPUDevice` watched here. */
export interface GpuDeviceLike {
  /** Resolves when the device is lost (or destroyed). */
  readonly lost: Promise<{ reason?: unknown; message?: unknown }>;
  /** Where `uncapturederror` events arrive (absent on old runtimes). */
  addEventListener?(
    type: "uncapturederror",
    listener: (event: { error?: { message?: unknown; constructor?: { name?: string } } }) => void,
  ): void;
}

/** The parts of a `GPUAdapter` used here; a fake one can stand in for tests. */
export interface GpuAdapterLike {
  /** The adapter's optional features (a set-like of names). */
  readonly features: Iterable<unknown>;
  /** The adapter's limits (numbers, or BigInts on some runtimes). */
  readonly limits: object;
  /** The adapter's description (may throw once the adapter is consumed). */
  readonly info?: GpuAdapterInfoLike;
  /** Older runtimes' way to the description. */
  requestAdapterInfo?(): Promise<GpuAdapterInfoLike>;
  /** Older runtimes put this on the adapter rather than on its info. */
  readonly isFallbackAdapter?: boolean;
  /** Creates the device. */
  requestDevice(descriptor: WebGpuDeviceRequest): Promise<GpuDeviceLike>;
}

/** The part of `navigator.gpu` used here. */
export interface GpuLike {
  /** Resolves to an adapter, or null when there is none. */
  requestAdapter(options?: { powerPreference?: string }): Promise<GpuAdapterLike | null>;
}

/**
 * The optional features TF.js's WebGPU backend uses when the adapter has them
 * (the same two its own setup asks for).
 *
 * @example
 * ```ts
 * import { WEBGPU_FEATURES } from "./webgpu_device.ts";
 * console.log(WEBGPU_FEATURES.includes("timestamp-query")); // true
 * ```
 */
export const WEBGPU_FEATURES: readonly string[] = ["timestamp-query", "bgra8unorm-storage"];

/**
 * The largest buffer, in bytes, a TF.js WebGPU kernel can address: its shaders
 * index with i32, so offsets past 2^31 - 1 bytes would wrap.
 *
 * @example
 * ```ts
 * import { TFJS_MAX_BUFFER_BYTES } from "./webgpu_device.ts";
 * console.log(TFJS_MAX_BUFFER_BYTES); // 2147483647
 * ```
 */
export const TFJS_MAX_BUFFER_BYTES: number = 2 ** 31 - 1;

const U32_MAX = 2 ** 32 - 1;

/**
 * The limits TF.js's WebGPU backend raises to the adapter's, each with the
 * largest value we ask for: byte sizes capped at {@link TFJS_MAX_BUFFER_BYTES},
 * counts at u32's maximum (WebGPU's GPUSize32).
 *
 * @example
 * ```ts
 * import { WEBGPU_LIMIT_CAPS } from "./webgpu_device.ts";
 * console.log(WEBGPU_LIMIT_CAPS.maxBufferSize); // 2147483647
 * ```
 */
export const WEBGPU_LIMIT_CAPS: Readonly<Record<string, number>> = {
  maxComputeWorkgroupStorageSize: U32_MAX,
  maxComputeWorkgroupsPerDimension: U32_MAX,
  maxStorageBufferBindingSize: TFJS_MAX_BUFFER_BYTES,
  maxBufferSize: TFJS_MAX_BUFFER_BYTES,
  maxComputeWorkgroupSizeX: U32_MAX,
  maxComputeInvocationsPerWorkgroup: U32_MAX,
};

/**
 * The features to ask for: those of {@link WEBGPU_FEATURES} the adapter has,
 * as a flat array of strings. Names the adapter has and TF.js does not use
 * (NVIDIA lists many) are left out.
 *
 * @example
 * ```ts
 * import { deviceFeatures } from "./webgpu_device.ts";
 * console.log(deviceFeatures(new Set(["timestamp-query", "shader-f16"]))); // ["timestamp-query"]
 * ```
 */
export function deviceFeatures(adapterFeatures: Iterable<unknown>): string[] {
  const has = new Set<string>();
  for (const f of adapterFeatures) if (typeof f === "string") has.add(f);
  return WEBGPU_FEATURES.filter((f) => has.has(f));
}

/** A limit as a number, whether the runtime gave a number, a BigInt or a numeric string. */
function limitNumber(value: unknown): number | null {
  if (typeof value === "bigint") return value < 0n ? null : Number(value);
  if (typeof value === "number") return Number.isFinite(value) && value >= 0 ? value : null;
  if (typeof value === "string" && /^\d+$/.test(value)) return Number(value);
  return null;
}

/**
 * The limits to ask for: each of {@link WEBGPU_LIMIT_CAPS} the adapter reports,
 * as a whole number no larger than its cap. BigInts become numbers; limits the
 * adapter does not report, or reports as nonsense, are left at WebGPU's
 * defaults.
 *
 * @example
 * ```ts
 * import { deviceLimits } from "./webgpu_device.ts";
 * const limits = deviceLimits({ maxBufferSize: 2n ** 64n - 1n, maxComputeWorkgroupSizeX: 1024 });
 * console.log(limits); // { maxBufferSize: 2147483647, maxComputeWorkgroupSizeX: 1024 }
 * ```
 */
export function deviceLimits(adapterLimits: object): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, cap] of Object.entries(WEBGPU_LIMIT_CAPS)) {
    let value: number | null = null;
    try {
      // Deno's GPUSupportedLimits has getters on its prototype: read by name.
      value = limitNumber((adapterLimits as Record<string, unknown>)[name]);
    } catch {
      value = null;
    }
    if (value !== null) out[name] = Math.floor(Math.min(value, cap));
  }
  return out;
}

function text(value: unknown): string {
  return typeof value === "string" ? value.trim() : value == null ? "" : String(value);
}

/**
 * Reads the adapter's description without ever throwing: `info`, else the
 * older `requestAdapterInfo()`, else nothing. Call it before `requestDevice`:
 * on some runtimes the adapter is consumed by it and `info` throws after.
 *
 * @example
 * ```ts
 * import { readAdapterInfo } from "./webgpu_device.ts";
 * const adapter = await navigator.gpu?.requestAdapter();
 * if (adapter) console.log((await readAdapterInfo(adapter)).name);
 * ```
 */
export async function readAdapterInfo(
  adapter: Pick<GpuAdapterLike, "info" | "requestAdapterInfo" | "isFallbackAdapter">,
): Promise<WebGpuAdapterDescription> {
  let info: GpuAdapterInfoLike = {};
  try {
    if ("info" in adapter && adapter.info) info = adapter.info;
    else if (typeof adapter.requestAdapterInfo === "function") {
      info = await adapter.requestAdapterInfo();
    }
  } catch {
    info = {};
  }
  const field = (key: keyof GpuAdapterInfoLike): unknown => {
    try {
      return info[key];
    } catch {
      return undefined;
    }
  };
  const vendor = text(field("vendor")), architecture = text(field("architecture"));
  const device = text(field("device")), description = text(field("description"));
  let fallback = field("isFallbackAdapter") === true;
  try {
    fallback ||= adapter.isFallbackAdapter === true;
  } catch {
    // a throwing getter: not known to be a fallback
  }
  return {
    vendor,
    architecture,
    device,
    description,
    isFallbackAdapter: fallback,
    name: [vendor, architecture, device, description].filter(Boolean).join(" ") ||
      "unnamed adapter",
  };
}

/** Thrown when the WebGPU adapter or device cannot be had, or fails after. */
export class WebGpuDeviceError extends Error {
  /** The adapter's name, as in the message. */
  readonly adapter: string;
  /**
   * Why: "no-adapter", "request-device", "lost" or "error" (an error
   * reported by the device that no one caught).
   */
  readonly reason: "no-adapter" | "request-device" | "lost" | "error";

  /**
   * An error of `reason` on the adapter named `adapter`.
   *
   * @example
   * ```ts
   * import { WebGpuDeviceError } from "./webgpu_device.ts";
   * const e = new WebGpuDeviceError("lost", "NVIDIA H200", "device lost");
   * console.log(e.reason, e.adapter); // "lost" "NVIDIA H200"
   * ```
   */
  constructor(
    reason: WebGpuDeviceError["reason"],
    adapter: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "WebGpuDeviceError";
    this.reason = reason;
    this.adapter = adapter;
  }
}

const OTHER_BACKENDS = "or choose --backend onednn, blas or wasm";

/** An open device, its adapter's description, what was asked for, and its health. */
export interface WebGpuDevice {
  /** The device (a `GPUDevice` when it came from `navigator.gpu`). */
  device: GpuDeviceLike;
  /** The adapter's description, read before the device was made. */
  adapter: WebGpuAdapterDescription;
  /** What `requestDevice` was given. */
  request: WebGpuDeviceRequest;
  /** The failure that ended the device (lost, or an uncaught error), or null while healthy. */
  failure(): WebGpuDeviceError | null;
  /** Throws {@link failure} if there is one. */
  check(): void;
  /** Rejects with the failure when there is one; never resolves otherwise. */
  failed: Promise<never>;
}

/** Options of {@link openWebGpuDevice}. */
export interface OpenWebGpuOptions {
  /** Where adapters come from; default `navigator.gpu`. */
  gpu?: GpuLike | null;
  /** Default "high-performance": the discrete GPU where there are two. */
  powerPreference?: "high-performance" | "low-power";
  /** Called once with the failure when the device is lost or reports an error; default console.error. */
  onFailure?: (error: WebGpuDeviceError) => void;
}

function navigatorGpu(): GpuLike | null {
  const gpu = (globalThis.navigator as { gpu?: GpuLike } | undefined)?.gpu;
  if (!gpu) return null;
  // libwayland, loaded with the Vulkan drivers, complains on stderr without it.
  if (!Deno.env.get("XDG_RUNTIME_DIR")) Deno.env.set("XDG_RUNTIME_DIR", "/tmp");
  return gpu;
}

/**
 * Asks for an adapter and a device the way TF.js's WebGPU backend needs them
 * (see the module's notes), and watches the device: when it is lost or
 * reports an error no one caught, {@link WebGpuDevice.check} throws a
 * {@link WebGpuDeviceError} naming the adapter. Throws one too when there is
 * no adapter or the adapter refuses the device.
 *
 * @example
 * ```ts
 * import { openWebGpuDevice } from "./webgpu_device.ts";
 * const gpu = await openWebGpuDevice().catch((e) => (console.log(e.message), null));
 * if (gpu) console.log(gpu.adapter.name, gpu.request.requiredLimits);
 * ```
 */
export async function openWebGpuDevice(options: OpenWebGpuOptions = {}): Promise<WebGpuDevice> {
  const gpu = options.gpu === undefined ? navigatorGpu() : options.gpu;
  const noAdapter = (why: string, cause?: unknown) =>
    new WebGpuDeviceError(
      "no-adapter",
      "none",
      `backend "webgpu": ${why}. Install a Vulkan driver (GPU vendor driver, or ` +
        "`apt-get install mesa-vulkan-drivers libvulkan1` for the software one) " +
        `${OTHER_BACKENDS}.`,
      { cause },
    );
  if (!gpu) throw noAdapter("this Deno has no navigator.gpu");
  let adapter: GpuAdapterLike | null;
  try {
    adapter = await gpu.requestAdapter({
      powerPreference: options.powerPreference ?? "high-performance",
    });
  } catch (e) {
    throw noAdapter(`asking for an adapter failed (${(e as Error)?.message ?? e})`, e);
  }
  if (!adapter) throw noAdapter("no WebGPU adapter found");
  // Before requestDevice: after it, `info` throws on adapters it consumed.
  const description = await readAdapterInfo(adapter);
  const name = description.name;
  const request: WebGpuDeviceRequest = {
    requiredFeatures: deviceFeatures(adapter.features),
    requiredLimits: deviceLimits(adapter.limits),
  };
  let device: GpuDeviceLike;
  try {
    device = await adapter.requestDevice(request);
  } catch (e) {
    throw new WebGpuDeviceError(
      "request-device",
      name,
      `backend "webgpu": the adapter "${name}" refused a device ` +
        `(${(e as Error)?.message ?? e}; asked for features [${request.requiredFeatures}] ` +
        `and limits ${JSON.stringify(request.requiredLimits)}). The adapter may be lost ` +
        "(a driver reset, or the GPU held by another process): check nvidia-smi or " +
        `vulkaninfo and rerun, ${OTHER_BACKENDS}.`,
      { cause: e },
    );
  }
  let failure: WebGpuDeviceError | null = null;
  let reject: (e: WebGpuDeviceError) => void = () => {};
  const failed = new Promise<never>((_, no) => (reject = no));
  failed.catch(() => {}); // observed through check() and reads; never unhandled
  const onFailure = options.onFailure ?? ((e: WebGpuDeviceError) => console.error(e.message));
  const fail = (e: WebGpuDeviceError) => {
    if (failure) return; // the first one is the cause; the rest follow from it
    failure = e;
    reject(e);
    onFailure(e);
  };
  device.lost.then((info) => {
    const reason = text(info?.reason) || "unknown";
    const message = text(info?.message);
    fail(
      new WebGpuDeviceError(
        "lost",
        name,
        `backend "webgpu": the device on "${name}" was lost (reason: ${reason}` +
          `${message ? `; ${message}` : ""}). A driver reset or running out of GPU memory ` +
          "loses it, and nothing computed after that is valid: rerun (with a smaller " +
          `--batch-size or --image-size if it recurs), ${OTHER_BACKENDS}.`,
      ),
    );
  }, () => {});
  device.addEventListener?.("uncapturederror", (event) => {
    const kind = event?.error?.constructor?.name ?? "GPUError";
    const message = text(event?.error?.message);
    const memory = /OutOfMemory/i.test(kind) || /out of memory/i.test(message);
    fail(
      new WebGpuDeviceError(
        "error",
        name,
        `backend "webgpu": the device on "${name}" reported ${kind}: ${message}. ` +
          (memory
            ? "The GPU ran out of memory: use a smaller --batch-size or --image-size, "
            : "TF.js's results after it are not valid: rerun, and report it if it recurs, ") +
          `${OTHER_BACKENDS}.`,
      ),
    );
  });
  return {
    device,
    adapter: description,
    request,
    failure: () => failure,
    check() {
      if (failure) throw failure;
    },
    failed,
  };
}

/** The methods of TF.js's WebGPU backend that {@link guardWebGpuBackend} wraps. */
export interface GuardedBackendMethods {
  /** Records and submits one kernel. */
  runWebGPUProgram(...args: never[]): unknown;
  /** Downloads a tensor's values. */
  read(dataId: object): Promise<unknown>;
}

/**
 * Makes a backend fail clearly once `gpu` has failed: every kernel launch
 * throws the failure first, and a read that is waiting when the device goes
 * (on a lost device a buffer mapping may never finish) rejects with it.
 *
 * @example
 * ```ts
 * import { guardWebGpuBackend, openWebGpuDevice } from "./webgpu_device.ts";
 * const gpu = await openWebGpuDevice();
 * const backend = { runWebGPUProgram: () => null, read: () => Promise.resolve(null) };
 * guardWebGpuBackend(backend, gpu); // backend.read() now rejects once gpu.failure() is set
 * ```
 */
export function guardWebGpuBackend<B extends GuardedBackendMethods>(
  backend: B,
  gpu: Pick<WebGpuDevice, "check" | "failure" | "failed">,
): B {
  const run = backend.runWebGPUProgram.bind(backend);
  const read = backend.read.bind(backend);
  backend.runWebGPUProgram = ((...args: never[]) => {
    gpu.check();
    return run(...args);
  }) as B["runWebGPUProgram"];
  backend.read = (async (dataId: object) => {
    gpu.check();
    try {
      return await Promise.race([read(dataId), gpu.failed]);
    } catch (e) {
      // A read that failed because the device went: say so, not "mapAsync failed".
      const failure = gpu.failure();
      if (failure && e !== failure) throw failure;
      throw e;
    }
  }) as B["read"];
  return backend;
}

let current: WebGpuDevice | null = null;

/**
 * Opens the device ({@link openWebGpuDevice}) and registers TF.js's `webgpu`
 * backend on it, replacing the factory tfjs-backend-webgpu registered on
 * import. Errors (no adapter, a refused device) are thrown here, with their
 * message, rather than becoming TF.js's "backend failed to initialise".
 *
 * @example
 * ```ts
 * import { registerWebGpuBackend } from "./webgpu_device.ts";
 * import { tf } from "../tf.ts";
 * const gpu = await registerWebGpuBackend();
 * await tf.setBackend("webgpu");
 * console.log(gpu.adapter.name);
 * ```
 */
export async function registerWebGpuBackend(
  options: OpenWebGpuOptions = {},
): Promise<WebGpuDevice> {
  const gpu = await openWebGpuDevice(options);
  // Its kernels register on import, and its own factory with them (when
  // navigator.gpu exists): that factory is the one replaced.
  const { WebGPUBackend } = await import("@tensorflow/tfjs-backend-webgpu");
  if (tf.findBackendFactory("webgpu")) tf.removeBackend("webgpu");
  const info = {
    vendor: gpu.adapter.vendor,
    architecture: gpu.adapter.architecture,
    device: gpu.adapter.device,
    description: gpu.adapter.description,
  };
  tf.registerBackend(
    "webgpu",
    () =>
      guardWebGpuBackend(
        new WebGPUBackend(
          gpu.device as unknown as ConstructorParameters<typeof WebGPUBackend>[0],
          info as unknown as ConstructorParameters<typeof WebGPUBackend>[1],
        ),
        gpu,
      ),
    3, // tfjs-backend-webgpu's own priority
  );
  current = gpu;
  return gpu;
}

/**
 * The device the `webgpu` backend was last registered on, or null.
 *
 * @example
 * ```ts
 * import { webGpuDevice } from "./webgpu_device.ts";
 * console.log(webGpuDevice()?.adapter.name ?? "webgpu not set up");
 * ```
 */
export function webGpuDevice(): WebGpuDevice | null {
  return current;
}
