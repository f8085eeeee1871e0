/**
 * What an experiment is (a sweep as plain data plus how to report it), and the pieces its
 * report is made of: the metrics table, per-setting statistics over seeds and the wording of
 * findings computed from the results database.
 *
 * @module
 */
import type { Figure } from "../src/plot/types.ts";
import { lossCurves, type Series } from "../src/plot/loss_curves.ts";
import { groupBy, type GroupStats, type TrialResult } from "../src/sweep/results.ts";
import type { SweepSpec } from "../src/sweep/spec.ts";
import type { JsonObject, JsonValue } from "../src/sweep/json.ts";
import { getPath } from "../src/sweep/path.ts";
import type { Mode } from "./base.ts";

/** A swept setting: its dotted path in the trial config and the name shown in reports. */
export interface Factor {
  /** Dotted path in the trial config, e.g. `train.model.vit.patchDropout`. */
  path: string;
  /** Short name for reports, e.g. `patchDropout`. */
  name: string;
}

/** A trial's logged metric lines, by trial id (the `steps` table). */
export type StepsByTrial = Map<string, { step: number; metrics: JsonObject }[]>;

/** Everything a report is computed from. */
export interface ExperimentData {
  /** The trials, in sweep order. */
  rows: TrialResult[];
  /** Their metric lines. */
  steps: StepsByTrial;
}

/** An experiment: a sweep as plain data, and how its results are reported. */
export interface Experiment {
  /** Name used on the command line and in paths, e.g. `loss_weights`. */
  name: string;
  /** Title of the report. */
  title: string;
  /** The question the experiment answers (one paragraph of markdown). */
  question: string;
  /** The swept settings, grouping the trials (seeds are averaged). */
  factors: Factor[];
  /**
   * The sweep for a mode and backend.
   *
   * @example
   * ```ts ignore
   * const spec = experiment.spec("quick", "wasm");
   * ```
   */
  spec(mode: Mode, backend: string): SweepSpec;
  /**
   * Findings as markdown sentences, computed from the results.
   *
   * @example
   * ```ts ignore
   * for (const f of experiment.findings(data)) console.log(f);
   * ```
   */
  findings(data: ExperimentData): string[];
  /**
   * The report's figures.
   *
   * @example
   * ```ts ignore
   * for (const fig of experiment.figures(data)) await show(fig);
   * ```
   */
  figures(data: ExperimentData): Figure[];
}

/** A metric of `final.json`, with its report name and precision. */
export interface MetricDef {
  /** Dotted path into the trial's final metrics, e.g. `test.r1TextToImage`. */
  key: string;
  /** Column name. */
  name: string;
  /** Decimals shown. */
  digits: number;
  /** Whether larger is better (undefined: neither, e.g. timings). */
  higherIsBetter?: boolean;
}

/** The columns of every experiment's results table, in order. */
export const METRICS: readonly MetricDef[] = [
  { key: "test.r1ImageToText", name: "R@1 i→t", digits: 3, higherIsBetter: true },
  { key: "test.r1TextToImage", name: "R@1 t→i", digits: 3, higherIsBetter: true },
  { key: "test.zeroShot", name: "zero-shot", digits: 3, higherIsBetter: true },
  { key: "test.captionLoss", name: "caption loss", digits: 3, higherIsBetter: false },
  { key: "test.perplexity", name: "perplexity", digits: 2, higherIsBetter: false },
  { key: "heldout.r1TextToImage", name: "held-out R@1 t→i", digits: 3, higherIsBetter: true },
  { key: "heldout.zeroShot", name: "held-out zero-shot", digits: 3, higherIsBetter: true },
  { key: "train.stepsPerSecond", name: "steps/s", digits: 2, higherIsBetter: true },
  { key: "train.seconds", name: "train s", digits: 1 },
];

/**
 * The metric definition of `key`.
 *
 * @throws {RangeError} for a key not in {@linkcode METRICS}.
 * @example
 * ```ts
 * import { metricDef } from "./experiment.ts";
 * console.log(metricDef("test.zeroShot").name); // "zero-shot"
 * ```
 */
export function metricDef(key: string): MetricDef {
  const m = METRICS.find((d) => d.key === key);
  if (!m) {
    throw new RangeError(
      `expected a metric of ${METRICS.map((d) => d.key).join(", ")}, found "${key}"`,
    );
  }
  return m;
}

/**
 * The trials grouped by the experiment's factors, with `metric` aggregated over seeds (done
 * trials only; failed ones count as `missing`).
 *
 * @example
 * ```ts ignore
 * for (const g of settings(experiment, rows, "test.r1TextToImage")) console.log(g.label, g.mean);
 * ```
 */
export function settings(exp: Experiment, rows: TrialResult[], metric: string): GroupStats[] {
  return groupBy(rows, exp.factors.map((f) => f.path), metric);
}

/**
 * A setting in words, e.g. `captionLossWeight=1, contrastiveLossWeight=0`.
 *
 * @example
 * ```ts
 * import { describeSetting } from "./experiment.ts";
 * describeSetting([{ path: "a.b", name: "b" }], [2]); // "b=2"
 * ```
 */
export function describeSetting(factors: readonly Factor[], values: readonly JsonValue[]): string {
  return factors.map((f, i) => `${f.name}=${JSON.stringify(values[i])}`).join(", ");
}

/**
 * A mean with its spread over seeds: `0.430 ± 0.020` (n > 1) or `0.430` (one seed).
 *
 * @example
 * ```ts
 * import { formatStat } from "./experiment.ts";
 * formatStat({ mean: 0.43, std: 0.02, n: 3 }, 3); // "0.430 ± 0.020"
 * ```
 */
export function formatStat(
  g: Pick<GroupStats, "mean" | "std" | "n">,
  digits: number,
): string {
  if (g.n === 0) return "–";
  return g.n > 1 ? `${g.mean.toFixed(digits)} ± ${g.std.toFixed(digits)}` : g.mean.toFixed(digits);
}

/**
 * The group with the best mean (`higherIsBetter` picks max or min); ties go to the first.
 *
 * @throws {RangeError} when no group has a value.
 * @example
 * ```ts
 * import { bestGroup } from "./experiment.ts";
 * bestGroup([{ mean: 1, n: 1 }, { mean: 3, n: 1 }], true).mean; // 3
 * ```
 */
export function bestGroup<G extends Pick<GroupStats, "mean" | "n">>(
  groups: readonly G[],
  higherIsBetter: boolean,
): G {
  const scored = groups.filter((g) => g.n > 0 && Number.isFinite(g.mean));
  if (!scored.length) {
    throw new RangeError("expected at least one setting with results, found none");
  }
  return scored.reduce((a, b) => (higherIsBetter ? b.mean > a.mean : b.mean < a.mean) ? b : a);
}

/**
 * Mean of a final metric over the done trials (e.g. a chance level, which is the same for all).
 *
 * @example
 * ```ts ignore
 * meanFinal(rows, "test.r1ChanceTextToImage");
 * ```
 */
export function meanFinal(rows: readonly TrialResult[], key: string): number {
  const xs = rows.flatMap((r) => finalValue(r, key) ?? []);
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}

/**
 * A finding naming the best and worst settings for one metric, e.g.
 * `best R@1 t→i: patchDropout=0 (0.430 ± 0.020); worst: ...`. Settings whose means agree to
 * the shown precision are named together as tied.
 *
 * @example
 * ```ts ignore
 * bestFinding(experiment, rows, "test.r1TextToImage");
 * ```
 */
export function bestFinding(exp: Experiment, rows: TrialResult[], key: string): string {
  const def = metricDef(key);
  const groups = settings(exp, rows, key);
  const best = bestGroup(groups, def.higherIsBetter ?? true);
  const worst = bestGroup(groups, !(def.higherIsBetter ?? true));
  if (best.mean.toFixed(def.digits) === worst.mean.toFixed(def.digits)) {
    return `${def.name}: every setting gives ${formatStat(best, def.digits)} (no difference)`;
  }
  const same = (a: GroupStats, b: GroupStats) =>
    a.mean.toFixed(def.digits) === b.mean.toFixed(def.digits);
  const name = (ties: GroupStats[]) =>
    ties.map((g) => describeSetting(exp.factors, g.values)).join(" and ") +
    (ties.length > 1 ? " (tied)" : "");
  const bests = groups.filter((g) => g.n > 0 && same(g, best));
  const worsts = groups.filter((g) => g.n > 0 && same(g, worst));
  return `best ${def.name}: **${name(bests)}** (${formatStat(best, def.digits)}); worst: ` +
    `${name(worsts)} (${formatStat(worst, def.digits)})`;
}

/**
 * A metric of one setting (matched by its factor values), or undefined when absent.
 *
 * @example
 * ```ts ignore
 * statAt(experiment, rows, "test.perplexity", [0, 1]);
 * ```
 */
export function statAt(
  exp: Experiment,
  rows: TrialResult[],
  key: string,
  values: readonly JsonValue[],
): GroupStats | undefined {
  return settings(exp, rows, key).find((g) =>
    g.n > 0 && JSON.stringify(g.values) === JSON.stringify(values)
  );
}

/**
 * The results table (markdown): one row per setting, one column per metric of
 * {@linkcode METRICS}, mean ± std over seeds.
 *
 * @example
 * ```ts ignore
 * console.log(resultsTable(experiment, rows));
 * ```
 */
export function resultsTable(exp: Experiment, rows: TrialResult[]): string {
  const cols = METRICS.map((m) => ({ m, groups: settings(exp, rows, m.key) }));
  const head = ["setting", "seeds", ...METRICS.map((m) => m.name)];
  const lines = [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`];
  cols[0].groups.forEach((g, i) => {
    const cells = [
      describeSetting(exp.factors, g.values),
      String(g.n),
      ...cols.map(({ m, groups }) => formatStat(groups[i], m.digits)),
    ];
    lines.push(`| ${cells.join(" | ")} |`);
  });
  return lines.join("\n");
}

/**
 * One loss series per trial (train lines of `metrics.jsonl`), named by setting and seed.
 *
 * @example
 * ```ts ignore
 * lossCurves(trialCurves(experiment, data, "captionLoss"), { title: "caption loss" });
 * ```
 */
export function trialCurves(exp: Experiment, data: ExperimentData, metric: string): Series[] {
  return data.rows.filter((r) => r.status === "done").map((r) => {
    const lines = (data.steps.get(r.id) ?? []).filter((l) =>
      l.metrics.split === "train" && typeof l.metrics[metric] === "number"
    );
    const values = exp.factors.map((f) => getPath(r.config, f.path) as JsonValue);
    return {
      name: `${describeSetting(exp.factors, values)} s${r.seed}`,
      steps: lines.map((l) => l.step),
      values: lines.map((l) => l.metrics[metric] as number),
    };
  });
}

/**
 * The contrastive- and caption-loss curves of every trial (train lines), as two figures.
 *
 * @example
 * ```ts ignore
 * figures.push(...trialLossFigures(experiment, data));
 * ```
 */
export function trialLossFigures(exp: Experiment, data: ExperimentData): Figure[] {
  return (["contrastiveLoss", "captionLoss"] as const).map((metric) => {
    const label = metric === "captionLoss" ? "caption loss" : "contrastive loss";
    return lossCurves(trialCurves(exp, data, metric), {
      title: `${label[0].toUpperCase()}${label.slice(1)} per trial (train)`,
      xTitle: "step",
      yTitle: label,
    });
  });
}

/**
 * A final metric of a trial, or undefined when the trial is not done or the value is not a
 * finite number.
 *
 * @example
 * ```ts ignore
 * finalValue(row, "test.r1TextToImage");
 * ```
 */
export function finalValue(row: TrialResult, key: string): number | undefined {
  const v = row.status === "done" && row.final ? getPath(row.final, key) : undefined;
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

/**
 * A trial config value that must be a number or string (a plot key).
 *
 * @throws {TypeError} when it is something else.
 * @example
 * ```ts ignore
 * configValue(row, "train.model.vit.patchDropout"); // 0.25
 * ```
 */
export function configValue(row: TrialResult, path: string): number | string {
  const v = getPath(row.config, path);
  if (typeof v !== "number" && typeof v !== "string") {
    throw new TypeError(
      `expected a number or string at "${path}" of trial ${row.id}, found ${JSON.stringify(v)}`,
    );
  }
  return v;
}

/**
 * One point per done trial with a finite `key`: its value plus the coordinates `at` gives
 * (e.g. `{x, series}` for `sweepSeriesFromPoints`, `{x, y}` for a heatmap).
 *
 * @example
 * ```ts ignore
 * finalPoints(rows, "test.zeroShot", (r) => ({ x: configValue(r, "train.model.vit.patchDropout") }));
 * ```
 */
export function finalPoints<T extends object>(
  rows: readonly TrialResult[],
  key: string,
  at: (row: TrialResult) => T,
): (T & { value: number })[] {
  return rows.flatMap((r) => {
    const value = finalValue(r, key);
    return value === undefined ? [] : [{ ...at(r), value }];
  });
}
