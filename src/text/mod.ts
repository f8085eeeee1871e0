/**
 * The byte-level BPE tokenizer.
 *
 * @module
 */
export * from "./tokenizer.ts";
