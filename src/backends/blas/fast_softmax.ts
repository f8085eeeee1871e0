/**
 * A single-pass-per-row Softmax kernel over the last axis for cpu-derived backends.
 *
 * The tfjs cpu backend composes Softmax from six kernels (Max, Reshape, Sub, Exp, Sum, RealDiv),
 * each allocating a full-size intermediate and two of them going through the slow broadcasting
 * path. Here each row is read three times and written once, with no intermediates.
 *
 * @module
 */
import type * as tf from "../../deps/tf.ts";
import { allocFloat32Zeroed } from "./buffer_pool.ts";

/**
 * Softmax over rows of length `n` of `x` into a new Float32Array (row maximum subtracted first).
 *
 * @example
 * ```ts
 * import { softmaxRows } from "./fast_softmax.ts";
 * console.log(softmaxRows(new Float32Array([0, 0, 1, 1]), 2)); // Float32Array [0.5, 0.5, 0.5, 0.5]
 * ```
 */
export function softmaxRows(x: Float32Array, n: number): Float32Array {
  const out = allocFloat32Zeroed(x.length);
  if (n <= 0) return out;
  if (x.length % n !== 0) {
    throw new Error(`expected a length divisible by the row length ${n}, found ${x.length}`);
  }
  for (let o = 0; o < x.length; o += n) {
    let m = -Infinity;
    for (let j = 0; j < n; j++) {
      const v = x[o + j];
      if (v > m || Number.isNaN(v)) m = v;
    }
    let s = 0;
    for (let j = 0; j < n; j++) {
      const e = Math.exp(x[o + j] - m);
      out[o + j] = e;
      s += e;
    }
    const inv = 1 / s;
    for (let j = 0; j < n; j++) out[o + j] *= inv;
  }
  return out;
}

/**
 * Wraps {@linkcode softmaxRows} as the `Softmax` kernel (last axis only, like the cpu backend);
 * non-float32 inputs go to `fallback`.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { makeSoftmaxKernel } from "./fast_softmax.ts";
 * const softmax = makeSoftmaxKernel(tf.getKernel("Softmax", "cpu")!.kernelFunc);
 * ```
 */
export function makeSoftmaxKernel(fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { logits } = args.inputs as unknown as { logits: tf.TensorInfo };
    const { dim } = args.attrs as unknown as { dim: number };
    const rank = logits.shape.length;
    const backend = args.backend as tf.MathBackendCPU;
    const xv = backend.data.get(logits.dataId).values;
    if (
      logits.dtype !== "float32" || !(xv instanceof Float32Array) || rank === 0 ||
      (dim !== -1 && dim !== rank - 1)
    ) {
      return fallback(args);
    }
    const values = softmaxRows(xv, logits.shape[rank - 1]);
    return backend.makeTensorInfo(logits.shape.slice(), "float32", values);
  };
}
