/**
 * CoCa (Contrastive Captioners) on TensorFlow.js for Deno: backend setup, the
 * model (SimpleViT + CoCa, parity with lucidrains/CoCa-pytorch), weights I/O,
 * training (AdamW, trainer, checkpoints), tokenizer and datasets, evaluation,
 * caption generation, and the `plot` and `sweep` namespaces.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { CoCa, setupBackend, SimpleViT } from "./mod.ts";
 * await setupBackend("auto");
 * const vit = new SimpleViT({ imageSize: 32, patchSize: 8, dim: 64, depth: 1, heads: 2, mlpDim: 128 });
 * const coca = new CoCa({ dim: 64, numTokens: 100, unimodalDepth: 1, multimodalDepth: 1, imgEncoder: vit });
 * ```
 *
 * @module
 */
export * from "./src/backend.ts";
export * from "./src/config.ts";
export * from "./src/coca.ts";
export * from "./src/vit.ts";
export * from "./src/losses.ts";
export * from "./src/rng.ts";
export * from "./src/generate.ts";
export * from "./src/caption_decoder.ts";
export * from "./src/weights/safetensors.ts";
export * from "./src/weights/io.ts";
export * from "./src/weights/reference.ts";
export {
  FixtureError,
  maxRelErr,
  PARITY_TOLERANCE,
  type ParityRow,
  runParity,
} from "./src/parity.ts";
export {
  readTrajectoryOptimizer,
  runTrajectory,
  TRAJECTORY_TOLERANCE,
  type TrajectoryOptimizer,
} from "./src/trajectory.ts";
export { type FixtureKind, runFixture } from "./src/fixture.ts";
export * from "./src/train/optimizer.ts";
export * from "./src/train/step.ts";
export { hostIds, idsTensor } from "./src/host_ids.ts";
export * from "./src/train/config.ts";
export * from "./src/train/schedule.ts";
export * from "./src/train/checkpoint.ts";
export * from "./src/train/trainer.ts";
export * from "./src/text/tokenizer.ts";
export * from "./src/data/types.ts";
export * from "./src/data/shapes.ts";
export * from "./src/data/emoji.ts";
export * from "./src/data/manifest.ts";
export * from "./src/data/load.ts";
export * from "./src/data/batches.ts";
export * from "./src/data/tensors.ts";
export { decodeImage, toModelImage } from "./src/data/image.ts";
export * from "./src/eval/metrics.ts";
export * from "./src/eval/evaluate.ts";
export { buildModel, loadCheckpoint, readCheckpointConfig } from "./src/checkpoint_load.ts";
export * as plot from "./src/plot/mod.ts";
export * as sweep from "./src/sweep/mod.ts";
