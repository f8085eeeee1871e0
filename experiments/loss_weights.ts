/**
 * Study: how the caption and contrastive loss weights trade retrieval against captioning.
 * A grid over `captionLossWeight` × `contrastiveLossWeight` including the pure-contrastive
 * (caption weight 0) and pure-captioning (contrastive weight 0) ends, and the no-loss control
 * (both 0: the untrained model, which measures chance in practice).
 *
 * @module
 */
import { metricVsSweep, sweepSeriesFromPoints } from "../src/plot/sweep.ts";
import { sweepHeatmap } from "../src/plot/heatmap.ts";
import type { Figure } from "../src/plot/types.ts";
import type { SweepSpec } from "../src/sweep/spec.ts";
import { baseTrialConfig, type Mode, SEEDS } from "./base.ts";
import {
  bestFinding,
  configValue,
  describeSetting,
  type Experiment,
  type ExperimentData,
  type Factor,
  finalPoints,
  meanFinal,
  metricDef,
  settings,
  statAt,
  trialLossFigures,
} from "./experiment.ts";

const CAPTION = "train.model.coca.captionLossWeight";
const CONTRASTIVE = "train.model.coca.contrastiveLossWeight";

/** The weights of each mode: full is a 4 × 4 grid, quick and tiny the 2 × 2 corners. */
export const LOSS_WEIGHT_GRID: Record<Mode, { caption: number[]; contrastive: number[] }> = {
  full: { caption: [0, 0.5, 1, 2], contrastive: [0, 0.5, 1, 2] },
  quick: { caption: [0, 1], contrastive: [0, 1] },
  tiny: { caption: [0, 1], contrastive: [0, 1] },
};

const FACTORS: Factor[] = [
  { path: CAPTION, name: "captionLossWeight" },
  { path: CONTRASTIVE, name: "contrastiveLossWeight" },
];

function spec(mode: Mode, backend: string): SweepSpec {
  const grid = LOSS_WEIGHT_GRID[mode];
  return {
    name: "loss_weights",
    description: "caption vs contrastive loss weight grid",
    base: baseTrialConfig(mode, backend) as unknown as SweepSpec["base"],
    grid: { [CAPTION]: grid.caption, [CONTRASTIVE]: grid.contrastive },
    seeds: SEEDS[mode],
    seedPath: "train.seed",
  };
}

const f = (x: number, digits = 3) => x.toFixed(digits);

function findings({ rows }: ExperimentData): string[] {
  const exp = lossWeights;
  const out = [
    bestFinding(exp, rows, "test.r1TextToImage"),
    bestFinding(exp, rows, "test.r1ImageToText"),
    bestFinding(exp, rows, "test.zeroShot"),
  ];
  const chanceT2I = meanFinal(rows, "test.r1ChanceTextToImage");
  const zsChance = meanFinal(rows, "test.zeroShotChance");
  const uniform = meanFinal(rows, "test.uniformPerplexity");
  const groups = settings(exp, rows, "test.r1TextToImage").filter((g) => g.n > 0);
  // Lowest perplexity among settings that train the decoder.
  const ppl = settings(exp, rows, "test.perplexity").filter((g) =>
    g.n > 0 && (g.values[0] as number) > 0
  );
  if (ppl.length) {
    const best = ppl.reduce((a, b) => b.mean < a.mean ? b : a);
    out.push(
      `lowest caption perplexity: **${describeSetting(exp.factors, best.values)}** ` +
        `(${f(best.mean, 2)}; uniform guess ${f(uniform, 0)})`,
    );
  }
  // Pure captioning: retrieval against chance.
  for (const g of groups.filter((g) => g.values[1] === 0 && (g.values[0] as number) > 0)) {
    const zs = statAt(exp, rows, "test.zeroShot", g.values);
    out.push(
      `pure captioning (${describeSetting(exp.factors, g.values)}): R@1 t→i ${f(g.mean)} ` +
        `(${f(g.mean / chanceT2I, 1)}× the chance level ${f(chanceT2I)}), zero-shot ` +
        `${zs ? f(zs.mean) : "–"} (chance ${f(zsChance)})`,
    );
  }
  // Pure contrastive: captioning against the uniform guess.
  for (const g of groups.filter((g) => g.values[0] === 0 && (g.values[1] as number) > 0)) {
    const p = statAt(exp, rows, "test.perplexity", g.values);
    if (p) {
      out.push(
        `pure contrastive (${describeSetting(exp.factors, g.values)}): caption perplexity ` +
          `${f(p.mean, 2)} against ${f(uniform, 0)} for a uniform guess, R@1 t→i ${f(g.mean)}`,
      );
    }
  }
  // Control: no loss at all.
  const control = groups.find((g) => g.values[0] === 0 && g.values[1] === 0);
  if (control) {
    out.push(
      `no-loss control (both weights 0, the untrained model): R@1 t→i ${f(control.mean)} ` +
        `(chance ${f(chanceT2I)})`,
    );
  }
  // Adding the caption loss to a contrastive weight: effect on retrieval.
  for (const g of groups.filter((g) => g.values[0] === 0 && (g.values[1] as number) > 0)) {
    for (
      const h of groups.filter((h) => h.values[1] === g.values[1] && (h.values[0] as number) > 0)
    ) {
      const d = h.mean - g.mean;
      out.push(
        `adding the caption loss (weight ${h.values[0]}) to contrastive weight ${g.values[1]} ` +
          `changes R@1 t→i by ${d >= 0 ? "+" : ""}${f(d)} (${f(g.mean)} → ${f(h.mean)})`,
      );
    }
  }
  return out;
}

function figures(data: ExperimentData): Figure[] {
  const exp = lossWeights;
  const { rows } = data;
  const heat = (key: string) =>
    sweepHeatmap(
      finalPoints(
        rows,
        key,
        (r) => ({ x: configValue(r, CAPTION), y: configValue(r, CONTRASTIVE) }),
      ),
      {
        title: `${metricDef(key).name} (test, mean over seeds)`,
        xTitle: "captionLossWeight",
        yTitle: "contrastiveLossWeight",
        zTitle: metricDef(key).name,
        showValues: true,
      },
    );
  const bySeries = (key: string) =>
    metricVsSweep(
      sweepSeriesFromPoints(
        finalPoints(rows, key, (r) => ({
          x: configValue(r, CAPTION),
          series: `contrastiveLossWeight ${configValue(r, CONTRASTIVE)}`,
        })),
      ),
      {
        title: `${metricDef(key).name} vs captionLossWeight (mean ± std over seeds)`,
        xTitle: "captionLossWeight",
        yTitle: metricDef(key).name,
      },
    );
  return [
    heat("test.r1TextToImage"),
    heat("test.zeroShot"),
    heat("test.perplexity"),
    bySeries("test.r1TextToImage"),
    bySeries("test.r1ImageToText"),
    bySeries("test.perplexity"),
    ...trialLossFigures(exp, data),
  ];
}

/**
 * The loss-weight study.
 *
 * @example
 * ```ts
 * import { lossWeights } from "./loss_weights.ts";
 * console.log(lossWeights.spec("quick", "wasm").grid);
 * ```
 */
export const lossWeights: Experiment = {
  name: "loss_weights",
  title: "Caption vs contrastive loss weights",
  question:
    "How do the weights of the captioning and the contrastive loss trade retrieval (recall@1 " +
    "both ways), zero-shot classification and caption perplexity? The grid includes the " +
    "pure-contrastive end (captionLossWeight 0, CLIP-like), the pure-captioning end " +
    "(contrastiveLossWeight 0, SimVLM-like) and, at 0/0, the untrained model as a control.",
  factors: FACTORS,
  spec,
  findings,
  figures,
};
