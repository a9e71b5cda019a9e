/**
 * Convolutions by oneDNN (the library PyTorch's CPU convolutions use), reached
 * through `Deno.dlopen` (needs `--allow-ffi`).
 *
 * Only the oneDNN 2.x C API's convolution, reorder and memory calls are bound.
 * Activations stay in TF.js's NHWC layout and filters in its `[KH, KW, Ci, Co]`
 * layout (oneDNN's `hwio`); oneDNN picks its own weight layout and the filter
 * is reordered to it (and the filter gradient back) on every call, as PyTorch
 * does for plain tensors. One primitive per convolution shape and direction is
 * created on first use and cached. Every buffer size is checked in JS before
 * native code sees it.
 *
 * Install: `apt-get install libdnnl2` (Debian 12), or set `DISCOGAN_ONEDNN` to
 * the path of `libdnnl.so.2`.
 *
 * @module
 */
import { ffiGuardEnabled, GuardedCall } from "../ffi_guard.ts";
import { type NormPrimitives, normPrimitives } from "./norm.ts";
import { type BinaryPrimitives, binaryPrimitives } from "./binary.ts";
import { pinLibrary } from "../pin_library.ts";
import { writeStamp } from "../write_stamps.ts";
import { openFirstLibrary } from "../native_library.ts";

/** Library paths tried in order after `DISCOGAN_ONEDNN`. */
export const ONEDNN_SEARCH_PATHS: readonly string[] = [
  "/usr/lib/x86_64-linux-gnu/libdnnl.so.2",
  "/usr/lib/aarch64-linux-gnu/libdnnl.so.2",
  "/usr/lib64/libdnnl.so.2",
  "/usr/local/lib/libdnnl.so.2",
  "libdnnl.so.2",
];

/** The geometry of one NHWC convolution with an `[KH, KW, Ci, Co]` filter. */
export interface ConvGeometry {
  /** Batch size. */
  n: number;
  /** Input height, width and channels. */
  h: number;
  w: number;
  ci: number;
  /** Output height, width and channels. */
  oh: number;
  ow: number;
  co: number;
  /** Filter height and width. */
  kh: number;
  kw: number;
  /** Strides. */
  sh: number;
  sw: number;
  /** Zero padding before (top, left) the input; after is implied by the sizes. */
  pt: number;
  pl: number;
  /**
   * Convolve in bfloat16: the input, filter and output gradient are rounded to
   * bf16 on the way in, products are summed and written in fp32 (the caller's
   * arrays stay fp32). Unset: fp32 throughout.
   */
  bf16?: boolean;
}

/**
 * A loaded oneDNN with a CPU engine and stream: convolutions here, and the
 * normalisations of `norm.ts`.
 */
export interface OneDnn extends NormPrimitives, BinaryPrimitives {
  /** Path (or soname) that `Deno.dlopen` succeeded with. */
  readonly path: string;
  /** oneDNN's version, e.g. "2.6.3". */
  readonly version: string;
  /** `y = conv(x, w) (+ bias)`; `y` is overwritten. */
  forward(
    g: ConvGeometry,
    x: Float32Array,
    w: Float32Array,
    bias: Float32Array | null,
    y: Float32Array,
  ): void;
  /** `dx` = the gradient of the input (the transposed convolution of `dy`); overwritten. */
  backwardData(g: ConvGeometry, dy: Float32Array, w: Float32Array, dx: Float32Array): void;
  /**
   * `dw` = the gradient of the filter, and with `db` that of the bias (the sum
   * of `dy` over all but its channels), in the same pass; both overwritten.
   */
  backwardWeights(
    g: ConvGeometry,
    x: Float32Array,
    dy: Float32Array,
    dw: Float32Array,
    db?: Float32Array | null,
  ): void;
  /** The implementation oneDNN chose for a direction and geometry, e.g. "brg:avx512_core". */
  implementation(kind: "forward" | "backwardData" | "backwardWeights", g: ConvGeometry): string;
  /**
   * `c = a · b` for row-major `a` [m, k] and `b` [k, n] into `c` [m, n]
   * (`dnnl_sgemm`, on all of oneDNN's threads); the bench's fp32 peak.
   */
  sgemm(m: number, n: number, k: number, a: Float32Array, b: Float32Array, c: Float32Array): void;
}

// Values from oneDNN 2.x's dnnl_types.h (stable across 2.x releases).
const F32 = 3, BF16 = 2, TAG_ANY = 1, TAG_X = 2, TAG_NHWC = 20, TAG_HWIO = 30;
const ENGINE_CPU = 1, STREAM_DEFAULT = 1;
const FORWARD_TRAINING = 64, CONV_DIRECT = 1;
const ARG_SRC = 1, ARG_DST = 17, ARG_WEIGHTS = 33, ARG_BIAS = 41;
const ARG_DIFF_SRC = 129, ARG_DIFF_DST = 145, ARG_DIFF_WEIGHTS = 161, ARG_DIFF_BIAS = 169;
const Q_SRC = 129, Q_DIFF_SRC = 130, Q_WEIGHTS = 131, Q_DIFF_WEIGHTS = 132, Q_DIFF_DST = 134;
const Q_IMPL_INFO = 8;
// sizeof(dnnl_memory_desc_t) is 696 and sizeof(dnnl_convolution_desc_t) 5976
// in 2.6; the buffers are larger so that other 2.x builds fit too.
const MD_BYTES = 1024, OP_DESC_BYTES = 8192;

const SYMBOLS = {
  dnnl_engine_create: { parameters: ["buffer", "i32", "usize"], result: "i32" },
  dnnl_stream_create: { parameters: ["buffer", "pointer", "u32"], result: "i32" },
  dnnl_stream_wait: { parameters: ["pointer"], result: "i32" },
  dnnl_version: { parameters: [], result: "pointer" },
  dnnl_memory_desc_init_by_tag: {
    parameters: ["buffer", "i32", "buffer", "i32", "i32"],
    result: "i32",
  },
  dnnl_memory_desc_equal: { parameters: ["pointer", "pointer"], result: "i32" },
  dnnl_memory_desc_get_size: { parameters: ["pointer"], result: "usize" },
  dnnl_convolution_forward_desc_init: {
    parameters: [
      "buffer",
      "i32",
      "i32",
      "pointer",
      "pointer",
      "pointer",
      "pointer",
      "buffer",
      "buffer",
      "buffer",
    ],
    result: "i32",
  },
  dnnl_convolution_backward_data_desc_init: {
    parameters: ["buffer", "i32", "pointer", "pointer", "pointer", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  dnnl_convolution_backward_weights_desc_init: {
    parameters: [
      "buffer",
      "i32",
      "pointer",
      "pointer",
      "pointer",
      "pointer",
      "buffer",
      "buffer",
      "buffer",
    ],
    result: "i32",
  },
  dnnl_primitive_desc_create: {
    parameters: ["buffer", "buffer", "pointer", "pointer", "pointer"],
    result: "i32",
  },
  dnnl_primitive_desc_query: {
    parameters: ["pointer", "i32", "i32", "buffer"],
    result: "i32",
  },
  dnnl_primitive_desc_query_md: { parameters: ["pointer", "i32", "i32"], result: "pointer" },
  dnnl_primitive_create: { parameters: ["buffer", "pointer"], result: "i32" },
  dnnl_primitive_execute: {
    parameters: ["pointer", "pointer", "i32", "buffer"],
    result: "i32",
  },
  dnnl_memory_create: {
    parameters: ["buffer", "pointer", "pointer", "pointer"],
    result: "i32",
  },
  dnnl_memory_set_data_handle: { parameters: ["pointer", "buffer"], result: "i32" },
  dnnl_sgemm: {
    parameters: [
      "u8",
      "u8",
      "i64",
      "i64",
      "i64",
      "f32",
      "buffer",
      "i64",
      "buffer",
      "i64",
      "f32",
      "buffer",
      "i64",
    ],
    result: "i32",
  },
  dnnl_reorder_primitive_desc_create: {
    parameters: ["buffer", "pointer", "pointer", "pointer", "pointer", "pointer"],
    result: "i32",
  },
  dnnl_batch_normalization_forward_desc_init: {
    parameters: ["buffer", "i32", "pointer", "f32", "u32"],
    result: "i32",
  },
  dnnl_batch_normalization_backward_desc_init: {
    parameters: ["buffer", "i32", "pointer", "pointer", "f32", "u32"],
    result: "i32",
  },
  dnnl_eltwise_forward_desc_init: {
    parameters: ["buffer", "i32", "i32", "pointer", "f32", "f32"],
    result: "i32",
  },
  dnnl_eltwise_backward_desc_init: {
    parameters: ["buffer", "i32", "pointer", "pointer", "f32", "f32"],
    result: "i32",
  },
  dnnl_binary_desc_init: {
    parameters: ["buffer", "i32", "pointer", "pointer", "pointer"],
    result: "i32",
  },
} as const;

/** The bound oneDNN functions. */
export type OneDnnSymbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];
type Lib = OneDnnSymbols;
type Ptr = Deno.PointerValue;

/** A memory descriptor we own: its bytes must outlive every use of its pointer. */
export interface Md {
  /** The descriptor. */
  bytes: Uint8Array<ArrayBuffer>;
  /** Its address, for oneDNN. */
  ptr: Ptr;
}

/** A primitive with one memory object per argument, bound to arrays per call. */
export interface SimplePlan {
  /** The primitive. */
  primitive: Ptr;
  /** Its `dnnl_exec_arg_t` list. */
  args: Uint8Array<ArrayBuffer>;
  /** The memory object of each argument. */
  slots: Map<number, Slot>;
}

/** Whether a primitive only reads an array or writes it too (guard mode checks it). */
export type Access = "in" | "out";

/**
 * What `norm.ts` and `binary.ts` build their primitives with: the engine's helpers, shared
 * with the convolutions.
 */
export interface PrimitiveKit {
  /** The bound functions. */
  lib: OneDnnSymbols;
  /** Throws, naming `what`, unless `status` is success. */
  check(status: number, what: string): void;
  /** An fp32 memory descriptor: `nhwc` for 4-D data, `x` for 1-D. */
  md(shape: number[], tag: "nhwc" | "x"): Md;
  /** A primitive descriptor for an operation descriptor (and its forward hint). */
  primitiveDesc(opDesc: Uint8Array<ArrayBuffer>, hint: Ptr): Ptr;
  /** The primitive of `pd`, with a memory object per argument; `keep` outlives it. */
  plan(pd: Ptr, args: [number, Md][], keep: unknown[]): SimplePlan;
  /** Binds each argument's array, runs the plan and waits for it (guarded in guard mode). */
  execute(what: string, p: SimplePlan, arrays: [number, Float32Array, Access][]): void;
}

/** One memory object of a primitive: bound to a caller's array on every call. */
interface Slot {
  arg: number;
  memory: Ptr;
  /** Elements of its data type: 4 bytes each (fp32) or 2 (bf16). */
  elements: number;
  elementBytes: number;
}

/** fp32 data, or bf16 data held as its raw 16-bit patterns. */
type Data = Float32Array | Uint16Array;

/** A reorder between the caller's filter layout and the primitive's. */
interface Reorder {
  primitive: Ptr;
  args: Uint8Array<ArrayBuffer>;
  from: Slot;
  to: Slot;
  /** The layout it writes (owned by a primitive descriptor that lives as long as the plans). */
  toMd: Ptr;
}

/** A filter reordered into a primitive's layout, and the write stamp of the values it copies. */
interface FilterCopy {
  stamp: number;
  md: Ptr;
  /** Its storage, in 32-bit words. */
  words: Float32Array;
  /** The copy: `words` itself (fp32) or a bf16 view of it. */
  data: Data;
  /** Its size in the cache's count (what the finalizer subtracts). */
  held: { bytes: number };
}

/**
 * The most bytes of reordered filters kept between calls: the full-width
 * ResNet's four networks (24M parameters, 97 MB) fit; the U-Net's (58M) keep
 * part, which bounds what it adds to the peak RSS.
 */
export const FILTER_CACHE_BYTES = 128 * 2 ** 20;

/** A cached convolution primitive with its memory objects. */
interface Plan {
  primitive: Ptr;
  args: Uint8Array<ArrayBuffer>;
  slots: Map<number, Slot>;
  /** Filter reorder (caller → primitive for forward/backwardData, back for backwardWeights). */
  reorder: Reorder | null;
  /**
   * Activation arguments the primitive reads in its own layout or type (bf16
   * plans; blocked backward-data plans): the reorder from the caller's fp32
   * NHWC array, run before the primitive, by argument.
   */
  reads: Map<number, Reorder>;
  /** The same for what it writes: the reorder back to the caller's array, run after. */
  writes: Map<number, Reorder>;
  impl: string;
}

/**
 * Whether a backward-data convolution runs in oneDNN's blocked layout, with
 * its output gradient reordered in and its input gradient reordered out,
 * instead of on NHWC: for 256 channels or more on both sides over 32x32
 * pixels or more, where oneDNN 2.6's NHWC kernel is slowest. Measured on the
 * AMD EPYC build machine, 3x3 filters: 1x32x32x256 to 256 channels 3.64 ms
 * NHWC, 3.16 blocked with the reorders; 1x64x64x256 14.9 and 12.5; 2x64x64x256
 * 31.9 and 26.8; 8x16x16x256 (fewer pixels) 7.28 and 7.32; 4x32x32x256 to
 * 128 channels 6.03 and 6.34.
 *
 * @example
 * ```ts
 * import { blockedBackwardData } from "./onednn.ts";
 * const g = { n: 1, h: 34, w: 34, ci: 256, oh: 32, ow: 32, co: 256, kh: 3, kw: 3, sh: 1, sw: 1, pt: 0, pl: 0 };
 * console.log(blockedBackwardData(g)); // true
 * ```
 */
export function blockedBackwardData(g: ConvGeometry): boolean {
  return !g.bf16 && g.ci >= 256 && g.co >= 256 && g.h * g.w >= 1024;
}

function check(status: number, what: string): void {
  if (status !== 0) throw new Error(`oneDNN: ${what} failed (status ${status})`);
}

function out(): BigUint64Array<ArrayBuffer> {
  return new BigUint64Array(1);
}

function ptrOf(cell: BigUint64Array): Ptr {
  return Deno.UnsafePointer.create(cell[0]);
}

function dims(values: number[]): BigInt64Array<ArrayBuffer> {
  const d = new BigInt64Array(12);
  values.forEach((v, i) => d[i] = BigInt(v));
  return d;
}

function open(path: string): OneDnn {
  pinLibrary(path);
  const lib: Lib = Deno.dlopen(path, SYMBOLS).symbols;
  const cell = out();
  check(lib.dnnl_engine_create(cell, ENGINE_CPU, 0n), "engine_create");
  const engine = ptrOf(cell);
  check(lib.dnnl_stream_create(cell, engine, STREAM_DEFAULT), "stream_create");
  const stream = ptrOf(cell);
  const v = new Deno.UnsafePointerView(lib.dnnl_version() as Deno.PointerObject);
  const version = `${v.getInt32(0)}.${v.getInt32(4)}.${v.getInt32(8)}`;

  const md = (shape: number[], tag: number, type = F32): Md => {
    const bytes = new Uint8Array(MD_BYTES);
    check(
      lib.dnnl_memory_desc_init_by_tag(bytes, shape.length, dims(shape), type, tag),
      "memory_desc_init_by_tag",
    );
    return { bytes, ptr: Deno.UnsafePointer.of(bytes) };
  };
  const memory = (mdPtr: Ptr, arg: number, elementBytes = 4): Slot => {
    const c = out();
    check(lib.dnnl_memory_create(c, mdPtr, engine, null), "memory_create");
    const elements = Number(lib.dnnl_memory_desc_get_size(mdPtr)) / elementBytes;
    return { arg, memory: ptrOf(c), elements, elementBytes };
  };
  const argList = (slots: Slot[]): Uint8Array<ArrayBuffer> => {
    // dnnl_exec_arg_t is { int arg; dnnl_memory_t memory; }: 16 bytes.
    const bytes = new Uint8Array(16 * slots.length);
    const view = new DataView(bytes.buffer);
    slots.forEach((s, i) => {
      view.setInt32(16 * i, s.arg, true);
      view.setBigUint64(16 * i + 8, BigInt(Deno.UnsafePointer.value(s.memory)), true);
    });
    return bytes;
  };
  const primitiveDesc = (opDesc: Uint8Array<ArrayBuffer>, hint: Ptr): Ptr => {
    const c = out();
    check(lib.dnnl_primitive_desc_create(c, opDesc, null, engine, hint), "primitive_desc_create");
    return ptrOf(c);
  };
  const primitive = (pd: Ptr): Ptr => {
    const c = out();
    check(lib.dnnl_primitive_create(c, pd), "primitive_create");
    return ptrOf(c);
  };
  const implInfo = (pd: Ptr): string => {
    const c = out();
    if (lib.dnnl_primitive_desc_query(pd, Q_IMPL_INFO, 0, c) !== 0 || c[0] === 0n) return "?";
    return new Deno.UnsafePointerView(ptrOf(c) as Deno.PointerObject).getCString();
  };
  const reorder = (fromMd: Ptr, toMd: Ptr, toBytes = 4): Reorder => {
    const c = out();
    check(
      lib.dnnl_reorder_primitive_desc_create(c, fromMd, engine, toMd, engine, null),
      "reorder_primitive_desc_create",
    );
    const from = memory(fromMd, ARG_SRC), to = memory(toMd, ARG_DST, toBytes);
    return { primitive: primitive(ptrOf(c)), args: argList([from, to]), from, to, toMd };
  };

  // The caller's layouts (fp32), and what the primitive reads: bf16 for a bf16 plan.
  const geometryMds = (g: ConvGeometry) => ({
    src: md([g.n, g.ci, g.h, g.w], TAG_NHWC),
    dst: md([g.n, g.co, g.oh, g.ow], TAG_NHWC),
    userWeights: md([g.co, g.ci, g.kh, g.kw], TAG_HWIO),
    anyWeights: md([g.co, g.ci, g.kh, g.kw], TAG_ANY),
    readSrc: md([g.n, g.ci, g.h, g.w], TAG_NHWC, g.bf16 ? BF16 : F32),
    readDst: md([g.n, g.co, g.oh, g.ow], TAG_NHWC, g.bf16 ? BF16 : F32),
    readWeights: md([g.co, g.ci, g.kh, g.kw], TAG_ANY, g.bf16 ? BF16 : F32),
    anySrc: md([g.n, g.ci, g.h, g.w], TAG_ANY),
    anyDst: md([g.n, g.co, g.oh, g.ow], TAG_ANY),
    bias: md([g.co], TAG_X),
    strides: dims([g.sh, g.sw]),
    padL: dims([g.pt, g.pl]),
    padR: dims([
      (g.oh - 1) * g.sh + g.kh - g.h - g.pt,
      (g.ow - 1) * g.sw + g.kw - g.w - g.pl,
    ]),
  });
  const forwardDesc = (m: ReturnType<typeof geometryMds>, withBias: boolean, blocked = false) => {
    const d = new Uint8Array(OP_DESC_BYTES);
    check(
      lib.dnnl_convolution_forward_desc_init(
        d,
        FORWARD_TRAINING,
        CONV_DIRECT,
        blocked ? m.anySrc.ptr : m.readSrc.ptr,
        m.readWeights.ptr,
        withBias ? m.bias.ptr : null,
        blocked ? m.anyDst.ptr : m.dst.ptr,
        m.strides,
        m.padL,
        m.padR,
      ),
      "convolution_forward_desc_init",
    );
    return d;
  };
  // Keeps every descriptor's bytes alive as long as the plans that point at them.
  const keepAlive: unknown[] = [];
  const plans = new Map<string, Plan>();

  const makePlan = (kind: string, g: ConvGeometry, withBias: boolean): Plan => {
    const m = geometryMds(g);
    keepAlive.push(m);
    const fwdPd = primitiveDesc(forwardDesc(m, withBias), null);
    let pd = fwdPd, weightsQuery = Q_WEIGHTS;
    const slots: Slot[] = [];
    // An argument the primitive reads: the caller's fp32 array, or (bf16) its
    // bf16 copy, made by a reorder on every call.
    const reads = new Map<number, Reorder>(), writes = new Map<number, Reorder>();
    const read = (arg: number, user: Md, readMd: Md) => {
      if (!g.bf16) return slots.push(memory(user.ptr, arg));
      const r = reorder(user.ptr, readMd.ptr, 2);
      reads.set(arg, r);
      slots.push({ ...r.to, arg });
    };
    // Blocked plans: each activation in the layout the primitive chose,
    // reordered from (or to) the caller's NHWC array when that differs.
    const blocked = kind === "backwardData" && blockedBackwardData(g);
    const inLayout = (arg: number, user: Md, chosen: Ptr, output: boolean) => {
      if (lib.dnnl_memory_desc_equal(chosen, user.ptr)) return slots.push(memory(user.ptr, arg));
      const r = output ? reorder(chosen, user.ptr) : reorder(user.ptr, chosen);
      (output ? writes : reads).set(arg, r);
      slots.push({ ...(output ? r.from : r.to), arg });
    };
    if (kind === "forward") {
      read(ARG_SRC, m.src, m.readSrc);
      slots.push(memory(m.dst.ptr, ARG_DST));
      if (withBias) slots.push(memory(m.bias.ptr, ARG_BIAS));
    } else if (kind === "backwardData") {
      const d = new Uint8Array(OP_DESC_BYTES);
      check(
        lib.dnnl_convolution_backward_data_desc_init(
          d,
          CONV_DIRECT,
          blocked ? m.anySrc.ptr : m.src.ptr,
          m.readWeights.ptr,
          blocked ? m.anyDst.ptr : m.readDst.ptr,
          m.strides,
          m.padL,
          m.padR,
        ),
        "convolution_backward_data_desc_init",
      );
      pd = primitiveDesc(d, blocked ? primitiveDesc(forwardDesc(m, false, true), null) : fwdPd);
      if (blocked) {
        inLayout(ARG_DIFF_DST, m.dst, lib.dnnl_primitive_desc_query_md(pd, Q_DIFF_DST, 0), false);
        inLayout(ARG_DIFF_SRC, m.src, lib.dnnl_primitive_desc_query_md(pd, Q_DIFF_SRC, 0), true);
      } else {
        read(ARG_DIFF_DST, m.dst, m.readDst);
        slots.push(memory(m.src.ptr, ARG_DIFF_SRC));
      }
    } else {
      const d = new Uint8Array(OP_DESC_BYTES);
      check(
        lib.dnnl_convolution_backward_weights_desc_init(
          d,
          CONV_DIRECT,
          m.readSrc.ptr,
          m.anyWeights.ptr,
          withBias ? m.bias.ptr : null,
          m.readDst.ptr,
          m.strides,
          m.padL,
          m.padR,
        ),
        "convolution_backward_weights_desc_init",
      );
      pd = primitiveDesc(d, fwdPd);
      weightsQuery = Q_DIFF_WEIGHTS;
      read(ARG_SRC, m.src, m.readSrc);
      read(ARG_DIFF_DST, m.dst, m.readDst);
      if (withBias) slots.push(memory(m.bias.ptr, ARG_DIFF_BIAS));
    }
    // The layouts of src/dst are the caller's (nhwc) by construction; check it.
    const activation = kind === "backwardData" ? Q_DIFF_SRC : Q_SRC;
    const expected = kind === "backwardData" ? m.src : m.readSrc;
    if (
      !blocked &&
      !lib.dnnl_memory_desc_equal(lib.dnnl_primitive_desc_query_md(pd, activation, 0), expected.ptr)
    ) {
      throw new Error("oneDNN: the primitive does not take NHWC activations");
    }
    const chosen = lib.dnnl_primitive_desc_query_md(pd, weightsQuery, 0);
    const weightsArg = kind === "backwardWeights" ? ARG_DIFF_WEIGHTS : ARG_WEIGHTS;
    let r: Reorder | null = null;
    if (lib.dnnl_memory_desc_equal(chosen, m.userWeights.ptr)) {
      slots.push(memory(m.userWeights.ptr, weightsArg));
    } else {
      r = kind === "backwardWeights"
        ? reorder(chosen, m.userWeights.ptr)
        : reorder(m.userWeights.ptr, chosen, g.bf16 ? 2 : 4);
      // The primitive reads (or writes) the reorder's primitive-side memory.
      const inner = kind === "backwardWeights" ? r.from : r.to;
      slots.push({ ...inner, arg: weightsArg });
    }
    return {
      primitive: primitive(pd),
      args: argList(slots),
      slots: new Map(slots.map((s) => [s.arg, s])),
      reorder: r,
      reads,
      writes,
      impl: implInfo(pd),
    };
  };
  const plan = (kind: string, g: ConvGeometry, withBias = false): Plan => {
    const key = `${kind}|${withBias}|${g.n},${g.h},${g.w},${g.ci}|${g.oh},${g.ow},${g.co}|` +
      `${g.kh},${g.kw}|${g.sh},${g.sw}|${g.pt},${g.pl}|${g.bf16 ? "bf16" : "f32"}`;
    let p = plans.get(key);
    if (!p) plans.set(key, p = makePlan(kind, g, withBias));
    return p;
  };

  // Our own buffers (the primitive-side filter of a reorder, bf16 copies of
  // activations), one per role, shared by all plans and grown as needed.
  const scratch = new Map<string, Float32Array>();
  const scratchFor = (role: string, side: Slot, guard: GuardedCall | null): Data => {
    const words = Math.ceil(side.elements * side.elementBytes / 4);
    let buf = scratch.get(role);
    if (!buf || buf.length < words) scratch.set(role, buf = new Float32Array(words));
    const a = guard ? guard.output(buf.subarray(0, words), role) : buf.subarray(0, words);
    return side.elementBytes === 4 ? a : new Uint16Array(a.buffer, a.byteOffset, side.elements);
  };
  const bind = (s: Slot, a: Data, name: string) => {
    if (a.length !== s.elements || a.BYTES_PER_ELEMENT !== s.elementBytes) {
      throw new RangeError(`oneDNN: ${name} has ${a.length} elements, expected ${s.elements}`);
    }
    check(
      lib.dnnl_memory_set_data_handle(s.memory, a as Float32Array<ArrayBuffer>),
      "set_data_handle",
    );
  };
  const run = (primitive: Ptr, args: Uint8Array<ArrayBuffer>, n: number) => {
    check(lib.dnnl_primitive_execute(primitive, stream, n, args), "primitive_execute");
  };
  // An argument the primitive reads; a bf16 plan converts it first.
  const bindRead = (p: Plan, arg: number, a: Float32Array, name: string, g: GuardedCall | null) => {
    const r = p.reads.get(arg);
    if (!r) return bind(p.slots.get(arg) as Slot, a, name);
    bind(r.from, a, name);
    bind(r.to, scratchFor(`read ${name}`, r.to, g), `read ${name}`);
    run(r.primitive, r.args, 2);
  };
  // An argument the primitive writes: the caller's array, or a scratch that
  // execute() reorders into it after the primitive.
  const bindWrite = (
    p: Plan,
    arg: number,
    a: Float32Array,
    name: string,
    g: GuardedCall | null,
  ) => {
    const r = p.writes.get(arg);
    if (!r) return bind(p.slots.get(arg) as Slot, a, name);
    bind(r.from, scratchFor(`write ${name}`, r.from, g), `write ${name}`);
    bind(r.to, a, name);
  };
  // Filters in the primitives' layouts, kept between calls: an iteration reads
  // each weight in several passes (G_AB runs twice forward and twice backward)
  // between two of Adam's updates, and reordering it each time cost about 7% of
  // the ResNet's iteration at 64 px batch 1. Kept only for arrays whose writes
  // are stamped (Adam's arena, ops/runtime/write_stamps.ts), one layout per
  // array, and up to FILTER_CACHE_BYTES in all.
  const filterCache = new WeakMap<Float32Array, FilterCopy>();
  let filterCacheBytes = 0;
  // A collected array's copy leaves the count (its size, as last kept).
  const releaseFilter = new FinalizationRegistry<{ bytes: number }>((held) => {
    filterCacheBytes -= held.bytes;
  });
  // Where the filter for `user` goes in `r`'s layout: its kept copy, `current`
  // when that already holds these values (else the caller refreshes it by the
  // reorder); null for an array that may not be kept (the shared scratch then).
  const keptFilter = (r: Reorder, user: Float32Array): { data: Data; current: boolean } | null => {
    const stamp = writeStamp(user);
    if (stamp === undefined) return null;
    let copy = filterCache.get(user);
    if (copy && copy.stamp === stamp && lib.dnnl_memory_desc_equal(copy.md, r.toMd)) {
      return { data: copy.data, current: true };
    }
    const words = Math.ceil(r.to.elements * r.to.elementBytes / 4);
    if (!copy || copy.words.length !== words) {
      const before = copy?.held.bytes ?? 0;
      if (filterCacheBytes - before + 4 * words > FILTER_CACHE_BYTES) return null;
      const buf = new Float32Array(words);
      filterCacheBytes += buf.byteLength - before;
      if (copy) {
        copy.held.bytes = buf.byteLength;
        copy.words = buf;
      } else {
        const held = { bytes: buf.byteLength };
        releaseFilter.register(user, held);
        copy = { stamp, md: r.toMd, words: buf, data: buf, held };
        filterCache.set(user, copy);
      }
    }
    copy.stamp = stamp;
    copy.md = r.toMd;
    copy.data = r.to.elementBytes === 4
      ? copy.words
      : new Uint16Array(copy.words.buffer, 0, r.to.elements);
    return { data: copy.data, current: false };
  };
  const execute = (p: Plan, user: Float32Array, weightsArg: number, guard: GuardedCall | null) => {
    const r = p.reorder;
    if (!r) {
      bind(p.slots.get(weightsArg) as Slot, user, "filter");
      run(p.primitive, p.args, p.slots.size);
    } else if (weightsArg === ARG_DIFF_WEIGHTS) {
      bind(r.from, scratchFor("filter", r.from, guard), "filter scratch");
      run(p.primitive, p.args, p.slots.size);
      bind(r.to, user, "filter gradient");
      run(r.primitive, r.args, 2);
    } else {
      const kept = guard ? null : keptFilter(r, user);
      bind(r.to, kept?.data ?? scratchFor("filter", r.to, guard), "filter copy");
      if (!kept?.current) {
        bind(r.from, user, "filter");
        run(r.primitive, r.args, 2);
      }
      run(p.primitive, p.args, p.slots.size);
    }
    for (const w of p.writes.values()) run(w.primitive, w.args, 2);
    check(lib.dnnl_stream_wait(stream), "stream_wait");
    guard?.finish();
  };
  // Guard mode (ops/runtime/ffi_guard.ts): the call's arrays, in guarded copies.
  const guardFor = (kind: string, g: ConvGeometry) => {
    if (!ffiGuardEnabled()) return { guard: null, input: same, output: same };
    const guard = new GuardedCall(`oneDNN ${kind} (${JSON.stringify(g)})`);
    return {
      guard,
      input: (a: Float32Array, name: string) => guard.input(a, name),
      output: (a: Float32Array, name: string) => guard.output(a, name),
    };
  };

  const kit: PrimitiveKit = {
    lib,
    check,
    md: (shape, tag) => md(shape, tag === "nhwc" ? TAG_NHWC : TAG_X),
    primitiveDesc,
    plan(pd, args, keep) {
      keepAlive.push(keep);
      const slots = args.map(([arg, m]) => memory(m.ptr, arg));
      return {
        primitive: primitive(pd),
        args: argList(slots),
        slots: new Map(slots.map((s) => [s.arg, s])),
      };
    },
    execute(what, p, arrays) {
      const guard = ffiGuardEnabled() ? new GuardedCall(`oneDNN ${what}`) : null;
      for (const [arg, a, access] of arrays) {
        const name = `argument ${arg}`;
        const view = !guard ? a : access === "in" ? guard.input(a, name) : guard.output(a, name);
        bind(p.slots.get(arg) as Slot, view, name);
      }
      run(p.primitive, p.args, p.slots.size);
      check(lib.dnnl_stream_wait(stream), "stream_wait");
      guard?.finish();
    },
  };

  return {
    path,
    version,
    ...normPrimitives(kit),
    ...binaryPrimitives(kit),
    forward(g, x, w, bias, y) {
      const p = plan("forward", g, bias !== null);
      const { guard, input, output } = guardFor("forward", g);
      bindRead(p, ARG_SRC, input(x, "input"), "input", guard);
      bind(p.slots.get(ARG_DST) as Slot, output(y, "output"), "output");
      if (bias) bind(p.slots.get(ARG_BIAS) as Slot, input(bias, "bias"), "bias");
      execute(p, input(w, "filter"), ARG_WEIGHTS, guard);
    },
    backwardData(g, dy, w, dx) {
      const p = plan("backwardData", g);
      const { guard, input, output } = guardFor("backwardData", g);
      bindRead(p, ARG_DIFF_DST, input(dy, "output gradient"), "output gradient", guard);
      bindWrite(p, ARG_DIFF_SRC, output(dx, "input gradient"), "input gradient", guard);
      execute(p, input(w, "filter"), ARG_WEIGHTS, guard);
    },
    backwardWeights(g, x, dy, dw, db) {
      const p = plan("backwardWeights", g, !!db);
      const { guard, input, output } = guardFor("backwardWeights", g);
      bindRead(p, ARG_SRC, input(x, "input"), "input", guard);
      bindRead(p, ARG_DIFF_DST, input(dy, "output gradient"), "output gradient", guard);
      if (db) {
        bind(p.slots.get(ARG_DIFF_BIAS) as Slot, output(db, "bias gradient"), "bias gradient");
      }
      execute(p, output(dw, "filter gradient"), ARG_DIFF_WEIGHTS, guard);
    },
    implementation(kind, g) {
      return plan(kind, g).impl;
    },
    sgemm(m, n, k, a, b, c) {
      for (const [name, v] of [["m", m], ["n", n], ["k", k]] as const) {
        if (!Number.isInteger(v) || v < 1) throw new RangeError(`sgemm: ${name}=${v}`);
      }
      for (
        const [name, arr, need] of [["a", a, m * k], ["b", b, k * n], ["c", c, m * n]] as const
      ) {
        if (arr.length < need) {
          throw new RangeError(`sgemm: ${name} has ${arr.length} elements, needs ${need}`);
        }
      }
      const guard = ffiGuardEnabled() ? new GuardedCall(`oneDNN sgemm ${m}x${n}x${k}`) : null;
      const N = "N".charCodeAt(0);
      check(
        lib.dnnl_sgemm(
          N,
          N,
          BigInt(m),
          BigInt(n),
          BigInt(k),
          1,
          (guard ? guard.input(a, "a") : a) as Float32Array<ArrayBuffer>,
          BigInt(k),
          (guard ? guard.input(b, "b") : b) as Float32Array<ArrayBuffer>,
          BigInt(n),
          0,
          (guard ? guard.output(c, "c") : c) as Float32Array<ArrayBuffer>,
          BigInt(n),
        ),
        "sgemm",
      );
      guard?.finish();
    },
  };
}

const same = (a: Float32Array) => a;

let cached: OneDnn | null | undefined;
let loadError: string | null = null;

/**
 * Loads oneDNN once per process (later calls return the cached handle): first
 * `$DISCOGAN_ONEDNN`, then {@linkcode ONEDNN_SEARCH_PATHS}. Returns `null`
 * instead of throwing when it cannot (not installed, not 2.x, or no
 * `--allow-ffi`); {@linkcode oneDnnLoadError} says why.
 *
 * @example
 * ```ts
 * import { loadOneDnn } from "./onednn.ts";
 * const dnnl = loadOneDnn();
 * if (dnnl) {
 *   // A 1x1 convolution of a 1x1x1x2 image with a [1,1,2,1] filter: 1*3 + 2*4.
 *   const g = { n: 1, h: 1, w: 1, ci: 2, oh: 1, ow: 1, co: 1, kh: 1, kw: 1, sh: 1, sw: 1, pt: 0, pl: 0 };
 *   const y = new Float32Array(1);
 *   dnnl.forward(g, new Float32Array([1, 2]), new Float32Array([3, 4]), null, y);
 *   console.log(y[0]); // 11
 * }
 * ```
 */
export function loadOneDnn(): OneDnn | null {
  if (cached !== undefined) return cached;
  const { library, errors } = openFirstLibrary("DISCOGAN_ONEDNN", ONEDNN_SEARCH_PATHS, (path) => {
    let lib: OneDnn;
    try {
      lib = open(path);
    } catch (e) {
      // oneDNN 3.x dropped the operation descriptors this binding uses.
      if (e instanceof Error && /_desc_init/.test(e.message)) {
        throw new Error(`${e.message} (oneDNN 3.x? this needs 2.x: libdnnl2)`);
      }
      throw e;
    }
    if (!lib.version.startsWith("2.")) throw new Error(`oneDNN ${lib.version}, but 2.x is needed`);
    return lib;
  });
  cached = library;
  if (library) {
    loadError = null;
    return library;
  }
  loadError = errors.length
    ? `could not open oneDNN: ${errors.join("; ")}`
    : "oneDNN not found; install it with `apt-get install libdnnl2` " +
      "or set DISCOGAN_ONEDNN to the path of libdnnl.so.2";
  return null;
}

/**
 * Why the last {@linkcode loadOneDnn} call returned `null`, or `null` if it
 * succeeded (or has not been called).
 *
 * @example
 * ```ts
 * import { loadOneDnn, oneDnnLoadError } from "./onednn.ts";
 * if (!loadOneDnn()) console.warn(oneDnnLoadError());
 * ```
 */
export function oneDnnLoadError(): string | null {
  return loadError;
}
