/**
 * Reuse of the cpu backend's large output arrays.
 *
 * A fresh `Float32Array` of 32 MiB costs about 8 ms before a kernel writes a
 * byte of it (the pages are faulted in and zeroed), and the arrays of disposed
 * tensors stay allocated until V8 collects them. Kernels of ours take their
 * large outputs with {@linkcode takeArray}; when the tensor that owned such an
 * array is disposed, {@linkcode installArrayPool}'s hook puts the array back
 * for the next kernel that needs that length. Only arrays no one else can see
 * are reused: ones our kernels made ({@link markFresh}), never read out by
 * `dataSync`/`data` (which hand the array itself to the caller), and never
 * viewed by another tensor (a view, as the stock `Slice` makes, unmarks the
 * array it views as it is written to the backend).
 * @module
 */
import { isFreshArray, markFresh, unmarkFresh, unmarkViewed } from "./fresh_arrays.ts";

/**
 * Arrays smaller than this many elements (4 KiB) are left to the allocator.
 * Pooling down to here, rather than from 256 KiB up, took the ResNet + paper
 * discriminator at 64 px batch 1 from 609 to 559 ms an iteration (means of
 * three alternating runs): a fresh 128 KiB array, as its batch norms and
 * element-wise ops make, cost more than the kernel that filled it.
 */
export const MIN_POOLED_ELEMENTS = 1 << 10;
/**
 * The most bytes the pool keeps idle; past it the arrays idle longest are
 * left to the GC. Large enough for every transient array of an iteration of
 * the full-width ResNet at 128 px batch 4: with 1 GiB that iteration faulted
 * in 113-198 MiB of fresh pages and took 5.70-6.16 s (this machine's page
 * faults cost about 12 µs each), with 4 GiB 1 MiB and 5.33 s, and its peak RSS
 * was lower too (3015 MiB, against 3257): arrays dropped to the GC stay
 * allocated beside the fresh ones until it runs. (The U-Net at that size
 * needed 1 GiB: with 256 MiB it took 1.76-1.84 s, with 1 GiB 1.22-1.29 s.)
 */
export const MAX_POOLED_BYTES = 4096 * 2 ** 20;
let maxBytes = MAX_POOLED_BYTES;

const idle = new Map<number, Float32Array[]>();
// Every idle array, longest idle first (a Set keeps insertion order).
const byAge = new Set<Float32Array>();
let idleBytes = 0;

/**
 * A marked ({@link markFresh}) array of `n` elements for a kernel's output:
 * an idle one of that length when there is one, else a new one. Zero-filled
 * only when `zeroed`: otherwise the kernel must write every element.
 *
 * @example
 * ```ts
 * import { takeArray } from "./array_pool.ts";
 * const y = takeArray(1 << 20, true);
 * console.log(y.length, y[0]); // 1048576 0
 * ```
 */
export function takeArray(n: number, zeroed = false): Float32Array {
  const a = n >= MIN_POOLED_ELEMENTS ? idle.get(n)?.pop() : undefined;
  if (!a) return markFresh(new Float32Array(n));
  byAge.delete(a);
  idleBytes -= a.byteLength;
  if (zeroed) a.fill(0);
  return a;
}

function recycle(a: Float32Array): void {
  if (a.length < MIN_POOLED_ELEMENTS || a.byteLength > maxBytes) return;
  // Room by the arrays idle longest: sizes no longer asked for age out.
  evictTo(maxBytes - a.byteLength);
  let list = idle.get(a.length);
  if (!list) idle.set(a.length, list = []);
  list.push(a);
  byAge.add(a);
  idleBytes += a.byteLength;
}

// Leaves the arrays idle longest to the GC until at most `bytes` are idle.
function evictTo(bytes: number): void {
  for (const old of byAge) {
    if (idleBytes <= bytes) break;
    const list = idle.get(old.length) as Float32Array[];
    list.splice(list.indexOf(old), 1);
    byAge.delete(old);
    idleBytes -= old.byteLength;
  }
}

/** The parts of tfjs-backend-cpu's `MathBackendCPU` the pool hooks into. */
interface CpuBackendLike {
  data: { get(id: unknown): { values?: unknown } | undefined; has(id: unknown): boolean };
  disposeData(id: unknown, force?: boolean): boolean;
  readSync(id: unknown): unknown;
  read(id: unknown): Promise<unknown>;
  write(values: unknown, shape: number[], dtype: string): unknown;
}

const installed = new WeakSet<object>();

/**
 * Hooks the cpu backend so that the arrays of disposed tensors return to the
 * pool (when they qualify) and arrays read out are never reused. Idempotent.
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * import { installArrayPool } from "./array_pool.ts";
 * await tf.setBackend("cpu");
 * installArrayPool(tf.backend());
 * ```
 */
export function installArrayPool(backend: unknown): void {
  const b = backend as CpuBackendLike;
  if (installed.has(b) || typeof b?.disposeData !== "function" || !b.data) return;
  installed.add(b);
  const dispose = b.disposeData.bind(b), readSync = b.readSync.bind(b), read = b.read.bind(b);
  const write = b.write.bind(b);
  // Every tensor's data passes here (kernel outputs via makeTensorInfo too): a
  // view of a marked array (the stock Slice's) makes it shared for good.
  b.write = (values, shape, dtype) => {
    unmarkViewed(values);
    return write(values, shape, dtype);
  };
  b.disposeData = (id, force) => {
    const values = b.data.get(id)?.values;
    const done = dispose(id, force);
    if (done && isFreshArray(values) && !b.data.has(id)) recycle(values);
    return done;
  };
  b.readSync = (id) => {
    const values = readSync(id);
    unmarkFresh(values);
    return values;
  };
  b.read = async (id) => {
    const values = await read(id);
    unmarkFresh(values);
    return values;
  };
}

/**
 * Sets the most bytes the pool keeps idle (default {@link MAX_POOLED_BYTES}),
 * leaving the arrays idle longest to the GC until it holds no more; returns
 * the previous limit. For tests, and for machines short of memory.
 *
 * @example
 * ```ts
 * import { setPoolLimit } from "./array_pool.ts";
 * const before = setPoolLimit(256 * 2 ** 20);
 * setPoolLimit(before);
 * ```
 */
export function setPoolLimit(bytes: number): number {
  const before = maxBytes;
  maxBytes = bytes;
  evictTo(bytes);
  return before;
}

/**
 * Bytes the pool holds idle now (for tests and diagnostics).
 *
 * @example
 * ```ts
 * import { idlePoolBytes } from "./array_pool.ts";
 * console.log(idlePoolBytes() >= 0); // true
 * ```
 */
export function idlePoolBytes(): number {
  return idleBytes;
}
