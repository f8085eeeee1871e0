/**
 * The rotary embedding as the model applies it to queries and keys: `t · cos + rotateHalf(t) ·
 * sin` over the last axis, through the fused `CocaRotary` kernels where the active backend has
 * them (blas), plain tfjs ops otherwise. Same value and gradient either way.
 *
 * @module
 */
import * as tf from "../deps/tf.ts";

/**
 * `[−t[..., h:], t[..., :h]]` (`h` half the last axis): the reference's `rotate_half`.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { rotateHalf } from "./rotary.ts";
 * rotateHalf(tf.tensor1d([1, 2, 3, 4])).print(); // [-3, -4, 1, 2]
 * ```
 */
export function rotateHalf(t: tf.Tensor): tf.Tensor {
  const [a, b] = tf.split(t, 2, -1);
  return tf.concat([b.neg(), a], -1);
}

/**
 * `t (..., L, D)` rotated by the tables `cos`, `sin (L, D)`: `t · cos + rotateHalf(t) · sin`.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { rotary } from "./rotary.ts";
 * const y = rotary(tf.ones([2, 3, 4]), tf.ones([3, 4]), tf.zeros([3, 4]));
 * console.log(y.shape); // [2, 3, 4]
 * ```
 */
export function rotary(t: tf.Tensor, cos: tf.Tensor2D, sin: tf.Tensor2D): tf.Tensor {
  if (hasFusedRotary()) return fusedRotary(t, cos, sin);
  return t.mul(cos).add(rotateHalf(t).mul(sin));
}

/**
 * Whether the active backend has the fused rotary kernels.
 *
 * @example
 * ```ts
 * import { hasFusedRotary } from "./rotary.ts";
 * console.log(hasFusedRotary());
 * ```
 */
export function hasFusedRotary(): boolean {
  return tf.getKernel("CocaRotary", tf.getBackend()) !== undefined;
}

/**
 * The rotary embedding through the fused kernels, differentiable in `t` (the tables are
 * constants: their gradient is not computed).
 *
 * @example
 * ```ts ignore
 * const y = fusedRotary(q, cos, sin);
 * ```
 */
export function fusedRotary(t: tf.Tensor, cos: tf.Tensor2D, sin: tf.Tensor2D): tf.Tensor {
  const op = tf.customGrad(
    ((x: tf.Tensor, save: tf.GradSaveFunc) => {
      // The tables may be intermediates of the caller (a slice): keep them for the gradient.
      save([cos, sin]);
      const value = tf.engine().runKernel(
        "CocaRotary",
        { t: x, cos, sin } as unknown as tf.NamedTensorMap,
      ) as tf.Tensor;
      const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.engine().runKernel(
          "CocaRotaryGrad",
          { dy, cos: saved[0], sin: saved[1] } as unknown as tf.NamedTensorMap,
        ) as tf.Tensor;
      return { value, gradFunc };
    }) as unknown as Parameters<typeof tf.customGrad>[0],
  );
  return op(t);
}
