/**
 * Ordering of swept values (axis categories) for sweep plots, heatmaps and throughput charts.
 *
 * @module
 */

/** A swept setting: a number (depth, learning rate) or a label (backend name). */
export type Key = number | string;

/**
 * Distinct keys in display order: ascending when all keys are numbers, first-seen order
 * otherwise (so labels such as backend names keep the order the caller gave them).
 *
 * @example Usage
 * ```ts
 * import { orderKeys } from "./keys.ts";
 * orderKeys([4, 1, 4, 2]); // [1, 2, 4]
 * orderKeys(["wasm", "cpu", "wasm"]); // ["wasm", "cpu"]
 * ```
 *
 * @param keys Keys, possibly repeated.
 * @returns The distinct keys, ordered.
 */
export function orderKeys(keys: Iterable<Key>): Key[] {
  const distinct = [...new Set(keys)];
  if (distinct.every((k) => typeof k === "number")) {
    return (distinct as number[]).sort((a, b) => a - b);
  }
  return distinct;
}
