/**
 * Checks shared by every layer, with the project's "expected X, found Y" wording.
 *
 * @module
 */

/**
 * Whether `value` is an integer ≥ 1 (a count, a size, a batch).
 *
 * @example
 * ```ts
 * import { isPositiveInt } from "./validate.ts";
 * isPositiveInt(3); // true
 * isPositiveInt(0.5); // false
 * ```
 */
export function isPositiveInt(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 1;
}

/**
 * `value` when it is a positive integer, else a `RangeError`
 * "expected NAME to be a positive integer, found VALUE".
 *
 * @example
 * ```ts
 * import { positiveInt } from "./validate.ts";
 * const batchSize = positiveInt("batchSize", 8); // 8
 * // positiveInt("batchSize", 0) throws "expected batchSize to be a positive integer, found 0"
 * ```
 */
export function positiveInt(name: string, value: unknown): number {
  if (!isPositiveInt(value)) {
    throw new RangeError(`expected ${name} to be a positive integer, found ${String(value)}`);
  }
  return value;
}
