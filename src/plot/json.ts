/**
 * Conversion of typed arrays into plain JSON arrays for plotly traces.
 *
 * @module
 */

/**
 * Copies array-like numbers into a plain array, mapping non-finite values (NaN, ±Infinity) to
 * `null`, which plotly draws as a gap and JSON can represent.
 *
 * @example Usage
 * ```ts
 * import { toJsonNumbers } from "./json.ts";
 * toJsonNumbers(new Float32Array([1, NaN, 3])); // [1, null, 3]
 * ```
 *
 * @param values Numbers, e.g. a `Float32Array`.
 * @returns A plain array of numbers and nulls.
 */
export function toJsonNumbers(values: ArrayLike<number>): (number | null)[] {
  return Array.from(values, (v) => (Number.isFinite(v) ? v : null));
}
