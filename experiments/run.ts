/**
 * Run an experiment end to end: its sweep with `runSweep` (trials are `experiments/trial.ts`
 * processes, local or Slurm array tasks; rerunning resumes), then `summary.md` (findings computed from the database)
 * and `report.html` (figures) next to `results.sqlite`.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { toHtml } from "../src/plot/to_html.ts";
import { loadResults, loadSteps } from "../src/sweep/results.ts";
import { RESULTS_DB, runSweep, type SweepSummary } from "../src/sweep/run.ts";
import type { SweepProgress } from "../src/sweep/progress.ts";
import type { ExecutorSpec } from "../src/sweep/executor.ts";
import type { Mode } from "./base.ts";
import { type Experiment, type ExperimentData, meanFinal, resultsTable } from "./experiment.ts";

/** The trial entry the sweep runs. */
export const TRIAL_ENTRY: string = fileURLToPath(new URL("./trial.ts", import.meta.url));

/** Options of {@linkcode runExperiment}. */
export interface RunExperimentOptions {
  /** `full`, `quick` or `tiny` (tests only). Default `full`. */
  mode?: Mode;
  /** Output folder. Default {@linkcode defaultOutDir}. */
  outDir?: string;
  /** tfjs backend of the trials. Default `auto` (blas on a CPU-only machine). */
  backend?: string;
  /** Trials at once. Default 1 (throughput numbers are only comparable at 1). */
  concurrency?: number;
  /**
   * Where the trials run: local subprocesses (default) or Slurm job arrays
   * (`{kind: "slurm", partition?, timeMinutes?, cpusPerTask?, args?}`; the output folder must
   * then be on storage the nodes share).
   */
  executor?: ExecutorSpec;
  /** Replace a stored sweep whose trials differ (e.g. another backend). Default false. */
  force?: boolean;
  /** Sweep progress. */
  onProgress?: (p: SweepProgress) => void;
  /** Aborting stops the sweep (trials left pending; rerun to resume). */
  signal?: AbortSignal;
}

/** What {@linkcode runExperiment} produced. */
export interface ExperimentOutput {
  /** The sweep run. */
  sweep: SweepSummary;
  /** `results.sqlite`. */
  dbPath: string;
  /** `summary.md`. */
  summaryPath: string;
  /** `report.html`. */
  reportPath: string;
  /** The text of `summary.md`. */
  summary: string;
}

/**
 * Where an experiment writes by default: `runs/experiments/<name>` (full) or
 * `runs/experiments/<name>-<mode>`.
 *
 * @example
 * ```ts
 * import { defaultOutDir } from "./run.ts";
 * defaultOutDir("depth", "quick"); // "runs/experiments/depth-quick"
 * ```
 */
export function defaultOutDir(name: string, mode: Mode): string {
  return `runs/experiments/${name}${mode === "full" ? "" : `-${mode}`}`;
}

/** The repository's folder of committed study results, `experiments/results/`. */
export const RESULTS_ROOT: string = fileURLToPath(new URL("./results/", import.meta.url));

/** A committed results database and the mode of the study that produced it. */
export interface CommittedResults {
  /** Path of `results.sqlite`. */
  dbPath: string;
  /** `"full"` or `"quick"`. */
  mode: Mode;
}

/**
 * The committed results of a study, named like the run folders: `<root>/<name>` for the full
 * study, `<root>/<name>-quick` for the quick one. The full study wins when both exist.
 *
 * @example
 * ```ts
 * import { committedResults } from "./run.ts";
 * const found = committedResults("depth");
 * // found?.mode === "full" once the full study is committed, "quick" before
 * ```
 *
 * @param name The study's name.
 * @param root Where to look. Default {@linkcode RESULTS_ROOT}.
 * @returns The database and its mode, or `undefined` when neither is committed.
 */
export function committedResults(
  name: string,
  root: string = RESULTS_ROOT,
): CommittedResults | undefined {
  for (const mode of ["full", "quick"] as const) {
    const dbPath = join(root, `${name}${mode === "full" ? "" : `-${mode}`}`, RESULTS_DB);
    try {
      if (Deno.statSync(dbPath).isFile) return { dbPath, mode };
    } catch {
      // not committed in this mode
    }
  }
  return undefined;
}

/**
 * The trials and their metric lines from a results database.
 *
 * @example
 * ```ts ignore
 * const data = loadExperimentData("../experiments/results/depth-quick/results.sqlite");
 * ```
 */
export function loadExperimentData(dbPath: string): ExperimentData {
  const rows = loadResults(dbPath);
  return { rows, steps: new Map(rows.map((r) => [r.id, loadSteps(dbPath, r.id)])) };
}

/**
 * The markdown summary: question, setup, findings computed from the data, and the table of
 * every metric per setting (mean ± std over seeds).
 *
 * @example
 * ```ts ignore
 * console.log(summaryMarkdown(lossWeights, loadExperimentData(dbPath)));
 * ```
 */
export function summaryMarkdown(exp: Experiment, data: ExperimentData): string {
  const { rows } = data;
  const done = rows.filter((r) => r.status === "done");
  const failed = rows.filter((r) => r.status === "failed");
  const first = done[0] ?? rows[0];
  const train = (first?.config.train ?? {}) as Record<string, unknown>;
  const backends = [...new Set(done.map((r) => r.backend ?? "?"))].join(", ");
  const seeds = [...new Set(rows.map((r) => r.seed))].join(", ");
  const commits = [...new Set(done.map((r) => r.gitCommit?.slice(0, 10) ?? "?"))].join(", ");
  const chanceT2I = meanFinal(rows, "test.r1ChanceTextToImage");
  const chanceI2T = meanFinal(rows, "test.r1ChanceImageToText");
  const zsChance = meanFinal(rows, "test.zeroShotChance");
  const images = meanFinal(rows, "test.images");
  const lines = [
    `# ${exp.title}`,
    "",
    exp.question,
    "",
    `Setup: sweep \`${first?.sweep ?? exp.name}\`, ${rows.length} trials (${done.length} done, ` +
    `${failed.length} failed), seeds ${seeds}, backend ${backends || "–"}, ` +
    `${train.steps ?? "?"} steps at batch ${
      train.batchSize ?? "?"
    } on shapes, commit ${commits}. ` +
    `Metrics on ${Number.isFinite(images) ? images : "?"} test images (retrieval: ` +
    `caption-dedup recall@1; chance i→t ${chanceI2T.toFixed(3)}, t→i ${chanceT2I.toFixed(3)}; ` +
    `zero-shot chance ${zsChance.toFixed(3)}); held-out = shapes with unseen colour+shape pairs.`,
    "",
    "## Findings",
    "",
  ];
  const seedCounts = new Map<string, number>();
  for (const r of done) {
    const key = JSON.stringify(r.overrides);
    seedCounts.set(key, (seedCounts.get(key) ?? 0) + 1);
  }
  if (!done.length) lines.push("- no trial finished: nothing to report");
  else {
    lines.push(...exp.findings(data).map((f) => `- ${f}`));
    if (Math.max(...seedCounts.values()) === 1 && Number.isFinite(images)) {
      lines.push(
        `- one seed per setting: no error bars, and a recall difference of one image is ` +
          `${(1 / images).toFixed(3)}; treat small differences as noise`,
      );
    }
  }
  for (const r of failed) {
    lines.push(`- trial \`${r.id}\` failed: ${(r.error ?? "").split("\n")[0].slice(0, 200)}`);
  }
  lines.push("", "## Results (mean ± std over seeds)", "", resultsTable(exp, rows), "");
  return lines.join("\n");
}

/**
 * Write `summary.md` and `report.html` for the results in `outDir/results.sqlite`.
 *
 * @example
 * ```ts ignore
 * await writeReports(depth, "runs/experiments/depth-quick");
 * ```
 */
export async function writeReports(
  exp: Experiment,
  outDir: string,
): Promise<{ summaryPath: string; reportPath: string; summary: string }> {
  const data = loadExperimentData(join(outDir, RESULTS_DB));
  const summary = summaryMarkdown(exp, data);
  const summaryPath = join(outDir, "summary.md");
  const reportPath = join(outDir, "report.html");
  await Deno.writeTextFile(summaryPath, summary);
  const figures = data.rows.some((r) => r.status === "done") ? exp.figures(data) : [];
  // The page title already heads the page: drop the summary's own `# title` line.
  const body = summary.replace(/^# .*\n/, "");
  await Deno.writeTextFile(reportPath, toHtml([body, ...figures], { title: exp.title }));
  return { summaryPath, reportPath, summary };
}

/**
 * Run (or resume) an experiment's sweep and write its reports.
 *
 * @example
 * ```ts ignore
 * const out = await runExperiment(lossWeights, { mode: "quick" });
 * console.log(out.summary);
 * ```
 */
export async function runExperiment(
  exp: Experiment,
  options: RunExperimentOptions = {},
): Promise<ExperimentOutput> {
  const mode = options.mode ?? "full";
  const outDir = options.outDir ?? defaultOutDir(exp.name, mode);
  const sweep = await runSweep({
    spec: exp.spec(mode, options.backend ?? "auto"),
    outDir,
    entry: TRIAL_ENTRY,
    concurrency: options.concurrency ?? 1,
    executor: options.executor,
    force: options.force,
    onProgress: options.onProgress,
    signal: options.signal,
    versions: { tfjs: tf.version.tfjs },
  });
  const reports = await writeReports(exp, outDir);
  return { sweep, dbPath: sweep.dbPath, ...reports };
}
