/**
 * Build a dataset from a plain-data config (`{name: "shapes" | "emoji" |
 * "manifest", ...options}`), at the image size the model expects.
 *
 * @module
 */
import type { Dataset } from "./types.ts";
import { type ShapesConfig, shapesDataset } from "./shapes.ts";
import { type EmojiConfig, emojiDataset } from "./emoji.ts";
import { loadManifestDataset, type ManifestIssue, type ManifestOptions } from "./manifest.ts";
import { type DataConfig, DataConfigSchema } from "./config.ts";
import { parseConfig } from "../schema/format.ts";

export type { DataConfig };

/** A loaded dataset and the manifest entries that were skipped. */
export interface LoadedDataset {
  /** The dataset. */
  dataset: Dataset;
  /** Manifest entries skipped with `onError: "skip"` (0 otherwise). */
  skipped: number;
  /** The skipped manifest rows (file, line, reason), in line order; empty otherwise. */
  skippedRows: ManifestIssue[];
}

/**
 * Load the dataset a config names. `imageSize`, when given, overrides the
 * config's and must match the model.
 *
 * @throws {RangeError} for an unknown dataset name or key, a bad value or a size mismatch.
 * @example
 * ```ts
 * import { loadDataset } from "./load.ts";
 * const { dataset } = await loadDataset({ name: "shapes", trainSize: 8, valSize: 4, testSize: 4, heldoutSize: 4 }, 32);
 * console.log(dataset.splits.train.length); // 8
 * ```
 */
export async function loadDataset(config: DataConfig, imageSize?: number): Promise<LoadedDataset> {
  if (typeof config !== "object" || config === null) {
    throw new TypeError(`expected a data config object, found ${JSON.stringify(config)}`);
  }
  parseConfig(DataConfigSchema, config, { what: "data", prefix: "data." });
  const { name, ...rest } = config as { name: unknown } & Record<string, unknown>;
  const options = imageSize === undefined ? rest : { ...rest, imageSize };
  let loaded: LoadedDataset;
  switch (name) {
    case "shapes":
      loaded = { dataset: shapesDataset(options as ShapesConfig), skipped: 0, skippedRows: [] };
      break;
    case "emoji":
      loaded = { dataset: await emojiDataset(options as EmojiConfig), skipped: 0, skippedRows: [] };
      break;
    case "manifest": {
      const { path, ...more } = options as { path?: unknown } & ManifestOptions;
      if (typeof path !== "string") {
        throw new RangeError(
          `expected data.path (a manifest file or folder), found ${JSON.stringify(path)}`,
        );
      }
      const m = await loadManifestDataset(path, more);
      loaded = { dataset: m.dataset, skipped: m.skipped, skippedRows: m.issues };
      break;
    }
    default:
      throw new RangeError(
        `expected data.name "shapes", "emoji" or "manifest", found ${JSON.stringify(name)}`,
      );
  }
  if (imageSize !== undefined && loaded.dataset.imageSize !== imageSize) {
    throw new RangeError(
      `expected ${name} images of side ${imageSize}, found ${loaded.dataset.imageSize}`,
    );
  }
  return loaded;
}
