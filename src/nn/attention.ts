/**
 * Scaled dot-product attention for multi-query (one shared key/value head) and
 * multi-head layouts, plus the cached causal mask.
 *
 * @module
 */
import * as tf from "../deps/tf.ts";

/** The most negative finite float32: what the reference writes into masked scores. */
export const MASK_VALUE = -3.4028234663852886e38;

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
  const [b, h, L, dh] = q.shape;
  const M = k.shape[1] as number;
  // One matmul for all heads: fold heads into the query axis.
  let scores = tf.matMul(q.reshape([b, h * L, dh]), k, false, true).reshape([b, h, L, M]);
  if (bias) scores = scores.add(bias);
  const attn = tf.softmax(scores, -1);
  const out = tf.matMul(attn.reshape([b, h * L, M]), v).reshape([b, h, L, dh]);
  return mergeHeads(out);
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
  const scores = tf.matMul(q, k, false, true).mul(scale);
  return mergeHeads(tf.matMul(tf.softmax(scores, -1), v));
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

const causalCache = new Map<string, tf.Tensor2D>();

/**
 * Additive causal bias `(L, total)`: 0 where query `i` (at position
 * `total - L + i`) may see key `j`, {@linkcode MASK_VALUE} where `j` is later.
 * Cached per backend and size.
 *
 * @example
 * ```ts
 * import { causalBias } from "./attention.ts";
 * causalBias(3).print();
 * ```
 */
export function causalBias(L: number, total = L): tf.Tensor2D {
  const key = `${tf.getBackend()}:${L}:${total}`;
  const found = causalCache.get(key);
  if (found && !found.isDisposed) return found;
  const data = new Float32Array(L * total);
  const offset = total - L;
  for (let i = 0; i < L; i++) {
    for (let j = offset + i + 1; j < total; j++) data[i * total + j] = MASK_VALUE;
  }
  const t = tf.keep(tf.tensor2d(data, [L, total]));
  causalCache.set(key, t);
  return t;
}
