/**
 * `deno task native [--out FILE]`: compile the blas backend's native kernels
 * (`src/backends/blas/native/coca_kernels.c`) with the machine's C compiler and check that the
 * library loads. Without it the blas backend runs the same kernels in JavaScript (slower).
 * Exit status: 0 built, 1 no compiler or the compile failed, 2 bad arguments.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { buildNativeKernels } from "../backends/blas/native_build.ts";
import { loadNativeKernels } from "../backends/blas/native.ts";
import { exitOnUncaught, runCli } from "./main.ts";

const USAGE = "usage: deno task native [--out FILE]";
exitOnUncaught("native", USAGE);

async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { out: { type: "string" } }, strict: true });
  const b = await buildNativeKernels({ out: values.out });
  console.log(`built ${b.library} in ${(b.ms / 1000).toFixed(1)} s (source id ${b.sourceId})`);
  const r = loadNativeKernels({ path: b.library });
  if (!r.ok) throw new Error(`the library was built but does not load: ${r.reason}`);
  return 0;
}

if (import.meta.main) Deno.exit(await runCli("native", USAGE, main));
