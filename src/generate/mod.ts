/**
 * Caption generation: greedy, beam and sampled decoding over a key/value-cached decoder.
 *
 * @module
 */
export * from "./generate.ts";
export * from "./decoder.ts";
export * from "./token_probs.ts";
