/**
 * What CoCa's attentional pooler looks at: the attention probabilities of the image queries over
 * the image encoder's patches, averaged over heads, with the patch grid to draw them on.
 *
 * @module
 */
import * as tf from "../deps/tf.ts";
import type { CoCa } from "./coca.ts";
import { SimpleViT } from "./vit.ts";
import { splitHeads } from "../nn/attention.ts";

/** The pooler's attention for a batch of images. */
export interface PoolAttention {
  /** `(b, queries, gh * gw)` row-major: probabilities over the patches (each row sums to 1). */
  weights: Float32Array;
  /** Images in the batch. */
  batch: number;
  /** Image queries: query 0 (the contrastive embedding) and the captioning queries. */
  queries: number;
  /** Patch rows and columns of the grid (`weights` of one query are `gh × gw`, row-major). */
  grid: [number, number];
}

/**
 * The attention probabilities of the pooler's image queries over the patches of `images`
 * `(b, 3, H, W)`, averaged over heads, in eval mode (no patch dropout).
 *
 * @throws {Error} when the model's image encoder is not a SimpleViT (no patch grid).
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { CoCa } from "./coca.ts";
 * import { SimpleViT } from "./vit.ts";
 * import { poolAttention } from "./pool_attention.ts";
 * const vit = new SimpleViT({ imageSize: 16, patchSize: 8, dim: 16, depth: 1, heads: 2, mlpDim: 32 });
 * const coca = new CoCa({ dim: 16, numTokens: 10, unimodalDepth: 1, multimodalDepth: 1, dimHead: 8, heads: 2, numImgQueries: 2, imgEncoder: vit });
 * const att = await poolAttention(coca, tf.zeros([1, 3, 16, 16]) as tf.Tensor4D);
 * console.log(att.queries, att.grid); // 3 [2, 2]
 * ```
 */
export async function poolAttention(model: CoCa, images: tf.Tensor4D): Promise<PoolAttention> {
  const vit = model.imgEncoder;
  if (!(vit instanceof SimpleViT)) {
    throw new Error(
      `expected the model's image encoder to be a SimpleViT (a patch grid), found ${typeof vit}`,
    );
  }
  const [h, w] = vit.config.imageSize;
  const [ph, pw] = vit.config.patchSize;
  const grid: [number, number] = [h / ph, w / pw];
  const wasTraining = vit.training;
  vit.training = false;
  try {
    const probs = tf.tidy(() => {
      const tokens = vit.encode(images);
      const pool = model.imgAttnPool;
      const b = tokens.shape[0];
      const queries = model.imgQueries.expandDims(0).tile([b, 1, 1]);
      const { k } = pool.keyValues(tokens);
      const q = splitHeads(pool.toQ.apply(pool.norm.apply(queries)), pool.heads)
        .mul(pool.dimHead ** -0.5);
      // q (b, h, Q, dh) · k (b, 1, m, dh)ᵀ -> (b, h, Q, m); one key/value head (multi-query).
      const scores = tf.matMul(q, k.expandDims(1).tile([1, pool.heads, 1, 1]), false, true);
      return tf.softmax(scores).mean(1) as tf.Tensor3D;
    });
    try {
      const [batch, queries, patches] = probs.shape;
      if (patches !== grid[0] * grid[1]) {
        throw new RangeError(
          `expected ${grid[0]}×${grid[1]} patches from the image encoder, found ${patches}`,
        );
      }
      return { weights: Float32Array.from(await probs.data()), batch, queries, grid };
    } finally {
      probs.dispose();
    }
  } finally {
    vit.training = wasTraining;
  }
}
