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
 *   pid)` — one row per trial; `status` is `pending | running | done | failed`; `final` is the
 *   `metrics` object of `final.json`; `pid` is the trial process while running.
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
export type TrialStatus = "pending" | "running" | "done" | "failed";

/** Per-status trial counts. */
export interface StatusCounts {
  /** Not started (or reset for a restart). */
  pending: number;
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

const SCHEMA = `
CREATE TABLE IF NOT EXISTS sweeps (
  name TEXT PRIMARY KEY,
  spec TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS trials (
  id TEXT PRIMARY KEY,
  sweep TEXT NOT NULL,
  ord INTEGER NOT NULL,
  config TEXT NOT NULL,
  overrides TEXT NOT NULL,
  seed INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
  final TEXT,
  wall_seconds REAL,
  backend TEXT,
  versions TEXT,
  git_commit TEXT,
  started_at TEXT,
  finished_at TEXT,
  error TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  pid INTEGER
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

/** A trial that was `running` when the previous runner died. */
export interface InterruptedTrial {
  /** Trial id. */
  id: string;
  /** Recorded pid of its process, if it had started. */
  pid: number | null;
}

/**
 * Typed access to the results database for the runner. Single writer; readers may use
 * {@linkcode loadResults} concurrently.
 *
 * @example
 * ```ts
 * import { ResultsStore } from "./store.ts";
 * const store = ResultsStore.open(":memory:");
 * store.counts(); // { pending: 0, running: 0, done: 0, failed: 0, total: 0 }
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
    db.exec("PRAGMA foreign_keys = ON");
    db.exec(SCHEMA);
    return new ResultsStore(db);
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
           started_at = NULL, finished_at = NULL, error = NULL, attempts = 0, pid = NULL
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

  /** Returns trials left `running` by a dead runner and resets them to `pending`. */
  recoverInterrupted(): InterruptedTrial[] {
    return this.tx(() => {
      const rows = this.db.prepare("SELECT id, pid FROM trials WHERE status = 'running'")
        .all() as unknown as InterruptedTrial[];
      this.db.exec("UPDATE trials SET status = 'pending', pid = NULL WHERE status = 'running'");
      return rows.map((r) => ({ id: r.id, pid: r.pid ?? null }));
    });
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
   * Marks a trial running: increments `attempts`, records start time and runner provenance, and
   * clears results and steps of any earlier attempt. Returns the new attempt number.
   */
  markRunning(
    id: string,
    info: { startedAt: string; gitCommit: string | null; versions: Record<string, string> },
  ): number {
    return this.tx(() => {
      this.db.prepare(
        `UPDATE trials SET status = 'running', attempts = attempts + 1, started_at = ?,
           finished_at = NULL, final = NULL, wall_seconds = NULL, backend = NULL, error = NULL,
           git_commit = ?, versions = ?, pid = NULL
         WHERE id = ?`,
      ).run(info.startedAt, info.gitCommit, JSON.stringify(info.versions), id);
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
    },
  ): void {
    this.tx(() => {
      this.db.prepare(
        `UPDATE trials SET status = ?, finished_at = ?, wall_seconds = ?, final = ?, backend = ?,
           versions = ?, error = ?, pid = NULL
         WHERE id = ?`,
      ).run(
        result.status,
        result.finishedAt,
        result.wallSeconds,
        result.final === null ? null : JSON.stringify(result.final),
        result.backend,
        JSON.stringify(result.versions),
        result.error,
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

  /** Puts a running trial back to `pending` (used when the runner is aborted). */
  markPending(id: string): void {
    this.db.prepare("UPDATE trials SET status = 'pending', pid = NULL WHERE id = ?").run(id);
  }

  /** Trial counts per status. */
  counts(): StatusCounts {
    const out: StatusCounts = { pending: 0, running: 0, done: 0, failed: 0, total: 0 };
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
