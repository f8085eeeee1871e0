// Shared test helpers: tiny models and batches.
import * as tf from "@tensorflow/tfjs";
import { CoCa, type CoCaConfig, SimpleViT, type ViTConfig } from "../mod.ts";

export const TINY_VIT: ViTConfig = {
  imageSize: 16,
  patchSize: 4,
  dim: 32,
  depth: 1,
  heads: 2,
  dimHead: 16,
  mlpDim: 64,
  patchDropout: 0.5,
};

export const TINY_COCA: CoCaConfig = {
  dim: 32,
  imageDim: 32,
  numTokens: 40,
  unimodalDepth: 1,
  multimodalDepth: 1,
  dimHead: 16,
  heads: 2,
  numImgQueries: 4,
  ffMult: 2,
};

export function tinyModel(
  seed = 0,
  vit: Partial<ViTConfig> = {},
  coca: Partial<CoCaConfig> = {},
): CoCa {
  const encoder = new SimpleViT({ ...TINY_VIT, ...vit }, { seed });
  return new CoCa({ ...TINY_COCA, ...coca, imgEncoder: encoder }, { seed });
}

export function ids(rows: number[][]): tf.Tensor2D {
  return tf.tensor2d(rows, [rows.length, rows[0].length], "int32");
}

export function images(b: number, seed = 1, size = 16): tf.Tensor4D {
  return tf.randomNormal([b, 3, size, size], 0, 1, "float32", seed) as tf.Tensor4D;
}
