/**
 * Token negative log-likelihood as the caption loss calls it: `-log softmax(logits)[label]` per
 * row, through the fused `CocaNll` kernels where the active backend has them (blas: no `(N, V)`
 * one-hot or log-softmax tensors), plain tfjs ops otherwise.
 *
 * @module
 */
import * as tf from "../deps/tf.ts";

/**
 * Per-row `-log softmax(logits)[label]` `(N)` for `logits (N, V)` and int32 `labels (N)`.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { tokenNll } from "./nll.ts";
 * tokenNll(tf.zeros([2, 4]), tf.tensor1d([1, 3], "int32")).print(); // [log 4, log 4]
 * ```
 */
export function tokenNll(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Tensor1D {
  if (hasFusedNll()) return fusedNll(logits, labels);
  const V = logits.shape[1];
  return tf.tidy(() =>
    tf.logSoftmax(logits).mul(tf.oneHot(labels, V)).sum(-1).neg() as tf.Tensor1D
  );
}

/**
 * Whether the active backend has the fused cross-entropy.
 *
 * @example
 * ```ts
 * import { hasFusedNll } from "./nll.ts";
 * console.log(hasFusedNll());
 * ```
 */
export function hasFusedNll(): boolean {
  return tf.getKernel("CocaNll", tf.getBackend()) !== undefined;
}

/**
 * Per-row `-log softmax(logits)[label]` `(N)` for `logits (N, V)`, int32
 * `labels (N)`; differentiable in `logits`.
 *
 * @example
 * ```ts ignore
 * const nll = fusedNll(logits, labels);
 * ```
 */
export function fusedNll(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Tensor1D {
  const op = tf.customGrad(
    ((x: tf.Tensor, save: tf.GradSaveFunc) => {
      // labels are saved too: the gradient must not read a tensor the forward scope disposed
      // (the tape frees saved tensors, and only those, as the backward pass goes).
      save([x, labels]);
      const value = tf.engine().runKernel(
        "CocaNll",
        { logits: x, labels } as unknown as tf.NamedTensorMap,
      ) as tf.Tensor;
      const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.engine().runKernel(
          "CocaNllGrad",
          { logits: saved[0], labels: saved[1], dy } as unknown as tf.NamedTensorMap,
        ) as tf.Tensor;
      return { value, gradFunc };
    }) as unknown as Parameters<typeof tf.customGrad>[0],
  ) as unknown as (x: tf.Tensor) => tf.Tensor1D;
  return op(logits);
}
