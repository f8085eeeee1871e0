/**
 * Datasets (shapes, emoji, manifest files), image decoding and batches.
 *
 * @module
 */
export * from "./types.ts";
export * from "./shapes.ts";
export * from "./emoji.ts";
export * from "./manifest.ts";
export * from "./load.ts";
export * from "./paths.ts";
export * from "./config.ts";
export * from "./image_options.ts";
export * from "./batches.ts";
export * from "./tensors.ts";
export {
  decodeImage,
  FIT_MODES,
  type FitMode,
  ImageError,
  readImageFile,
  toModelImage,
  type ToModelImageOptions,
} from "./image.ts";
