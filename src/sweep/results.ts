/**
 * Query helpers for reports and notebooks: typed rows from a results database and per-group
 * aggregates over seeds.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { canonicalJson, type JsonObject, type JsonValue } from "./json.ts";
import { getPath, hasPath } from "./path.ts";
import type { TrialStatus } from "./store.ts";

/** One trial as stored, with JSON columns parsed. */
export interface TrialResult {
  /** Trial id. */
  id: string;
  /** Sweep name. */
  sweep: string;
  /** Position in the sweep. */
  order: number;
  /** Full trial config. */
  config: JsonObject;
  /** Dotted path → value overrides. */
  overrides: Record<string, JsonValue>;
  /** Trial seed. */
  seed: number;
  /** Lifecycle state. */
  status: TrialStatus;
  /** Final metrics (`final.json` `metrics`), null unless done. */
  final: JsonObject | null;
  /** Wall time of the last attempt. */
  wallSeconds: number | null;
  /** Backend reported by the trial (or given to the runner). */
  backend: string | null;
  /** Versions (deno, v8, typescript, plus runner- and trial-supplied ones). */
  versions: Record<string, string> | null;
  /** `git rev-parse HEAD` when the trial started. */
  gitCommit: string | null;
  /** ISO start time of the last attempt. */
  startedAt: string | null;
  /** ISO finish time of the last attempt. */
  finishedAt: string | null;
  /** Error of a failed trial (reason and stderr tail). */
  error: string | null;
  /** Times the trial was started. */
  attempts: number;
  /** Executor of the last attempt (`local`, `slurm`; null if never started or not recorded). */
  executor?: string | null;
  /** Slurm job id of the last attempt (`<array job>_<index>`), null otherwise. */
  jobId?: string | null;
  /** Host the last attempt ran on (null when not recorded: databases before executors). */
  host?: string | null;
}

interface TrialRow {
  id: string;
  sweep: string;
  ord: number;
  config: string;
  overrides: string;
  seed: number;
  status: TrialStatus;
  final: string | null;
  wall_seconds: number | null;
  backend: string | null;
  versions: string | null;
  git_commit: string | null;
  started_at: string | null;
  finished_at: string | null;
  error: string | null;
  attempts: number;
  executor?: string | null;
  job_id?: string | null;
  host?: string | null;
}

function openReadOnly(dbPath: string): DatabaseSync {
  try {
    Deno.statSync(dbPath);
  } catch {
    throw new Error(`Expected a results database at "${dbPath}", found no such file`);
  }
  const db = new DatabaseSync(dbPath, { readOnly: true });
  db.exec("PRAGMA busy_timeout = 5000");
  return db;
}

/**
 * Loads every trial of a results database, in sweep order. Safe while a runner is writing.
 *
 * @example
 * ```ts
 * import { loadResults } from "./results.ts";
 * const rows = loadResults("runs/lr/results.sqlite");
 * const done = rows.filter((r) => r.status === "done");
 * ```
 */
export function loadResults(dbPath: string): TrialResult[] {
  const db = openReadOnly(dbPath);
  try {
    const rows = db.prepare("SELECT * FROM trials ORDER BY ord").all() as unknown as TrialRow[];
    return rows.map((r) => ({
      id: r.id,
      sweep: r.sweep,
      order: r.ord,
      config: JSON.parse(r.config),
      overrides: JSON.parse(r.overrides),
      seed: r.seed,
      status: r.status,
      final: r.final === null ? null : JSON.parse(r.final),
      wallSeconds: r.wall_seconds,
      backend: r.backend,
      versions: r.versions === null ? null : JSON.parse(r.versions),
      gitCommit: r.git_commit,
      startedAt: r.started_at,
      finishedAt: r.finished_at,
      error: r.error,
      attempts: r.attempts,
      executor: r.executor ?? null,
      jobId: r.job_id ?? null,
      host: r.host ?? null,
    }));
  } finally {
    db.close();
  }
}

/**
 * Loads the per-step metrics of one trial (the lines of its `metrics.jsonl`, in file order).
 *
 * @example
 * ```ts
 * import { loadSteps } from "./results.ts";
 * const curve = loadSteps("runs/lr/results.sqlite", "lr=0.001_s0-3f2a9c01be")
 *   .map((s) => [s.step, s.metrics.loss]);
 * ```
 */
export function loadSteps(
  dbPath: string,
  trialId: string,
): { step: number; metrics: JsonObject }[] {
  const db = openReadOnly(dbPath);
  try {
    const rows = db.prepare("SELECT step, metrics FROM steps WHERE trial_id = ? ORDER BY line")
      .all(trialId) as { step: number; metrics: string }[];
    return rows.map((r) => ({ step: r.step, metrics: JSON.parse(r.metrics) }));
  } finally {
    db.close();
  }
}

/** Aggregate of one metric over the trials (typically the seeds) sharing a config value. */
export interface GroupStats {
  /** Config values at the grouping paths, in path order. */
  values: JsonValue[];
  /** Readable key, e.g. `"optim.lr=0.001"` or `"optim.lr=0.001, depth=2"`. */
  label: string;
  /** Trials contributing a finite metric value. */
  n: number;
  /** Mean of the metric (NaN when n = 0). */
  mean: number;
  /** Sample standard deviation (n − 1 denominator); 0 when n = 1, NaN when n = 0. */
  std: number;
  /** Minimum (NaN when n = 0). */
  min: number;
  /** Maximum (NaN when n = 0). */
  max: number;
  /** Seeds of the contributing trials. */
  seeds: number[];
  /** Ids of the contributing trials. */
  trialIds: string[];
  /** Trials in the group without a finite metric (not done, or metric missing / null). */
  missing: number;
}

/**
 * Groups trials by the config value(s) at `path` (dotted; an array groups by several paths) and
 * aggregates the final metric `metric` (dotted path into `final`) over each group. Groups appear
 * in order of first occurrence. Rows lacking `path` in their config are an error.
 *
 * @example
 * ```ts
 * import { groupBy, loadResults } from "./results.ts";
 * for (const g of groupBy(loadResults("runs/lr/results.sqlite"), "optim.lr", "val.loss")) {
 *   console.log(g.label, g.mean.toFixed(3), "±", g.std.toFixed(3), `(n=${g.n})`);
 * }
 * ```
 */
export function groupBy(
  rows: TrialResult[],
  path: string | string[],
  metric: string,
): GroupStats[] {
  const paths = Array.isArray(path) ? path : [path];
  if (paths.length === 0) throw new RangeError("Expected at least one grouping path, found none");
  const groups = new Map<string, { values: JsonValue[]; rows: TrialResult[] }>();
  for (const row of rows) {
    const values = paths.map((p) => {
      if (!hasPath(row.config, p)) {
        throw new Error(`Expected config path "${p}" in trial "${row.id}", found it missing`);
      }
      return getPath(row.config, p) as JsonValue;
    });
    const key = canonicalJson(values);
    const g = groups.get(key) ?? { values, rows: [] };
    g.rows.push(row);
    groups.set(key, g);
  }
  return [...groups.values()].map(({ values, rows }) => {
    const xs: number[] = [];
    const seeds: number[] = [];
    const trialIds: string[] = [];
    for (const r of rows) {
      const v = r.status === "done" && r.final !== null ? getPath(r.final, metric) : undefined;
      if (typeof v === "number" && Number.isFinite(v)) {
        xs.push(v);
        seeds.push(r.seed);
        trialIds.push(r.id);
      }
    }
    const n = xs.length;
    const mean = n === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / n;
    const std = n === 0
      ? NaN
      : n === 1
      ? 0
      : Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1));
    return {
      values,
      label: paths.map((p, i) => `${p}=${JSON.stringify(values[i])}`).join(", "),
      n,
      mean,
      std,
      min: n === 0 ? NaN : Math.min(...xs),
      max: n === 0 ? NaN : Math.max(...xs),
      seeds,
      trialIds,
      missing: rows.length - n,
    };
  });
}
