/**
 * Floor 3: layers with the reference's parameter names (linear, layer norm, rotary, attention,
 * feed-forward, parallel and cross-attention blocks).
 *
 * @module
 */
export * from "./params.ts";
export * from "./layers.ts";
export * from "./rotary.ts";
export * from "./attention.ts";
export * from "./feedforward.ts";
export * from "./blocks.ts";
