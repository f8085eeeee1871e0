/**
 * Summary statistics over per-seed values, used for error bars.
 *
 * @module
 */

/** Mean, standard deviation and count of a set of per-seed values. */
export interface Summary {
  /** Arithmetic mean. */
  mean: number;
  /**
   * Sample standard deviation (divides by `n - 1`, Bessel's correction); `0` when `n === 1`.
   */
  std: number;
  /** Number of values summarised. */
  n: number;
}

/**
 * Summarises raw per-seed values as mean ± sample standard deviation.
 *
 * Throws when `values` is empty or contains a non-finite number, because an error bar built
 * from such data would silently be wrong.
 *
 * @example Usage
 * ```ts
 * import { summarize } from "./stats.ts";
 * const s = summarize([1, 2, 3]);
 * // s.mean === 2, s.std === 1, s.n === 3
 * ```
 *
 * @param values Raw per-seed values of one metric at one swept setting.
 * @returns The mean, sample standard deviation and count.
 */
export function summarize(values: ArrayLike<number>): Summary {
  const n = values.length;
  if (n === 0) {
    throw new RangeError("summarize: expected at least one value, found an empty list");
  }
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) {
      throw new RangeError(`summarize: expected finite numbers, found ${v} at index ${i}`);
    }
    sum += v;
  }
  const mean = sum / n;
  if (n === 1) return { mean, std: 0, n };
  let squares = 0;
  for (let i = 0; i < n; i++) squares += (values[i] - mean) ** 2;
  return { mean, std: Math.sqrt(squares / (n - 1)), n };
}
