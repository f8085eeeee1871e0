/**
 * The training config: plain JSON with model, data, optimizer, schedule, seed, backend, steps,
 * intervals and output dir, defined once as a zod schema ({@linkcode TrainConfigSchema}) that
 * gives the type, the defaults and the checks. Unknown keys are errors; a top-level `"$schema"`
 * key (the JSON Schema of `configs/schema/train.schema.json`, for editors) is ignored.
 *
 * @module
 */
import { z } from "../deps/zod.ts";
import {
  type CoCaConfig,
  CoCaConfigSchema,
  ModelConfigSchema,
  type ViTConfig,
  ViTConfigSchema,
} from "../model/config.ts";
import { type DataConfig, DataConfigSchema } from "../data/config.ts";
import { resolveConfigDataPaths } from "../data/paths.ts";
import { fileURLToPath } from "node:url";
import { BACKENDS } from "../backends/setup.ts";
import { num, parseConfig, type SameType } from "../schema/format.ts";

const BACKEND_NAMES = ["auto", ...BACKENDS] as const;

const optimizerSchema = z.strictObject({
  lr: num.range(0, 10).default(1e-3).describe("Peak learning rate (AdamW)."),
  weightDecay: num.range(0, 10).default(0.01).describe("Decoupled weight decay."),
  beta1: num.range(0, 0.999999).default(0.9),
  beta2: num.range(0, 0.999999).default(0.98),
  eps: num.range(0, 1).default(1e-8),
  clipNorm: num.range(0).default(1).describe("Clip the global gradient norm to this (0 = off)."),
});

const scheduleSchema = z.strictObject({
  warmupSteps: num.int(0).default(50).describe("Linear warmup steps."),
  minLrRatio: num.range(0, 1).default(0.1)
    .describe("Cosine decay to `minLrRatio · lr` at the last step."),
});

/** Everything of a training config but the model: the schema, with the defaults. */
const trainFields = {
  data: DataConfigSchema.default({ name: "shapes" })
    .describe('Which dataset to load: {"name": "shapes" | "emoji" | "manifest", ...options}.'),
  tokenizer: z.strictObject({
    vocabSize: num.int(260).default(512)
      .describe("Byte-level BPE vocabulary size; at most model.coca.numTokens."),
  }).prefault({}).describe("Tokenizer trained on the train captions."),
  textLength: num.int(3).default(24)
    .describe("Token ids per caption (BOS caption EOS, padded)."),
  batchSize: num.int(2).default(32).describe("Examples per optimizer step."),
  steps: num.int(1).default(500).describe("Total optimizer steps."),
  seed: num.int(0).default(0)
    .describe("Seed of the weights, the data order and patch dropout."),
  backend: z.enum(BACKEND_NAMES, { error: "expected {path} auto, webgpu, wasm, cpu or blas" })
    .default("auto").describe("auto picks the fastest that starts here."),
  optimizer: optimizerSchema.prefault({}),
  schedule: scheduleSchema.prefault({})
    .describe("Linear warmup, then cosine decay to `minLrRatio · lr` at the last step."),
  evalEvery: num.int(0).default(0)
    .describe("Steps between evaluations on the validation split (0 = only at the end)."),
  checkpointEvery: num.int(0).default(100)
    .describe("Steps between checkpoints (0 = only at the end)."),
  logEvery: num.int(1).default(10).describe("Steps between metric lines."),
  outDir: z.string({ error: "expected {path} to be a non-empty string" })
    .min(1, { error: "expected {path} to be a non-empty string" })
    .default("runs/default").describe("Output folder (checkpoint/, metrics.jsonl)."),
};

const trainSchema = z.strictObject({
  $schema: z.string().optional().describe("The JSON Schema of this file (ignored)."),
  model: z.strictObject({ vit: ViTConfigSchema, coca: CoCaConfigSchema })
    .describe("The image encoder (SimpleViT) and CoCa options."),
  ...trainFields,
}).superRefine((c, ctx) => {
  const { vit, coca } = c.model;
  if (coca.imageDim !== vit.dim) {
    ctx.addIssue({
      code: "custom",
      path: ["model", "coca", "imageDim"],
      message:
        `expected model.coca.imageDim to equal model.vit.dim ${vit.dim}, found ${coca.imageDim}`,
    });
  }
  if (c.tokenizer.vocabSize > coca.numTokens) {
    ctx.addIssue({
      code: "custom",
      path: ["tokenizer", "vocabSize"],
      message:
        `expected tokenizer.vocabSize <= model.coca.numTokens ${coca.numTokens}, found ${c.tokenizer.vocabSize}`,
    });
  }
  if (coca.padId !== 0) {
    ctx.addIssue({
      code: "custom",
      path: ["model", "coca", "padId"],
      message: `expected model.coca.padId 0 (the tokenizer's pad), found ${coca.padId}`,
    });
  }
});

/** A full training run, as plain data. */
export interface TrainConfig {
  model: { vit: ViTConfig; coca: CoCaConfig };
  data: DataConfig;
  /** Tokenizer trained on the train captions. */
  tokenizer: { vocabSize: number };
  /** Token ids per caption (BOS caption EOS, padded). */
  textLength: number;
  batchSize: number;
  /** Total optimizer steps. */
  steps: number;
  seed: number;
  backend: "auto" | "webgpu" | "wasm" | "cpu" | "blas";
  optimizer: {
    lr: number;
    weightDecay: number;
    beta1: number;
    beta2: number;
    eps: number;
    /** Clip the global gradient norm to this (0 = off). */
    clipNorm: number;
  };
  /** Linear warmup, then cosine decay to `minLrRatio · lr` at the last step. */
  schedule: { warmupSteps: number; minLrRatio: number };
  /** Steps between evaluations on the validation split (0 = only at the end). */
  evalEvery: number;
  /** Steps between checkpoints (0 = only at the end). */
  checkpointEvery: number;
  /** Steps between metric lines. */
  logEvery: number;
  /** Output folder (checkpoint/, metrics.jsonl). */
  outDir: string;
}

/** What a config file may leave out (everything but `model` has a default). */
export type TrainConfigInput =
  & Pick<TrainConfig, "model">
  & Partial<Omit<TrainConfig, "model" | "optimizer" | "schedule" | "tokenizer">>
  & {
    /** The JSON Schema of the file (ignored). */
    $schema?: string;
    optimizer?: Partial<TrainConfig["optimizer"]>;
    schedule?: Partial<TrainConfig["schedule"]>;
    tokenizer?: Partial<TrainConfig["tokenizer"]>;
  };

/** A training config as checked: defaults filled in, the model's too. */
export type CheckedTrainConfig = Omit<TrainConfig, "model"> & {
  $schema?: string;
  model: z.output<typeof ModelConfigSchema>;
};

// The declared types and the schema agree (a compile error otherwise).
const _in: SameType<z.input<typeof trainSchema>, TrainConfigInput> = true;
const _out: SameType<z.output<typeof trainSchema>, CheckedTrainConfig> = true;

/** {@linkcode TrainConfig}'s schema: its defaults and checks. */
export const TrainConfigSchema: z.ZodType<CheckedTrainConfig, TrainConfigInput> = trainSchema;

/** Defaults for everything but the model. */
export const TRAIN_DEFAULTS: Omit<TrainConfig, "model"> = z.strictObject(trainFields).parse({});

/**
 * Fill in defaults and validate a training config (model configs included).
 *
 * @throws {RangeError|TypeError} naming the key, what was expected and what was found.
 * @example
 * ```ts
 * import { resolveTrainConfig } from "./config.ts";
 * const cfg = resolveTrainConfig({
 *   model: {
 *     vit: { imageSize: 32, patchSize: 8, dim: 64, depth: 1, heads: 2, mlpDim: 128 },
 *     coca: { dim: 64, numTokens: 512, unimodalDepth: 1, multimodalDepth: 1 },
 *   },
 *   steps: 10,
 * });
 * console.log(cfg.batchSize); // 32
 * ```
 */
export function resolveTrainConfig(input: TrainConfigInput): TrainConfig {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new TypeError(`expected the config to be an object, found ${JSON.stringify(input)}`);
  }
  const p = parseConfig(TrainConfigSchema, input, { what: "the config" });
  // The model and data options as written (no defaults filled in), keys in the order the
  // checkpoints have always stored them.
  return {
    data: input.data ?? p.data,
    tokenizer: p.tokenizer,
    textLength: p.textLength,
    batchSize: p.batchSize,
    steps: p.steps,
    seed: p.seed,
    backend: p.backend,
    optimizer: p.optimizer,
    schedule: p.schedule,
    evalEvery: p.evalEvery,
    checkpointEvery: p.checkpointEvery,
    logEvery: p.logEvery,
    outDir: p.outDir,
    model: input.model,
  };
}

/**
 * Read a training config file (JSON) and resolve it ({@linkcode resolveTrainConfig}); a relative
 * data path in it is taken relative to the file's folder.
 *
 * @throws {RangeError|TypeError|SyntaxError} naming the file and what is wrong in it.
 * @example
 * ```ts
 * import { readTrainConfigFile } from "./config.ts";
 * const cfg = await readTrainConfigFile("configs/shapes-tiny.json");
 * console.log(cfg.outDir); // runs/shapes-tiny
 * ```
 */
export async function readTrainConfigFile(path: string | URL): Promise<TrainConfig> {
  // A relative data.path (and emoji's *Dir) is relative to the config file's folder.
  const file = typeof path === "string" ? path : fileURLToPath(path);
  const input = resolveConfigDataPaths(await readJsonFile(path), file);
  try {
    return resolveTrainConfig(input as TrainConfigInput);
  } catch (e) {
    (e as Error).message = `${path}: ${(e as Error).message}`;
    throw e;
  }
}

/**
 * Check plain data as a model config file's content (`{"$schema"?, "vit", "coca"}`, as in
 * `configs/*.model.json`) and return the options as written, without `$schema`.
 *
 * @throws {RangeError} naming `where`, the key, what was expected and what was found.
 * @example
 * ```ts
 * import { checkModelConfig } from "./config.ts";
 * import file from "../../configs/test-tiny.model.json" with { type: "json" };
 * const { vit, coca } = checkModelConfig(file);
 * console.log(vit.dim, coca.dim); // 32 32
 * ```
 */
export function checkModelConfig(
  data: unknown,
  where = "the model config",
): TrainConfig["model"] {
  try {
    parseConfig(ModelConfigSchema, data, { what: "the model config" });
  } catch (e) {
    (e as Error).message = `${where}: ${(e as Error).message}`;
    throw e;
  }
  const { $schema: _, ...model } = data as z.input<typeof ModelConfigSchema>;
  return model;
}

async function readJsonFile(path: string | URL): Promise<unknown> {
  const text = await Deno.readTextFile(path);
  try {
    return JSON.parse(text.replace(/^\uFEFF/, "")); // a byte-order mark, as some editors write
  } catch (e) {
    throw new SyntaxError(`${path}: expected JSON, found ${(e as Error).message}`);
  }
}
