/**
 * Executors: how the sweep runner gets a trial command run. The runner owns the schedule and the
 * results database; an executor only starts tasks (`submit`), reports what happened to them
 * (`poll`), stops them (`cancel`) and finds tasks of an earlier, killed runner again
 * (`reattach`). Two exist: `local` (subprocesses of the runner, `local.ts`) and `slurm` (job
 * arrays, `slurm.ts`).
 *
 * Whatever the executor, a task ends with an {@linkcode ExitRecord} (how the trial process
 * ended), and the runner reads the trial folder (`final.json`, `metrics.jsonl`) to record the
 * result: the same code decides done or failed for both.
 *
 * @module
 */

import { z } from "../deps/zod.ts";
import { describeValue, isPlainObject } from "./json.ts";

/** Options of the Slurm executor (plain data: a sweep spec may hold them). */
export interface SlurmExecutorSpec {
  /** `"slurm"`. */
  kind: "slurm";
  /** `sbatch --partition`. Default: the cluster's default partition. */
  partition?: string;
  /**
   * `sbatch --time` in minutes: the limit of one trial; Slurm kills a trial over it and the
   * runner records it failed (`killed by Slurm: TIMEOUT`). Default: the runner's
   * `trialTimeoutSeconds` rounded up to minutes, else the partition's limit.
   */
  timeMinutes?: number;
  /** `sbatch --cpus-per-task`; also each trial's OpenBLAS threads. Default 1. */
  cpusPerTask?: number;
  /** More `sbatch` arguments, passed as they are (e.g. `["--mem=4G", "--qos=short"]`). */
  args?: string[];
  /** Seconds between two looks at the queue (`squeue`). Default 2. */
  pollSeconds?: number;
}

/** Which executor runs the trials of a sweep: subprocesses here, or a Slurm cluster. */
export type ExecutorSpec = { kind: "local" } | SlurmExecutorSpec;

/** The executors' names. */
export type ExecutorKind = ExecutorSpec["kind"];

const posInt = (what: string) =>
  z.number({ error: `expected ${what} to be a positive integer` }).int({
    error: `expected ${what} to be a positive integer`,
  }).positive({ error: `expected ${what} to be a positive integer` });

/** {@linkcode ExecutorSpec}'s schema (the `executor` field of a sweep spec). */
export const ExecutorSpecSchema: z.ZodType<ExecutorSpec, ExecutorSpec> = z.discriminatedUnion(
  "kind",
  [
    z.strictObject({ kind: z.literal("local") }),
    z.strictObject({
      kind: z.literal("slurm"),
      partition: z.string().regex(/^[^\s,]+$/, {
        error: "expected {path} to be a partition name (no spaces or commas)",
      }).optional(),
      timeMinutes: posInt("{path}").optional(),
      cpusPerTask: posInt("{path}").optional(),
      args: z.array(z.string()).optional(),
      pollSeconds: z.number().positive({ error: "expected {path} to be > 0" }).optional(),
    }),
  ],
  { error: 'expected {path} to be {"kind": "local"} or {"kind": "slurm", ...}' },
) as z.ZodType<ExecutorSpec, ExecutorSpec>;

/** A trial process to start: the command with its full environment additions. */
export interface ExecutorTask {
  /** Trial id. */
  id: string;
  /** Attempt number (1 for the first start). */
  attempt: number;
  /** Absolute trial folder (prepared: `config.json` written). */
  trialDir: string;
  /** Executable. */
  cmd: string;
  /** Arguments. */
  args: string[];
  /** Environment added to the executor's (the `SWEEP_TRIAL_*` variables included). */
  env: Record<string, string>;
  /** Working directory (default: the runner's). */
  cwd?: string;
}

/** A task of an earlier runner, as recorded in the results database. */
export interface RecordedTask {
  /** Trial id. */
  id: string;
  /** Attempt number recorded. */
  attempt: number;
  /** Absolute trial folder. */
  trialDir: string;
  /** Executor that started it. */
  executor: ExecutorKind;
  /** Process id (local). */
  pid: number | null;
  /** Slurm job id (`<array job>_<index>`), null if the submission was not confirmed. */
  jobId: string | null;
  /** Slurm batch (job name and task table) the task was submitted in. */
  batch: string | null;
}

/**
 * How a trial process ended, as the executor saw it. Under Slurm the array task writes it as
 * `<trialDir>/exit.json` (atomically) and the runner reads it.
 */
export interface ExitRecord {
  /** Trial id. */
  id: string;
  /** Attempt this record belongs to. */
  attempt: number;
  /** Exit code (null when the process never started). */
  code: number | null;
  /** Signal that ended it, or null. */
  signal: string | null;
  /** Host the process ran on. */
  host: string | null;
  /** ISO start time. */
  startedAt: string;
  /** ISO end time. */
  finishedAt: string;
  /** Seconds between start and end. */
  wallSeconds: number;
  /** The process was stopped at the runner's time limit after this many seconds. */
  timedOutSeconds?: number;
  /** Who killed it when not the trial itself (e.g. `Slurm: TIMEOUT (TimeLimit)`). */
  killedBy?: string;
  /** Why the process could not be started. */
  startError?: string;
}

/**
 * Parses and checks the text of an exit record (`exit.json`).
 *
 * @example
 * ```ts
 * import { parseExitRecord } from "./executor.ts";
 * const r = parseExitRecord(JSON.stringify({
 *   id: "a", attempt: 1, code: 0, signal: null, host: "n1",
 *   startedAt: "2026-01-01T00:00:00Z", finishedAt: "2026-01-01T00:00:02Z", wallSeconds: 2,
 * }));
 * r.host; // "n1"
 * ```
 */
export function parseExitRecord(text: string): ExitRecord {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new Error(
      `Expected an exit record to be JSON, found a parse error: ${(e as Error).message}`,
    );
  }
  const bad = (what: string, v: unknown) =>
    new Error(`Expected exit record field ${what}, found ${describeValue(v)}`);
  if (!isPlainObject(data)) throw bad("s in an object", data);
  const d = data as Record<string, unknown>;
  if (typeof d.id !== "string") throw bad('"id" to be a string', d.id);
  if (!Number.isInteger(d.attempt)) throw bad('"attempt" to be an integer', d.attempt);
  if (d.code !== null && !Number.isInteger(d.code)) throw bad('"code" to be an integer', d.code);
  if (d.signal !== null && typeof d.signal !== "string") throw bad('"signal"', d.signal);
  if (d.host !== null && typeof d.host !== "string") throw bad('"host"', d.host);
  for (const k of ["startedAt", "finishedAt"]) {
    if (typeof d[k] !== "string" || Number.isNaN(Date.parse(d[k] as string))) {
      throw bad(`"${k}" to be an ISO time`, d[k]);
    }
  }
  if (typeof d.wallSeconds !== "number" || !(d.wallSeconds >= 0)) {
    throw bad('"wallSeconds" to be a number >= 0', d.wallSeconds);
  }
  return data as unknown as ExitRecord;
}

/** What an executor reports about a task. */
export type TaskUpdate =
  | {
    /** Accepted by the scheduler, waiting for a node. */
    type: "queued";
    /** Trial id. */
    id: string;
    /** Scheduler job id. */
    jobId: string;
  }
  | {
    /** The trial process runs. */
    type: "running";
    /** Trial id. */
    id: string;
    /** Host it runs on. */
    host: string | null;
    /** Local process id. */
    pid?: number;
    /** Scheduler job id. */
    jobId?: string;
  }
  | {
    /** The trial process ended; the runner reads the trial folder. */
    type: "exited";
    /** Trial id. */
    id: string;
    /** How it ended. */
    exit: ExitRecord;
  }
  | {
    /** Gone without a trace (no exit record, unknown to the scheduler): to run again. */
    type: "lost";
    /** Trial id. */
    id: string;
    /** What was found. */
    reason: string;
    /** A process of it was still alive and was killed first. */
    orphanKilled?: boolean;
  }
  | {
    /** Stopped by {@linkcode Executor.cancel}: back to pending. */
    type: "cancelled";
    /** Trial id. */
    id: string;
  };

/**
 * The small interface between the sweep runner and where trials run.
 *
 * @example
 * ```ts
 * import type { Executor } from "./executor.ts";
 * async function drain(ex: Executor): Promise<number> {
 *   let n = 0;
 *   while (ex.inFlight() > 0) n += (await ex.poll(new AbortController().signal)).length;
 *   return n;
 * }
 * ```
 */
export interface Executor {
  /** Which executor this is. */
  readonly kind: ExecutorKind;
  /** Trials that run side by side (for the ETA). */
  readonly concurrency: number;
  /** Tasks the runner may hand over at once (local: the concurrency; Slurm: all). */
  readonly capacity: number;
  /** OpenBLAS threads each trial gets (`COCA_BLAS_THREADS`). */
  readonly blasThreads: number;
  /** Tasks submitted and not yet reported exited, lost or cancelled. */
  inFlight(): number;
  /**
   * Starts (or queues) tasks; returns the first updates (queued with job ids, or running).
   * `batch` names the submission (Slurm: the job array's name and task table; the runner
   * records it before submitting, so that a runner killed meanwhile finds the tasks again).
   */
  submit(tasks: ExecutorTask[], batch: string): Promise<TaskUpdate[]>;
  /**
   * Takes over tasks of an earlier runner: still queued or running ones are followed like
   * submitted ones; the returned updates say which finished meanwhile or were lost.
   */
  reattach(tasks: RecordedTask[]): Promise<TaskUpdate[]>;
  /** Waits for news (or the poll interval, or `signal`) and returns it. */
  poll(signal: AbortSignal): Promise<TaskUpdate[]>;
  /** Stops every task in flight; returns their last updates (cancelled, or exited meanwhile). */
  cancel(): Promise<TaskUpdate[]>;
}

/**
 * This machine's name: `Deno.hostname()` (needs `--allow-sys`), else
 * `/proc/sys/kernel/hostname` (Deno reads it only with `--allow-all`), else `/etc/hostname`
 * (`--allow-read`), else null.
 *
 * @example
 * ```ts
 * import { hostName } from "./executor.ts";
 * console.log(hostName());
 * ```
 */
export function hostName(): string | null {
  try {
    return Deno.hostname();
  } catch { /* no --allow-sys */ }
  for (const path of ["/proc/sys/kernel/hostname", "/etc/hostname"]) {
    try {
      const h = Deno.readTextFileSync(path).trim();
      if (h) return h;
    } catch { /* not readable here */ }
  }
  return null;
}
