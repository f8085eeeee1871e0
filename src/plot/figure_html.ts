/**
 * One figure as an HTML fragment: a `<div>` plus a script that draws it with plotly.js.
 *
 * @module
 */

import { plotlyLoaderTag } from "./plotly_js.ts";
import type { Figure } from "./types.ts";

/** Options for {@linkcode figureHtml}. */
export interface FigureHtmlOptions {
  /** The `id` of the figure's `<div>`. Default: a random unique id. */
  id?: string;
  /**
   * Put a plotly.js loader before the figure (once per page; see `plotlyLoaderTag`: gzip +
   * base64, 2.0 MB). Default `false`.
   */
  includePlotly?: boolean;
}

/**
 * Serialises a value as JSON that is safe inside an HTML `<script>` element.
 *
 * @example Usage
 * ```ts
 * import { scriptJson } from "./figure_html.ts";
 * scriptJson({ text: "</script>" }); // '{"text":"\\u003c/script>"}'
 * ```
 *
 * @param value Any JSON-compatible value.
 * @returns JSON text with `<`, U+2028 and U+2029 escaped.
 */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

/**
 * Renders a figure as a `<div>` and a `<script>` that calls `Plotly.newPlot` on it. The script
 * waits up to 10 s for `window.Plotly` (so plotly.js may be loaded later on the page) and writes
 * an error into the div if it never appears.
 *
 * @example Usage
 * ```ts
 * import { figureHtml } from "./figure_html.ts";
 * const html = figureHtml({ data: [{ type: "bar", y: [1, 2] }], layout: {} }, { id: "f1" });
 * // html.startsWith('<div id="f1"') === true
 * ```
 *
 * @param figure The figure.
 * @param options Div id and whether to include plotly.js.
 * @returns The HTML fragment.
 */
export function figureHtml(figure: Figure, options: FigureHtmlOptions = {}): string {
  const id = options.id ?? `coca-plot-${crypto.randomUUID()}`;
  if (!/^[A-Za-z][\w-]*$/.test(id)) {
    throw new RangeError(`figureHtml: expected an id of letters, digits, - and _, found "${id}"`);
  }
  const width = typeof figure.layout.width === "number" ? `${figure.layout.width}px` : "100%";
  const height = typeof figure.layout.height === "number" ? `${figure.layout.height}px` : "450px";
  const draw = `(function () {
  var figure = ${scriptJson(figure)};
  var tries = 0;
  function draw() {
    var div = document.getElementById(${scriptJson(id)});
    if (!div) return;
    if (!window.Plotly) {
      if (++tries > 200) { div.textContent = "plotly.js did not load"; return; }
      return setTimeout(draw, 50);
    }
    window.Plotly.newPlot(div, figure.data, figure.layout, { displaylogo: false, responsive: true });
  }
  draw();
})();`;
  return (options.includePlotly ? plotlyLoaderTag() : "") +
    `<div id="${id}" class="coca-plot" style="width:${width};max-width:100%;height:${height};">` +
    `</div><script>${draw}</script>`;
}
