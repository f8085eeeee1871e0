/**
 * CoCa's two objectives: token-level caption cross-entropy (pad ignored) and the
 * symmetric contrastive loss over L2-normalised latents.
 *
 * @module
 */
import * as tf from "../deps/tf.ts";
import { tokenNll } from "../ops/nll.ts";

/**
 * Mean cross-entropy of `logits (b, n, V)` against `labels (b, n)` over every
 * position whose label is not `padId` (averaged over the batch's tokens).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { captionLoss } from "./losses.ts";
 * const loss = captionLoss(tf.zeros([1, 2, 4]), tf.tensor2d([[1, 0]], [1, 2], "int32"), 0);
 * loss.print(); // log(4) ≈ 1.386
 * ```
 */
export function captionLoss(logits: tf.Tensor, labels: tf.Tensor, padId: number): tf.Scalar {
  return tf.tidy(() => {
    const V = logits.shape[logits.rank - 1];
    const flat = labels.reshape([-1]) as tf.Tensor1D;
    const keep = tf.notEqual(flat, padId).toFloat();
    const nll = tokenNll(logits.reshape([-1, V]) as tf.Tensor2D, flat);
    return nll.mul(keep).sum().div(keep.sum()) as tf.Scalar;
  });
}

/**
 * `0.5 (CE(S, I) + CE(Sᵀ, I))` with `S = zt ziᵀ · exp(temperature)`; row `i` of
 * `textLatents` matches row `i` of `imageLatents`.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { contrastiveLoss } from "./losses.ts";
 * const z = tf.eye(3);
 * contrastiveLoss(z, z, tf.scalar(1)).print();
 * ```
 */
export function contrastiveLoss(
  textLatents: tf.Tensor,
  imageLatents: tf.Tensor,
  temperature: tf.Tensor,
): tf.Scalar {
  return tf.tidy(() => {
    const sim = tf.matMul(textLatents, imageLatents, false, true).mul(tf.exp(temperature));
    const b = sim.shape[0];
    const eye = tf.eye(b);
    const t2i = tf.logSoftmax(sim, 1).mul(eye).sum().div(b);
    const i2t = tf.logSoftmax(sim.transpose(), 1).mul(eye).sum().div(b);
    return t2i.add(i2t).mul(-0.5) as tf.Scalar;
  });
}

/**
 * `x / max(‖x‖₂, 1e-12)` along the last axis.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { l2Normalize } from "./losses.ts";
 * l2Normalize(tf.tensor2d([[3, 4]])).print(); // [[0.6, 0.8]]
 * ```
 */
export function l2Normalize(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => x.div(tf.maximum(x.square().sum(-1, true).sqrt(), 1e-12)));
}
