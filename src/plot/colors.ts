/**
 * The colour cycle shared by all figure builders, so one component keeps one colour across
 * figures of a report.
 *
 * @module
 */

/** Plotly's default qualitative colour cycle ("D3 category10"). */
export const PALETTE: readonly string[] = [
  "#1f77b4",
  "#ff7f0e",
  "#2ca02c",
  "#d62728",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#bcbd22",
  "#17becf",
];

/**
 * The colour of the `index`-th series, cycling through {@linkcode PALETTE}.
 *
 * @example Usage
 * ```ts
 * import { colorAt } from "./colors.ts";
 * colorAt(0); // "#1f77b4"
 * colorAt(10); // "#1f77b4" again
 * ```
 *
 * @param index Zero-based series index.
 * @returns A CSS hex colour.
 */
export function colorAt(index: number): string {
  return PALETTE[((index % PALETTE.length) + PALETTE.length) % PALETTE.length];
}
