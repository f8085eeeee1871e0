/**
 * Layer-, module- and model-level cases on every backend that starts: the generic transformer
 * layer (`cases.ts`), the model's own modules at the small and README sizes (`module_cases.ts`)
 * and whole-model forward / train step / generation (`model_cases.ts`).
 *
 * @module
 */
import { LAYER_CASES } from "./cases.ts";
import { MODEL_CASES } from "./model_cases.ts";
import { MODULE_CASES } from "./module_cases.ts";
import { registerBenches } from "./harness.ts";

await registerBenches([...LAYER_CASES, ...MODULE_CASES, ...MODEL_CASES], "model");
