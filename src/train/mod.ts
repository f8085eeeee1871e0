/**
 * Training: AdamW, the learning-rate schedule, one step, the trainer, checkpoints.
 *
 * @module
 */
export * from "./optimizer.ts";
export * from "./step.ts";
export * from "./config.ts";
export * from "./schedule.ts";
export {
  buildModel,
  CHECKPOINT_FILES,
  type CheckpointConfig,
  loadCheckpoint,
  type LoadedCheckpoint,
  loadOptimizerState,
  readCheckpoint,
  readCheckpointConfig,
  saveCheckpoint,
  type SavedCheckpoint,
  type TrainState,
} from "./checkpoint.ts";
export {
  type CheckpointFiles,
  type CheckpointFromFiles,
  checkpointFromFiles,
  fetchCheckpoint,
} from "./checkpoint_model.ts";
export * from "./trainer.ts";
export * from "./lock.ts";
