/**
 * Study: patch dropout (FLIP-style: drop a fraction of image patches during training) as a
 * trade of quality against training speed. Sweeps `patchDropout` 0, 0.25, 0.5, 0.75 at a
 * fixed number of steps and reports retrieval, zero-shot and caption perplexity next to
 * steps per second and training seconds.
 *
 * @module
 */
import { lossCurves } from "../src/plot/loss_curves.ts";
import { metricVsSweep, sweepSeriesFromPoints } from "../src/plot/sweep.ts";
import { throughputChart } from "../src/plot/throughput.ts";
import type { Figure } from "../src/plot/types.ts";
import type { SweepSpec } from "../src/sweep/spec.ts";
import { baseTrialConfig, type Mode, SEEDS } from "./base.ts";
import {
  bestFinding,
  configValue,
  type Experiment,
  type ExperimentData,
  finalPoints,
  metricDef,
  settings,
  statAt,
  trialCurves,
} from "./experiment.ts";

const DROPOUT = "train.model.vit.patchDropout";

/** The dropout rates of each mode. */
export const PATCH_DROPOUT_RATES: Record<Mode, number[]> = {
  full: [0, 0.25, 0.5, 0.75],
  quick: [0, 0.25, 0.5, 0.75],
  tiny: [0, 0.5],
};

function spec(mode: Mode, backend: string): SweepSpec {
  return {
    name: "patch_dropout",
    description: "patch dropout rate: quality against training speed",
    base: baseTrialConfig(mode, backend) as unknown as SweepSpec["base"],
    grid: { [DROPOUT]: PATCH_DROPOUT_RATES[mode] },
    seeds: SEEDS[mode],
    seedPath: "train.seed",
  };
}

const f = (x: number, digits = 3) => x.toFixed(digits);
const signed = (x: number, digits = 3) => `${x >= 0 ? "+" : ""}${x.toFixed(digits)}`;

function findings({ rows }: ExperimentData): string[] {
  const exp = patchDropout;
  const out = [
    bestFinding(exp, rows, "test.r1TextToImage"),
    bestFinding(exp, rows, "test.zeroShot"),
    bestFinding(exp, rows, "train.stepsPerSecond"),
  ];
  const speed = settings(exp, rows, "train.stepsPerSecond").filter((g) => g.n > 0);
  const base = speed.find((g) => g.values[0] === 0);
  if (!base) return out;
  const r1Base = statAt(exp, rows, "test.r1TextToImage", [0]);
  const zsBase = statAt(exp, rows, "test.zeroShot", [0]);
  for (const g of speed.filter((g) => g.values[0] !== 0)) {
    const r1 = statAt(exp, rows, "test.r1TextToImage", g.values);
    const zs = statAt(exp, rows, "test.zeroShot", g.values);
    out.push(
      `patchDropout ${g.values[0]}: ${f(g.mean, 2)} steps/s, ${f(g.mean / base.mean, 2)}× ` +
        `the ${f(base.mean, 2)} steps/s without dropout; R@1 t→i ${
          r1 && r1Base
            ? `${signed(r1.mean - r1Base.mean)} (${f(r1Base.mean)} → ${f(r1.mean)})`
            : "–"
        }, zero-shot ${zs && zsBase ? signed(zs.mean - zsBase.mean) : "–"}`,
    );
  }
  return out;
}

function figures(data: ExperimentData): Figure[] {
  const exp = patchDropout;
  const { rows } = data;
  const vs = (keys: string[], title: string, yTitle: string) =>
    metricVsSweep(
      sweepSeriesFromPoints(
        keys.flatMap((key) =>
          finalPoints(rows, key, (r) => ({
            x: configValue(r, DROPOUT),
            series: metricDef(key).name,
          }))
        ),
      ),
      { title, xTitle: "patchDropout", yTitle },
    );
  return [
    vs(
      ["test.r1ImageToText", "test.r1TextToImage", "test.zeroShot", "heldout.r1TextToImage"],
      "Quality vs patch dropout (test; mean ± std over seeds)",
      "recall@1 / accuracy",
    ),
    vs(["test.perplexity"], "Caption perplexity vs patch dropout (test)", "perplexity"),
    throughputChart(
      finalPoints(rows, "train.stepsPerSecond", (r) => ({
        group: r.backend ?? "?",
        x: configValue(r, DROPOUT),
      })),
      { title: "Training throughput vs patch dropout", xTitle: "patchDropout", yTitle: "steps/s" },
    ),
    vs(["train.seconds"], "Training wall seconds vs patch dropout", "seconds"),
    lossCurves(trialCurves(exp, data, "loss"), {
      title: "Training loss per trial",
      xTitle: "step",
      yTitle: "loss",
    }),
  ];
}

/**
 * The patch-dropout study.
 *
 * @example
 * ```ts
 * import { patchDropout } from "./patch_dropout.ts";
 * console.log(patchDropout.spec("full", "wasm").grid);
 * ```
 */
export const patchDropout: Experiment = {
  name: "patch_dropout",
  title: "Patch dropout: quality against training speed",
  question:
    "Dropping image patches during training makes each step cheaper. At a fixed number of " +
    "steps, how much retrieval, zero-shot accuracy and caption perplexity does it cost, and " +
    "how much faster does training run? (Evaluation always sees every patch.)",
  factors: [{ path: DROPOUT, name: "patchDropout" }],
  spec,
  findings,
  figures,
};
