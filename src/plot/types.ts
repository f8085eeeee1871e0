/**
 * Plain-data types for plotly figures produced by the builders in `src/plot/`.
 *
 * A {@linkcode Figure} is exactly the JSON that `Plotly.newPlot(div, data, layout)` takes: it holds
 * no tensors, functions or class instances, so it survives `JSON.stringify` unchanged and can be
 * embedded in notebooks and HTML reports.
 *
 * @module
 */

import type { JsonValue } from "../util/json.ts";

/**
 * One plotly trace (`scatter`, `bar`, `heatmap`, `image`, ...).
 *
 * Only `type` is required; the other keys are plotly attributes and are passed through as-is.
 *
 * @example Usage
 * ```ts
 * import type { Trace } from "./types.ts";
 * const trace: Trace = { type: "scatter", mode: "lines", x: [0, 1], y: [2, 1], name: "loss" };
 * ```
 */
export interface Trace {
  /** The plotly trace type, e.g. `"scatter"`, `"bar"`, `"heatmap"` or `"image"`. */
  type: string;
  /** Any other plotly trace attribute. */
  [attribute: string]: JsonValue | undefined;
}

/**
 * A plotly layout object (axes, titles, annotations, sizes, ...).
 *
 * @example Usage
 * ```ts
 * import type { Layout } from "./types.ts";
 * const layout: Layout = { title: { text: "Loss" }, xaxis: { title: { text: "step" } } };
 * ```
 */
export interface Layout {
  /** Any plotly layout attribute. */
  [attribute: string]: JsonValue | undefined;
}

/**
 * A complete plotly figure: traces plus layout, as plain JSON-compatible data.
 *
 * @example Usage
 * ```ts
 * import type { Figure } from "./types.ts";
 * const figure: Figure = {
 *   data: [{ type: "bar", x: ["cpu", "wasm"], y: [12, 30] }],
 *   layout: { title: { text: "images/s" } },
 * };
 * JSON.parse(JSON.stringify(figure)); // round-trips unchanged
 * ```
 */
export interface Figure {
  /** The traces, drawn in order. */
  data: Trace[];
  /** The layout shared by all traces. */
  layout: Layout;
}
