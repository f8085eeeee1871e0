/**
 * A heatmap of a metric over two swept values (e.g. depth × learning rate).
 *
 * @module
 */

import { type Key, orderKeys } from "./keys.ts";
import { summarize } from "./stats.ts";
import type { Figure } from "./types.ts";

/** One measurement at one (x, y) setting; several cells at the same setting are averaged. */
export interface HeatmapCell {
  /** Swept value on the x axis. */
  x: Key;
  /** Swept value on the y axis. */
  y: Key;
  /** The metric (e.g. of one seed). */
  value: number;
}

/** Options for {@linkcode sweepHeatmap}. */
export interface HeatmapOptions {
  /** Figure title. Default `"Sweep"`. */
  title?: string;
  /** X axis title. Default `"x"`. */
  xTitle?: string;
  /** Y axis title. Default `"y"`. */
  yTitle?: string;
  /** Colour bar title. Default `"metric"`. */
  zTitle?: string;
  /** Write each cell's mean into the cell. Default `true`. */
  showValues?: boolean;
  /** Plotly colour scale name. Default `"Viridis"`. */
  colorscale?: string;
}

/**
 * Builds a heatmap of a metric over two swept values. Cells sharing an (x, y) setting (e.g.
 * several seeds) are averaged; settings never measured stay empty (`null`). Both axes are
 * categorical, so uneven sweeps such as `1e-4, 3e-4, 1e-3` get evenly sized cells; numeric keys
 * are sorted ascending (see {@linkcode orderKeys}).
 *
 * The trace's `z` is row-major over y: `z[i][j]` is the mean at `y[i]`, `x[j]`.
 *
 * @example Usage
 * ```ts
 * import { sweepHeatmap } from "./heatmap.ts";
 * const fig = sweepHeatmap([
 *   { x: 1e-3, y: 2, value: 0.4 },
 *   { x: 1e-4, y: 2, value: 0.3 },
 *   { x: 1e-4, y: 4, value: 0.5 },
 * ]);
 * // fig.data[0].z → [[0.3, 0.4], [0.5, null]]
 * ```
 *
 * @param cells The measurements.
 * @param options Titles, cell labels and colour scale.
 * @returns A plotly figure with one `heatmap` trace.
 */
export function sweepHeatmap(cells: readonly HeatmapCell[], options: HeatmapOptions = {}): Figure {
  if (cells.length === 0) {
    throw new RangeError("sweepHeatmap: expected at least one cell, found none");
  }
  const xs = orderKeys(cells.map((c) => c.x));
  const ys = orderKeys(cells.map((c) => c.y));
  const values: number[][][] = ys.map(() => xs.map(() => []));
  for (const c of cells) values[ys.indexOf(c.y)][xs.indexOf(c.x)].push(c.value);
  const z = values.map((row) => row.map((v) => (v.length === 0 ? null : summarize(v).mean)));
  const showValues = options.showValues ?? true;
  return {
    data: [{
      type: "heatmap",
      x: xs.map(String),
      y: ys.map(String),
      z,
      colorscale: options.colorscale ?? "Viridis",
      colorbar: { title: { text: options.zTitle ?? "metric" } },
      texttemplate: showValues ? "%{z:.3g}" : "",
      hovertemplate: `${options.xTitle ?? "x"}=%{x}<br>${options.yTitle ?? "y"}=%{y}<br>` +
        `${options.zTitle ?? "metric"}=%{z:.4g}<extra></extra>`,
      hoverongaps: false,
    }],
    layout: {
      title: { text: options.title ?? "Sweep" },
      xaxis: { title: { text: options.xTitle ?? "x" }, type: "category" },
      yaxis: { title: { text: options.yTitle ?? "y" }, type: "category" },
    },
  };
}
