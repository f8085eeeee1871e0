/**
 * Floor 2: the differentiable ops the model calls, fused where the active backend has a kernel
 * for them (blas), plain tfjs ops otherwise.
 *
 * @module
 */
export { swiglu } from "./swiglu.ts";
export { layerNorm } from "./layer_norm.ts";
export { tokenNll } from "./nll.ts";
export { type AdamWAttrs, adamwUpdate, hostGlobalNorm } from "./adamw.ts";
export { attention, type AttentionOptions, hasFusedAttention } from "./attention.ts";
