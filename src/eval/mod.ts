/**
 * Evaluation: retrieval, zero-shot and caption metrics, and evaluate().
 *
 * @module
 */
export * from "./metrics.ts";
export * from "./recall.ts";
export * from "./evaluate.ts";
