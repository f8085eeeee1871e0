/**
 * Matmul throughput on every backend that starts (cpu, wasm, webgpu, blas): square 256/512/1024
 * and the matmul shapes of a d=256 transformer. Run via `deno task bench:report` for a table.
 *
 * @module
 */
import { MATMUL_CASES } from "./cases.ts";
import { registerBenches } from "./harness.ts";

await registerBenches(MATMUL_CASES, "matmul");
