/**
 * Minimal OpenBLAS binding through `Deno.dlopen`: single-precision GEMM plus thread control.
 *
 * Only `cblas_sgemm` is required; `openblas_set_num_threads` / `openblas_get_num_threads` /
 * `openblas_get_config` are optional. Loading never throws: {@linkcode loadOpenBlas} returns a
 * discriminated result so callers can fall back to pure JS when the library is absent.
 *
 * @module
 */

/** CBLAS row-major layout constant (`CblasRowMajor`). */
const ROW_MAJOR = 101;
/** CBLAS "no transpose" constant (`CblasNoTrans`). */
const NO_TRANS = 111;
/** CBLAS "transpose" constant (`CblasTrans`). */
const TRANS = 112;

const SYMBOLS = {
  cblas_sgemm: {
    parameters: [
      "i32", // order
      "i32", // transA
      "i32", // transB
      "i32", // M
      "i32", // N
      "i32", // K
      "f32", // alpha
      "buffer", // A
      "i32", // lda
      "buffer", // B
      "i32", // ldb
      "f32", // beta
      "buffer", // C
      "i32", // ldc
    ],
    result: "void",
  },
  openblas_set_num_threads: { parameters: ["i32"], result: "void", optional: true },
  openblas_get_num_threads: { parameters: [], result: "i32", optional: true },
  openblas_get_config: { parameters: [], result: "pointer", optional: true },
} as const;

/**
 * Library names tried in order when no explicit path is given. Debian/Ubuntu ship
 * `libopenblas.so.0` (package `libopenblas0`); macOS Homebrew ships `libopenblas.dylib`.
 */
export const DEFAULT_OPENBLAS_CANDIDATES: readonly string[] = [
  "libopenblas.so.0",
  "libopenblas.so",
  "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
  "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
  "/usr/lib/aarch64-linux-gnu/libopenblas.so.0",
  "/usr/lib64/libopenblas.so.0",
  "/usr/lib/libopenblas.so.0",
  "/usr/local/lib/libopenblas.so.0",
  "/usr/local/lib/libopenblas.so",
  "/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
  "/usr/local/opt/openblas/lib/libopenblas.dylib",
  "libopenblas.dylib",
];

/**
 * A loaded OpenBLAS library.
 *
 * @example Multiply two 2×2 matrices
 * ```ts
 * import { loadOpenBlas } from "./openblas.ts";
 * const r = loadOpenBlas();
 * if (r.ok) {
 *   const c = new Float32Array(4);
 *   r.blas.sgemm(false, false, 2, 2, 2, new Float32Array([1, 2, 3, 4]), new Float32Array([1, 0, 0, 1]), c);
 *   console.log(c); // Float32Array [1, 2, 3, 4]
 * }
 * ```
 */
export interface OpenBlas {
  /** The path or name the library was opened with. */
  readonly library: string;
  /** `openblas_get_config()` text when available (e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH ..."). */
  readonly config: string | undefined;
  /**
   * Row-major `C = op(A) · op(B)` (beta = 0) or `C += op(A) · op(B)` (`accumulate`).
   * `op(A)` is `m×k`, `op(B)` is `k×n`, `C` is `m×n`; arrays may be `subarray` views.
   */
  sgemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    a: Float32Array,
    b: Float32Array,
    c: Float32Array,
    accumulate?: boolean,
  ): void;
  /** Threads OpenBLAS uses, or `undefined` when the library does not report it. */
  getNumThreads(): number | undefined;
  /** Sets OpenBLAS's thread count; a no-op when the library lacks `openblas_set_num_threads`. */
  setNumThreads(n: number): void;
  /** Unloads the library. Calling {@linkcode OpenBlas.sgemm} afterwards is undefined behaviour. */
  close(): void;
}

/** Result of {@linkcode loadOpenBlas}: the library, or why none could be opened. */
export type LoadOpenBlasResult =
  | { ok: true; blas: OpenBlas }
  | { ok: false; reason: string };

/** Options for {@linkcode loadOpenBlas}. */
export interface LoadOpenBlasOptions {
  /** Library paths/names to try, in order. Defaults to {@linkcode DEFAULT_OPENBLAS_CANDIDATES}. */
  candidates?: readonly string[];
  /** Thread count to set after loading (else OpenBLAS honours `OPENBLAS_NUM_THREADS`). */
  threads?: number;
  /**
   * Kernel family for a `DYNAMIC_ARCH` build, e.g. `"SkylakeX"` or `"Cooperlake"`: sets
   * `OPENBLAS_CORETYPE` before loading. Useful where OpenBLAS does not recognise a newer CPU
   * (Debian's 0.3.21 picks Haswell kernels on AVX-512 Zen 4). Ignored if the library is already
   * loaded in this process.
   */
  coreType?: string;
}

/**
 * Opens OpenBLAS through `Deno.dlopen`, trying `opts.candidates` (or the environment variable
 * `OPENBLAS_LIBRARY`, then {@linkcode DEFAULT_OPENBLAS_CANDIDATES}). Never throws.
 *
 * @example
 * ```ts
 * import { loadOpenBlas } from "./openblas.ts";
 * const r = loadOpenBlas();
 * console.log(r.ok ? `loaded ${r.blas.library}` : `no BLAS: ${r.reason}`);
 * ```
 */
export function loadOpenBlas(opts: LoadOpenBlasOptions = {}): LoadOpenBlasResult {
  let candidates = opts.candidates;
  if (candidates === undefined) {
    let fromEnv: string | undefined;
    try {
      fromEnv = Deno.env.get("OPENBLAS_LIBRARY");
    } catch {
      fromEnv = undefined; // no --allow-env: just use the defaults
    }
    candidates = fromEnv ? [fromEnv, ...DEFAULT_OPENBLAS_CANDIDATES] : DEFAULT_OPENBLAS_CANDIDATES;
  }
  if (typeof Deno.dlopen !== "function") {
    return { ok: false, reason: "Deno.dlopen is unavailable (run with --allow-ffi)" };
  }
  if (opts.coreType !== undefined) {
    try {
      Deno.env.set("OPENBLAS_CORETYPE", opts.coreType);
    } catch (e) {
      return {
        ok: false,
        reason: `expected --allow-env to set OPENBLAS_CORETYPE=${opts.coreType}, found: ${e}`,
      };
    }
  }
  const errors: string[] = [];
  for (const path of candidates) {
    let lib: Deno.DynamicLibrary<typeof SYMBOLS>;
    try {
      lib = Deno.dlopen(path, SYMBOLS);
    } catch (e) {
      errors.push(`${path}: ${e instanceof Error ? e.message : String(e)}`);
      continue;
    }
    const blas = wrap(lib, path);
    if (opts.threads !== undefined) blas.setNumThreads(opts.threads);
    return { ok: true, blas };
  }
  return {
    ok: false,
    reason: `expected an OpenBLAS shared library exporting cblas_sgemm (e.g. apt-get install ` +
      `libopenblas0), found none; tried ${candidates.length} candidates: ${errors.join("; ")}`,
  };
}

function wrap(lib: Deno.DynamicLibrary<typeof SYMBOLS>, library: string): OpenBlas {
  const s = lib.symbols;
  const gemm = s.cblas_sgemm;
  let config: string | undefined;
  if (s.openblas_get_config) {
    const p = s.openblas_get_config();
    if (p !== null) config = new Deno.UnsafePointerView(p).getCString();
  }
  return {
    library,
    config,
    sgemm(transA, transB, m, n, k, a, b, c, accumulate = false) {
      // Row-major leading dimensions: the stored row length of each operand.
      const lda = Math.max(1, transA ? m : k);
      const ldb = Math.max(1, transB ? k : n);
      gemm(
        ROW_MAJOR,
        transA ? TRANS : NO_TRANS,
        transB ? TRANS : NO_TRANS,
        m,
        n,
        k,
        1,
        a,
        lda,
        b,
        ldb,
        accumulate ? 1 : 0,
        c,
        Math.max(1, n),
      );
    },
    getNumThreads() {
      return s.openblas_get_num_threads ? s.openblas_get_num_threads() : undefined;
    },
    setNumThreads(n: number) {
      if (!Number.isInteger(n) || n < 1) {
        throw new RangeError(`expected a positive integer thread count, found ${n}`);
      }
      s.openblas_set_num_threads?.(n);
    },
    close() {
      lib.close();
    },
  };
}
