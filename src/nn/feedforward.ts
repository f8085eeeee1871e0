/**
 * Feed-forward activations: SwiGLU (CoCa) and exact GELU (ViT).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { fusedSwiGLU, hasFusedSwiGLU } from "../backends/swiglu_kernel.ts";

/**
 * SwiGLU: split the last axis into `[x, gate]` and return `silu(gate) * x`.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { swiglu } from "./feedforward.ts";
 * console.log(swiglu(tf.ones([2, 8])).shape); // [2, 4]
 * ```
 */
export function swiglu(t: tf.Tensor): tf.Tensor {
  if (hasFusedSwiGLU()) return fusedSwiGLU(t);
  const [x, gate] = tf.split(t, 2, -1);
  return gate.mul(tf.sigmoid(gate)).mul(x);
}

/**
 * GELU in its exact erf form: `0.5 x (1 + erf(x / √2))`.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { gelu } from "./feedforward.ts";
 * gelu(tf.tensor1d([-1, 0, 1])).print();
 * ```
 */
export function gelu(x: tf.Tensor): tf.Tensor {
  return x.mul(tf.erf(x.mul(Math.SQRT1_2)).add(1)).mul(0.5);
}
