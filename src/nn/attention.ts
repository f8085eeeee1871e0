/**
 * Scaled dot-product attention for multi-query (one shared key/value head) and
 * multi-head layouts, as the reference writes them, over the attention op of
 * `src/ops/attention.ts` (fused on blas); splitting and merging heads; the cached
 * causal mask and the mask value, re-exported from the op.
 *
 * @module
 */
import type * as tf from "../deps/tf.ts";
import { attention, causalBias, MASK_VALUE } from "../ops/attention.ts";

export { causalBias, MASK_VALUE };

/**
 * Multi-query attention: `q (b, h, L, dh)` (already scaled) against one shared
 * `k, v (b, M, dh)`; `bias` is added to the scores `(b, h, L, M)` (broadcast).
 * Returns `(b, L, h*dh)` with heads concatenated head-major.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { multiQueryAttention } from "./attention.ts";
 * const out = multiQueryAttention(tf.ones([2, 4, 3, 8]), tf.ones([2, 5, 8]), tf.ones([2, 5, 8]));
 * console.log(out.shape); // [2, 3, 32]
 * ```
 */
export function multiQueryAttention(
  q: tf.Tensor,
  k: tf.Tensor,
  v: tf.Tensor,
  bias?: tf.Tensor,
): tf.Tensor {
  return attention(q, k, v, { bias });
}

/**
 * Standard multi-head attention: `q, k, v (b, h, L, dh)`, scores scaled by `scale`.
 * Returns `(b, L, h*dh)`.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { multiHeadAttention } from "./attention.ts";
 * const x = tf.ones([2, 4, 3, 8]);
 * console.log(multiHeadAttention(x, x, x, 8 ** -0.5).shape); // [2, 3, 32]
 * ```
 */
export function multiHeadAttention(
  q: tf.Tensor,
  k: tf.Tensor,
  v: tf.Tensor,
  scale: number,
): tf.Tensor {
  return attention(q, k, v, { scale });
}

/**
 * `(b, L, h*dh) -> (b, h, L, dh)`: heads are the outer factor of the feature axis.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { splitHeads } from "./attention.ts";
 * console.log(splitHeads(tf.ones([2, 3, 32]), 4).shape); // [2, 4, 3, 8]
 * ```
 */
export function splitHeads(x: tf.Tensor, heads: number): tf.Tensor {
  const [b, L, f] = x.shape;
  return x.reshape([b, L, heads, f / heads]).transpose([0, 2, 1, 3]);
}

/**
 * `(b, h, L, dh) -> (b, L, h*dh)`, the inverse of {@linkcode splitHeads}.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { mergeHeads } from "./attention.ts";
 * console.log(mergeHeads(tf.ones([2, 4, 3, 8])).shape); // [2, 3, 32]
 * ```
 */
export function mergeHeads(x: tf.Tensor): tf.Tensor {
  const [b, h, L, dh] = x.shape;
  return x.transpose([0, 2, 1, 3]).reshape([b, L, h * dh]);
}
