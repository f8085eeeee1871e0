/**
 * Feed-forward activation of the ViT: exact GELU (CoCa's SwiGLU is `ops/swiglu.ts`).
 *
 * @module
 */
import * as tf from "../deps/tf.ts";

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
