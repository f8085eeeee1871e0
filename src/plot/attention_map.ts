/**
 * An attention-pooling map over image patches, overlaid on or beside the image.
 *
 * @module
 */

import { type ImageInput, toRgb8 } from "./image.ts";
import { toJsonNumbers } from "./json.ts";
import { pngDataUri } from "./png.ts";
import { addImageAxes, gridCells } from "./subplots.ts";
import type { Figure, Layout, Trace } from "./types.ts";

/** Options for {@linkcode attentionMap}. */
export interface AttentionMapOptions {
  /** Patch rows `gh` of the attention grid. */
  gridHeight: number;
  /** Patch columns `gw` of the attention grid. */
  gridWidth: number;
  /** `"overlay"` (heatmap over the image, the default) or `"beside"` (two panels). */
  mode?: "overlay" | "beside";
  /** Heatmap opacity in overlay mode. Default `0.5`. */
  opacity?: number;
  /** Plotly colour scale name. Default `"Jet"`. */
  colorscale?: string;
  /** Figure title. Default `"Attention"`. */
  title?: string;
  /** Size of one panel in CSS pixels. Default `320`. */
  panelSize?: number;
}

/**
 * Builds a figure showing attention weights over a `gh × gw` grid of image patches, e.g. one
 * query of CoCa's attentional pooler. Weights are row-major (`weights[r * gw + c]` is the patch
 * in row `r`, column `c`, top left first) and drawn unnormalised. The heatmap is placed in image
 * pixel coordinates, so each patch covers `height / gh × width / gw` pixels of the image.
 *
 * @example Usage
 * ```ts
 * import { attentionMap } from "./attention_map.ts";
 * const image = { data: new Float32Array(3 * 32 * 32), height: 32, width: 32 };
 * const weights = new Float32Array(16).fill(1 / 16);
 * const fig = attentionMap(image, weights, { gridHeight: 4, gridWidth: 4 });
 * // fig.data[0].type === "image", fig.data[1].type === "heatmap" with 4×4 z
 * ```
 *
 * @param image The image the patches were cut from.
 * @param weights `gh × gw` attention weights, row-major.
 * @param options Grid size, mode and styling.
 * @returns A plotly figure with an `image` and a `heatmap` trace.
 */
export function attentionMap(
  image: ImageInput,
  weights: ArrayLike<number>,
  options: AttentionMapOptions,
): Figure {
  const { gridHeight: gh, gridWidth: gw } = options;
  if (!(Number.isInteger(gh) && gh >= 1 && Number.isInteger(gw) && gw >= 1)) {
    throw new RangeError(
      `attentionMap: expected integer gridHeight, gridWidth >= 1, found ${gh}×${gw}`,
    );
  }
  if (weights.length !== gh * gw) {
    throw new RangeError(
      `attentionMap: expected ${gh}×${gw} = ${gh * gw} weights, found ${weights.length}`,
    );
  }
  const rgb = toRgb8(image);
  const mode = options.mode ?? "overlay";
  const flat = toJsonNumbers(weights);
  const z = Array.from({ length: gh }, (_, r) => flat.slice(r * gw, (r + 1) * gw));
  const ph = rgb.height / gh;
  const pw = rgb.width / gw;
  const panels = mode === "beside" ? 2 : 1;
  const cells = gridCells(1, panels, 0, 0.04);
  const heatCell = cells[panels - 1];
  const data: Trace[] = [
    {
      type: "image",
      source: pngDataUri(rgb),
      xaxis: cells[0].xaxis,
      yaxis: cells[0].yaxis,
      hoverinfo: "skip",
    },
    {
      type: "heatmap",
      z,
      x0: pw / 2 - 0.5,
      dx: pw,
      y0: ph / 2 - 0.5,
      dy: ph,
      xaxis: heatCell.xaxis,
      yaxis: heatCell.yaxis,
      colorscale: options.colorscale ?? "Jet",
      opacity: mode === "overlay" ? options.opacity ?? 0.5 : 1,
      colorbar: { title: { text: "weight" } },
      customdata: z.map((row, r) => row.map((_, c) => [r, c])),
      hovertemplate: "patch (%{customdata[0]}, %{customdata[1]})<br>weight %{z:.4g}<extra></extra>",
    },
  ];
  const panelSize = options.panelSize ?? 320;
  const layout: Layout = {
    title: { text: options.title ?? "Attention" },
    width: panels * panelSize + 120,
    height: panelSize + 80,
    margin: { l: 10, r: 10, t: 70, b: 10 },
    showlegend: false,
  };
  for (const cell of cells) addImageAxes(layout, cell);
  for (const cell of cells) {
    // The heatmap panel's range must match the image's pixel extent.
    const x = layout[cell.xKey] as Layout;
    const y = layout[cell.yKey] as Layout;
    x.range = [-0.5, rgb.width - 0.5];
    y.range = [rgb.height - 0.5, -0.5];
    delete y.autorange;
  }
  return { data, layout };
}
