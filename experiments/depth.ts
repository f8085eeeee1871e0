/**
 * Study: splitting a fixed text-side depth between the unimodal text encoder (which makes the
 * contrastive text embedding) and the multimodal decoder (which cross-attends to the image for
 * captioning). Total 4 layers: 0/4, 1/3, 2/2, 3/1, 4/0 (the model allows either side to be 0).
 *
 * The grid sets the whole `train.model.coca` object per split, so both depths change together
 * and every stored trial config holds its true depths.
 *
 * @module
 */
import { metricVsSweep, sweepSeriesFromPoints } from "../src/plot/sweep.ts";
import { throughputChart } from "../src/plot/throughput.ts";
import type { Figure } from "../src/plot/types.ts";
import type { JsonObject } from "../src/sweep/json.ts";
import type { SweepSpec } from "../src/sweep/spec.ts";
import { baseTrialConfig, type Mode, SEEDS } from "./base.ts";
import {
  bestFinding,
  configValue,
  describeSetting,
  type Experiment,
  type ExperimentData,
  finalPoints,
  meanFinal,
  metricDef,
  settings,
  statAt,
  trialLossFigures,
} from "./experiment.ts";

const COCA = "train.model.coca";
const UNIMODAL = "train.model.coca.unimodalDepth";
const MULTIMODAL = "train.model.coca.multimodalDepth";

/** Total text-side depth and the unimodal depths tried, per mode. */
export const DEPTH_SPLITS: Record<Mode, { total: number; unimodal: number[] }> = {
  full: { total: 4, unimodal: [0, 1, 2, 3, 4] },
  quick: { total: 4, unimodal: [0, 1, 2, 3, 4] },
  tiny: { total: 2, unimodal: [0, 2] },
};

function spec(mode: Mode, backend: string): SweepSpec {
  const base = baseTrialConfig(mode, backend);
  const { total, unimodal } = DEPTH_SPLITS[mode];
  return {
    name: "depth",
    description: `unimodal/multimodal split of a total text depth of ${total}`,
    base: base as unknown as SweepSpec["base"],
    grid: {
      [COCA]: unimodal.map((u) =>
        ({ ...base.train.model.coca, unimodalDepth: u, multimodalDepth: total - u }) as JsonObject
      ),
    },
    seeds: SEEDS[mode],
    seedPath: "train.seed",
  };
}

const f = (x: number, digits = 3) => x.toFixed(digits);

function findings({ rows }: ExperimentData): string[] {
  const exp = depth;
  const out = [
    bestFinding(exp, rows, "test.r1TextToImage"),
    bestFinding(exp, rows, "test.zeroShot"),
    bestFinding(exp, rows, "test.perplexity"),
    bestFinding(exp, rows, "train.stepsPerSecond"),
  ];
  const uniform = meanFinal(rows, "test.uniformPerplexity");
  const chance = meanFinal(rows, "test.r1ChanceTextToImage");
  for (const g of settings(exp, rows, "test.perplexity").filter((g) => g.n > 0)) {
    const [u, m] = g.values as number[];
    if (m === 0) {
      out.push(
        `without a multimodal decoder (${describeSetting(exp.factors, g.values)}) captions ` +
          `cannot see the image: perplexity ${f(g.mean, 2)} (uniform guess ${f(uniform, 0)})`,
      );
    }
    if (u === 0) {
      const r1 = statAt(exp, rows, "test.r1TextToImage", g.values);
      out.push(
        `without a unimodal text encoder (${describeSetting(exp.factors, g.values)}) the text ` +
          `embedding is the learned CLS vector, the same for every caption: R@1 t→i ` +
          `${r1 ? f(r1.mean) : "–"} (chance ${f(chance)}), caption perplexity ${f(g.mean, 2)}`,
      );
    }
  }
  return out;
}

function figures(data: ExperimentData): Figure[] {
  const exp = depth;
  const { rows } = data;
  const split = (r: Parameters<typeof configValue>[0]) =>
    `${configValue(r, UNIMODAL)}/${configValue(r, MULTIMODAL)}`;
  const vs = (keys: string[], title: string, yTitle: string) =>
    metricVsSweep(
      sweepSeriesFromPoints(
        keys.flatMap((key) =>
          finalPoints(rows, key, (r) => ({ x: split(r), series: metricDef(key).name }))
        ),
      ),
      { title, xTitle: "unimodalDepth / multimodalDepth", yTitle, kind: "line" },
    );
  return [
    vs(
      ["test.r1ImageToText", "test.r1TextToImage", "test.zeroShot", "heldout.r1TextToImage"],
      "Quality vs depth split (test; mean ± std over seeds)",
      "recall@1 / accuracy",
    ),
    vs(["test.perplexity"], "Caption perplexity vs depth split (test)", "perplexity"),
    throughputChart(
      finalPoints(rows, "train.stepsPerSecond", (r) => ({ group: r.backend ?? "?", x: split(r) })),
      {
        title: "Training throughput vs depth split",
        xTitle: "unimodalDepth / multimodalDepth",
        yTitle: "steps/s",
      },
    ),
    ...trialLossFigures(exp, data),
  ];
}

/**
 * The depth-split study.
 *
 * @example
 * ```ts
 * import { depth } from "./depth.ts";
 * console.log(depth.spec("quick", "wasm").seeds); // [0]
 * ```
 */
export const depth: Experiment = {
  name: "depth",
  title: "Unimodal vs multimodal depth",
  question: "With a fixed text-side depth, is it better spent on the unimodal text encoder (the " +
    "contrastive text embedding) or on the multimodal decoder (captioning, cross-attending to " +
    "the image)? Splits from all-multimodal to all-unimodal.",
  factors: [
    { path: UNIMODAL, name: "unimodalDepth" },
    { path: MULTIMODAL, name: "multimodalDepth" },
  ],
  spec,
  findings,
  figures,
};
