/**
 * `deno task caption --checkpoint DIR IMAGE...`: caption PNG/JPEG images with a trained CoCa.
 *
 * A checkpoint directory holds `config.json` (`{ model: { vit: ViTConfig, coca: CoCaConfig } }`,
 * camelCase), `weights.safetensors` and `tokenizer.json`. Prints one line per image,
 * `PATH<TAB>CAPTION` (newlines and tabs inside a caption escaped as `\n`, `\t`) or, with
 * `--json`, one JSON object per line (`image`, `caption`, `tokens`, `score`, `finished`). Backend:
 * `--backend`, else `$COCA_BACKEND`, else `auto`. Exit code 0 on success, 2 for bad arguments, a
 * missing checkpoint, an unreadable image or a missing permission, 1 for other failures.
 *
 * @module
 */
import { parseArgs } from "node:util";
import * as tf from "../deps/tf.ts";
import { BACKEND_CHOICES, setupBackend } from "../backends/setup.ts";
import type { CoCa } from "../model/coca.ts";
import { loadCheckpoint } from "../train/checkpoint.ts";
import {
  decodeImage,
  readImageFile,
  toModelImage,
  type ToModelImageOptions,
} from "../data/image.ts";
import { modelImageOptions } from "../data/image_options.ts";
import {
  DECODE_STRATEGIES,
  type DecodeStrategy,
  generate,
  type GenerateOptions,
  resolveGenerateOptions,
} from "../generate/generate.ts";
import type { Tokenizer } from "../text/tokenizer.ts";
import { captionText } from "../text/caption.ts";
import type { SimpleViT } from "../model/vit.ts";
import { isPositiveInt } from "../util/validate.ts";
import { backendChoice, errorMessage, reportError, requireBackendPermissions } from "./main.ts";

/** The usage line printed by `--help` and after argument errors. */
export const CAPTION_USAGE: string =
  "usage: deno task caption --checkpoint DIR [--strategy greedy|beam|sample] [--beam N] " +
  "[--top-k K] [--top-p P] [--temperature T] [--max-length N] [--seed S] [--batch-size N] " +
  `[--backend ${BACKEND_CHOICES}] [--json] IMAGE...`;

/** An error whose message is for the user (no stack trace) and whose exit code is 2. */
export class CaptionCliError extends Error {
  override name = "CaptionCliError";
}

/** A model, its tokenizer and image side, loaded from a checkpoint directory. */
export interface CaptionCheckpoint {
  model: CoCa;
  tokenizer: Tokenizer;
  /** Side of the square images the ViT takes. */
  imageSize: number;
  /** How images are fitted to that square: as the checkpoint's training data was. */
  imageOptions: ToModelImageOptions;
}

/**
 * Load `config.json`, `weights.safetensors` and `tokenizer.json` from `dir`
 * (through `loadCheckpoint`), for square RGB images.
 *
 * @throws {CaptionCliError} naming the directory or file that is missing or malformed.
 * @example
 * ```ts ignore
 * import { loadCaptionCheckpoint } from "./caption.ts";
 * const { model, tokenizer, imageSize } = await loadCaptionCheckpoint("runs/shapes/final");
 * ```
 */
export async function loadCaptionCheckpoint(dir: string): Promise<CaptionCheckpoint> {
  let loaded;
  try {
    loaded = await loadCheckpoint(dir, { modelOnly: true });
  } catch (e) {
    throw new CaptionCliError(`cannot load checkpoint: ${errorMessage(e)}`);
  }
  const { model, tokenizer, config } = loaded;
  const vit = model.imgEncoder as SimpleViT;
  const [h, w] = vit.config.imageSize;
  if (h !== w || vit.config.channels !== 3) {
    model.dispose();
    throw new CaptionCliError(
      `expected a ViT for square RGB images, found imageSize [${h}, ${w}] and ${vit.config.channels} channels in ${dir}/config.json`,
    );
  }
  return {
    model: model.eval(),
    tokenizer,
    imageSize: h,
    imageOptions: modelImageOptions(config.data),
  };
}

/** Read and decode an image file to a model image `(3, size, size)`. */
async function readImage(
  path: string,
  size: number,
  options: ToModelImageOptions,
): Promise<Float32Array> {
  let bytes: Uint8Array;
  try {
    bytes = await readImageFile(path);
  } catch (e) {
    throw new CaptionCliError(`cannot read image ${path}: ${errorMessage(e)}`);
  }
  try {
    return toModelImage(decodeImage(bytes), size, options);
  } catch (e) {
    throw new CaptionCliError(`cannot decode image ${path}: ${(e as Error).message}`);
  }
}

/** Newlines and tabs inside a caption printed as `\n`, `\r`, `\t`, so each image stays one line. */
function oneLine(caption: string): string {
  return caption.replace(/[\n\r\t]/g, (c) => JSON.stringify(c).slice(1, -1));
}

function number(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n)) {
    throw new CaptionCliError(`expected ${flag} to be a number, found "${v}"`);
  }
  return n;
}

/** Turn the command-line flags into {@linkcode GenerateOptions}. */
function generateOptions(v: Record<string, string | boolean | undefined>): GenerateOptions {
  const str = (k: string) => v[k] as string | undefined;
  const beamSize = number("--beam", str("beam"));
  const topK = number("--top-k", str("top-k"));
  const topP = number("--top-p", str("top-p"));
  const temperature = number("--temperature", str("temperature"));
  const seed = number("--seed", str("seed"));
  const strategy = str("strategy") ??
    (beamSize !== undefined
      ? "beam"
      : [topK, topP, temperature, seed].some((x) => x !== undefined)
      ? "sample"
      : "greedy");
  if (!(DECODE_STRATEGIES as readonly string[]).includes(strategy)) {
    throw new CaptionCliError(
      `expected --strategy to be one of ${DECODE_STRATEGIES.join(", ")}, found "${strategy}"`,
    );
  }
  const o: GenerateOptions = {
    strategy: strategy as DecodeStrategy,
    maxLength: number("--max-length", str("max-length")),
    beamSize,
    topK,
    topP,
    temperature,
    seed,
  };
  for (const k of Object.keys(o) as (keyof GenerateOptions)[]) {
    if (o[k] === undefined) delete o[k];
  }
  return o;
}

/**
 * Run the command with `args`; returns the exit code. Output goes to stdout, errors to stderr.
 *
 * @example
 * ```ts ignore
 * import { captionMain } from "./caption.ts";
 * const code = await captionMain(["--checkpoint", "runs/final", "cat.png"]);
 * ```
 */
export async function captionMain(args: string[]): Promise<number> {
  try {
    return await run(args);
  } catch (e) {
    return reportError("caption", CAPTION_USAGE, e);
  }
}

async function run(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        checkpoint: { type: "string" },
        strategy: { type: "string" },
        beam: { type: "string" },
        "top-k": { type: "string" },
        "top-p": { type: "string" },
        temperature: { type: "string" },
        "max-length": { type: "string" },
        seed: { type: "string" },
        "batch-size": { type: "string" },
        backend: { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: true,
    });
  } catch (e) {
    throw new CaptionCliError(errorMessage(e));
  }
  const { values, positionals: paths } = parsed;
  if (values.help) {
    console.log(CAPTION_USAGE);
    return 0;
  }
  if (!values.checkpoint) throw new CaptionCliError("expected --checkpoint DIR, found none");
  if (!paths.length) throw new CaptionCliError("expected at least one IMAGE path, found none");
  const batchSize = number("--batch-size", values["batch-size"]) ?? 8;
  if (!isPositiveInt(batchSize)) {
    throw new CaptionCliError(`expected --batch-size to be a positive integer, found ${batchSize}`);
  }
  const options = generateOptions(values);
  const backend = backendChoice(values.backend);
  requireBackendPermissions(backend);
  try {
    await setupBackend(backend);
  } catch (e) {
    throw new CaptionCliError((e as Error).message);
  }
  const { model, tokenizer, imageSize, imageOptions } = await loadCaptionCheckpoint(
    values.checkpoint,
  );
  try {
    const opts: GenerateOptions = { ...options, bosId: tokenizer.bosId, eosId: tokenizer.eosId };
    try {
      resolveGenerateOptions(opts, model.config);
    } catch (e) {
      throw new CaptionCliError((e as Error).message);
    }
    // Decode every image before any compute, so an unreadable file fails fast.
    const pixels = await Promise.all(paths.map((p) => readImage(p, imageSize, imageOptions)));
    for (let start = 0; start < paths.length; start += batchSize) {
      const chunk = pixels.slice(start, start + batchSize);
      const data = new Float32Array(chunk.length * 3 * imageSize * imageSize);
      chunk.forEach((px, i) => data.set(px, i * px.length));
      const images = tf.tensor4d(data, [chunk.length, 3, imageSize, imageSize]);
      let result;
      try {
        result = await generate(model, images, opts);
      } finally {
        images.dispose();
      }
      result.tokens.forEach((ids, i) => {
        const path = paths[start + i], caption = captionText(tokenizer, ids);
        console.log(
          values.json
            ? JSON.stringify({
              image: path,
              caption,
              tokens: ids,
              score: result.scores[i],
              finished: result.finished[i],
            })
            : `${path}\t${oneLine(caption)}`,
        );
      });
    }
  } finally {
    model.dispose();
  }
  return 0;
}

if (import.meta.main) Deno.exit(await captionMain(Deno.args));
