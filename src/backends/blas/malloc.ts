/**
 * glibc malloc tuning for the blas backend: keep freed big blocks instead of unmapping them.
 *
 * Tensor buffers of the cpu-family backends are ArrayBuffers that V8 allocates with glibc's
 * malloc. Above its mmap threshold (128 KiB, growing dynamically) every such buffer is a fresh
 * `mmap`, so each new tensor page-faults all its pages in again: measured here at about 17 µs a
 * 4 KiB page, 5–30 k faults per small train step. With `M_MMAP_THRESHOLD` at 32 MiB and
 * `M_TRIM_THRESHOLD` at 1 GiB freed blocks stay in the heap and are reused (a few hundred faults
 * a step). The same as `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:
 * glibc.malloc.trim_threshold=1073741824`, but set from inside the process through `mallopt`, so
 * every entry point (tasks, sweep trials, one's own scripts) gets it when blas is registered.
 *
 * @module
 */

/** `mallopt` parameter numbers (glibc's malloc.h). */
const M_TRIM_THRESHOLD = -1;
const M_MMAP_THRESHOLD = -3;

/** The thresholds applied: 32 MiB (glibc's maximum on 64-bit) and 1 GiB. */
export const MALLOC_TUNING = { mmapThreshold: 32 * 2 ** 20, trimThreshold: 2 ** 30 } as const;

/** What {@linkcode tuneMalloc} did. */
export interface MallocTuningResult {
  /** Whether both thresholds were set. */
  applied: boolean;
  /** Why not, when not applied. */
  reason?: string;
}

let result: MallocTuningResult | undefined;

function envValue(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // no --allow-env: no opt-out to honour
  }
}

/**
 * Set glibc's mmap and trim thresholds once per process (later calls return the first result).
 * Skipped when `COCA_MALLOC_TUNING=off`, when `GLIBC_TUNABLES` already sets a malloc option (the
 * user's choice wins), or where there is no glibc (`libc.so.6`) or no `--allow-ffi`.
 *
 * @example
 * ```ts ignore
 * import { tuneMalloc } from "./malloc.ts";
 * console.log(tuneMalloc()); // { applied: true } on Linux with glibc and --allow-ffi
 * ```
 */
export function tuneMalloc(): MallocTuningResult {
  if (result) return result;
  const off = envValue("COCA_MALLOC_TUNING");
  if (off !== undefined && off !== "on") {
    const reason = off === "off"
      ? "COCA_MALLOC_TUNING=off"
      : `expected COCA_MALLOC_TUNING to be "on" or "off", found "${off}"; left untuned`;
    if (off !== "off") console.warn(`blas: ${reason}`);
    return result = { applied: false, reason };
  }
  if (/glibc\.malloc\./.test(envValue("GLIBC_TUNABLES") ?? "")) {
    return result = { applied: false, reason: "GLIBC_TUNABLES sets malloc options already" };
  }
  let libc;
  try {
    libc = Deno.dlopen("libc.so.6", { mallopt: { parameters: ["i32", "i32"], result: "i32" } });
  } catch (e) {
    return result = { applied: false, reason: `no glibc mallopt: ${(e as Error).message}` };
  }
  try {
    const mmap = libc.symbols.mallopt(M_MMAP_THRESHOLD, MALLOC_TUNING.mmapThreshold);
    const trim = libc.symbols.mallopt(M_TRIM_THRESHOLD, MALLOC_TUNING.trimThreshold);
    result = mmap === 1 && trim === 1
      ? { applied: true }
      : { applied: false, reason: `mallopt refused (mmap ${mmap}, trim ${trim})` };
  } finally {
    libc.close();
  }
  return result;
}

/**
 * The result of {@linkcode tuneMalloc} in this process, or undefined before it ran.
 *
 * @example
 * ```ts
 * import { mallocTuning } from "./malloc.ts";
 * console.log(mallocTuning()?.applied);
 * ```
 */
export function mallocTuning(): MallocTuningResult | undefined {
  return result;
}
