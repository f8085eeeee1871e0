/**
 * A standalone, offline HTML page holding several figures and text blocks (used for reports).
 *
 * @module
 */

import { figureHtml } from "./figure_html.ts";
import { markdownToHtml } from "./markdown.ts";
import { plotlyScriptTag } from "./plotly_js.ts";
import { escapeHtml } from "./text.ts";
import type { Figure } from "./types.ts";

/** A block of a page: a figure, or a string of markdown-ish text (see `markdownToHtml`). */
export type PageBlock = Figure | string;

/** Options for {@linkcode toHtml}. */
export interface ToHtmlOptions {
  /** Page title, shown as `<title>` and as a top heading. Default `"Figures"`. */
  title?: string;
}

const STYLE = `body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;
padding:0 1rem;color:#222}h1,h2,h3{margin-top:1.6em}pre{background:#f5f5f5;padding:.6em;
overflow:auto}code{background:#f5f5f5;padding:0 .2em}table{border-collapse:collapse}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}th{background:#f0f0f0}
.coca-plot{margin:1em 0}`;

/**
 * Builds one standalone HTML page with the given figures and text blocks in order. plotly.js is
 * inlined exactly once in the page's `<head>`, so the page works offline and from `file://`.
 * Figure divs get the ids `figure-1`, `figure-2`, ... in order.
 *
 * @example Usage
 * ```ts
 * import { toHtml } from "./to_html.ts";
 * const page = toHtml(
 *   ["## Throughput", { data: [{ type: "bar", x: ["cpu"], y: [12] }], layout: {} }],
 *   { title: "Report" },
 * );
 * // page.startsWith("<!DOCTYPE html>") === true
 * ```
 *
 * @param blocks Figures and markdown strings.
 * @param options Page title.
 * @returns The HTML document.
 */
export function toHtml(blocks: readonly PageBlock[], options: ToHtmlOptions = {}): string {
  const title = options.title ?? "Figures";
  let figures = 0;
  const body = blocks.map((block, i) => {
    if (typeof block === "string") return `<section>${markdownToHtml(block)}</section>`;
    if (!Array.isArray(block?.data) || typeof block.layout !== "object" || block.layout === null) {
      throw new TypeError(
        `toHtml: expected block ${i} to be a markdown string or a figure {data: [], layout: {}}, ` +
          `found ${JSON.stringify(block)?.slice(0, 80)}`,
      );
    }
    return figureHtml(block, { id: `figure-${++figures}` });
  });
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
${plotlyScriptTag()}
</head>
<body>
<h1>${escapeHtml(title)}</h1>
${body.join("\n")}
</body>
</html>
`;
}
