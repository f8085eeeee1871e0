/**
 * The byte-level BPE tokenizer and the ids → caption text conversion.
 *
 * @module
 */
export * from "./tokenizer.ts";
export * from "./caption.ts";
