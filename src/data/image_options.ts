/**
 * How a checkpoint's images are prepared, from its data config: pure, so that the browser entry
 * (`web.ts`) prepares images exactly as the Deno commands do.
 *
 * @module
 */
import type { DataConfig } from "./config.ts";
import { FIT_MODES, type FitMode, type ToModelImageOptions } from "./image.ts";

const isByte = (v: unknown) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 255;

/**
 * How the images of a data config are fitted to the model's square (`fit`, `background`), so
 * that captioning and evaluation prepare a new image exactly as training did. Data without these
 * options (shapes, emoji, or none recorded) gets the defaults. A stored config that was not
 * validated (a checkpoint's `config.json` read in a browser) gives only the values that are valid.
 *
 * @example
 * ```ts
 * import { modelImageOptions } from "./image_options.ts";
 * modelImageOptions({ name: "manifest", path: "data/", fit: "crop" }); // { fit: "crop" }
 * ```
 */
export function modelImageOptions(data: DataConfig | undefined): ToModelImageOptions {
  const options: ToModelImageOptions = {};
  if (data?.name === "manifest") {
    if (FIT_MODES.includes(data.fit as FitMode)) options.fit = data.fit;
    const bg = data.background;
    if (Array.isArray(bg) && bg.length === 3 && bg.every(isByte)) options.background = bg;
  }
  return options;
}
