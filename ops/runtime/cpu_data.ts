/**
 * Reading the `cpu` backend's arrays directly. TF.js's cpu backend (under the
 * `cpu`, `blas` and `onednn` backends) keeps each tensor's data as a plain
 * typed array in a record with a reference count; our kernels, fused ops and
 * Adam read and write those arrays instead of going through tensor ops.
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** The cpu backend's record of one tensor's data. */
export interface CpuDataRecord {
  /** The data: a Float32Array for float32 tensors. */
  values?: unknown;
  /** How many tensors share this record (a reshape or clone shares it). */
  refCount?: number;
}

/** The parts of tfjs-backend-cpu's `MathBackendCPU` our kernels use. */
export interface CpuBackendLike {
  /** The data records by data id. */
  data: { get(dataId: tf.DataId): CpuDataRecord | undefined };
  /** Makes a kernel output from an array (stored, not copied). */
  makeTensorInfo(
    shape: number[],
    dtype: tf.DataType,
    values: Float32Array | Uint8Array,
  ): tf.TensorInfo;
}

/**
 * A kernel input's array when it is float32, else null.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { type CpuBackendLike, float32Input } from "./cpu_data.ts";
 * await tf.setBackend("cpu");
 * const t = tf.ones([2]);
 * console.log(float32Input(tf.backend() as unknown as CpuBackendLike, t)); // Float32Array [1, 1]
 * ```
 */
export function float32Input(
  backend: CpuBackendLike,
  t: tf.TensorInfo | undefined,
): Float32Array | null {
  if (!t || t.dtype !== "float32") return null;
  const v = backend.data.get(t.dataId)?.values;
  return v instanceof Float32Array ? v : null;
}

/**
 * The cpu backend's record of a tensor's data; undefined when another backend
 * is active.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { cpuData } from "./cpu_data.ts";
 * await tf.setBackend("cpu");
 * console.log(cpuData(tf.ones([2]))?.refCount); // 1
 * ```
 */
export function cpuData(t: { dataId: tf.DataId }): CpuDataRecord | undefined {
  if (tf.getBackend() !== "cpu") return undefined;
  return (tf.backend() as unknown as CpuBackendLike).data.get(t.dataId);
}

/**
 * A tensor's Float32Array on the cpu backend (the array itself, not a copy),
 * else null.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { cpuFloat32 } from "./cpu_data.ts";
 * await tf.setBackend("cpu");
 * console.log(cpuFloat32(tf.ones([2]))); // Float32Array [1, 1]
 * ```
 */
export function cpuFloat32(t: { dataId: tf.DataId }): Float32Array | null {
  const v = cpuData(t)?.values;
  return v instanceof Float32Array ? v : null;
}

/**
 * A float32 tensor's values: on the cpu backend its own array (no copy), on
 * any other a copy read with `dataSync`.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { float32Values } from "./cpu_data.ts";
 * await tf.setBackend("cpu");
 * console.log(float32Values(tf.ones([2]))); // Float32Array [1, 1]
 * ```
 */
export function float32Values(t: tf.Tensor): Float32Array {
  return cpuFloat32(t) ?? t.dataSync() as Float32Array;
}
