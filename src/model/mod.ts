/**
 * Floor 4: the model: CoCa, SimpleViT, their configs and the two losses.
 *
 * @module
 */
export * from "./config.ts";
export * from "./coca.ts";
export * from "./vit.ts";
export * from "./losses.ts";
export { hostIds, idsTensor, shiftIds } from "./host_ids.ts";
export * from "./pool_attention.ts";
