/**
 * Layer- and model-level cases (every case in `cases.ts` that is not a plain matmul) on every
 * backend that starts. Add model cases to `CASES` in `cases.ts`.
 *
 * @module
 */
import { LAYER_CASES } from "./cases.ts";
import { MODEL_CASES } from "./model_cases.ts";
import { registerBenches } from "./harness.ts";

await registerBenches([...LAYER_CASES, ...MODEL_CASES], "model");
