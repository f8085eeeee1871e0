/**
 * The trial config every experiment starts from, per mode: `full` (what a researcher would
 * publish: more steps and data, 3 seeds), `quick` (minutes on 2 CPU cores, 1 seed) and `tiny`
 * (seconds; for tests of the machinery only, its numbers mean nothing).
 *
 * @module
 */
import type { TrialConfig } from "./trial.ts";
import { checkModelConfig } from "../src/train/config.ts";
import shapesTiny from "../configs/shapes-tiny.json" with { type: "json" };
import tinyModelFile from "../configs/experiment-tiny.model.json" with { type: "json" };

/** How much compute an experiment gets. */
export type Mode = "full" | "quick" | "tiny";

/** The modes, in order of cost. */
export const MODES: readonly Mode[] = ["tiny", "quick", "full"];

/** Seeds per mode. */
export const SEEDS: Record<Mode, number[]> = { full: [0, 1, 2], quick: [0], tiny: [0] };

/**
 * The model of `full` and `quick`: the model of `configs/shapes-tiny.json` without patch
 * dropout, with the loss weights written out (the experiments sweep them).
 */
const MODEL: TrialConfig["train"]["model"] = {
  vit: { ...shapesTiny.model.vit, patchDropout: 0 },
  coca: { ...shapesTiny.model.coca, captionLossWeight: 1, contrastiveLossWeight: 1 },
};

/** A much smaller model for `tiny` (`configs/experiment-tiny.model.json`). */
const TINY_MODEL: TrialConfig["train"]["model"] = checkModelConfig(
  tinyModelFile,
  "configs/experiment-tiny.model.json",
);

/** What differs between the modes: model, data sizes, schedule. */
interface ModeSize {
  model: TrialConfig["train"]["model"];
  data: { trainSize: number; valSize: number; testSize: number; heldoutSize: number };
  vocabSize: number;
  textLength: number;
  batchSize: number;
  steps: number;
  schedule: { warmupSteps: number; minLrRatio: number };
  evalEvery: number;
  logEvery: number;
  eval?: { batchSize: number };
}

const SIZES: Record<Mode, ModeSize> = {
  full: {
    model: MODEL,
    data: { trainSize: 4000, valSize: 128, testSize: 256, heldoutSize: 256 },
    vocabSize: 384,
    textLength: 16,
    batchSize: 32,
    steps: 600,
    schedule: { warmupSteps: 50, minLrRatio: 0.05 },
    evalEvery: 100,
    logEvery: 10,
  },
  quick: {
    model: MODEL,
    data: { trainSize: 1280, valSize: 64, testSize: 128, heldoutSize: 128 },
    vocabSize: 384,
    textLength: 16,
    batchSize: 32,
    steps: 80,
    schedule: { warmupSteps: 10, minLrRatio: 0.05 },
    evalEvery: 40,
    logEvery: 5,
  },
  tiny: {
    model: TINY_MODEL,
    data: { trainSize: 16, valSize: 8, testSize: 16, heldoutSize: 16 },
    vocabSize: 300,
    textLength: 12,
    batchSize: 8,
    steps: 3,
    schedule: { warmupSteps: 1, minLrRatio: 0.1 },
    evalEvery: 0,
    logEvery: 1,
    eval: { batchSize: 16 },
  },
};

/**
 * The base trial config of a mode on `backend` (a fresh copy each call). Experiments override
 * model settings in it through their sweep grid.
 *
 * @example
 * ```ts
 * import { baseTrialConfig } from "./base.ts";
 * const base = baseTrialConfig("quick", "wasm");
 * console.log(base.train.steps, base.eval.splits); // 80 ["test", "heldout"]
 * ```
 */
export function baseTrialConfig(mode: Mode, backend: string): TrialConfig {
  if (!MODES.includes(mode)) {
    throw new RangeError(`expected mode ${MODES.join(", ")}, found ${JSON.stringify(mode)}`);
  }
  const common = {
    backend: backend as TrialConfig["train"]["backend"],
    seed: 0,
    checkpointEvery: 0,
    optimizer: { lr: 2e-3, weightDecay: 0.01, clipNorm: 1 },
  };
  const size = SIZES[mode];
  const cfg: TrialConfig = {
    train: {
      ...common,
      model: size.model,
      data: { name: "shapes", ...size.data, seed: 0 },
      tokenizer: { vocabSize: size.vocabSize },
      textLength: size.textLength,
      batchSize: size.batchSize,
      steps: size.steps,
      schedule: size.schedule,
      evalEvery: size.evalEvery,
      logEvery: size.logEvery,
    },
    eval: { splits: ["test", "heldout"], ...size.eval },
  };
  return structuredClone(cfg);
}
