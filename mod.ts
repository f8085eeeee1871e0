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
export * from "./src/backends/mod.ts";
export * from "./src/model/mod.ts";
export * from "./src/util/mod.ts";
export * from "./src/generate/mod.ts";
export * from "./src/weights/mod.ts";
export * from "./src/reference/mod.ts";
export * from "./src/train/mod.ts";
export * from "./src/text/mod.ts";
export * from "./src/data/mod.ts";
export * from "./src/eval/mod.ts";
export * as plot from "./src/plot/mod.ts";
export * as sweep from "./src/sweep/mod.ts";
export * as schema from "./src/schema/mod.ts";
