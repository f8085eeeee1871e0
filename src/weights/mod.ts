/**
 * Weights on disk: safetensors and state dicts with the reference's key names.
 *
 * @module
 */
export * from "./safetensors.ts";
export * from "./io.ts";
