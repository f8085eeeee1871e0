/**
 * Exact GELU as the ViT's feed-forward calls it, `x/2 · (1 + erf(x/√2))`, through the fused
 * `CocaGelu` kernels where the active backend has them (blas), plain tfjs ops otherwise.
 *
 * @module
 */
import * as tf from "../deps/tf.ts";

/**
 * GELU in its exact erf form.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { gelu } from "./gelu.ts";
 * gelu(tf.tensor1d([-1, 0, 1])).print(); // about [-0.1587, 0, 0.8413]
 * ```
 */
export function gelu(x: tf.Tensor): tf.Tensor {
  if (hasFusedGelu()) return fusedGelu(x);
  return x.mul(tf.erf(x.mul(Math.SQRT1_2)).add(1)).mul(0.5);
}

/**
 * Whether the active backend has the fused GELU kernels.
 *
 * @example
 * ```ts
 * import { hasFusedGelu } from "./gelu.ts";
 * console.log(hasFusedGelu());
 * ```
 */
export function hasFusedGelu(): boolean {
  return tf.getKernel("CocaGelu", tf.getBackend()) !== undefined;
}

/**
 * GELU through the fused kernels, differentiable (`tf.customGrad`).
 *
 * @example
 * ```ts ignore
 * const y = fusedGelu(x);
 * ```
 */
export const fusedGelu: (x: tf.Tensor) => tf.Tensor = tf.customGrad(
  ((x: tf.Tensor, save: tf.GradSaveFunc) => {
    save([x]);
    const value = tf.engine().runKernel("CocaGelu", { x } as unknown as tf.NamedTensorMap);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) =>
      tf.engine().runKernel(
        "CocaGeluGrad",
        { x: saved[0], dy } as unknown as tf.NamedTensorMap,
      ) as tf.Tensor;
    return { value, gradFunc };
  }) as unknown as Parameters<typeof tf.customGrad>[0],
);
