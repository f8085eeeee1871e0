/**
 * Displaying figures: a Jupyter MIME bundle inside the Deno kernel, a standalone offline HTML
 * file elsewhere.
 *
 * @module
 */

import { figureHtml } from "./figure_html.ts";
import { PLOTLY_VERSION } from "./plotly_js.ts";
import { toHtml } from "./to_html.ts";
import type { Figure } from "./types.ts";

/** The MIME type Jupyter front ends with a plotly renderer draw natively. */
export const PLOTLY_MIME = "application/vnd.plotly.v1+json";

/** A Jupyter MIME bundle for one figure. */
export interface PlotlyBundle {
  /** The figure as plotly JSON, for front ends with a plotly renderer (JupyterLab, VS Code). */
  "application/vnd.plotly.v1+json": Figure;
  /** A `<div>` + script fallback for HTML renderers (nbconvert's HTML export, classic pages). */
  "text/html": string;
  /** Plain-text fallback. */
  "text/plain": string;
  /** Any other MIME type (keeps the bundle assignable to `Deno.jupyter.MediaBundle`). */
  [mime: string]: string | object;
}

/** Options for {@linkcode bundle}. */
export interface BundleOptions {
  /** Inline plotly.js in the `text/html` part (do this once per page). Default `true`. */
  includePlotly?: boolean;
  /** The `id` of the figure's div. Default: random. */
  id?: string;
}

/** Options for {@linkcode show}. */
export interface ShowOptions {
  /** Outside Jupyter: where to write the HTML file. Default: a new temporary file. */
  path?: string;
  /** Outside Jupyter: the page title. Default: the figure's title or `"Figure"`. */
  title?: string;
  /**
   * Inside Jupyter: whether the output inlines plotly.js. `"auto"` (the default) inlines it only
   * in the first figure shown by this kernel session, as later outputs on the same page reuse it.
   */
  includePlotly?: boolean | "auto";
}

/**
 * Builds the Jupyter MIME bundle of a figure: plotly JSON, an HTML fallback (optionally with
 * plotly.js inlined) and a plain-text summary.
 *
 * @example Usage
 * ```ts
 * import { bundle } from "./show.ts";
 * const b = bundle({ data: [{ type: "bar", y: [1] }], layout: {} }, { includePlotly: false });
 * // Object.keys(b) → ["application/vnd.plotly.v1+json", "text/html", "text/plain"]
 * ```
 *
 * @param figure The figure.
 * @param options Whether to inline plotly.js, and the div id.
 * @returns The MIME bundle.
 */
export function bundle(figure: Figure, options: BundleOptions = {}): PlotlyBundle {
  const title = figureTitle(figure);
  return {
    [PLOTLY_MIME]: { data: figure.data, layout: figure.layout },
    "text/html": figureHtml(figure, {
      id: options.id,
      includePlotly: options.includePlotly ?? true,
    }),
    "text/plain": `<Figure${title ? ` "${title}"` : ""}: ${figure.data.length} trace(s), ` +
      `plotly.js ${PLOTLY_VERSION}>`,
  };
}

/**
 * Whether this code runs inside the Deno Jupyter kernel (`Deno.jupyter` throws elsewhere).
 *
 * @example Usage
 * ```ts
 * import { inJupyter } from "./show.ts";
 * if (!inJupyter()) console.log("figures go to HTML files");
 * ```
 *
 * @returns `true` inside `deno jupyter`.
 */
export function inJupyter(): boolean {
  try {
    return typeof Deno.jupyter?.display === "function";
  } catch {
    return false;
  }
}

let plotlyShown = false;

/**
 * How long `show` waits after a Jupyter display of `bytes` characters: 60 ms + 100 ms per MB.
 *
 * Why: the Deno 2.9 kernel publishes display messages from a separate task than its `status`
 * messages and writes both to the iopub socket without a lock, frame by frame. When a cell
 * ends while a large display is still being written, the `status: idle` frames can land inside
 * the display's frames; the front end then sees a message with an invalid signature and the
 * connection's framing is broken for the rest of the session. Waiting before the cell returns
 * lets the kernel finish writing.
 *
 * @example Usage
 * ```ts
 * import { jupyterSettleMs } from "./show.ts";
 * jupyterSettleMs(2_000_000); // 260
 * ```
 *
 * @param bytes The size of the displayed bundle (characters of its JSON).
 * @returns Milliseconds to wait.
 */
export function jupyterSettleMs(bytes: number): number {
  if (!(bytes >= 0)) {
    throw new RangeError(`jupyterSettleMs: expected a byte count >= 0, found ${bytes}`);
  }
  return 60 + Math.round(bytes / 10_000);
}

/**
 * Shows a figure. Inside the Deno Jupyter kernel it displays the figure's MIME bundle (see
 * {@linkcode bundle}) and resolves to `undefined`; elsewhere it writes a standalone offline HTML
 * page (see `toHtml`) and resolves to the file's path.
 *
 * @example Usage
 * ```ts ignore
 * import { show } from "./show.ts";
 * const path = await show({ data: [{ type: "bar", y: [1, 2] }], layout: {} });
 * console.log(path); // e.g. /tmp/coca-plot-1a2b.html (undefined inside Jupyter)
 * ```
 *
 * @param figure The figure.
 * @param options File path and title (outside Jupyter), plotly.js inlining (inside).
 * @returns The written file's path, or `undefined` inside Jupyter.
 */
export async function show(figure: Figure, options: ShowOptions = {}): Promise<string | undefined> {
  if (inJupyter()) {
    const include = options.includePlotly ?? "auto";
    const includePlotly = include === "auto" ? !plotlyShown : include;
    const mimeBundle = bundle(figure, { includePlotly });
    await Deno.jupyter.display(mimeBundle, { raw: true });
    if (includePlotly) plotlyShown = true;
    const bytes = mimeBundle["text/html"].length + JSON.stringify(mimeBundle[PLOTLY_MIME]).length;
    await new Promise((resolve) => setTimeout(resolve, jupyterSettleMs(bytes)));
    return undefined;
  }
  const path = options.path ??
    await Deno.makeTempFile({ prefix: "coca-plot-", suffix: ".html" });
  const title = options.title ?? (figureTitle(figure) || "Figure");
  await Deno.writeTextFile(path, toHtml([figure], { title }));
  return path;
}

function figureTitle(figure: Figure): string {
  const title = figure.layout.title;
  if (typeof title === "string") return title;
  if (title !== null && typeof title === "object" && !Array.isArray(title)) {
    return typeof title.text === "string" ? title.text : "";
  }
  return "";
}
