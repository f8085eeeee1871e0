/**
 * Scaled dot-product attention as the model calls it, for the two layouts CoCa uses: multi-query
 * (the text transformer and the cross-attentions: one key/value head shared by all query heads)
 * and multi-head (the ViT). Through the fused `CocaAttention` / `CocaAttentionGrad` kernels
 * where the active backend has both (blas), plain tfjs ops otherwise; same value and gradient
 * either way (tests/attention_kernel_test.ts).
 *
 * A backend kernel pair under these names takes inputs `q`, `k`, `v` (and `bias` when given)
 * with attrs `{scale, causal, saveProbs}` and returns `[out (b, L, h·dv), probs (b, h, L, M)]`
 * (`saveProbs` false: no gradient is being recorded, so it may return `[out]` alone); the
 * gradient kernel takes `q`, `k`, `v`, `probs`, `dy` with attr `{scale}` and returns
 * `[dq, dk, dv]` (see `src/backends/blas/attention_kernel.ts`).
 *
 * @module
 */
import * as tf from "../deps/tf.ts";
import {
  ATTENTION_GRAD_KERNEL,
  ATTENTION_KERNEL,
  attentionDims,
  MASK_VALUE,
} from "../backends/fused_contract.ts";

export { MASK_VALUE };

/** Options of {@linkcode attention}. */
export interface AttentionOptions {
  /** Multiplies the scores `q·k` before the masks (default 1: `q` already scaled). */
  scale?: number;
  /**
   * Causal mask: query `i`, at position `M - L + i` of the `M` keys, sees keys `j <= M - L + i`
   * (as {@linkcode causalBias}`(L, M)` added to the scores).
   */
  causal?: boolean;
  /**
   * Added to the scores `(b, h, L, M)` after the scale and the causal mask (broadcast), e.g.
   * {@linkcode MASK_VALUE} where a key is padding. A constant: no gradient flows into it.
   */
  bias?: tf.Tensor;
}

/**
 * `softmax(scale · q kᵀ + masks) v`, heads merged: `q (b, h, L, dk)` against `k (b, M, dk)`,
 * `v (b, M, dv)` shared by the heads (multi-query) or `k (b, h, M, dk)`, `v (b, h, M, dv)`
 * (multi-head); returns `(b, L, h·dv)`, head-major along the last axis. Each score is rounded to
 * float32 after the product, after the scale, after the causal mask and after the bias, in that
 * order; a masked score ends at the most negative float32 (or below), so its probability is
 * exactly 0, as with the reference's `masked_fill`. The softmax subtracts the row maximum.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { attention } from "./attention.ts";
 * const q = tf.ones([2, 4, 3, 8]);
 * console.log(attention(q, tf.ones([2, 5, 8]), tf.ones([2, 5, 8])).shape); // [2, 3, 32]
 * console.log(attention(q, q, q, { scale: 8 ** -0.5, causal: true }).shape); // [2, 3, 32]
 * ```
 */
export function attention(
  q: tf.Tensor,
  k: tf.Tensor,
  v: tf.Tensor,
  opts: AttentionOptions = {},
): tf.Tensor {
  attentionDims(q.shape, k.shape, v.shape); // the same shape errors on every path
  const float = [q, k, v, ...(opts.bias ? [opts.bias] : [])].every((t) => t.dtype === "float32");
  if (float && hasFusedAttention()) return fusedAttention(q, k, v, opts);
  return plainAttention(q, k, v, opts);
}

/**
 * Whether the active backend has the fused attention kernels (forward and gradient).
 *
 * @example
 * ```ts
 * import { hasFusedAttention } from "./attention.ts";
 * console.log(hasFusedAttention());
 * ```
 */
export function hasFusedAttention(): boolean {
  const backend = tf.getBackend();
  return tf.getKernel(ATTENTION_KERNEL, backend) !== undefined &&
    tf.getKernel(ATTENTION_GRAD_KERNEL, backend) !== undefined;
}

/**
 * {@linkcode attention} with plain tfjs ops (any backend): two batched matmuls, the scale, the
 * masks, a softmax and the head merge.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { plainAttention } from "./attention.ts";
 * console.log(plainAttention(tf.ones([1, 2, 3, 4]), tf.ones([1, 3, 4]), tf.ones([1, 3, 4])).shape); // [1, 3, 8]
 * ```
 */
export function plainAttention(
  q: tf.Tensor,
  k: tf.Tensor,
  v: tf.Tensor,
  opts: AttentionOptions = {},
): tf.Tensor {
  const { b, h, L, M, dk, dv, shared } = attentionDims(q.shape, k.shape, v.shape);
  const scale = opts.scale ?? 1;
  return tf.tidy(() => {
    // Multi-query: one matmul per batch for all heads, the heads folded into the query axis.
    let scores = shared
      ? tf.matMul(q.reshape([b, h * L, dk]), k, false, true).reshape([b, h, L, M])
      : tf.matMul(q, k, false, true);
    if (scale !== 1) scores = scores.mul(scale);
    if (opts.causal) scores = scores.add(causalBias(L, M));
    if (opts.bias) scores = scores.add(opts.bias);
    const probs = tf.softmax(scores, -1);
    const out = shared
      ? tf.matMul(probs.reshape([b, h * L, M]), v).reshape([b, h, L, dv])
      : tf.matMul(probs, v);
    return out.transpose([0, 2, 1, 3]).reshape([b, L, h * dv]);
  });
}

/**
 * {@linkcode attention} through the fused kernels of the active backend, differentiable in `q`,
 * `k` and `v` (`tf.customGrad`; the gradient kernel reuses the forward's probabilities). Outside
 * `tf.grads` and its kin (no gradient tape) the forward kernel alone runs and keeps no
 * probabilities.
 *
 * @example
 * ```ts ignore
 * const out = fusedAttention(q, k, v, { causal: true }); // on blas
 * ```
 */
export function fusedAttention(
  q: tf.Tensor,
  k: tf.Tensor,
  v: tf.Tensor,
  opts: AttentionOptions = {},
): tf.Tensor {
  const scale = opts.scale ?? 1, bias = opts.bias, causal = opts.causal ?? false;
  const forward = (qi: tf.Tensor, ki: tf.Tensor, vi: tf.Tensor, saveProbs: boolean) =>
    tf.engine().runKernel(
      ATTENTION_KERNEL,
      (bias
        ? { q: qi, k: ki, v: vi, bias }
        : { q: qi, k: ki, v: vi }) as unknown as tf.NamedTensorMap,
      { scale, causal, saveProbs } as unknown as tf.NamedAttrMap,
    ) as tf.Tensor[];
  if (!recordingGradients()) {
    // A kernel may return the probabilities anyway (saveProbs is a hint): drop them.
    const [out, ...rest] = forward(q, k, v, false);
    tf.dispose(rest);
    return out;
  }
  const op = tf.customGrad(
    ((qi: tf.Tensor, ki: tf.Tensor, vi: tf.Tensor, save: tf.GradSaveFunc) => {
      const [value, probs] = forward(qi, ki, vi, true);
      save([qi, ki, vi, probs]);
      const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.engine().runKernel(
          ATTENTION_GRAD_KERNEL,
          {
            q: saved[0],
            k: saved[1],
            v: saved[2],
            probs: saved[3],
            dy,
          } as unknown as tf.NamedTensorMap,
          { scale } as unknown as tf.NamedAttrMap,
        ) as tf.Tensor[];
      return { value, gradFunc };
    }) as unknown as Parameters<typeof tf.customGrad>[0],
  ) as unknown as (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => tf.Tensor;
  return op(q, k, v);
}

/** Whether tfjs is recording a gradient tape (inside `tf.grads`, `tf.variableGrads`, ...). */
function recordingGradients(): boolean {
  return (tf.engine().state as unknown as { gradientDepth: number }).gradientDepth > 0;
}

const causalCache = new Map<string, tf.Tensor2D>();

/**
 * Additive causal bias `(L, total)`: 0 where query `i` (at position `total - L + i`) may see key
 * `j`, {@linkcode MASK_VALUE} where `j` is later. Cached per backend and size.
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
    for (let j = Math.max(0, offset + i + 1); j < total; j++) data[i * total + j] = MASK_VALUE;
  }
  const t = tf.keep(tf.tensor2d(data, [L, total]));
  causalCache.set(key, t);
  return t;
}
