/**
 * The pure part of a checkpoint: the "config → model" builder ({@linkcode buildModel}) and a
 * model + tokenizer from the three files' contents ({@linkcode checkpointFromFiles}), with no
 * file I/O, so it runs in a browser too. `checkpoint.ts` reads the folder under Deno and builds
 * on these.
 *
 * @module
 */
import { CoCa } from "../model/coca.ts";
import { type CoCaConfig, ModelConfigSchema, type ViTConfig } from "../model/config.ts";
import { SimpleViT } from "../model/vit.ts";
import { Tokenizer } from "../text/tokenizer.ts";
import { isPlainObject } from "../util/json.ts";
import { parseConfig } from "../schema/format.ts";
import { z } from "../deps/zod.ts";
import { stateDictFromBytes } from "../weights/bytes.ts";

/** The model part of a checkpoint config: a SimpleViT image encoder and CoCa on top. */
export interface ModelConfig {
  /** Image encoder. */
  vit: ViTConfig;
  /** CoCa (its `imageDim` must equal `vit.dim`; it defaults to `coca.dim`). */
  coca: CoCaConfig;
}

/**
 * Create a SimpleViT + CoCa from a model config, with seeded initial weights.
 *
 * @throws {RangeError} from the config validation, naming the bad option.
 * @example
 * ```ts
 * import { buildModel } from "./checkpoint_model.ts";
 * const model = buildModel({
 *   vit: { imageSize: 32, patchSize: 8, dim: 64, depth: 1, heads: 2, mlpDim: 128 },
 *   coca: { dim: 64, numTokens: 300, unimodalDepth: 1, multimodalDepth: 1 },
 * }, 0);
 * ```
 */
export function buildModel(config: ModelConfig, seed = 0): CoCa {
  if (!isPlainObject(config) || !isPlainObject(config.vit) || !isPlainObject(config.coca)) {
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

/** What a checkpoint's `config.json` must hold for its model alone. */
const CHECKPOINT_MODEL_SCHEMA = z.looseObject({ model: ModelConfigSchema });

/**
 * The JSON object of a checkpoint's `config.json` text (not yet checked against a schema).
 *
 * @param path the file the text came from, named in the errors.
 * @throws {SyntaxError} when the text is not JSON; {@linkcode TypeError} when it is not an object.
 * @example
 * ```ts
 * import { parseConfigJson } from "./checkpoint_model.ts";
 * console.log(parseConfigJson('{"textLength": 8}', "config.json").textLength); // 8
 * ```
 */
export function parseConfigJson(text: string, path: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new SyntaxError(`expected valid JSON in ${path}, found: ${(e as Error).message}`);
  }
  if (!isPlainObject(json)) {
    throw new TypeError(`expected a JSON object in ${path}, found ${text.slice(0, 80)}`);
  }
  return json;
}

/** Where the three files of a checkpoint came from, for error messages. */
export interface CheckpointNames {
  /** The folder (or URL) of the checkpoint. */
  dir: string;
  /** The `config.json` path or URL. */
  config: string;
  /** The `weights.safetensors` path or URL. */
  weights: string;
  /** The `tokenizer.json` path or URL. */
  tokenizer: string;
}

/**
 * The model of a checked config with the weights of `weights` (safetensors bytes, loaded
 * strictly), after checking that the tokenizer's vocabulary fits the model. The caller owns the
 * model (`model.dispose()`).
 *
 * @throws {RangeError} when the vocabulary does not fit; errors of the build and of the weights,
 *   naming the file at fault.
 * @example
 * ```ts ignore
 * import { modelWithWeights } from "./checkpoint_model.ts";
 * const model = modelWithWeights(config.model, tokenizer, weightsBytes, names);
 * ```
 */
export function modelWithWeights(
  config: ModelConfig,
  tokenizer: Tokenizer,
  weights: Uint8Array,
  names: CheckpointNames,
): CoCa {
  let model: CoCa;
  try {
    model = buildModel(config);
  } catch (e) {
    // A model too large to build (e.g. "Array buffer allocation failed"), or a bad option.
    if (e instanceof Error && !e.message.includes(names.config)) {
      e.message = `${names.config}: cannot build the model it describes: ${e.message}`;
    }
    throw e;
  }
  if (tokenizer.vocabSize > model.config.numTokens) {
    model.dispose();
    throw new RangeError(
      `expected the tokenizer's vocabulary (${tokenizer.vocabSize}) to fit the model's numTokens ` +
        `(${model.config.numTokens}) in ${names.dir}`,
    );
  }
  try {
    const dict = stateDictFromBytes(weights, "", names.weights);
    try {
      model.loadStateDict(dict, { strict: true });
    } finally {
      for (const t of dict.values()) t.dispose();
    }
  } catch (e) {
    model.dispose();
    if (e instanceof Error && !e.message.includes(names.weights)) {
      e.message = `${names.weights}: ${e.message}`;
    }
    throw e;
  }
  return model;
}

/** The contents of a checkpoint's three files, as {@linkcode checkpointFromFiles} takes them. */
export interface CheckpointFiles {
  /** `config.json` text. */
  config: string;
  /** `weights.safetensors` bytes. */
  weights: Uint8Array;
  /** `tokenizer.json` text. */
  tokenizer: string;
}

/** A checkpoint made from its files' contents: config, model with its weights, tokenizer. */
export interface CheckpointFromFiles {
  /** The parsed `config.json` (its `model` checked; other keys as stored). */
  config: { model: ModelConfig } & Record<string, unknown>;
  /** The model with the checkpoint's weights (the caller disposes it). */
  model: CoCa;
  /** The tokenizer. */
  tokenizer: Tokenizer;
}

/**
 * A checkpoint from the contents of its `config.json`, `weights.safetensors` and
 * `tokenizer.json` (fetched, or picked in a browser's file input): the same checks and errors as
 * the folder loader `loadCheckpoint` with `modelOnly`.
 *
 * @param where the folder or URL the files came from, named in every error.
 * @example
 * ```ts ignore
 * import { checkpointFromFiles } from "./checkpoint_model.ts";
 * const base = "http://127.0.0.1:8000/checkpoint/";
 * const { model, tokenizer } = checkpointFromFiles({
 *   config: await (await fetch(base + "config.json")).text(),
 *   weights: new Uint8Array(await (await fetch(base + "weights.safetensors")).arrayBuffer()),
 *   tokenizer: await (await fetch(base + "tokenizer.json")).text(),
 * }, base);
 * ```
 */
export function checkpointFromFiles(
  files: CheckpointFiles,
  where = "checkpoint",
): CheckpointFromFiles {
  const dir = where.replace(/\/+$/, "");
  const names: CheckpointNames = {
    dir,
    config: `${dir}/config.json`,
    weights: `${dir}/weights.safetensors`,
    tokenizer: `${dir}/tokenizer.json`,
  };
  const json = parseConfigJson(files.config, names.config);
  parseConfig(CHECKPOINT_MODEL_SCHEMA, json, {
    what: `the checkpoint config ${names.config}`,
    error: (m) => new TypeError(`${names.config}: ${m}`),
  });
  const config = json as CheckpointFromFiles["config"];
  const tokenizer = Tokenizer.fromJSON(files.tokenizer, names.tokenizer);
  const model = modelWithWeights(config.model, tokenizer, files.weights, names);
  return { config, model, tokenizer };
}

/**
 * Fetch a checkpoint's three files from a folder URL (ending in "/" or not) and make the
 * checkpoint ({@linkcode checkpointFromFiles}).
 *
 * @param onProgress called with the file being fetched and the bytes received so far.
 * @throws {Error} naming the URL and the HTTP status when a file cannot be fetched.
 * @example
 * ```ts ignore
 * import { fetchCheckpoint } from "./checkpoint_model.ts";
 * const { model, tokenizer } = await fetchCheckpoint("/checkpoint/");
 * ```
 */
export async function fetchCheckpoint(
  base: string | URL,
  onProgress?: (file: string, received: number, total: number | undefined) => void,
): Promise<CheckpointFromFiles> {
  // A relative `base` resolves against the page (Deno's `location` getter throws without
  // --location, hence the document).
  const page = (globalThis as { document?: { baseURI: string } }).document?.baseURI;
  const root = new URL(base, page);
  if (!root.pathname.endsWith("/")) root.pathname += "/";
  const get = async (name: string): Promise<Uint8Array> => {
    const url = new URL(name, root);
    const res = await fetch(url);
    if (!res.ok || !res.body) {
      throw new Error(`expected ${url} to be served, found HTTP ${res.status} ${res.statusText}`);
    }
    const total = Number(res.headers.get("content-length")) || undefined;
    const parts: Uint8Array[] = [];
    let received = 0;
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      received += value.length;
      onProgress?.(name, received, total);
    }
    const out = new Uint8Array(received);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  };
  const text = new TextDecoder();
  const [config, weights, tokenizer] = await Promise.all([
    get("config.json"),
    get("weights.safetensors"),
    get("tokenizer.json"),
  ]);
  return checkpointFromFiles(
    { config: text.decode(config), weights, tokenizer: text.decode(tokenizer) },
    root.href,
  );
}
