/**
 * The experiments: each a sweep as plain data plus its report (see `experiment.ts`), run by
 * `deno task experiment <name>` (`run.ts`), with `trial.ts` as the trial of every sweep.
 *
 * @example
 * ```ts ignore
 * import { EXPERIMENTS, runExperiment } from "./mod.ts";
 * const out = await runExperiment(EXPERIMENTS.depth, { mode: "quick" });
 * ```
 *
 * @module
 */
import type { Experiment } from "./experiment.ts";
import { lossWeights } from "./loss_weights.ts";
import { patchDropout } from "./patch_dropout.ts";
import { depth } from "./depth.ts";

export * from "./base.ts";
export * from "./experiment.ts";
export * from "./run.ts";
export { lossWeights } from "./loss_weights.ts";
export { patchDropout } from "./patch_dropout.ts";
export { depth } from "./depth.ts";

/** Every experiment by name. */
export const EXPERIMENTS: Readonly<Record<string, Experiment>> = {
  loss_weights: lossWeights,
  patch_dropout: patchDropout,
  depth,
};
