/**
 * Layer norm as the model calls it: over the last axis, through the fused `CocaLayerNorm`
 * kernels where the active backend has them (blas), plain tfjs ops otherwise.
 *
 * @module
 */
import * as tf from "../deps/tf.ts";

/**
 * `(x - mean) / sqrt(var + eps) * scale + shift` over the last axis.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { layerNorm } from "./layer_norm.ts";
 * const y = layerNorm(tf.tensor2d([[1, 2, 3]]), tf.ones([3]), tf.zeros([3]));
 * y.print();
 * ```
 */
export function layerNorm(
  x: tf.Tensor,
  scale: tf.Tensor,
  shift: tf.Tensor,
  eps = 1e-5,
): tf.Tensor {
  if (hasFusedLayerNorm()) return fusedLayerNorm(x, scale, shift, eps);
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, -1, true);
    return x.sub(mean).mul(tf.rsqrt(variance.add(eps))).mul(scale).add(shift);
  });
}

/**
 * Whether the active backend has the fused layer norm.
 *
 * @example
 * ```ts
 * import { hasFusedLayerNorm } from "./layer_norm.ts";
 * console.log(hasFusedLayerNorm());
 * ```
 */
export function hasFusedLayerNorm(): boolean {
  return tf.getKernel("CocaLayerNorm", tf.getBackend()) !== undefined;
}

/**
 * Layer norm through the fused kernels, differentiable in `x`, `scale` and `shift`.
 *
 * @example
 * ```ts ignore
 * const y = fusedLayerNorm(x, gamma, beta, 1e-5);
 * ```
 */
export function fusedLayerNorm(
  x: tf.Tensor,
  scale: tf.Tensor,
  shift: tf.Tensor,
  eps: number,
): tf.Tensor {
  const op = tf.customGrad(
    ((xi: tf.Tensor, g: tf.Tensor, bi: tf.Tensor, save: tf.GradSaveFunc) => {
      save([xi, g]);
      const value = tf.engine().runKernel(
        "CocaLayerNorm",
        { x: xi, scale: g, shift: bi } as unknown as tf.NamedTensorMap,
        { eps } as unknown as tf.NamedAttrMap,
      ) as tf.Tensor;
      const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.engine().runKernel(
          "CocaLayerNormGrad",
          { x: saved[0], scale: saved[1], dy } as unknown as tf.NamedTensorMap,
          { eps } as unknown as tf.NamedAttrMap,
        ) as unknown as tf.Tensor[];
      return { value, gradFunc };
    }) as unknown as Parameters<typeof tf.customGrad>[0],
  ) as unknown as (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.Tensor;
  return op(x, scale, shift);
}
