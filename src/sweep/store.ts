/**
 * The embedded SQLite results database (`<outDir>/results.sqlite`, via `node:sqlite`) written by
 * the sweep runner. WAL mode while open (readers never wait for the writer); every state change
 * is one transaction; back to a rollback journal on close, so a closed database is one file.
 *
 * Schema:
 *
 * - `sweeps(name PK, spec JSON, created_at, updated_at)` — the spec of the sweep in this outDir.
 * - `trials(id PK, sweep, ord, config JSON, overrides JSON, seed, status, final JSON,
 *   wall_seconds, backend, versions JSON, git_commit, started_at, finished_at, error, attempts,
 *   pid, executor, batch, job_id, host)` — one row per trial; `status` is
 *   `pending | queued | running | done | failed` (`queued`: submitted to Slurm, waiting for a
 *   node); `final` is the `metrics` object of `final.json`; `pid` is the local trial process
 *   while running; `executor` (`local` or `slurm`), `batch` (the Slurm job array's name),
 *   `job_id` (`<array job>_<index>`) and `host` (where the last attempt ran) describe the last
 *   attempt.
 * - `steps(trial_id, line, step, metrics JSON)` — `metrics.jsonl` lines, imported when the trial
 *   finishes (PK `(trial_id, line)`).
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import type { Trial } from "./expand.ts";
import { canonicalJson, type JsonObject } from "./json.ts";
import type { StepRecord } from "./protocol.ts";
import type { SweepSpec } from "./spec.ts";

/** Lifecycle state of a trial row. */
export type TrialStatus = "pending" | "queued" | "running" | "done" | "failed";

/**
 * The schema version this code writes (`PRAGMA user_version`).
 *
 * @example
 * ```ts
 * import { ResultsStore, SCHEMA_VERSION } from "./store.ts";
 * const store = ResultsStore.open(":memory:");
 * store.db.prepare("PRAGMA user_version").get(); // { user_version: SCHEMA_VERSION }
 * store.close();
 * ```
 */
export const SCHEMA_VERSION = 2;

/** Per-status trial counts. */
export interface StatusCounts {
  /** Not started (or reset for a restart). */
  pending: number;
  /** Submitted to a scheduler, waiting for a node. */
  queued: number;
  /** Started, not finished. */
  running: number;
  /** Finished successfully. */
  done: number;
  /** Finished with an error. */
  failed: number;
  /** All trials. */
  total: number;
}

/** Thrown when an outDir already holds a sweep whose trials differ from the requested one. */
export class SweepMismatchError extends Error {
  /** Ids in the new spec but not in the database. */
  readonly added: string[];
  /** Ids in the database but not in the new spec. */
  readonly removed: string[];
  /** Ids present in both with a different config. */
  readonly changed: string[];
  /**
   * @param message what differs
   * @param diff the differing trial ids
   */
  constructor(message: string, diff: { added: string[]; removed: string[]; changed: string[] }) {
    super(message);
    this.name = "SweepMismatchError";
    this.added = diff.added;
    this.removed = diff.removed;
    this.changed = diff.changed;
  }
}

const TRIALS_TABLE = (name: string) => `
CREATE TABLE ${name} (
  id TEXT PRIMARY KEY,
  sweep TEXT NOT NULL,
  ord INTEGER NOT NULL,
  config TEXT NOT NULL,
  overrides TEXT NOT NULL,
  seed INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'queued', 'running', 'done', 'failed')),
  final TEXT,
  wall_seconds REAL,
  backend TEXT,
  versions TEXT,
  git_commit TEXT,
  started_at TEXT,
  finished_at TEXT,
  error TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  pid INTEGER,
  executor TEXT CHECK (executor IN ('local', 'slurm')),
  batch TEXT,
  job_id TEXT,
  host TEXT
);`;

/** Columns of version-0 `trials` tables (before executors). */
const V0_COLUMNS = "id, sweep, ord, config, overrides, seed, status, final, wall_seconds, " +
  "backend, versions, git_commit, started_at, finished_at, error, attempts, pid";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS sweeps (
  name TEXT PRIMARY KEY,
  spec TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS steps (
  trial_id TEXT NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
  line INTEGER NOT NULL,
  step REAL NOT NULL,
  metrics TEXT NOT NULL,
  PRIMARY KEY (trial_id, line)
);
CREATE INDEX IF NOT EXISTS steps_by_step ON steps (trial_id, step);
`;

/** Outcome of {@linkcode ResultsStore.syncSweep}. */
export interface SyncResult {
  /** Trials inserted as pending. */
  added: string[];
  /** Trials deleted (only with `force`). */
  removed: string[];
  /** Trials whose config changed and were reset to pending (only with `force`). */
  changed: string[];
}

/** A trial left `queued` or `running` by an earlier runner. */
export interface InFlightTrial {
  /** Trial id. */
  id: string;
  /** Its attempt number. */
  attempts: number;
  /** Recorded pid of its local process, if it had started. */
  pid: number | null;
  /** Executor that started it (`local` for rows of databases before executors). */
  executor: "local" | "slurm";
  /** Slurm batch (job name). */
  batch: string | null;
  /** Slurm job id. */
  jobId: string | null;
}

/**
 * Typed access to the results database for the runner. Single writer; readers may use
 * {@linkcode loadResults} concurrently.
 *
 * @example
 * ```ts
 * import { ResultsStore } from "./store.ts";
 * const store = ResultsStore.open(":memory:");
 * store.counts(); // { pending: 0, queued: 0, running: 0, done: 0, failed: 0, total: 0 }
 * store.close();
 * ```
 */
export class ResultsStore {
  /** The underlying connection. */
  readonly db: DatabaseSync;

  private constructor(db: DatabaseSync) {
    this.db = db;
  }

  /**
   * Opens (creating if needed) a results database, enabling WAL and creating the schema.
   *
   * @param path database file, or `":memory:"`
   */
  static open(path: string): ResultsStore {
    const db = new DatabaseSync(path);
    db.exec("PRAGMA busy_timeout = 5000");
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = NORMAL");
    // Off during a migration: dropping the old trials table must not cascade to the steps.
    db.exec("PRAGMA foreign_keys = OFF");
    const store = new ResultsStore(db);
    store.tx(() => {
      const version = (db.prepare("PRAGMA user_version").get() as { user_version: number })
        .user_version;
      if (version > SCHEMA_VERSION) {
        throw new Error(
          `Expected a results database of schema version <= ${SCHEMA_VERSION} in "${path}", ` +
            `found version ${version} (written by newer code)`,
        );
      }
      const hasTrials = db.prepare(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'trials'",
      ).get() !== undefined;
      if (!hasTrials) db.exec(TRIALS_TABLE("trials"));
      else if (version < 2) {
        // Version 0 → 2: a new status (a CHECK constraint: the table is rebuilt) and columns.
        db.exec(TRIALS_TABLE("trials_v2"));
        db.exec(
          `INSERT INTO trials_v2 (${V0_COLUMNS}, executor)
           SELECT ${V0_COLUMNS}, CASE WHEN attempts > 0 THEN 'local' END FROM trials`,
        );
        db.exec("DROP TABLE trials");
        db.exec("ALTER TABLE trials_v2 RENAME TO trials");
      }
      db.exec(SCHEMA);
      if (version !== SCHEMA_VERSION) db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    });
    db.exec("PRAGMA foreign_keys = ON");
    return store;
  }

  /**
   * Closes the connection, first switching the database back to a rollback journal
   * (`journal_mode = DELETE`: the WAL is checkpointed into the file and the `-wal` and `-shm`
   * files are removed), so a closed database is the one file that gets committed or copied.
   * When a reader still has it open past the busy timeout, it stays in WAL mode (still valid;
   * the next close switches it).
   */
  close(): void {
    try {
      this.db.exec("PRAGMA journal_mode = DELETE");
    } catch {
      // A concurrent reader holds the database: WAL stays, nothing is lost.
    }
    this.db.close();
  }

  /**
   * Runs `fn` inside `BEGIN IMMEDIATE … COMMIT`, rolling back if it throws.
   *
   * @param fn the work to do atomically
   */
  tx<T>(fn: () => T): T {
    this.db.exec("BEGIN IMMEDIATE");
    try {
      const out = fn();
      this.db.exec("COMMIT");
      return out;
    } catch (e) {
      this.db.exec("ROLLBACK");
      throw e;
    }
  }

  /**
   * Records `spec` and inserts its trials. If the database already holds trials, they must match
   * the new expansion (same ids, same configs, same sweep name); otherwise a
   * {@linkcode SweepMismatchError} is thrown, unless `force`, in which case removed trials are
   * deleted and changed ones reset to pending. Unchanged trials keep their state.
   *
   * @param spec the sweep spec
   * @param trials its expansion
   * @param options `force` to overwrite a different sweep
   */
  syncSweep(spec: SweepSpec, trials: Trial[], options: { force?: boolean } = {}): SyncResult {
    return this.tx(() => {
      const existing = new Map<string, { config: string; sweep: string }>();
      for (
        const row of this.db.prepare("SELECT id, config, sweep FROM trials").all() as {
          id: string;
          config: string;
          sweep: string;
        }[]
      ) existing.set(row.id, row);
      const wanted = new Map(trials.map((t) => [t.id, t]));
      const added = trials.filter((t) => !existing.has(t.id)).map((t) => t.id);
      const removed = [...existing.keys()].filter((id) => !wanted.has(id));
      const changed = trials.filter((t) => {
        const old = existing.get(t.id);
        return old !== undefined &&
          (canonicalJson(JSON.parse(old.config)) !== canonicalJson(t.config) ||
            old.sweep !== spec.name);
      }).map((t) => t.id);
      if (existing.size > 0 && (added.length || removed.length || changed.length)) {
        if (!options.force) {
          const oldNames = [...new Set([...existing.values()].map((r) => r.sweep))].join(", ");
          throw new SweepMismatchError(
            `The output directory already holds sweep "${oldNames}" with different trials than ` +
              `sweep "${spec.name}": ${added.length} new, ${removed.length} missing, ` +
              `${changed.length} with a changed config (e.g. ${
                [...added, ...removed, ...changed].slice(0, 3).join(", ")
              }). Use another outDir, or force to replace them.`,
            { added, removed, changed },
          );
        }
      }
      const del = this.db.prepare("DELETE FROM trials WHERE id = ?");
      for (const id of removed) del.run(id);
      const reset = this.db.prepare(
        `UPDATE trials SET sweep = ?, config = ?, overrides = ?, seed = ?, status = 'pending',
           final = NULL, wall_seconds = NULL, backend = NULL, versions = NULL, git_commit = NULL,
           started_at = NULL, finished_at = NULL, error = NULL, attempts = 0, pid = NULL,
           executor = NULL, batch = NULL, job_id = NULL, host = NULL
         WHERE id = ?`,
      );
      const delSteps = this.db.prepare("DELETE FROM steps WHERE trial_id = ?");
      for (const id of changed) {
        const t = wanted.get(id)!;
        reset.run(spec.name, JSON.stringify(t.config), JSON.stringify(t.overrides), t.seed, id);
        delSteps.run(id);
      }
      const ins = this.db.prepare(
        `INSERT INTO trials (id, sweep, ord, config, overrides, seed, status, attempts)
         VALUES (?, ?, ?, ?, ?, ?, 'pending', 0)`,
      );
      const addedSet = new Set(added);
      const ord = this.db.prepare("UPDATE trials SET ord = ? WHERE id = ?");
      for (const t of trials) {
        if (addedSet.has(t.id)) {
          ins.run(
            t.id,
            spec.name,
            t.index,
            JSON.stringify(t.config),
            JSON.stringify(t.overrides),
            t.seed,
          );
        } else ord.run(t.index, t.id);
      }
      const now = new Date().toISOString();
      const prev = this.db.prepare("SELECT created_at FROM sweeps LIMIT 1").get() as
        | { created_at: string }
        | undefined;
      this.db.exec("DELETE FROM sweeps");
      this.db.prepare("INSERT INTO sweeps (name, spec, created_at, updated_at) VALUES (?, ?, ?, ?)")
        .run(spec.name, JSON.stringify(spec), prev?.created_at ?? now, now);
      return { added, removed: options.force ? removed : [], changed };
    });
  }

  /** Trials left `queued` or `running` by an earlier runner, in sweep order. */
  inFlightTrials(): InFlightTrial[] {
    const rows = this.db.prepare(
      `SELECT id, attempts, pid, executor, batch, job_id FROM trials
       WHERE status IN ('queued', 'running') ORDER BY ord`,
    ).all() as {
      id: string;
      attempts: number;
      pid: number | null;
      executor: "local" | "slurm" | null;
      batch: string | null;
      job_id: string | null;
    }[];
    return rows.map((r) => ({
      id: r.id,
      attempts: r.attempts,
      pid: r.pid ?? null,
      executor: r.executor ?? "local",
      batch: r.batch,
      jobId: r.job_id,
    }));
  }

  /** Resets every `failed` trial to `pending`; returns how many. */
  resetFailed(): number {
    return this.tx(() => {
      const n = this.db.prepare("SELECT COUNT(*) AS n FROM trials WHERE status = 'failed'")
        .get() as { n: number };
      this.db.exec("UPDATE trials SET status = 'pending' WHERE status = 'failed'");
      return n.n;
    });
  }

  /** Ids of `pending` trials, in sweep order, with their config and seed. */
  pendingTrials(): { id: string; config: JsonObject; seed: number }[] {
    const rows = this.db.prepare(
      "SELECT id, config, seed FROM trials WHERE status = 'pending' ORDER BY ord",
    ).all() as { id: string; config: string; seed: number }[];
    return rows.map((r) => ({ id: r.id, config: JSON.parse(r.config), seed: r.seed }));
  }

  /**
   * Marks a trial started: increments `attempts`, records start time, runner provenance and the
   * executor (`status`: `running` by default, `queued` for a scheduler; `batch`: the Slurm job
   * array), and clears results, job id, host and steps of any earlier attempt. Returns the new
   * attempt number.
   */
  markRunning(
    id: string,
    info: {
      startedAt: string;
      gitCommit: string | null;
      versions: Record<string, string>;
      status?: "queued" | "running";
      executor?: "local" | "slurm";
      batch?: string | null;
      host?: string | null;
    },
  ): number {
    return this.tx(() => {
      this.db.prepare(
        `UPDATE trials SET status = ?, attempts = attempts + 1, started_at = ?,
           finished_at = NULL, final = NULL, wall_seconds = NULL, backend = NULL, error = NULL,
           git_commit = ?, versions = ?, pid = NULL, executor = ?, batch = ?, job_id = NULL,
           host = ?
         WHERE id = ?`,
      ).run(
        info.status ?? "running",
        info.startedAt,
        info.gitCommit,
        JSON.stringify(info.versions),
        info.executor ?? "local",
        info.batch ?? null,
        info.host ?? null,
        id,
      );
      this.db.prepare("DELETE FROM steps WHERE trial_id = ?").run(id);
      const row = this.db.prepare("SELECT attempts FROM trials WHERE id = ?").get(id) as
        | { attempts: number }
        | undefined;
      if (row === undefined) throw new Error(`Expected trial "${id}" in the database, found none`);
      return row.attempts;
    });
  }

  /** Records the pid of a running trial's process. */
  setPid(id: string, pid: number): void {
    this.db.prepare("UPDATE trials SET pid = ? WHERE id = ?").run(pid, id);
  }

  /**
   * Records what the scheduler says of a started trial: its job id, its state (`queued` or
   * `running`) and, once running, its host.
   */
  setJob(
    id: string,
    job: { status: "queued" | "running"; jobId?: string | null; host?: string | null },
  ): void {
    this.db.prepare(
      `UPDATE trials SET status = ?, job_id = COALESCE(?, job_id), host = COALESCE(?, host)
       WHERE id = ? AND status IN ('queued', 'running')`,
    ).run(job.status, job.jobId ?? null, job.host ?? null, id);
  }

  /** Records a finished trial (done or failed) and its steps, in one transaction. */
  markFinished(
    id: string,
    result: {
      status: "done" | "failed";
      finishedAt: string;
      wallSeconds: number;
      final: JsonObject | null;
      backend: string | null;
      versions: Record<string, string>;
      error: string | null;
      steps: StepRecord[];
      host?: string | null;
    },
  ): void {
    this.tx(() => {
      this.db.prepare(
        `UPDATE trials SET status = ?, finished_at = ?, wall_seconds = ?, final = ?, backend = ?,
           versions = ?, error = ?, pid = NULL, host = COALESCE(?, host)
         WHERE id = ?`,
      ).run(
        result.status,
        result.finishedAt,
        result.wallSeconds,
        result.final === null ? null : JSON.stringify(result.final),
        result.backend,
        JSON.stringify(result.versions),
        result.error,
        result.host ?? null,
        id,
      );
      const del = this.db.prepare("DELETE FROM steps WHERE trial_id = ?");
      del.run(id);
      const ins = this.db.prepare(
        "INSERT INTO steps (trial_id, line, step, metrics) VALUES (?, ?, ?, ?)",
      );
      result.steps.forEach((s, i) => ins.run(id, i, s.step, JSON.stringify(s.metrics)));
    });
  }

  /** Puts a started trial back to `pending` (aborted, or lost: it will run again). */
  markPending(id: string): void {
    this.db.prepare("UPDATE trials SET status = 'pending', pid = NULL, job_id = NULL WHERE id = ?")
      .run(id);
  }

  /** Trial counts per status. */
  counts(): StatusCounts {
    const out: StatusCounts = { pending: 0, queued: 0, running: 0, done: 0, failed: 0, total: 0 };
    const rows = this.db.prepare("SELECT status, COUNT(*) AS n FROM trials GROUP BY status")
      .all() as { status: TrialStatus; n: number }[];
    for (const r of rows) {
      out[r.status] = r.n;
      out.total += r.n;
    }
    return out;
  }

  /** Mean `wall_seconds` over finished trials (done or failed), or null if none finished. */
  meanWallSeconds(): number | null {
    const row = this.db.prepare(
      "SELECT AVG(wall_seconds) AS m FROM trials WHERE status IN ('done', 'failed') AND wall_seconds IS NOT NULL",
    ).get() as { m: number | null };
    return row.m;
  }
}
