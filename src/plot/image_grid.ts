/**
 * A grid of images with captions (e.g. validation images with generated captions).
 *
 * @module
 */

import { type ImageInput, toRgb8 } from "./image.ts";
import { pngDataUri } from "./png.ts";
import { addImageAxes, gridCells } from "./subplots.ts";
import { escapeHtml, wrapText } from "./text.ts";
import type { JsonValue } from "../util/json.ts";
import type { Figure, Layout, Trace } from "./types.ts";

/** One image of a grid with its optional caption. */
export interface CaptionedImage {
  /** The image: CHW floats in `[-1, 1]` or HWC bytes. */
  image: ImageInput;
  /** Caption drawn above the image; wrapped to the cell width. */
  caption?: string;
}

/** Options for {@linkcode imageGrid}. */
export interface ImageGridOptions {
  /** Images per row. Default `min(4, images.length)`. */
  columns?: number;
  /** Figure title. Default none. */
  title?: string;
  /** Size of one image cell in CSS pixels. Default `200`. */
  cellSize?: number;
}

const LINE_PX = 15;

/**
 * Builds a figure that shows images in a grid, each as a plotly `image` trace (PNG data URI) on
 * its own hidden, aspect-locked axes, with its caption as an annotation above it.
 *
 * @example Usage
 * ```ts
 * import { imageGrid } from "./image_grid.ts";
 * const grey = { data: new Float32Array(3 * 8 * 8), height: 8, width: 8 };
 * const fig = imageGrid([{ image: grey, caption: "a grey square" }, { image: grey }]);
 * // fig.data.length === 2, fig.layout.annotations.length === 1
 * ```
 *
 * @param images The images, drawn row-major from the top left.
 * @param options Columns, title and cell size.
 * @returns A plotly figure.
 */
export function imageGrid(
  images: readonly CaptionedImage[],
  options: ImageGridOptions = {},
): Figure {
  if (images.length === 0) {
    throw new RangeError("imageGrid: expected at least one image, found none");
  }
  const columns = options.columns ?? Math.min(4, images.length);
  if (!(Number.isInteger(columns) && columns >= 1)) {
    throw new RangeError(`imageGrid: expected an integer columns >= 1, found ${columns}`);
  }
  const rows = Math.ceil(images.length / columns);
  const cellSize = options.cellSize ?? 200;
  const charsPerLine = Math.max(8, Math.floor(cellSize / 7));
  const captions = images.map((i) =>
    i.caption === undefined ? [] : wrapText(i.caption, charsPerLine)
  );
  const captionLines = Math.max(0, ...captions.map((c) => c.length));
  const captionPx = captionLines === 0 ? 0 : captionLines * LINE_PX + 6;
  const rowPx = cellSize + captionPx;
  const top = options.title === undefined ? 30 : 70;
  const cells = gridCells(rows, columns, captionPx / rowPx);
  const data: Trace[] = [];
  const annotations: JsonValue[] = [];
  const layout: Layout = {
    width: columns * cellSize + 20,
    height: rows * rowPx + top + 10,
    margin: { l: 10, r: 10, t: top, b: 10 },
    showlegend: false,
  };
  images.forEach((item, k) => {
    const cell = cells[k];
    data.push({
      type: "image",
      source: pngDataUri(toRgb8(item.image)),
      xaxis: cell.xaxis,
      yaxis: cell.yaxis,
      hoverinfo: "skip",
    });
    addImageAxes(layout, cell);
    if (captions[k].length > 0) {
      annotations.push({
        text: captions[k].map(escapeHtml).join("<br>"),
        xref: "paper",
        yref: "paper",
        x: (cell.xDomain[0] + cell.xDomain[1]) / 2,
        y: cell.captionY,
        xanchor: "center",
        yanchor: "bottom",
        showarrow: false,
        font: { size: 12 },
      });
    }
  });
  if (options.title !== undefined) layout.title = { text: options.title };
  if (annotations.length > 0) layout.annotations = annotations;
  return { data, layout };
}
