/**
 * The `"blas"` tfjs backend: the tfjs cpu backend with matmul kernels running OpenBLAS
 * `cblas_sgemm` through `Deno.dlopen`, plus faster pure-JS versions of a few cpu kernels that
 * dominate transformer training (see `fast_kernels.ts`). Every other cpu kernel is re-registered
 * unchanged, so every op and gradient that works on `"cpu"` works on `"blas"`.
 *
 * @module
 */
import * as tf from "../../deps/tf.ts";
import {
  type BlasThreadSource,
  loadOpenBlas,
  type OpenBlas,
  type OpenBlasBuild,
  resolveBlasThreads,
} from "./openblas.ts";
import { makeBatchMatMul, makeFusedMatMul } from "./matmul.ts";
import { fastKernels } from "./fast_kernels.ts";
import { installBufferRecycling, type RecyclableBackend } from "./buffer_pool.ts";
import {
  activeNativeKernels,
  loadNativeKernels,
  nativeKernelsUnavailableReason,
  setActiveNativeKernels,
} from "./native.ts";

/** Name under which {@linkcode registerBlasBackend} registers the backend. */
export const BLAS_BACKEND_NAME = "blas";

/** Options for {@linkcode registerBlasBackend}. */
export interface RegisterBlasOptions {
  /** Library paths/names to try instead of the built-in list (see `openblas.ts`). */
  candidates?: readonly string[];
  /**
   * OpenBLAS thread count. When omitted: `$COCA_BLAS_THREADS`, else `OPENBLAS_NUM_THREADS`
   * (read by the library when it loads) when set, else the CPUs this process may use (its
   * affinity, `Cpus_allowed_list`). An invalid value fails the registration with a reason naming
   * the option or the variable.
   */
  threads?: number;
  /** OpenBLAS kernel family (`OPENBLAS_CORETYPE`), e.g. `"SkylakeX"`; see `openblas.ts`. */
  coreType?: string;
  /** tfjs backend priority (higher wins when no backend is set explicitly). Default 0. */
  priority?: number;
  /** Register the pure-JS replacements for slow cpu kernels (Transpose, Softmax, ...). Default true. */
  fastKernels?: boolean;
  /**
   * Use the native kernels (`native.ts`: SwiGLU, attention softmax, layer norm, cross-entropy,
   * AdamW, binary ops) when their library is built (`deno task native`) and `COCA_NATIVE` is not
   * `off`. Default true. They run on as many threads as OpenBLAS.
   */
  native?: boolean;
}

/** Result of {@linkcode registerBlasBackend}. */
export type RegisterBlasResult =
  | { ok: true; library: string }
  | { ok: false; reason: string };

let registered:
  | { result: RegisterBlasResult; blas?: OpenBlas; threadSource?: BlasThreadSource }
  | undefined;

/**
 * Registers the `"blas"` backend. Never throws for a missing library: returns `{ok: false, reason}`
 * and registers nothing. Calling it again returns the first call's result (idempotent); the
 * options of later calls are ignored except `threads`, which is applied (a `RangeError` when it is
 * not a positive integer).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { registerBlasBackend } from "./backend.ts";
 * const r = registerBlasBackend();
 * if (r.ok) await tf.setBackend("blas");
 * else console.warn(`blas backend unavailable: ${r.reason}`);
 * ```
 */
export function registerBlasBackend(opts: RegisterBlasOptions = {}): RegisterBlasResult {
  if (registered) {
    if (opts.threads !== undefined && registered.blas) {
      const t = resolveBlasThreads(opts.threads);
      registered.blas.setNumThreads(t.threads!);
      activeNativeKernels()?.setThreads(t.threads!);
      registered.threadSource = t.source;
    }
    return registered.result;
  }
  const loaded = loadOpenBlas({
    candidates: opts.candidates,
    threads: opts.threads,
    coreType: opts.coreType,
  });
  if (!loaded.ok) {
    registered = { result: { ok: false, reason: loaded.reason } };
    return registered.result;
  }
  const blas = loaded.blas;
  if (opts.native ?? true) {
    const native = loadNativeKernels({ threads: blas.getNumThreads() ?? 1 });
    setActiveNativeKernels(native.ok ? native.kernels : undefined, native.ok ? "" : native.reason);
  } else setActiveNativeKernels(undefined, "disabled by the native option");
  const cpuKernels = tf.getKernelsForBackend("cpu");
  if (cpuKernels.length === 0) {
    blas.close();
    registered = {
      result: {
        ok: false,
        reason: "expected the tfjs cpu backend's kernels to be registered (import " +
          '"@tensorflow/tfjs"), found none',
      },
    };
    return registered.result;
  }
  tf.registerBackend(BLAS_BACKEND_NAME, () => {
    const backend = new tf.MathBackendCPU();
    // Silences the one-time "looks like you are running TensorFlow.js in Node.js" banner.
    (backend as unknown as { firstUse: boolean }).firstUse = false;
    // Kernel outputs taken from the buffer pool go back to it when their tensors are disposed.
    installBufferRecycling(backend as unknown as RecyclableBackend);
    return backend;
  }, opts.priority ?? 0);

  const overrides = new Map<string, tf.KernelFunc>([
    [tf.BatchMatMul, makeBatchMatMul(blas)],
    [tf._FusedMatMul, makeFusedMatMul(blas)],
  ]);
  if (opts.fastKernels ?? true) {
    for (const [name, fn] of fastKernels()) if (!overrides.has(name)) overrides.set(name, fn);
  }
  for (const k of cpuKernels) {
    if (tf.getKernel(k.kernelName, BLAS_BACKEND_NAME)) continue;
    const kernelFunc = overrides.get(k.kernelName) ?? k.kernelFunc;
    tf.registerKernel({ ...k, backendName: BLAS_BACKEND_NAME, kernelFunc });
  }
  registered = {
    result: { ok: true, library: blas.library },
    blas,
    threadSource: loaded.threadSource,
  };
  return registered.result;
}

/**
 * Details of the OpenBLAS library behind `"blas"`, or `undefined` before a successful
 * {@linkcode registerBlasBackend}: `threads` is what OpenBLAS reports
 * (`openblas_get_num_threads`), `threadSource` where the count came from (the `threads` option,
 * `COCA_BLAS_THREADS`, `OPENBLAS_NUM_THREADS`, or the CPUs this process may use).
 *
 * @example
 * ```ts
 * import { blasInfo, registerBlasBackend } from "./backend.ts";
 * registerBlasBackend();
 * console.log(blasInfo()?.threads);
 * ```
 */
export function blasInfo():
  | {
    library: string;
    config: string | undefined;
    build: OpenBlasBuild;
    pinned: boolean;
    threads: number | undefined;
    threadSource: BlasThreadSource;
    /** The native kernels' library and threads, or why they are not used. */
    native: { library: string; threads: number } | { unavailable: string };
  }
  | undefined {
  const b = registered?.blas;
  if (!b) return undefined;
  return {
    library: b.library,
    config: b.config,
    build: b.build,
    pinned: b.pinned,
    threads: b.getNumThreads(),
    threadSource: registered!.threadSource ?? "cpus",
    native: nativeInfo(),
  };
}

function nativeInfo(): { library: string; threads: number } | { unavailable: string } {
  const k = activeNativeKernels();
  return k
    ? { library: k.library, threads: k.threads() }
    : { unavailable: nativeKernelsUnavailableReason() };
}
