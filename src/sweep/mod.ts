/**
 * Generic sweep runner: expand a plain-data sweep spec into trials, run them as subprocesses or
 * Slurm job arrays (resumable after crashes), record everything in SQLite, and aggregate
 * results.
 *
 * @example
 * ```ts
 * import { groupBy, loadResults, runSweep } from "./mod.ts";
 * const { dbPath } = await runSweep({
 *   spec: { name: "lr", base: { lr: 1e-3 }, grid: { lr: [1e-3, 3e-4] }, seeds: [0, 1, 2] },
 *   outDir: "runs/lr",
 *   entry: "src/cli/train.ts",
 * });
 * console.table(groupBy(loadResults(dbPath), "lr", "loss"));
 * ```
 *
 * @module
 */

export * from "./spec.ts";
export * from "./expand.ts";
export * from "./path.ts";
export * from "./json.ts";
export * from "./protocol.ts";
export * from "./store.ts";
export * from "./orphan.ts";
export * from "./progress.ts";
export * from "./executor.ts";
export * from "./local.ts";
export * from "./slurm.ts";
export * from "./slurm_task.ts";
export * from "./run.ts";
export * from "./results.ts";
