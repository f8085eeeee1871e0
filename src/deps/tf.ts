/**
 * TensorFlow.js (the full package), pinned.
 *
 * Pinned here, not in the import map, so that the module also loads from scripts outside
 * this project (where no deno.json of ours is in effect).
 *
 * @module
 */
export * from "npm:@tensorflow/tfjs@4.22.0";
