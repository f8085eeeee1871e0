/**
 * Build what a checkpoint describes: the model from its config, the dataset from its data
 * config, and (for a checkpoint folder) everything together.
 *
 * A checkpoint folder holds
 * - `config.json`: `{model: {vit: ViTConfig, coca: CoCaConfig}, data: DataConfig,
 *   textLength: number, ...}` (camelCase; other keys are kept and ignored here),
 * - `weights.safetensors`: the state dict (see `src/weights/io.ts`),
 * - `tokenizer.json`: `Tokenizer.toJSON()` output.
 *
 * {@linkcode buildModel} and {@linkcode loadDataset} are the shared "config → object" builders:
 * the trainer uses them to create what it trains, the evaluator to recreate it.
 *
 * @module
 */
import { CoCa } from "../model/coca.ts";
import type { CoCaConfig, ViTConfig } from "../model/config.ts";
import { SimpleViT } from "../model/vit.ts";
import { Tokenizer } from "../text/tokenizer.ts";
import { loadWeights } from "../weights/io.ts";

/** The model part of a checkpoint config: a SimpleViT image encoder and CoCa on top. */
export interface ModelConfig {
  /** Image encoder. */
  vit: ViTConfig;
  /** CoCa (its `imageDim` must equal `vit.dim`; it defaults to `coca.dim`). */
  coca: CoCaConfig;
}

export type { DataConfig } from "../data/load.ts";
import type { DataConfig } from "../data/load.ts";

/** The contents of a checkpoint's `config.json` that this module reads. */
export interface CheckpointConfig {
  /** Model architecture. */
  model: ModelConfig;
  /** Data the model was trained on. */
  data: DataConfig;
  /** Token row length (BOS + caption + EOS, padded). */
  textLength: number;
  /** Anything else the trainer stored. */
  [key: string]: unknown;
}

/** A checkpoint loaded by {@linkcode loadCheckpoint}. */
export interface LoadedCheckpoint {
  /** The parsed `config.json`. */
  config: CheckpointConfig;
  /** The model with the checkpoint's weights. */
  model: CoCa;
  /** The tokenizer. */
  tokenizer: Tokenizer;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Create a SimpleViT + CoCa from a model config, with seeded initial weights.
 *
 * @throws {RangeError} from the config validation, naming the bad option.
 * @example
 * ```ts
 * const model = buildModel({
 *   vit: { imageSize: 32, patchSize: 8, dim: 64, depth: 1, heads: 2, mlpDim: 128 },
 *   coca: { dim: 64, numTokens: 300, unimodalDepth: 1, multimodalDepth: 1 },
 * }, 0);
 * ```
 */
export function buildModel(config: ModelConfig, seed = 0): CoCa {
  if (!isObject(config) || !isObject(config.vit) || !isObject(config.coca)) {
    throw new TypeError(
      `expected a model config {vit: {...}, coca: {...}}, found ${JSON.stringify(config)}`,
    );
  }
  const vit = new SimpleViT(config.vit, { seed });
  try {
    return new CoCa({ ...config.coca, imgEncoder: vit }, { seed });
  } catch (e) {
    vit.store.dispose();
    throw e;
  }
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    throw new Deno.errors.NotFound(
      `expected ${what} at ${path}, found ${
        e instanceof Deno.errors.NotFound ? "no such file" : (e as Error).message
      }`,
    );
  }
}

/**
 * Read and check a checkpoint folder's `config.json` (`modelOnly`: only `model` is required, as
 * for captioning; otherwise `data` and `textLength` too).
 *
 * @throws {Deno.errors.NotFound} when the folder or file is missing;
 *   {@linkcode SyntaxError}/{@linkcode TypeError} for malformed contents.
 * @example
 * ```ts
 * const config = await readCheckpointConfig("runs/shapes-small");
 * console.log(config.textLength);
 * ```
 */
export async function readCheckpointConfig(
  dir: string,
  opts: { modelOnly?: boolean } = {},
): Promise<CheckpointConfig> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch {
    throw new Deno.errors.NotFound(
      `expected a checkpoint directory (config.json, weights.safetensors, tokenizer.json) at ${dir}, found nothing there`,
    );
  }
  if (!info.isDirectory) {
    throw new Deno.errors.NotFound(
      `expected a checkpoint directory at ${dir}, found a file`,
    );
  }
  const path = `${dir}/config.json`;
  const text = await readText(path, "the checkpoint config");
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new SyntaxError(`expected valid JSON in ${path}, found: ${(e as Error).message}`);
  }
  if (!isObject(json)) {
    throw new TypeError(`expected a JSON object in ${path}, found ${text.slice(0, 80)}`);
  }
  if (!isObject(json.model) || !isObject(json.model.vit) || !isObject(json.model.coca)) {
    throw new TypeError(
      `expected "model": {"vit": {...}, "coca": {...}} in ${path}, found ${
        JSON.stringify(json.model)
      }`,
    );
  }
  if (opts.modelOnly) return json as CheckpointConfig;
  if (!isObject(json.data) || typeof json.data.name !== "string") {
    throw new TypeError(
      `expected "data": {"name": ..., ...} in ${path}, found ${JSON.stringify(json.data)}`,
    );
  }
  if (
    typeof json.textLength !== "number" || !Number.isInteger(json.textLength) || json.textLength < 3
  ) {
    throw new TypeError(
      `expected "textLength": an integer >= 3 in ${path}, found ${JSON.stringify(json.textLength)}`,
    );
  }
  return json as CheckpointConfig;
}

/**
 * Load a checkpoint folder: config, model with its weights (strict), tokenizer. The caller
 * owns the model (`model.dispose()`).
 *
 * @example
 * ```ts
 * const { config, model, tokenizer } = await loadCheckpoint("runs/shapes-small");
 * const dataset = await loadDataset(config.data);
 * ```
 */
export async function loadCheckpoint(
  dir: string,
  opts: { modelOnly?: boolean } = {},
): Promise<LoadedCheckpoint> {
  const config = await readCheckpointConfig(dir, opts);
  const tokenizer = Tokenizer.fromJSON(await readText(`${dir}/tokenizer.json`, "the tokenizer"));
  const weights = `${dir}/weights.safetensors`;
  try {
    await Deno.stat(weights);
  } catch {
    throw new Deno.errors.NotFound(`expected the model weights at ${weights}, found no such file`);
  }
  const model = buildModel(config.model);
  if (tokenizer.vocabSize > model.config.numTokens) {
    model.dispose();
    throw new RangeError(
      `expected the tokenizer's vocabulary (${tokenizer.vocabSize}) to fit the model's numTokens ` +
        `(${model.config.numTokens}) in ${dir}`,
    );
  }
  try {
    await loadWeights(model, weights);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { config, model, tokenizer };
}
