/**
 * Reading and writing the HuggingFace safetensors format: an 8-byte
 * little-endian header length N, N bytes of UTF-8 JSON describing each tensor
 * (dtype, shape, byte range), then the raw little-endian C-contiguous data.
 *
 * Tensors are always float32 in memory. F16, BF16 and F64 files are widened or
 * narrowed to float32 on read; files are always written as F32.
 *
 * @module
 */

import { writeFileAtomic } from "./atomic_write.ts";

/**
 * One tensor: its shape and its float32 values in C (row-major) order.
 *
 * @example
 * ```ts
 * import type { TensorRecord } from "./safetensors.ts";
 *
 * const bias: TensorRecord = { shape: [2], data: new Float32Array([0.1, -0.2]) };
 * ```
 */
export interface TensorRecord {
  /** Dimensions; `[]` is a scalar holding one value. */
  shape: number[];
  /** `product(shape)` values, C-contiguous. */
  data: Float32Array;
}

/**
 * A decoded safetensors file.
 *
 * @example
 * ```ts
 * import { decodeSafetensors, encodeSafetensors } from "./safetensors.ts";
 *
 * const file = decodeSafetensors(encodeSafetensors({ w: { shape: [1], data: new Float32Array([3]) } }));
 * console.log(file.tensors.get("w")?.data[0], file.metadata); // 3 {}
 * ```
 */
export interface SafetensorsFile {
  /** Tensors by name, in the order their bytes appear in the file. */
  tensors: Map<string, TensorRecord>;
  /** The `__metadata__` map, or `{}` when the file has none. */
  metadata: Record<string, string>;
}

/**
 * A malformed or unexpected safetensors file. The message is
 * `${source}: ${problem}`, so it always says which file is at fault.
 *
 * @example
 * ```ts
 * import { decodeSafetensors, SafetensorsError } from "./safetensors.ts";
 *
 * try {
 *   decodeSafetensors(new Uint8Array(3), "ckpt.safetensors");
 * } catch (e) {
 *   if (e instanceof SafetensorsError) console.log(e.source, "->", e.problem);
 * }
 * ```
 */
export class SafetensorsError extends Error {
  /** The file path (or other label) of the offending data. */
  readonly source: string;
  /** What is wrong, without the source prefix. */
  readonly problem: string;

  /**
   * Creates an error whose message is `${source}: ${problem}`.
   *
   * @param source File path or label of the offending data.
   * @param problem What is wrong, and what to do about it where useful.
   */
  constructor(source: string, problem: string) {
    super(`${source}: ${problem}`);
    this.name = "SafetensorsError";
    this.source = source;
    this.problem = problem;
  }
}

/** Same limit as the reference implementation; guards against hostile lengths. */
const MAX_HEADER_BYTES = 100_000_000;
const DTYPE_BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const REQUIRED = ["dtype", "shape", "data_offsets"];

/** A validated header entry. */
interface Entry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const product = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);
const fmt = (shape: number[]): string => `[${shape.join(",")}]`;

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // zero or subnormal
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Converts `bytes` (already bounds-checked) to float32 values. */
function toFloat32(dtype: string, bytes: Uint8Array): Float32Array {
  // slice() copies into a fresh, aligned buffer: data offsets in a file need
  // not be multiples of 4, and typed-array views require alignment.
  if (LITTLE_ENDIAN && dtype === "F32") {
    return new Float32Array(bytes.slice().buffer);
  }
  if (LITTLE_ENDIAN && dtype === "F64") {
    return new Float32Array(new Float64Array(bytes.slice().buffer));
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(bytes.length / DTYPE_BYTES[dtype]);
  if (dtype === "BF16") {
    // bfloat16 is the top half of a float32's bit pattern.
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < out.length; i++) {
      bits[i] = view.getUint16(2 * i, true) << 16;
    }
  } else {
    for (let i = 0; i < out.length; i++) {
      out[i] = dtype === "F16"
        ? halfToFloat(view.getUint16(2 * i, true))
        : dtype === "F64"
        ? view.getFloat64(8 * i, true)
        : view.getFloat32(4 * i, true);
    }
  }
  return out;
}

/**
 * Parses a safetensors file held in memory, validating everything: header
 * length, JSON, every entry's dtype/shape/offsets, and that the tensors tile
 * the data section exactly (no overlaps, no gaps, nothing past the end).
 *
 * @param bytes The whole file.
 * @param source Label used in error messages, normally the file path.
 * @returns The tensors (converted to float32) and the metadata.
 * @throws {SafetensorsError} If the data is not a well-formed safetensors file
 * or uses a dtype other than F32, F16, BF16 or F64.
 *
 * @example
 * ```ts
 * import { decodeSafetensors } from "./safetensors.ts";
 *
 * const bytes = await Deno.readFile("d_a.safetensors");
 * const { tensors } = decodeSafetensors(bytes, "d_a.safetensors");
 * console.log(tensors.get("model.0.weight")?.shape); // [8, 3, 4, 4]
 * ```
 */
export function decodeSafetensors(
  bytes: Uint8Array,
  source = "safetensors data",
): SafetensorsFile {
  // Typed as a declared `never` function so TypeScript narrows after calls.
  const fail: (problem: string) => never = (problem) => {
    throw new SafetensorsError(source, problem);
  };
  const notSafetensors = "the file is truncated or not a safetensors file";
  if (bytes.length < 8) {
    fail(
      `file is ${bytes.length} bytes, shorter than the 8-byte header length; ${notSafetensors}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(MAX_HEADER_BYTES)) {
    fail(
      `header length ${headerLength} exceeds the 100 MB limit; ${notSafetensors}`,
    );
  }
  const dataStart = 8 + Number(headerLength);
  if (dataStart > bytes.length) {
    fail(
      `header length ${headerLength} runs past the end of the file (${bytes.length} bytes); ${notSafetensors}`,
    );
  }

  let headerText = "";
  try {
    headerText = new TextDecoder("utf-8", { fatal: true }).decode(
      bytes.subarray(8, dataStart),
    );
  } catch {
    fail(`header is not valid UTF-8; ${notSafetensors}`);
  }
  let header: unknown;
  try {
    header = JSON.parse(headerText);
  } catch (e) {
    fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (!isRecord(header)) fail("header is not a JSON object");

  let metadata: Record<string, string> = {};
  if ("__metadata__" in header) {
    const m = header.__metadata__;
    if (!isRecord(m)) fail("__metadata__ is not a JSON object");
    for (const [k, v] of Object.entries(m)) {
      if (typeof v !== "string") {
        const got = JSON.stringify(v);
        fail(`__metadata__ must map strings to strings, but "${k}" is ${got}`);
      }
    }
    metadata = m as Record<string, string>; // values checked above
  }

  const dataLength = bytes.length - dataStart;
  const found: Entry[] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const where = `tensor "${name}"`;
    if (!isRecord(entry)) fail(`${where}: entry must be an object`);
    const absent = REQUIRED.find((key) => !(key in entry));
    if (absent) fail(`${where}: missing "${absent}"`);
    const { dtype, shape, data_offsets: offsets } = entry;
    if (typeof dtype !== "string") fail(`${where}: dtype must be a string`);
    if (!(Array.isArray(shape) && shape.every(isCount))) {
      const got = JSON.stringify(shape);
      fail(
        `${where}: shape must be an array of non-negative integers, got ${got}`,
      );
    }
    if (!Object.hasOwn(DTYPE_BYTES, dtype)) {
      fail(
        `${where} has dtype "${dtype}", which is not supported (supported: F32, F16, BF16, F64); convert it to float32 before saving`,
      );
    }
    if (
      !(Array.isArray(offsets) && offsets.length === 2 &&
        offsets.every(isCount))
    ) {
      const got = JSON.stringify(offsets);
      fail(
        `${where}: data_offsets must be two non-negative integers [begin, end], got ${got}`,
      );
    }
    const [begin, end] = offsets;
    if (begin > end) {
      fail(`${where}: data_offsets begin ${begin} is after end ${end}`);
    }
    if (end > dataLength) {
      fail(
        `${where}: data_offsets end ${end} is past the end of the data section (${dataLength} bytes); the file is truncated`,
      );
    }
    const need = product(shape) * DTYPE_BYTES[dtype];
    if (end - begin !== need) {
      const want = `shape ${fmt(shape)} of ${dtype} needs ${need} bytes`;
      const have = `data_offsets [${begin},${end}] cover ${end - begin}`;
      fail(`${where}: ${want}, but ${have}`);
    }
    found.push({ name, dtype, shape, begin, end });
  }

  found.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: Entry | undefined;
  for (const t of found) {
    if (t.begin === t.end) continue; // empty tensors own no bytes
    if (previous && t.begin < previous.end) {
      fail(
        `tensors "${previous.name}" [${previous.begin},${previous.end}] and "${t.name}" [${t.begin},${t.end}] overlap`,
      );
    }
    covered += t.end - t.begin;
    previous = t;
  }
  const uncovered = dataLength - covered; // >= 0: ranges are disjoint and in bounds
  if (uncovered) {
    fail(`data section has ${uncovered} bytes not covered by any tensor`);
  }

  const tensors = new Map<string, TensorRecord>();
  for (const t of found) {
    const raw = bytes.subarray(dataStart + t.begin, dataStart + t.end);
    tensors.set(t.name, { shape: [...t.shape], data: toFloat32(t.dtype, raw) });
  }
  return { tensors, metadata };
}

/**
 * Serializes float32 tensors as safetensors: dtype F32, data laid out
 * contiguously in insertion order, header padded with spaces to a multiple of
 * 8 bytes so the data section starts aligned.
 *
 * @param tensors Tensors by name (Map or plain object; insertion order kept).
 * @param metadata Optional `__metadata__` strings, written first when non-empty.
 * @returns The complete file.
 * @throws {SafetensorsError} If a tensor's data length does not match its
 * shape, or a tensor is named `__metadata__`.
 *
 * @example
 * ```ts
 * import { encodeSafetensors } from "./safetensors.ts";
 *
 * const bytes = encodeSafetensors(
 *   { "model.0.bias": { shape: [2], data: new Float32Array([1, 2]) } },
 *   { step: "100" },
 * );
 * await Deno.writeFile("tiny.safetensors", bytes);
 * ```
 */
export function encodeSafetensors(
  tensors: Map<string, TensorRecord> | Record<string, TensorRecord>,
  metadata?: Record<string, string>,
): Uint8Array {
  const list = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    header.__metadata__ = metadata;
  }
  let offset = 0;
  for (const [name, { shape, data }] of list) {
    const fail = (problem: string): never => {
      throw new SafetensorsError(
        "encodeSafetensors",
        `tensor "${name}": ${problem}`,
      );
    };
    if (name === "__metadata__") fail("the name __metadata__ is reserved");
    if (!(Array.isArray(shape) && shape.every(isCount))) {
      fail(
        `shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`,
      );
    }
    if (data.length !== product(shape)) {
      fail(
        `shape ${fmt(shape)} needs ${product(shape)} values, but data has ${data.length}`,
      );
    }
    header[name] = {
      dtype: "F32",
      shape,
      data_offsets: [offset, offset + data.byteLength],
    };
    offset += data.byteLength;
  }

  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLength = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength); // space padding
  let at = 8 + headerLength;
  const view = new DataView(out.buffer);
  for (const [, { data }] of list) {
    if (LITTLE_ENDIAN) {
      out.set(
        new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
        at,
      );
    } else data.forEach((v, i) => view.setFloat32(at + 4 * i, v, true));
    at += data.byteLength;
  }
  return out;
}

/**
 * Reads and validates a safetensors file from disk.
 *
 * @param path File to read.
 * @returns The tensors (as float32) and the metadata.
 * @throws {SafetensorsError} Naming `path` if the file cannot be read or is
 * malformed.
 *
 * @example
 * ```ts
 * import { readSafetensors } from "./safetensors.ts";
 *
 * const { tensors, metadata } = await readSafetensors("runs/g_ab.safetensors");
 * console.log(tensors.size, metadata);
 * ```
 */
export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    const problem = e instanceof Deno.errors.NotFound
      ? "file not found; check the path"
      : `cannot read file (${(e as Error).message})`;
    throw new SafetensorsError(path, problem);
  }
  return decodeSafetensors(bytes, path);
}

/**
 * Writes tensors to `path` as safetensors, atomically: a crash mid-write
 * leaves any previous file intact.
 *
 * @param path File to create or replace.
 * @param tensors Tensors by name (Map or plain object; insertion order kept).
 * @param metadata Optional `__metadata__` strings.
 * @returns Resolves once the file is durably in place.
 * @throws {Error} Naming `path` and the cause (for example "disk full") if
 * the write fails.
 *
 * @example
 * ```ts
 * import { writeSafetensors } from "./safetensors.ts";
 *
 * await writeSafetensors("checkpoint.safetensors", {
 *   "model.0.bias": { shape: [2], data: new Float32Array([1, 2]) },
 * }, { step: "100" });
 * ```
 */
export async function writeSafetensors(
  path: string,
  tensors: Map<string, TensorRecord> | Record<string, TensorRecord>,
  metadata?: Record<string, string>,
): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

/**
 * Checks that a file holds exactly the expected tensor names and shapes, as
 * before loading weights into a model.
 *
 * @param file A decoded safetensors file.
 * @param expected Expected shape for every name.
 * @param source Label used in the error message, normally the file path.
 * @throws {SafetensorsError} Listing every missing name, every unexpected
 * name, and every shape mismatch (expected vs found).
 *
 * @example
 * ```ts
 * import { checkTensorSet, readSafetensors } from "./safetensors.ts";
 *
 * const file = await readSafetensors("d_a.safetensors");
 * checkTensorSet(file, new Map([["model.9.bias", [1]]]), "d_a.safetensors");
 * ```
 */
export function checkTensorSet(
  file: SafetensorsFile,
  expected: Map<string, number[]>,
  source: string,
): void {
  const missing = [...expected.keys()].filter((name) => !file.tensors.has(name));
  const extra = [...file.tensors.keys()].filter((name) => !expected.has(name));
  const wrongShape: string[] = [];
  for (const [name, shape] of expected) {
    const got = file.tensors.get(name)?.shape;
    if (got && fmt(got) !== fmt(shape)) {
      wrongShape.push(`${name} expected ${fmt(shape)} but found ${fmt(got)}`);
    }
  }
  const problems = [
    missing.length ? `missing ${missing.length} tensor(s): ${missing.join(", ")}` : "",
    extra.length ? `unexpected ${extra.length} tensor(s): ${extra.join(", ")}` : "",
    wrongShape.length ? `wrong shape: ${wrongShape.join(", ")}` : "",
  ].filter(Boolean);
  if (problems.length) {
    throw new SafetensorsError(
      source,
      `tensors do not match the model: ${problems.join("; ")}. ` +
        "Was the file saved from a model with the same architecture and widths?",
    );
  }
}
