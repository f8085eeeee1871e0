/**
 * Token ids as host data. The model needs ids on the host (validation, the CLS
 * pad mask), but the WebGPU backend under Deno cannot read GPU memory
 * synchronously. Ids read once are remembered per tensor.
 *
 * @module
 */
import * as tf from "../deps/tf.ts";

const cache = new WeakMap<tf.Tensor, Int32Array>();

/**
 * The values of an int32 tensor, read without a GPU round trip.
 *
 * @throws {Error} when the tensor only exists in GPU memory (e.g. computed by a
 *   webgpu kernel): create token ids from host data instead.
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { hostIds } from "./host_ids.ts";
 * console.log(hostIds(tf.tensor2d([[1, 2]], [1, 2], "int32"))); // Int32Array [1, 2]
 * ```
 */
export function hostIds(t: tf.Tensor): Int32Array {
  const found = cache.get(t);
  if (found) return found;
  let values: ArrayLike<number> | null | undefined;
  if (tf.getBackend() === "webgpu") {
    const backend = tf.backend() as unknown as {
      tensorMap?: { get(id: unknown): { values?: ArrayLike<number> | null } | undefined };
    };
    values = backend.tensorMap?.get(t.dataId)?.values;
    if (!values) {
      throw new Error(
        "expected token ids readable on the host, found a tensor that lives only in GPU memory: " +
          "create ids with tf.tensor2d(ids, shape, 'int32') from host data (or use idsTensor())",
      );
    }
  } else values = t.dataSync();
  const ids = Int32Array.from(values);
  cache.set(t, ids);
  return ids;
}

/**
 * An int32 `(b, n)` tensor whose host values are remembered for {@linkcode hostIds}.
 *
 * @example
 * ```ts
 * import { idsTensor } from "./host_ids.ts";
 * const t = idsTensor(new Int32Array([1, 2, 3, 4]), 2, 2);
 * console.log(t.shape); // [2, 2]
 * ```
 */
export function idsTensor(ids: Int32Array, b: number, n: number): tf.Tensor2D {
  const t = tf.tensor2d(ids, [b, n], "int32");
  cache.set(t, ids);
  return t;
}

/**
 * Columns `from..from+n-2` of host ids `(b, n)` as a new `(b, n - 1)` ids tensor: `from = 0`
 * drops the last column (the caption model's input), `from = 1` the first (its labels).
 *
 * @example
 * ```ts
 * import { shiftIds } from "./host_ids.ts";
 * const ids = new Int32Array([1, 5, 2, 1, 6, 2]); // (2, 3)
 * console.log(shiftIds(ids, 2, 3, 0).shape); // [2, 2]: [[1, 5], [1, 6]]
 * console.log(shiftIds(ids, 2, 3, 1).shape); // [2, 2]: [[5, 2], [6, 2]]
 * ```
 */
export function shiftIds(ids: Int32Array, b: number, n: number, from: number): tf.Tensor2D {
  const out = new Int32Array(b * (n - 1));
  for (let i = 0; i < b; i++) {
    out.set(ids.subarray(i * n + from, i * n + from + n - 1), i * (n - 1));
  }
  return idsTensor(out, b, n - 1);
}
