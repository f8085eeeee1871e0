/**
 * CoCa (Contrastive Captioners) on TensorFlow.js for Deno: the model, weights
 * I/O and backend setup.
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
export { maxRelErr, PARITY_TOLERANCE, type ParityRow, runParity } from "./src/parity.ts";
export * from "./src/train/optimizer.ts";
export * from "./src/train/step.ts";
export { hostIds, idsTensor } from "./src/host_ids.ts";
export * from "./src/train/config.ts";
export * from "./src/train/schedule.ts";
export * from "./src/train/checkpoint.ts";
export * from "./src/train/trainer.ts";
