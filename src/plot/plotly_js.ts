/**
 * The plotly.js bundle, read from the pinned `plotly.js-dist-min` npm package, for offline
 * pages and notebook outputs.
 *
 * @module
 */

import plotlyPackage from "plotly.js-dist-min/package.json" with { type: "json" };

/** Version of the bundled plotly.js (from its `package.json`). */
export const PLOTLY_VERSION: string = plotlyPackage.version;

let cached: string | undefined;

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
    const url = new URL(import.meta.resolve("plotly.js-dist-min/plotly.min.js"));
    let source: string;
    try {
      source = Deno.readTextFileSync(url);
    } catch (error) {
      throw new Error(
        `plotlySource: expected plotly.js ${PLOTLY_VERSION} at ${url.pathname}, found it ` +
          `unreadable (${error}); run with --allow-read and install npm dependencies`,
      );
    }
    cached = source.replace(/<\/script/gi, "<\\/script").replace(/<!--/g, "<\\!--");
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
