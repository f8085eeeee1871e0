/**
 * The WebGPU backend of TensorFlow.js, pinned.
 *
 * Pinned here, not in the import map, so that the module also loads from scripts outside
 * this project (where no deno.json of ours is in effect).
 *
 * @module
 */
export { WebGPUBackend } from "npm:@tensorflow/tfjs-backend-webgpu@4.22.0";
export type { WebGPUProgram } from "npm:@tensorflow/tfjs-backend-webgpu@4.22.0";
