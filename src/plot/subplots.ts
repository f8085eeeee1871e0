/**
 * Geometry of a grid of image subplots: axis names and domains in paper coordinates.
 *
 * @module
 */

import type { Layout } from "./types.ts";

/** One cell of an image grid. */
export interface Cell {
  /** Trace axis references, e.g. `"x2"` and `"y2"`. */
  xaxis: string;
  /** Trace axis reference for y. */
  yaxis: string;
  /** Layout keys of the axes, e.g. `"xaxis2"` and `"yaxis2"`. */
  xKey: string;
  /** Layout key of the y axis. */
  yKey: string;
  /** Horizontal paper domain `[left, right]`. */
  xDomain: [number, number];
  /** Vertical paper domain `[bottom, top]` of the image, below its caption band. */
  yDomain: [number, number];
  /** Paper y of the caption's baseline (top of the image area). */
  captionY: number;
}

/**
 * Cells of a `rows × columns` grid, row-major from the top left, each leaving `captionFraction`
 * of its height above the image for a caption and `gap` (paper units) between cells.
 *
 * @example Usage
 * ```ts
 * import { gridCells } from "./subplots.ts";
 * const [a, b] = gridCells(1, 2, 0, 0);
 * // a.xDomain → [0, 0.5], b.xDomain → [0.5, 1], b.xaxis → "x2"
 * ```
 *
 * @param rows Number of rows (at least 1).
 * @param columns Number of columns (at least 1).
 * @param captionFraction Fraction of each cell's height kept for the caption, in `[0, 1)`.
 * @param gap Gap between neighbouring cells in paper units. Default `0.02`.
 * @returns `rows × columns` cells.
 */
export function gridCells(
  rows: number,
  columns: number,
  captionFraction: number,
  gap = 0.02,
): Cell[] {
  if (!(Number.isInteger(rows) && rows >= 1 && Number.isInteger(columns) && columns >= 1)) {
    throw new RangeError(
      `gridCells: expected integer rows, columns >= 1, found ${rows}×${columns}`,
    );
  }
  const cells: Cell[] = [];
  const h = 1 / rows;
  const w = 1 / columns;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < columns; c++) {
      const k = r * columns + c;
      const suffix = k === 0 ? "" : String(k + 1);
      const top = 1 - r * h;
      const captionY = top - (r === 0 ? 0 : gap / 2) - captionFraction * h;
      cells.push({
        xaxis: `x${suffix}`,
        yaxis: `y${suffix}`,
        xKey: `xaxis${suffix}`,
        yKey: `yaxis${suffix}`,
        xDomain: [c * w + (c === 0 ? 0 : gap / 2), (c + 1) * w - (c === columns - 1 ? 0 : gap / 2)],
        yDomain: [top - h + (r === rows - 1 ? 0 : gap / 2), captionY],
        captionY,
      });
    }
  }
  return cells;
}

/**
 * Adds hidden, aspect-locked image axes for `cell` to `layout` (y reversed, as images are
 * stored top row first).
 *
 * @example Usage
 * ```ts
 * import { addImageAxes, gridCells } from "./subplots.ts";
 * const layout = {};
 * addImageAxes(layout, gridCells(1, 1, 0)[0]);
 * // layout.yaxis.autorange === "reversed"
 * ```
 *
 * @param layout The layout to extend in place.
 * @param cell The cell whose axes to add.
 */
export function addImageAxes(layout: Layout, cell: Cell): void {
  layout[cell.xKey] = {
    domain: cell.xDomain,
    anchor: cell.yaxis,
    visible: false,
    constrain: "domain",
  };
  layout[cell.yKey] = {
    domain: cell.yDomain,
    anchor: cell.xaxis,
    visible: false,
    autorange: "reversed",
    scaleanchor: cell.xaxis,
    constrain: "domain",
  };
}
