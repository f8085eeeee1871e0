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
  openblas_get_parallel: { parameters: [], result: "i32", optional: true },
} as const;

/** The environment variable that sets the blas backend's OpenBLAS thread count. */
export const BLAS_THREADS_ENV = "COCA_BLAS_THREADS";

/**
 * The number of CPUs in a Linux CPU list such as `Cpus_allowed_list` of `/proc/self/status`
 * (`"0-3,8,10-11"` is 7). Throws on anything else.
 *
 * @example
 * ```ts
 * import { parseCpuList } from "./openblas.ts";
 * console.log(parseCpuList("0-3,8,10-11")); // 7
 * ```
 */
export function parseCpuList(list: string): number {
  let n = 0;
  for (const part of list.trim().split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m || (m[2] !== undefined && Number(m[2]) < Number(m[1]))) {
      throw new Error(`expected a CPU list like "0-3,8", found "${list}"`);
    }
    n += m[2] === undefined ? 1 : Number(m[2]) - Number(m[1]) + 1;
  }
  return n;
}

/**
 * How many CPUs this process may run on: `Cpus_allowed_list` of `/proc/self/status` (the
 * affinity mask that `taskset`, cgroups' cpusets and container runtimes set), else
 * `navigator.hardwareConcurrency` (no `/proc`, or no access: Deno lets only `-A` read
 * `/proc/self/status`), else 1.
 *
 * @example
 * ```ts
 * import { allowedCpuCount } from "./openblas.ts";
 * console.log(allowedCpuCount()); // e.g. 2
 * ```
 */
export function allowedCpuCount(): number {
  try {
    const status = Deno.readTextFileSync("/proc/self/status");
    const m = /^Cpus_allowed_list:\s*(\S+)\s*$/m.exec(status);
    if (m) return parseCpuList(m[1]);
  } catch {
    // not Linux, or no --allow-read for /proc
  }
  const n = typeof navigator === "undefined" ? 0 : navigator.hardwareConcurrency;
  return Number.isInteger(n) && n > 0 ? n : 1;
}

/** Where the blas backend's thread count came from (see {@linkcode resolveBlasThreads}). */
export type BlasThreadSource = "option" | "COCA_BLAS_THREADS" | "OPENBLAS_NUM_THREADS" | "cpus";

/**
 * The OpenBLAS thread count to set: `option` when given, else `$COCA_BLAS_THREADS`, else none
 * when `OPENBLAS_NUM_THREADS` is set (the library reads that itself), else
 * {@linkcode allowedCpuCount}. Throws an error naming the option or the variable when the value
 * is not a positive integer.
 *
 * @example
 * ```ts
 * import { resolveBlasThreads } from "./openblas.ts";
 * console.log(resolveBlasThreads(3)); // { threads: 3, source: "option" }
 * console.log(resolveBlasThreads(undefined, (k) => k === "COCA_BLAS_THREADS" ? "1" : undefined));
 * // { threads: 1, source: "COCA_BLAS_THREADS" }
 * ```
 */
export function resolveBlasThreads(
  option?: number,
  getEnv: (name: string) => string | undefined = readEnv,
): { threads: number | undefined; source: BlasThreadSource } {
  if (option !== undefined) {
    if (!Number.isInteger(option) || option < 1) {
      throw new RangeError(`expected the threads option to be a positive integer, found ${option}`);
    }
    return { threads: option, source: "option" };
  }
  const raw = getEnv(BLAS_THREADS_ENV);
  if (raw !== undefined && raw !== "") {
    const n = Number(raw.trim());
    if (!/^\s*\d+\s*$/.test(raw) || !Number.isSafeInteger(n) || n < 1) {
      throw new RangeError(
        `expected ${BLAS_THREADS_ENV} to be a positive integer (OpenBLAS threads), found "${raw}"`,
      );
    }
    return { threads: n, source: BLAS_THREADS_ENV };
  }
  const openblasEnv = getEnv("OPENBLAS_NUM_THREADS");
  if (openblasEnv !== undefined && openblasEnv !== "") {
    return { threads: undefined, source: "OPENBLAS_NUM_THREADS" };
  }
  return { threads: allowedCpuCount(), source: "cpus" };
}

function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // no --allow-env
  }
}

/** How an OpenBLAS library was built to run in parallel (`openblas_get_parallel()`). */
export type OpenBlasBuild = "serial" | "pthread" | "openmp" | "unknown";

const PARALLEL_BUILDS: Record<number, OpenBlasBuild> = { 0: "serial", 1: "pthread", 2: "openmp" };

/** The multiarch directory of Debian/Ubuntu libraries on this machine, e.g. `x86_64-linux-gnu`. */
function multiarch(): string {
  return `${Deno.build.arch}-linux-gnu`;
}

/**
 * Where Debian/Ubuntu install each OpenBLAS build (`libopenblas0-pthread`,
 * `libopenblas0-openmp`, `libopenblas0-serial`); `libopenblas.so.0` is the one
 * `update-alternatives` made active.
 *
 * @example
 * ```ts
 * import { debianOpenBlasPath } from "./openblas.ts";
 * console.log(debianOpenBlasPath("pthread")); // /usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0
 * ```
 */
export function debianOpenBlasPath(build: "pthread" | "openmp" | "serial"): string {
  return `/usr/lib/${multiarch()}/openblas-${build}/libopenblas.so.0`;
}

/**
 * The Debian/Ubuntu OpenBLAS builds installed here, by name, with their paths (needs read access
 * to `/usr/lib`; empty elsewhere).
 *
 * @example
 * ```ts
 * import { installedOpenBlasBuilds } from "./openblas.ts";
 * console.log(Object.keys(installedOpenBlasBuilds())); // e.g. ["pthread", "openmp"]
 * ```
 */
export function installedOpenBlasBuilds(): Partial<
  Record<"pthread" | "openmp" | "serial", string>
> {
  const out: Partial<Record<"pthread" | "openmp" | "serial", string>> = {};
  for (const b of ["pthread", "openmp", "serial"] as const) {
    const path = debianOpenBlasPath(b);
    try {
      if (Deno.statSync(path).isFile) out[b] = path;
    } catch {
      // not installed, or no read permission
    }
  }
  return out;
}

/**
 * A library argument as a path: `pthread`, `openmp` or `serial` name the Debian build's file
 * ({@linkcode debianOpenBlasPath}); anything else is returned unchanged.
 *
 * @example
 * ```ts
 * import { resolveOpenBlasLibrary } from "./openblas.ts";
 * console.log(resolveOpenBlasLibrary("openmp")); // /usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0
 * ```
 */
export function resolveOpenBlasLibrary(nameOrPath: string): string {
  return nameOrPath === "pthread" || nameOrPath === "openmp" || nameOrPath === "serial"
    ? debianOpenBlasPath(nameOrPath)
    : nameOrPath;
}

/**
 * Library names tried in order when no explicit path is given. Debian/Ubuntu's pthread build comes
 * first, so that where both `libopenblas0-pthread` and `libopenblas0-openmp` are installed the
 * pthread one is used whichever `update-alternatives` made `libopenblas.so.0`; then
 * `libopenblas.so.0` (package `libopenblas0`, whatever build is active); macOS Homebrew ships
 * `libopenblas.dylib`.
 */
export const DEFAULT_OPENBLAS_CANDIDATES: readonly string[] = [
  debianOpenBlasPath("pthread"),
  "libopenblas.so.0",
  "libopenblas.so",
  `/usr/lib/${multiarch()}/libopenblas.so.0`,
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
   * How the library runs in parallel: `openblas_get_parallel()` (0 serial, 1 pthread, 2 OpenMP),
   * else `USE_OPENMP` in the config text, else `"unknown"`.
   */
  readonly build: OpenBlasBuild;
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
  /**
   * Whether the library is pinned in memory for the life of the process (`RTLD_NODELETE`), so
   * that neither {@linkcode OpenBlas.close} nor Deno's teardown at exit unmaps it. False only
   * where the platform's `dlopen` could not be reached (see {@linkcode loadOpenBlas}).
   */
  readonly pinned: boolean;
  /** Threads OpenBLAS uses, or `undefined` when the library does not report it. */
  getNumThreads(): number | undefined;
  /** Sets OpenBLAS's thread count; a no-op when the library lacks `openblas_set_num_threads`. */
  setNumThreads(n: number): void;
  /**
   * Releases Deno's handle. A pinned library stays mapped (its threads may still run); calling
   * {@linkcode OpenBlas.sgemm} afterwards is undefined behaviour either way.
   */
  close(): void;
}

/** Result of {@linkcode loadOpenBlas}: the library, or why none could be opened. */
export type LoadOpenBlasResult =
  | { ok: true; blas: OpenBlas; threadSource: BlasThreadSource }
  | { ok: false; reason: string };

/** Options for {@linkcode loadOpenBlas}. */
export interface LoadOpenBlasOptions {
  /** Library paths/names to try, in order. Defaults to {@linkcode DEFAULT_OPENBLAS_CANDIDATES}. */
  candidates?: readonly string[];
  /**
   * Thread count to set after loading. Default: `$COCA_BLAS_THREADS`, else what OpenBLAS reads
   * from `OPENBLAS_NUM_THREADS` when that is set, else the CPUs this process may use
   * ({@linkcode resolveBlasThreads}).
   */
  threads?: number;
  /**
   * Kernel family for a `DYNAMIC_ARCH` build, e.g. `"SkylakeX"` or `"Cooperlake"`: sets
   * `OPENBLAS_CORETYPE` before loading. Useful where OpenBLAS does not recognise a newer CPU, or
   * to undo an `OPENBLAS_CORETYPE` of the environment (these machines set `Haswell`; OpenBLAS
   * picks `Cooperlake` on their AVX-512 EPYC by itself). Ignored if the library is already loaded
   * in this process.
   */
  coreType?: string;
}

/**
 * Opens OpenBLAS through `Deno.dlopen`, trying `opts.candidates`, else only the environment
 * variable `OPENBLAS_LIBRARY` when set (a path, or `pthread` / `openmp` / `serial` for Debian's
 * builds: see {@linkcode resolveOpenBlasLibrary}), else {@linkcode DEFAULT_OPENBLAS_CANDIDATES},
 * and sets its thread count ({@linkcode resolveBlasThreads}: `opts.threads`, else
 * `$COCA_BLAS_THREADS`, else the CPUs this process may use). Never throws: an invalid thread
 * count is a failed result naming the option or variable.
 *
 * Two things make the OpenMP build (`libopenblas0-openmp`, which runs on libgomp's thread pool)
 * safe and fast here:
 *
 * - The library is pinned (`dlopen(path, RTLD_NOLOAD | RTLD_NODELETE)` through libc): Deno closes
 *   every `Deno.dlopen` handle when it exits, and `dlclose` of OpenBLAS also unmapped libgomp
 *   while its worker threads were still spin-waiting inside it after the last parallel sgemm,
 *   so a process that exited within a few milliseconds of a multi-threaded sgemm died with
 *   SIGSEGV (status 139) after all its work was done.
 * - `OMP_WAIT_POLICY=PASSIVE` is set while the library loads (libgomp reads it then), unless
 *   `OMP_WAIT_POLICY` or `GOMP_SPINCOUNT` is already set, and removed again afterwards, so that
 *   child processes do not inherit it. Workers then sleep between sgemm calls instead of spinning
 *   on a core the JavaScript thread needs.
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
  let fromEnv: string | undefined;
  if (candidates === undefined) {
    try {
      fromEnv = Deno.env.get("OPENBLAS_LIBRARY") || undefined;
    } catch {
      fromEnv = undefined; // no --allow-env: just use the defaults
    }
    // A forced library is the only candidate: falling back would hide a typo or a missing build.
    candidates = fromEnv ? [resolveOpenBlasLibrary(fromEnv)] : DEFAULT_OPENBLAS_CANDIDATES;
  }
  let threads: ReturnType<typeof resolveBlasThreads>;
  try {
    threads = resolveBlasThreads(opts.threads);
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
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
      lib = withPassiveOpenMp(() => Deno.dlopen(path, SYMBOLS));
    } catch (e) {
      errors.push(`${path}: ${e instanceof Error ? e.message : String(e)}`);
      continue;
    }
    const blas = wrap(lib, path, pinLibrary(path));
    if (threads.threads !== undefined) blas.setNumThreads(threads.threads);
    return { ok: true, blas, threadSource: threads.source };
  }
  if (fromEnv !== undefined) {
    return {
      ok: false,
      reason: `expected OPENBLAS_LIBRARY=${fromEnv} to name an OpenBLAS shared library exporting ` +
        `cblas_sgemm (a path, or pthread / openmp / serial for Debian's builds), found: ${
          errors[0]
        }`,
    };
  }
  return {
    ok: false,
    reason: `expected an OpenBLAS shared library exporting cblas_sgemm (e.g. apt-get install ` +
      `libopenblas0), found none; tried ${candidates.length} candidates: ${errors.join("; ")}`,
  };
}

/** Runs `load` with `OMP_WAIT_POLICY=PASSIVE` unless the user chose a wait policy. */
function withPassiveOpenMp<T>(load: () => T): T {
  let set = false;
  try {
    if (
      Deno.env.get("OMP_WAIT_POLICY") === undefined && Deno.env.get("GOMP_SPINCOUNT") === undefined
    ) {
      Deno.env.set("OMP_WAIT_POLICY", "PASSIVE");
      set = true;
    }
  } catch {
    // no --allow-env: libgomp keeps its default policy
  }
  try {
    return load();
  } finally {
    if (set) Deno.env.delete("OMP_WAIT_POLICY");
  }
}

/** `dlopen` flags per platform: [RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE, libraries with dlopen]. */
const PIN: Partial<Record<typeof Deno.build.os, [number, string[]]>> = {
  linux: [0x1 | 0x4 | 0x1000, ["libc.so.6", "libdl.so.2"]],
  darwin: [0x1 | 0x10 | 0x80, ["/usr/lib/libSystem.B.dylib"]],
};

/**
 * Marks the already loaded library `path` as never to be unloaded: `dlopen` with `RTLD_NOLOAD`
 * (find the loaded copy, load nothing) and `RTLD_NODELETE` (ignore every later `dlclose`). Its
 * dependencies (libgomp for the OpenMP build) stay loaded with it. Returns false where libc's
 * `dlopen` is out of reach (no such platform entry, or no libc by those names).
 *
 * @example
 * ```ts ignore
 * import { pinLibrary } from "./openblas.ts";
 * const lib = Deno.dlopen("libopenblas.so.0", {});
 * console.log(pinLibrary("libopenblas.so.0")); // true: stays mapped after lib.close()
 * ```
 */
export function pinLibrary(path: string): boolean {
  const pin = PIN[Deno.build.os];
  if (!pin) return false;
  const [flags, libcs] = pin;
  for (const name of libcs) {
    let libc: Deno.DynamicLibrary<{ dlopen: { parameters: ["buffer", "i32"]; result: "pointer" } }>;
    try {
      libc = Deno.dlopen(name, { dlopen: { parameters: ["buffer", "i32"], result: "pointer" } });
    } catch {
      continue;
    }
    try {
      // The extra reference this takes is never released: the library must outlive Deno's own
      // dlclose at exit.
      return libc.symbols.dlopen(new TextEncoder().encode(path + "\0"), flags) !== null;
    } finally {
      libc.close(); // libc itself is never unloaded
    }
  }
  return false;
}

function wrap(
  lib: Deno.DynamicLibrary<typeof SYMBOLS>,
  library: string,
  pinned: boolean,
): OpenBlas {
  const s = lib.symbols;
  const gemm = s.cblas_sgemm;
  let config: string | undefined;
  if (s.openblas_get_config) {
    const p = s.openblas_get_config();
    if (p !== null) config = new Deno.UnsafePointerView(p).getCString();
  }
  const parallel = s.openblas_get_parallel?.();
  const build: OpenBlasBuild = parallel !== undefined
    ? PARALLEL_BUILDS[parallel] ?? "unknown"
    : config?.includes("USE_OPENMP")
    ? "openmp"
    : "unknown";
  return {
    library,
    config,
    build,
    pinned,
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
