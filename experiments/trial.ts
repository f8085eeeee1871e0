/**
 * The trial of every experiment: train a CoCa with `train()` into the trial directory (so the
 * trainer's `metrics.jsonl` is the trial's), evaluate it on the test and held-out splits
 * (retrieval, zero-shot, caption loss) and write `final.json` with `writeFinal`.
 *
 * Run by the sweep runner as
 * `deno run -A experiments/trial.ts --config <trialDir>/config.json --out <trialDir>`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { CoCa } from "../src/model/coca.ts";
import type { Dataset } from "../src/data/types.ts";
import { evaluate, type SplitReport } from "../src/eval/evaluate.ts";
import { resolveTrainConfig, type TrainConfigInput } from "../src/train/config.ts";
import { train, validationLosses } from "../src/train/trainer.ts";
import type { Tokenizer } from "../src/text/tokenizer.ts";
import type { JsonObject } from "../src/sweep/json.ts";
import { parseTrialArgs, type TrialFinal, writeFinal } from "../src/sweep/protocol.ts";

/** What a trial's `config.json` holds: a training config and how to evaluate. */
export interface TrialConfig {
  /** A training config (`outDir` is replaced by the trial directory). */
  train: TrainConfigInput;
  /** Evaluation after training. */
  eval: {
    /** Splits to evaluate (e.g. `["test", "heldout"]`). */
    splits: string[];
    /** Examples per batch (default 32). */
    batchSize?: number;
  };
}

/** Final metrics of one evaluated split (headline retrieval = caption-dedup). */
export interface SplitMetrics extends JsonObject {
  /** Recall@1, image → text (caption-dedup). */
  r1ImageToText: number;
  /** Recall@1, text → image (caption-dedup). */
  r1TextToImage: number;
  /** Chance recall@1, image → text. */
  r1ChanceImageToText: number;
  /** Chance recall@1, text → image. */
  r1ChanceTextToImage: number;
  /** Recall@5 both ways (caption-dedup). */
  r5ImageToText: number;
  /** Recall@5, text → image. */
  r5TextToImage: number;
  /** Mean zero-shot accuracy over tasks (null without tasks). */
  zeroShot: number | null;
  /** Mean chance accuracy of the zero-shot tasks. */
  zeroShotChance: number | null;
  /** Mean caption NLL per token. */
  captionLoss: number;
  /** `exp(captionLoss)`. */
  perplexity: number;
  /** Perplexity of a uniform guess. */
  uniformPerplexity: number;
  /** Distinct images evaluated. */
  images: number;
}

/** Final metrics of training. */
export interface TrainMetrics extends JsonObject {
  /** Optimizer steps done. */
  steps: number;
  /** Wall seconds of training, validation included. */
  seconds: number;
  /** Seconds spent in validation during training. */
  validationSeconds: number;
  /** Steps per second of training alone (`steps / (seconds - validationSeconds)`). */
  stepsPerSecond: number;
  /** Last logged total loss. */
  loss: number;
  /** Last logged caption loss. */
  captionLoss: number;
  /** Last logged contrastive loss. */
  contrastiveLoss: number;
}

const json = (x: number | null | undefined): number | null =>
  x === null || x === undefined || !Number.isFinite(x) ? null : x;

/**
 * The metrics a trial records for one evaluated split.
 *
 * @example
 * ```ts ignore
 * const report = await evaluate(model, dataset, tokenizer, { textLength: 16 });
 * splitMetrics(report.splits[0]).r1TextToImage;
 * ```
 */
export function splitMetrics(s: SplitReport): SplitMetrics {
  const r = s.retrieval.captionDedup;
  return {
    r1ImageToText: r.imageToText[1],
    r1TextToImage: r.textToImage[1],
    r1ChanceImageToText: r.chance.imageToText[1],
    r1ChanceTextToImage: r.chance.textToImage[1],
    r5ImageToText: r.imageToText[5],
    r5TextToImage: r.textToImage[5],
    zeroShot: json(s.zeroShot.mean),
    zeroShotChance: json(s.zeroShot.meanChance),
    captionLoss: s.loss.captionLoss,
    perplexity: s.loss.perplexity,
    uniformPerplexity: s.loss.uniformPerplexity,
    images: s.images,
  };
}

/**
 * Train and evaluate one trial into `outDir`; returns what was written to `final.json`.
 *
 * @throws when the config is invalid (naming the key), or training fails.
 * @example
 * ```ts ignore
 * const final = await runTrial(JSON.parse(await Deno.readTextFile("t/config.json")), "t");
 * console.log(final.metrics);
 * ```
 */
export async function runTrial(config: TrialConfig, outDir: string): Promise<TrialFinal> {
  if (typeof config?.train !== "object" || !Array.isArray(config?.eval?.splits)) {
    throw new TypeError(
      `expected a trial config {train: {...}, eval: {splits: [...]}}, found keys ${
        Object.keys(config ?? {}).join(", ") || "none"
      }`,
    );
  }
  const cfg = resolveTrainConfig({ ...config.train, outDir });
  let validationSeconds = 0;
  const run = await train(cfg, {
    evaluate: async (model: CoCa, dataset: Dataset, tokenizer: Tokenizer) => {
      const t0 = performance.now();
      try {
        return await validationLosses(
          model,
          dataset.splits.val,
          tokenizer,
          cfg.textLength,
          cfg.batchSize,
        );
      } finally {
        validationSeconds += (performance.now() - t0) / 1000;
      }
    },
  });
  const t0 = performance.now();
  const report = await evaluate(run.model, run.dataset, run.tokenizer, {
    textLength: cfg.textLength,
    splits: config.eval.splits,
    batchSize: config.eval.batchSize,
  });
  const evalSeconds = (performance.now() - t0) / 1000;
  run.model.dispose?.();
  const last = run.last;
  const trainMetrics: TrainMetrics = {
    steps: run.steps,
    seconds: run.seconds,
    validationSeconds,
    stepsPerSecond: run.steps / Math.max(1e-9, run.seconds - validationSeconds),
    loss: last?.loss ?? NaN,
    captionLoss: last?.captionLoss ?? NaN,
    contrastiveLoss: last?.contrastiveLoss ?? NaN,
  };
  for (const [k, v] of Object.entries(trainMetrics)) {
    if (!Number.isFinite(v)) trainMetrics[k] = null as unknown as number;
  }
  const metrics: JsonObject = { train: trainMetrics, evalSeconds };
  for (const s of report.splits) metrics[s.split] = splitMetrics(s);
  const final: TrialFinal = { metrics, backend: run.backend, versions: { tfjs: tf.version.tfjs } };
  await writeFinal(outDir, final);
  return final;
}

if (import.meta.main) {
  const { config, out } = parseTrialArgs(Deno.args);
  await runTrial(JSON.parse(await Deno.readTextFile(config)) as TrialConfig, out);
}
