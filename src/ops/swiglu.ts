/**
 * SwiGLU as the model calls it: `silu(gate) · x` over the two halves of the last axis, through
 * the fused `CocaSwiGLU` kernels where the active backend has them (blas), plain tfjs ops
 * otherwise. Same value and gradient either way (tests/op_suite_test.ts).
 *
 * @module
 */
import * as tf from "../deps/tf.ts";

/**
 * SwiGLU: split the last axis into `[x, gate]` and return `silu(gate) * x`.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { swiglu } from "./swiglu.ts";
 * console.log(swiglu(tf.ones([2, 8])).shape); // [2, 4]
 * ```
 */
export function swiglu(t: tf.Tensor): tf.Tensor {
  if (hasFusedSwiGLU()) return fusedSwiGLU(t);
  const [x, gate] = tf.split(t, 2, -1);
  return gate.mul(tf.sigmoid(gate)).mul(x);
}

/**
 * Whether the active backend has the fused SwiGLU kernels.
 *
 * @example
 * ```ts
 * import { hasFusedSwiGLU } from "./swiglu.ts";
 * console.log(hasFusedSwiGLU());
 * ```
 */
export function hasFusedSwiGLU(): boolean {
  return tf.getKernel("CocaSwiGLU", tf.getBackend()) !== undefined;
}

/**
 * SwiGLU through the fused kernels, differentiable (`tf.customGrad`).
 *
 * @example
 * ```ts ignore
 * const y = fusedSwiGLU(t); // (..., 2F) -> (..., F)
 * ```
 */
export const fusedSwiGLU: (t: tf.Tensor) => tf.Tensor = tf.customGrad(
  ((t: tf.Tensor, save: tf.GradSaveFunc) => {
    save([t]);
    const value = tf.engine().runKernel(
      "CocaSwiGLU",
      { t } as unknown as tf.NamedTensorMap,
    ) as tf.Tensor;
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) =>
      tf.engine().runKernel(
        "CocaSwiGLUGrad",
        { t: saved[0], dy } as unknown as tf.NamedTensorMap,
      ) as tf.Tensor;
    return { value, gradFunc };
  }) as unknown as Parameters<typeof tf.customGrad>[0],
) as unknown as (t: tf.Tensor) => tf.Tensor;
