/**
 * Rotary position embedding ("rotate-half" layout) and its cached tables.
 *
 * @module
 */
import * as tf from "../deps/tf.ts";
import { rotary } from "../ops/rotary.ts";

/**
 * `invFreq[i] = 10000^(-2i/dimHead)` for `i < dimHead/2`, in float32.
 *
 * @example
 * ```ts
 * import { rotaryInvFreq } from "./rotary.ts";
 * console.log(rotaryInvFreq(4)); // Float32Array [1, 0.01]
 * ```
 */
export function rotaryInvFreq(dimHead: number): Float32Array {
  const out = new Float32Array(dimHead / 2);
  for (let i = 0; i < out.length; i++) out[i] = 1 / Math.pow(10000, (2 * i) / dimHead);
  return out;
}

const cache = new Map<string, { cos: tf.Tensor2D; sin: tf.Tensor2D }>();

/**
 * The `(length, dimHead)` cos and sin tables of positions `0..length-1`, cached
 * per backend and size (kept alive across `tf.tidy`; not state).
 *
 * @example
 * ```ts
 * import { rotaryTables } from "./rotary.ts";
 * const { cos, sin } = rotaryTables(5, 8);
 * console.log(cos.shape, sin.shape); // [5, 8] [5, 8]
 * ```
 */
export function rotaryTables(
  length: number,
  dimHead: number,
): { cos: tf.Tensor2D; sin: tf.Tensor2D } {
  const key = `${tf.getBackend()}:${length}:${dimHead}`;
  const found = cache.get(key);
  if (found && !found.cos.isDisposed) return found;
  const inv = rotaryInvFreq(dimHead);
  const half = dimHead / 2;
  const c = new Float32Array(length * dimHead);
  const s = new Float32Array(length * dimHead);
  for (let p = 0; p < length; p++) {
    for (let i = 0; i < half; i++) {
      const theta = Math.fround(p * inv[i]);
      const cv = Math.cos(theta), sv = Math.sin(theta);
      c[p * dimHead + i] = c[p * dimHead + half + i] = cv;
      s[p * dimHead + i] = s[p * dimHead + half + i] = sv;
    }
  }
  const tables = {
    cos: tf.keep(tf.tensor2d(c, [length, dimHead])),
    sin: tf.keep(tf.tensor2d(s, [length, dimHead])),
  };
  cache.set(key, tables);
  return tables;
}

export { rotateHalf } from "../ops/rotary.ts";

/**
 * Rotate `t (..., length, dimHead)` by positions `offset..offset+length-1`.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { applyRotary } from "./rotary.ts";
 * console.log(applyRotary(tf.ones([2, 5, 8])).shape); // [2, 5, 8]
 * ```
 */
export function applyRotary(t: tf.Tensor, offset = 0): tf.Tensor {
  const length = t.shape[t.rank - 2];
  const dimHead = t.shape[t.rank - 1];
  let { cos, sin } = rotaryTables(offset + length, dimHead);
  if (offset > 0) {
    cos = cos.slice([offset, 0], [length, dimHead]);
    sin = sin.slice([offset, 0], [length, dimHead]);
  }
  return rotary(t, cos, sin);
}
