/**
 * Minimal OpenBLAS binding through `Deno.dlopen` (needs `--allow-ffi`; reading
 * `DISCOGAN_OPENBLAS` also needs `--allow-env`, which is optional).
 *
 * Only `cblas_sgemm` and the thread-count helpers are bound. Buffers are passed
 * as `Float32Array`s; Deno's FFI passes a typed array's data pointer *including
 * its `byteOffset`*, so `subarray` views address the right elements (checked by
 * `tests/blas_test.ts`). Every call is bounds-checked in JS before it reaches
 * native code, because an out-of-range sgemm would silently corrupt the heap.
 *
 * @module
 */

import { ffiGuardEnabled, GuardedCall } from "../ffi_guard.ts";
import { pinLibrary } from "../pin_library.ts";
import { openFirstLibrary, readEnv } from "../native_library.ts";

/** `CBLAS_ORDER` value for row-major storage (C order). */
export const CBLAS_ROW_MAJOR = 101;
/** `CBLAS_ORDER` value for column-major storage (Fortran order). */
export const CBLAS_COL_MAJOR = 102;
/** `CBLAS_TRANSPOSE` value: use the matrix as stored. */
export const CBLAS_NO_TRANS = 111;
/** `CBLAS_TRANSPOSE` value: use the transpose of the stored matrix. */
export const CBLAS_TRANS = 112;

/** A loaded OpenBLAS shared library. */
export interface OpenBlas {
  /** Path (or soname) that `Deno.dlopen` succeeded with. */
  readonly path: string;
  /**
   * Raw `cblas_sgemm`: `C = alpha * op(A) · op(B) + beta * C`, with `op(A)`
   * of shape `[m, k]`, `op(B)` of shape `[k, n]` and `C` of shape `[m, n]`.
   * Arrays may be `subarray` views; the view's offset is honoured.
   */
  cblasSgemm(
    order: number,
    transA: number,
    transB: number,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: Float32Array,
    lda: number,
    b: Float32Array,
    ldb: number,
    beta: number,
    c: Float32Array,
    ldc: number,
  ): void;
  /**
   * Row-major convenience form of {@linkcode OpenBlas.cblasSgemm}; the leading
   * dimensions default to the dense ones (`k`/`m` for A, `n`/`k` for B, `n`
   * for C).
   */
  sgemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: Float32Array,
    b: Float32Array,
    beta: number,
    c: Float32Array,
    lda?: number,
    ldb?: number,
    ldc?: number,
  ): void;
  /** Sets OpenBLAS' thread count (no-op if the library lacks the symbol). */
  setNumThreads(n: number): void;
  /** OpenBLAS' current thread count, or -1 if the library cannot tell. */
  getNumThreads(): number;
  /** OpenBLAS build configuration string, or "" if unavailable. */
  getConfig(): string;
}

const SGEMM_PARAMS = [
  "i32",
  "i32",
  "i32",
  "i32",
  "i32",
  "i32",
  "f32",
  "buffer",
  "i32",
  "buffer",
  "i32",
  "f32",
  "buffer",
  "i32",
] as const;

/** Library paths tried in order after `DISCOGAN_OPENBLAS`. */
export const OPENBLAS_SEARCH_PATHS: readonly string[] = [
  "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
  "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
  "/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0",
  "/usr/lib/aarch64-linux-gnu/openblas-pthread/libopenblas.so.0",
  "/usr/lib/aarch64-linux-gnu/libopenblas.so.0",
  "/usr/lib/aarch64-linux-gnu/openblas-openmp/libopenblas.so.0",
  "/usr/lib64/libopenblas.so.0",
  "/usr/lib64/libopenblasp.so.0",
  "/usr/lib/libopenblas.so.0",
  "/usr/local/lib/libopenblas.so.0",
  "/usr/local/lib/libopenblas.so",
  "/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
  "/usr/local/opt/openblas/lib/libopenblas.dylib",
  "libopenblas.so.0",
];

let cached: OpenBlas | null | undefined;
let loadError: string | null = null;

function checkMatrix(
  name: string,
  arr: Float32Array,
  rows: number,
  cols: number,
  ld: number,
): void {
  if (ld < Math.max(1, cols)) {
    throw new RangeError(`sgemm: ld${name}=${ld} < ${cols} columns`);
  }
  const need = rows === 0 || cols === 0 ? 0 : (rows - 1) * ld + cols;
  if (arr.length < need) {
    throw new RangeError(
      `sgemm: ${name} has ${arr.length} elements, needs ${need} ` +
        `(${rows}x${cols}, ld=${ld})`,
    );
  }
}

function isInt(x: number): boolean {
  return Number.isInteger(x) && x >= 0 && x <= 0x7fffffff;
}

function open(path: string): OpenBlas {
  pinLibrary(path);
  const lib = Deno.dlopen(path, {
    cblas_sgemm: { parameters: SGEMM_PARAMS, result: "void" },
    openblas_set_num_threads: {
      parameters: ["i32"],
      result: "void",
      optional: true,
    },
    openblas_get_num_threads: {
      parameters: [],
      result: "i32",
      optional: true,
    },
    openblas_get_config: { parameters: [], result: "pointer", optional: true },
  });
  const sym = lib.symbols;
  const cblasSgemm = (
    order: number,
    transA: number,
    transB: number,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: Float32Array,
    lda: number,
    b: Float32Array,
    ldb: number,
    beta: number,
    c: Float32Array,
    ldc: number,
  ): void => {
    if (!isInt(m) || !isInt(n) || !isInt(k)) {
      throw new RangeError(`sgemm: bad sizes m=${m} n=${n} k=${k}`);
    }
    if (!isInt(lda) || !isInt(ldb) || !isInt(ldc)) {
      throw new RangeError(`sgemm: bad ld ${lda}/${ldb}/${ldc}`);
    }
    if (order !== CBLAS_ROW_MAJOR && order !== CBLAS_COL_MAJOR) {
      throw new RangeError(`sgemm: bad order ${order}`);
    }
    const okT = (t: number) => t === CBLAS_NO_TRANS || t === CBLAS_TRANS;
    if (!okT(transA) || !okT(transB)) {
      throw new RangeError(`sgemm: bad transpose flags ${transA}/${transB}`);
    }
    // Stored shapes in the major order's terms: "rows" are the strided dim.
    const row = order === CBLAS_ROW_MAJOR;
    const tA = transA === CBLAS_TRANS;
    const tB = transB === CBLAS_TRANS;
    // A stored as [m, k] (or [k, m] if transposed) in row-major terms.
    let [ar, ac] = tA ? [k, m] : [m, k];
    let [br, bc] = tB ? [n, k] : [k, n];
    let [cr, cc] = [m, n];
    if (!row) {
      [ar, ac] = [ac, ar];
      [br, bc] = [bc, br];
      [cr, cc] = [cc, cr];
    }
    checkMatrix("A", a, ar, ac, lda);
    checkMatrix("B", b, br, bc, ldb);
    checkMatrix("C", c, cr, cc, ldc);
    if (m === 0 || n === 0) return;
    // Zero-length views may be passed as NULL by Deno; k === 0 means C *= beta.
    if (k === 0) {
      for (let i = 0; i < cr; i++) {
        const o = i * ldc;
        for (let j = 0; j < cc; j++) {
          c[o + j] = beta === 0 ? 0 : c[o + j] * beta;
        }
      }
      return;
    }
    // Guard mode (ops/runtime/ffi_guard.ts): the arrays in guarded copies.
    const guard = ffiGuardEnabled()
      ? new GuardedCall(`sgemm m ${m} n ${n} k ${k} lda ${lda} ldb ${ldb} ldc ${ldc}`)
      : null;
    sym.cblas_sgemm(
      order,
      transA,
      transB,
      m,
      n,
      k,
      alpha,
      (guard ? guard.input(a, "A") : a) as Float32Array<ArrayBuffer>,
      lda,
      (guard ? guard.input(b, "B") : b) as Float32Array<ArrayBuffer>,
      ldb,
      beta,
      (guard ? guard.output(c, "C") : c) as Float32Array<ArrayBuffer>,
      ldc,
    );
    guard?.finish();
  };
  return {
    path,
    cblasSgemm,
    sgemm(transA, transB, m, n, k, alpha, a, b, beta, c, lda, ldb, ldc) {
      cblasSgemm(
        CBLAS_ROW_MAJOR,
        transA ? CBLAS_TRANS : CBLAS_NO_TRANS,
        transB ? CBLAS_TRANS : CBLAS_NO_TRANS,
        m,
        n,
        k,
        alpha,
        a,
        lda ?? Math.max(1, transA ? m : k),
        b,
        ldb ?? Math.max(1, transB ? k : n),
        beta,
        c,
        ldc ?? Math.max(1, n),
      );
    },
    setNumThreads(n: number): void {
      if (!isInt(n) || n < 1) throw new RangeError(`bad thread count ${n}`);
      sym.openblas_set_num_threads?.(n);
    },
    getNumThreads(): number {
      return sym.openblas_get_num_threads?.() ?? -1;
    },
    getConfig(): string {
      const p = sym.openblas_get_config?.();
      return p ? new Deno.UnsafePointerView(p).getCString() : "";
    },
  };
}

/**
 * Loads OpenBLAS once per process (later calls return the cached handle).
 * Tries `$DISCOGAN_OPENBLAS` first, then {@linkcode OPENBLAS_SEARCH_PATHS}.
 * Returns `null` instead of throwing when no library can be opened (not
 * installed, or no `--allow-ffi`); {@linkcode openBlasLoadError} says why.
 *
 * If `$DISCOGAN_OPENBLAS_THREADS` is set to a positive integer, the thread
 * count is set to it after loading.
 *
 * @example
 * ```ts
 * import { loadOpenBlas } from "./openblas.ts";
 * const blas = loadOpenBlas();
 * if (blas) {
 *   // [2,3] · [3,2] in row-major order.
 *   const a = new Float32Array([1, 2, 3, 4, 5, 6]);
 *   const b = new Float32Array([1, 0, 0, 1, 1, 1]);
 *   const c = new Float32Array(4);
 *   blas.sgemm(false, false, 2, 2, 3, 1, a, b, 0, c);
 *   console.log(c); // Float32Array [4, 5, 10, 11]
 * }
 * ```
 */
export function loadOpenBlas(): OpenBlas | null {
  if (cached !== undefined) return cached;
  const { library, errors } = openFirstLibrary("DISCOGAN_OPENBLAS", OPENBLAS_SEARCH_PATHS, open);
  cached = library;
  if (library) {
    loadError = null;
    const threads = Number(readEnv("DISCOGAN_OPENBLAS_THREADS"));
    if (Number.isInteger(threads) && threads > 0) library.setNumThreads(threads);
    return library;
  }
  loadError = errors.length
    ? `could not open OpenBLAS: ${errors.join("; ")}`
    : "OpenBLAS not found; install it with `apt-get install libopenblas0-pthread` " +
      "or set DISCOGAN_OPENBLAS to the path of libopenblas.so";
  return null;
}

/**
 * Why the last {@linkcode loadOpenBlas} call returned `null`, or `null` if it
 * succeeded (or has not been called).
 *
 * @example
 * ```ts
 * import { loadOpenBlas, openBlasLoadError } from "./openblas.ts";
 * if (!loadOpenBlas()) console.warn(openBlasLoadError());
 * ```
 */
export function openBlasLoadError(): string | null {
  return loadError;
}
