/**
 * The model's probability of each token of a caption (teacher forcing): what a viewer shows
 * beside a generated caption.
 *
 * @module
 */
import * as tf from "../deps/tf.ts";
import type { CoCa } from "../model/coca.ts";

/**
 * For each image `i` of `images (b, 3, H, W)` and its caption `captions[i]` (ids without BOS
 * or EOS), the probability the model gives each caption token after the ones before it, then
 * (when `eos` is given) the probability of EOS after the whole caption.
 *
 * @param bos the begin-of-sequence id fed first.
 * @param eos the end-of-sequence id whose probability closes each row; omit to leave it out.
 * @throws {RangeError} when the number of captions differs from the batch.
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { CoCa } from "../model/coca.ts";
 * import { SimpleViT } from "../model/vit.ts";
 * import { tokenProbabilities } from "./token_probs.ts";
 * const vit = new SimpleViT({ imageSize: 16, patchSize: 8, dim: 16, depth: 1, heads: 2, mlpDim: 32 });
 * const coca = new CoCa({ dim: 16, numTokens: 10, unimodalDepth: 1, multimodalDepth: 1, dimHead: 8, heads: 2, numImgQueries: 2, imgEncoder: vit });
 * const p = await tokenProbabilities(coca, tf.zeros([1, 3, 16, 16]) as tf.Tensor4D, [[5, 6]], 1, 2);
 * console.log(p[0].length); // 3
 * ```
 */
export async function tokenProbabilities(
  model: CoCa,
  images: tf.Tensor4D,
  captions: readonly (readonly number[])[],
  bos: number,
  eos?: number,
): Promise<number[][]> {
  const b = images.shape[0];
  if (captions.length !== b) {
    throw new RangeError(`expected one caption per image (${b}), found ${captions.length}`);
  }
  const targets = captions.map((c) => eos === undefined ? [...c] : [...c, eos]);
  const n = Math.max(1, ...targets.map((t) => t.length));
  const pad = model.config.padId ?? 0;
  const ids = new Int32Array(b * n).fill(pad);
  captions.forEach((c, i) => {
    ids[i * n] = bos;
    c.slice(0, n - 1).forEach((t, j) => ids[i * n + 1 + j] = t);
  });
  const probs = tf.tidy(() => {
    const logits = model.forward(tf.tensor2d(ids, [b, n], "int32"), images);
    return tf.softmax(logits);
  });
  try {
    const data = await probs.data();
    const v = probs.shape[2];
    return targets.map((t, i) => t.map((id, j) => data[(i * n + j) * v + id]));
  } finally {
    probs.dispose();
  }
}
