/**
 * The training config: plain JSON with model, data, optimizer, schedule, seed,
 * backend, steps, intervals and output dir. Unknown keys are errors.
 *
 * @module
 */
import {
  type CoCaConfig,
  resolveCoCaConfig,
  resolveViTConfig,
  type ViTConfig,
} from "../model/config.ts";
import type { DataConfig } from "../data/load.ts";

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

/** What a config file may leave out. */
export type TrainConfigInput =
  & Pick<TrainConfig, "model">
  & Partial<Omit<TrainConfig, "model" | "optimizer" | "schedule">>
  & { optimizer?: Partial<TrainConfig["optimizer"]>; schedule?: Partial<TrainConfig["schedule"]> };

/** Defaults for everything but the model. */
export const TRAIN_DEFAULTS: Omit<TrainConfig, "model"> = {
  data: { name: "shapes" },
  tokenizer: { vocabSize: 512 },
  textLength: 24,
  batchSize: 32,
  steps: 500,
  seed: 0,
  backend: "auto",
  optimizer: { lr: 1e-3, weightDecay: 0.01, beta1: 0.9, beta2: 0.98, eps: 1e-8, clipNorm: 1 },
  schedule: { warmupSteps: 50, minLrRatio: 0.1 },
  evalEvery: 0,
  checkpointEvery: 100,
  logEvery: 10,
  outDir: "runs/default",
};

function keysOf(what: string, obj: unknown, known: string[]): void {
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
    throw new TypeError(`expected ${what} to be an object, found ${JSON.stringify(obj)}`);
  }
  const extra = Object.keys(obj).filter((k) => !known.includes(k));
  if (extra.length) {
    throw new RangeError(
      `unknown key(s) in ${what}: ${extra.map((k) => `"${k}"`).join(", ")}; expected some of ${
        known.join(", ")
      }`,
    );
  }
}

function int(what: string, v: unknown, min: number): void {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min) {
    throw new RangeError(`expected ${what} to be an integer >= ${min}, found ${JSON.stringify(v)}`);
  }
}

function num(what: string, v: unknown, min: number, max = Infinity): void {
  if (typeof v !== "number" || !Number.isFinite(v) || v < min || v > max) {
    throw new RangeError(`expected ${what} in [${min}, ${max}], found ${JSON.stringify(v)}`);
  }
}

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
  keysOf("the config", input, [...Object.keys(TRAIN_DEFAULTS), "model"]);
  const d = TRAIN_DEFAULTS;
  const cfg: TrainConfig = {
    ...d,
    ...input,
    optimizer: { ...d.optimizer, ...input.optimizer },
    schedule: { ...d.schedule, ...input.schedule },
    tokenizer: { ...d.tokenizer, ...input.tokenizer },
    data: input.data ?? d.data,
  } as TrainConfig;
  keysOf("model", cfg.model, ["vit", "coca"]);
  const vit = resolveViTConfig(cfg.model.vit);
  const coca = resolveCoCaConfig(cfg.model.coca);
  if (coca.imageDim !== vit.dim) {
    throw new RangeError(
      `expected model.coca.imageDim to equal model.vit.dim ${vit.dim}, found ${coca.imageDim}`,
    );
  }
  keysOf("optimizer", cfg.optimizer, Object.keys(d.optimizer));
  keysOf("schedule", cfg.schedule, Object.keys(d.schedule));
  keysOf("tokenizer", cfg.tokenizer, Object.keys(d.tokenizer));
  num("optimizer.lr", cfg.optimizer.lr, 0, 10);
  num("optimizer.weightDecay", cfg.optimizer.weightDecay, 0, 10);
  num("optimizer.beta1", cfg.optimizer.beta1, 0, 0.999999);
  num("optimizer.beta2", cfg.optimizer.beta2, 0, 0.999999);
  num("optimizer.eps", cfg.optimizer.eps, 0, 1);
  num("optimizer.clipNorm", cfg.optimizer.clipNorm, 0);
  int("schedule.warmupSteps", cfg.schedule.warmupSteps, 0);
  num("schedule.minLrRatio", cfg.schedule.minLrRatio, 0, 1);
  int("tokenizer.vocabSize", cfg.tokenizer.vocabSize, 260);
  if (cfg.tokenizer.vocabSize > coca.numTokens) {
    throw new RangeError(
      `expected tokenizer.vocabSize <= model.coca.numTokens ${coca.numTokens}, found ${cfg.tokenizer.vocabSize}`,
    );
  }
  if (coca.padId !== 0) {
    throw new RangeError(`expected model.coca.padId 0 (the tokenizer's pad), found ${coca.padId}`);
  }
  int("textLength", cfg.textLength, 3);
  int("batchSize", cfg.batchSize, 2);
  int("steps", cfg.steps, 1);
  int("seed", cfg.seed, 0);
  int("evalEvery", cfg.evalEvery, 0);
  int("checkpointEvery", cfg.checkpointEvery, 0);
  int("logEvery", cfg.logEvery, 1);
  if (!["auto", "webgpu", "wasm", "cpu", "blas"].includes(cfg.backend)) {
    throw new RangeError(
      `expected backend auto, webgpu, wasm, cpu or blas, found ${JSON.stringify(cfg.backend)}`,
    );
  }
  if (typeof cfg.outDir !== "string" || !cfg.outDir) {
    throw new RangeError(
      `expected outDir to be a non-empty string, found ${JSON.stringify(cfg.outDir)}`,
    );
  }
  const name = (cfg.data as { name?: unknown })?.name;
  if (!["shapes", "emoji", "manifest"].includes(name as string)) {
    throw new RangeError(
      `expected data.name shapes, emoji or manifest, found ${JSON.stringify(name)}`,
    );
  }
  return cfg;
}
