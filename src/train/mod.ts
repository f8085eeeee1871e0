/**
 * Training: AdamW, the learning-rate schedule, one step, the trainer, checkpoints.
 *
 * @module
 */
export * from "./optimizer.ts";
export * from "./step.ts";
export * from "./config.ts";
export * from "./schedule.ts";
export * from "./checkpoint.ts";
export * from "./trainer.ts";
export { buildModel, loadCheckpoint, readCheckpointConfig } from "./checkpoint_load.ts";
