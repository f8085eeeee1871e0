/**
 * Layer- and model-level cases (every case in `cases.ts` that is not a plain matmul) on every
 * backend that starts. Add model cases to `CASES` in `cases.ts`.
 *
 * @module
 */
import { CASES, MATMUL_CASES } from "./cases.ts";
import { registerBenches } from "./harness.ts";

await registerBenches(CASES.filter((c) => !MATMUL_CASES.includes(c)), "model");
