/**
 * Analytic matmul FLOPs of CoCa (multiply-add = 2 FLOPs), for GFLOP/s in the
 * bench report. Elementwise work (norms, softmax, activations) is not counted.
 *
 * @module
 */
import {
  type CoCaConfig,
  resolveCoCaConfig,
  resolveViTConfig,
  type ViTConfig,
} from "../src/model/config.ts";

/** One forward pass's matmul FLOPs for a batch. */
export interface CoCaFlopsInput {
  vit: ViTConfig;
  coca: CoCaConfig;
  batch: number;
  /** Text length fed to the decoders (the loss path uses `n - 1`). */
  textLength: number;
  /** Image tokens per image (patch dropout keeps fewer in training). */
  imageTokens?: number;
}

/**
 * Forward-pass matmul FLOPs of ViT + CoCa (logits path, plus latents).
 *
 * @example
 * ```ts
 * import { cocaForwardFlops } from "./coca_flops.ts";
 * const f = cocaForwardFlops({
 *   vit: { imageSize: 64, patchSize: 8, dim: 256, depth: 4, heads: 8, mlpDim: 512 },
 *   coca: { dim: 256, numTokens: 1000, unimodalDepth: 4, multimodalDepth: 4, dimHead: 32 },
 *   batch: 16,
 *   textLength: 32,
 * });
 * console.log((f / 1e9).toFixed(1), "GFLOP");
 * ```
 */
export function cocaForwardFlops(x: CoCaFlopsInput): number {
  const v = resolveViTConfig(x.vit), c = resolveCoCaConfig(x.coca);
  const [ph, pw] = v.patchSize;
  const patches = (v.imageSize[0] / ph) * (v.imageSize[1] / pw);
  const m = x.imageTokens ?? patches;
  const vInner = v.heads * v.dimHead;
  // ViT: patch projection on all patches, transformer on the kept ones.
  let f = 2 * patches * (v.channels * ph * pw) * v.dim;
  f += v.depth * (2 * m * v.dim * 3 * vInner + 4 * m * m * vInner + 2 * m * vInner * v.dim +
    4 * m * v.dim * v.mlpDim);
  const d = c.dim, inner = c.heads * c.dimHead, F = c.ffMult * d, n = x.textLength;
  const block = (L: number) =>
    2 * L * d * (inner + 2 * c.dimHead + 2 * F) + 4 * c.heads * L * L * c.dimHead +
    2 * L * inner * d + 2 * L * F * d;
  f += c.unimodalDepth * block(n + 1);
  // Attention pooling: Q+1 queries over m image tokens.
  const Q = c.numImgQueries + 1;
  f += 2 * Q * d * inner + 2 * m * c.imageDim * 2 * c.dimHead + 4 * c.heads * Q * m * c.dimHead +
    2 * Q * inner * d;
  const cross = 2 * n * d * inner + 2 * c.numImgQueries * d * 2 * c.dimHead +
    4 * c.heads * n * c.numImgQueries * c.dimHead + 2 * n * inner * d + 2 * n * d * 2 * F +
    2 * n * F * d;
  f += c.multimodalDepth * (block(n) + cross);
  f += 2 * n * d * c.numTokens + 4 * d * c.dimLatents;
  return f * x.batch;
}
