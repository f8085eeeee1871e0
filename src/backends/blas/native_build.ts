/**
 * Builds the native kernel library of the blas backend (`native/coca_kernels.c`) with the
 * machine's C compiler: `$CC`, else `cc`, else `gcc`, else `clang`.
 *
 * Flags: `-O3` (vectorised loops), `-fopenmp-simd` (the `omp simd` reductions only; no OpenMP
 * runtime), `-ffp-contract=off` (no fused multiply-adds: results round as the tfjs op path
 * rounds), `-fno-math-errno`, `-fPIC -shared`, `-pthread`. On x86-64 with GCC the hot functions
 * are compiled three times (x86-64-v4 with AVX-512, v3 with AVX2, and the baseline) and the
 * loader picks one for the CPU, so one build runs on every x86-64 machine of a cluster.
 *
 * @module
 */
import { defaultNativeLibraryPath, NATIVE_SOURCE_URL, nativeSourceId } from "./native.ts";

/** What {@linkcode buildNativeKernels} did. */
export interface NativeBuild {
  /** The library written. */
  library: string;
  /** The compiler and its arguments. */
  command: string[];
  /** The embedded source id. */
  sourceId: string;
  /** Wall time of the compile (ms). */
  ms: number;
}

/** Compilers tried in order when `$CC` is not set. */
export const C_COMPILERS: readonly string[] = ["cc", "gcc", "clang"];

/**
 * The first of {@linkcode C_COMPILERS} that runs here (`NAME --version` succeeds), or undefined.
 *
 * @example
 * ```ts ignore
 * import { findCCompiler } from "./native_build.ts";
 * console.log(await findCCompiler()); // e.g. "cc"
 * ```
 */
export async function findCCompiler(): Promise<string | undefined> {
  for (const c of C_COMPILERS) if (await runs(c)) return c;
  return undefined;
}

async function runs(cmd: string): Promise<boolean> {
  try {
    const r = await new Deno.Command(cmd, { args: ["--version"], stdout: "null", stderr: "null" })
      .output();
    return r.success;
  } catch {
    return false;
  }
}

/**
 * Compiles the library to `opts.out` (default {@linkcode defaultNativeLibraryPath}), through a
 * temporary file renamed into place (a process using the old library keeps its copy). Throws an
 * Error naming the compiler and its output when compiling fails, or saying that no compiler was
 * found (with the packages that provide one).
 *
 * @example
 * ```ts ignore
 * import { buildNativeKernels } from "./native_build.ts";
 * const b = await buildNativeKernels({ out: "/tmp/libcoca_kernels.so" });
 * console.log(`built ${b.library} in ${b.ms} ms`);
 * ```
 */
export async function buildNativeKernels(
  opts: { out?: string; cc?: string } = {},
): Promise<NativeBuild> {
  const out = opts.out ?? defaultNativeLibraryPath();
  if (out === undefined) throw new Error("expected a file path for the library, found none");
  let env: string | undefined;
  try {
    env = Deno.env.get("CC") || undefined;
  } catch {
    env = undefined;
  }
  const cc = opts.cc ?? env ?? await findCCompiler();
  if (cc === undefined) {
    throw new Error(
      `expected a C compiler (${C_COMPILERS.join(", ")} or $CC), found none ` +
        "(Debian: apt-get install gcc)",
    );
  }
  const source = decodeURIComponent(NATIVE_SOURCE_URL.pathname);
  const sourceId = nativeSourceId(await Deno.readFile(source));
  const tmp = `${out}.${Deno.pid}.tmp`;
  const args = [
    "-O3",
    "-fPIC",
    "-shared",
    "-pthread",
    "-fopenmp-simd",
    "-ffp-contract=off",
    "-fno-math-errno",
    "-Wall",
    `-DCOCA_SOURCE_ID="${sourceId}"`,
    "-o",
    tmp,
    source,
    "-lm",
  ];
  const t0 = performance.now();
  let r: Deno.CommandOutput;
  try {
    r = await new Deno.Command(cc, { args, stdout: "piped", stderr: "piped" }).output();
  } catch (e) {
    throw new Error(`could not run the C compiler ${cc}: ${(e as Error).message}`);
  }
  const ms = Math.round(performance.now() - t0);
  if (!r.success) {
    await Deno.remove(tmp).catch(() => {});
    const text = new TextDecoder().decode(r.stderr).trim().split("\n").slice(0, 20).join("\n");
    throw new Error(`${cc} failed (exit ${r.code}) compiling ${source}:\n${text}`);
  }
  await Deno.rename(tmp, out);
  return { library: out, command: [cc, ...args], sourceId, ms };
}
