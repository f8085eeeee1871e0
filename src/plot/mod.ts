/**
 * Figure builders for CoCa experiments and their display in Jupyter and in offline HTML.
 *
 * Every builder returns a plain {@linkcode Figure} (plotly `{data, layout}` JSON, no tensors);
 * {@linkcode show} displays it inside the Deno Jupyter kernel or writes an HTML file elsewhere,
 * and {@linkcode toHtml} puts several figures and markdown blocks on one offline page.
 *
 * @example Usage
 * ```ts
 * import { lossCurves, toHtml } from "./mod.ts";
 * const fig = lossCurves([{ name: "total", steps: [0, 1, 2], values: [3, 2.5, 2.2] }]);
 * const page = toHtml(["# Run 1", fig], { title: "Report" });
 * ```
 *
 * @module
 */

export * from "./types.ts";
export * from "./stats.ts";
export * from "./json.ts";
export * from "./keys.ts";
export * from "./colors.ts";
export * from "./text.ts";
export * from "./loss_curves.ts";
export * from "./sweep.ts";
export * from "./heatmap.ts";
export * from "./throughput.ts";
export * from "./image.ts";
export * from "./png.ts";
export * from "./subplots.ts";
export * from "./image_grid.ts";
export * from "./attention_map.ts";
export * from "./plotly_js.ts";
export * from "./figure_html.ts";
export * from "./markdown.ts";
export * from "./to_html.ts";
export * from "./show.ts";
