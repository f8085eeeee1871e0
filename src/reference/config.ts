/**
 * The reference's snake_case constructor arguments (as in a parity fixture's
 * metadata) turned into our configs and a model.
 *
 * @module
 */
import type { CoCaConfig, ViTConfig } from "../model/config.ts";
import { CoCa } from "../model/coca.ts";
import { SimpleViT } from "../model/vit.ts";

/** `{vit: {...}, coca: {...}}` with the reference's argument names. */
export interface ReferenceConfig {
  vit: Record<string, unknown>;
  coca: Record<string, unknown>;
}

const VIT_NAMES: Record<string, keyof ViTConfig> = {
  image_size: "imageSize",
  patch_size: "patchSize",
  num_classes: "numClasses",
  dim: "dim",
  depth: "depth",
  heads: "heads",
  mlp_dim: "mlpDim",
  channels: "channels",
  dim_head: "dimHead",
  patch_dropout: "patchDropout",
};

const COCA_NAMES: Record<string, keyof CoCaConfig> = {
  dim: "dim",
  num_tokens: "numTokens",
  unimodal_depth: "unimodalDepth",
  multimodal_depth: "multimodalDepth",
  dim_latents: "dimLatents",
  image_dim: "imageDim",
  num_img_queries: "numImgQueries",
  dim_head: "dimHead",
  heads: "heads",
  ff_mult: "ffMult",
  caption_loss_weight: "captionLossWeight",
  contrastive_loss_weight: "contrastiveLossWeight",
  pad_id: "padId",
};

function rename<T>(what: string, src: Record<string, unknown>, names: Record<string, string>): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(src)) {
    if (v === null || v === undefined) continue; // Python None -> our default
    const name = names[k];
    if (!name) {
      throw new RangeError(
        `unknown ${what} argument "${k}"; expected some of ${Object.keys(names).join(", ")}`,
      );
    }
    out[name] = v;
  }
  return out as T;
}

/**
 * Convert the reference's constructor arguments to `{vit, coca}` configs.
 *
 * @example
 * ```ts
 * import { fromReferenceConfig } from "./config.ts";
 * const { vit } = fromReferenceConfig({ vit: { image_size: 32, patch_size: 8, num_classes: 10, dim: 64, depth: 2, heads: 4, mlp_dim: 128 }, coca: { dim: 64, num_tokens: 97, unimodal_depth: 2, multimodal_depth: 2 } });
 * console.log(vit.mlpDim); // 128
 * ```
 */
export function fromReferenceConfig(cfg: ReferenceConfig): { vit: ViTConfig; coca: CoCaConfig } {
  if (!cfg?.vit || !cfg?.coca) {
    throw new RangeError(
      `expected a config with "vit" and "coca" objects, found keys ${Object.keys(cfg ?? {})}`,
    );
  }
  return {
    vit: rename<ViTConfig>("SimpleViT", cfg.vit, VIT_NAMES),
    coca: rename<CoCaConfig>("CoCa", cfg.coca, COCA_NAMES),
  };
}

/**
 * Build a SimpleViT + CoCa from the reference's constructor arguments.
 *
 * @example
 * ```ts
 * import { buildFromReferenceConfig } from "./config.ts";
 * const coca = buildFromReferenceConfig({ vit: { image_size: 32, patch_size: 8, num_classes: 10, dim: 64, depth: 1, heads: 2, mlp_dim: 64 }, coca: { dim: 32, image_dim: 64, num_tokens: 50, unimodal_depth: 1, multimodal_depth: 1, num_img_queries: 4, dim_head: 16, heads: 2 } });
 * console.log(coca.config.numTokens); // 50
 * ```
 */
export function buildFromReferenceConfig(cfg: ReferenceConfig, opts: { seed?: number } = {}): CoCa {
  const { vit, coca } = fromReferenceConfig(cfg);
  return new CoCa({ ...coca, imgEncoder: new SimpleViT(vit, opts) }, opts);
}
