/**
 * The plotly.js bundle, read from the pinned `plotly.js-dist-min` npm package, for offline
 * pages and notebook outputs.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { gzipSync } from "node:zlib";
import { npmPackageUrl, PINNED_FILES } from "../deps/npm_files.ts";

/** Version of the bundled plotly.js (the pinned `plotly.js-dist-min`). */
export const PLOTLY_VERSION: string = PINNED_FILES["plotly.js-dist-min"];

let raw: string | undefined;
let cached: string | undefined;
let compressed: string | undefined;

function rawPlotlySource(): string {
  if (raw === undefined) {
    const url = new URL("plotly.min.js", npmPackageUrl("plotly.js-dist-min"));
    try {
      raw = Deno.readTextFileSync(url);
    } catch (error) {
      throw new Error(
        `plotlySource: expected plotly.js ${PLOTLY_VERSION} at ${url.pathname}, found it ` +
          `unreadable (${error}); run with --allow-read and install npm dependencies`,
      );
    }
  }
  return raw;
}

/**
 * The source of `plotly.min.js`, made safe to inline in an HTML `<script>` element (`</script`
 * and `<!--` inside its strings are escaped). Read once from the npm package and cached; needs
 * read permission on the project's `node_modules`.
 *
 * @example Usage
 * ```ts
 * import { plotlySource } from "./plotly_js.ts";
 * const js = plotlySource();
 * // js.includes("window.Plotly") === true
 * ```
 *
 * @returns The JavaScript source.
 */
export function plotlySource(): string {
  if (cached === undefined) {
    cached = rawPlotlySource().replace(/<\/script/gi, "<\\/script").replace(/<!--/g, "<\\!--");
  }
  return cached;
}

/**
 * A `<script>` element that loads plotly.js inline (no network), for one page.
 *
 * @example Usage
 * ```ts
 * import { plotlyScriptTag } from "./plotly_js.ts";
 * plotlyScriptTag().startsWith("<script"); // true
 * ```
 *
 * @returns The HTML.
 */
export function plotlyScriptTag(): string {
  return `<script data-plotly-version="${PLOTLY_VERSION}">${plotlySource()}</script>`;
}

/**
 * plotly.js as gzip, base64-encoded: 2.0 MB instead of 4.8 MB. Computed once and cached.
 *
 * @example Usage
 * ```ts
 * import { plotlyGzipBase64 } from "./plotly_js.ts";
 * plotlyGzipBase64().startsWith("H4sI"); // true: the gzip magic bytes in base64
 * ```
 *
 * @returns The base64 text of the gzip-compressed `plotly.min.js`.
 */
export function plotlyGzipBase64(): string {
  if (compressed === undefined) {
    compressed = Buffer.from(gzipSync(new TextEncoder().encode(rawPlotlySource()), { level: 9 }))
      .toString("base64");
  }
  return compressed;
}

/**
 * A `<script>` element that loads plotly.js from an inline gzip + base64 payload (no network),
 * for notebook outputs: the Jupyter message is 2.0 MB instead of 4.8 MB. The browser inflates it
 * with `DecompressionStream`, so `window.Plotly` appears asynchronously (figures made by
 * `figureHtml` wait for it). Loading twice on one page is skipped.
 *
 * @example Usage
 * ```ts
 * import { plotlyLoaderTag } from "./plotly_js.ts";
 * plotlyLoaderTag().includes("DecompressionStream"); // true
 * ```
 *
 * @returns The HTML.
 */
export function plotlyLoaderTag(): string {
  const load = `(function () {
  if (window.Plotly || window.__cocaPlotlyLoading) return;
  window.__cocaPlotlyLoading = true;
  var text = atob("${plotlyGzipBase64()}");
  var bytes = new Uint8Array(text.length);
  for (var i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  var inflated = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  new Response(inflated).text().then(function (source) {
    var script = document.createElement("script");
    script.text = source;
    document.head.appendChild(script);
  });
})();`;
  return `<script data-plotly-version="${PLOTLY_VERSION}" data-encoding="gzip+base64">` +
    `${load}</script>`;
}
