/**
 * The sweep runner: expands a spec, has an executor run every trial (subprocesses here, in order
 * or several at once, or Slurm job arrays), records everything in `<outDir>/results.sqlite` (the
 * runner is its only writer) and survives being killed.
 *
 * @module
 */

import { join, resolve } from "node:path";
import { parseConfig } from "../schema/format.ts";
import {
  type Executor,
  type ExecutorKind,
  type ExecutorSpec,
  ExecutorSpecSchema,
  type ExecutorTask,
  type ExitRecord,
  type TaskUpdate,
} from "./executor.ts";
import { expandSweep, type Trial } from "./expand.ts";
import type { JsonObject } from "./json.ts";
import { LocalExecutor } from "./local.ts";
import { estimateEta, type ProgressEvent, type SweepProgress } from "./progress.ts";
import {
  parseFinal,
  parseMetricsJsonl,
  type StepRecord,
  TRIAL_ENV,
  TRIAL_FILES,
  type TrialFinal,
  writeTextAtomic,
} from "./protocol.ts";
import { SlurmExecutor } from "./slurm.ts";
import type { SweepSpec } from "./spec.ts";
import { ResultsStore } from "./store.ts";

/** Name of the results database inside `outDir`. */
export const RESULTS_DB = "results.sqlite";

/**
 * The permissions a trial gets (`deno run FLAGS entry ...`): those of `deno task train` (read the
 * config and data, write the trial folder, read `COCA_BACKEND`, load OpenBLAS for blas), nothing
 * more; `tests/permissions_test.ts` checks that the train task in `deno.json` uses the same.
 *
 * @example
 * ```ts
 * import { TRIAL_PERMISSIONS } from "./run.ts";
 * const args = ["run", ...TRIAL_PERMISSIONS, "src/cli/train.ts", "--config", "trial.json"];
 * ```
 */
export const TRIAL_PERMISSIONS: readonly string[] = [
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-ffi",
];

/**
 * The environment variable through which the runner gives each trial its OpenBLAS thread count
 * (the blas backend reads it: `src/backends/blas/openblas.ts`).
 */
export const TRIAL_BLAS_THREADS_ENV = "COCA_BLAS_THREADS";

/**
 * OpenBLAS threads per trial when `concurrency` trials share `cpus` CPUs: `cpus / concurrency`
 * rounded down, at least 1, so that parallel trials do not oversubscribe the cores.
 *
 * @example
 * ```ts
 * import { trialBlasThreads } from "./run.ts";
 * console.log(trialBlasThreads(8, 3)); // 2
 * console.log(trialBlasThreads(2, 4)); // 1
 * ```
 */
export function trialBlasThreads(cpus: number, concurrency: number): number {
  return Math.max(1, Math.floor(cpus / Math.max(1, concurrency)));
}

/**
 * CPUs this process may run on: `Cpus_allowed_list` of `/proc/self/status`, else
 * `navigator.hardwareConcurrency` (Deno lets only `-A` read `/proc/self/status`). (The blas
 * backend's `allowedCpuCount` does the same; the sweep layer may not import the backends.)
 */
function allowedCpus(): number {
  try {
    const m = /^Cpus_allowed_list:\s*(\S+)\s*$/m.exec(Deno.readTextFileSync("/proc/self/status"));
    if (m) {
      let n = 0;
      for (const part of m[1].split(",")) {
        const [a, b = a] = part.split("-").map(Number);
        n += b - a + 1;
      }
      if (Number.isInteger(n) && n > 0) return n;
    }
  } catch {
    // not Linux, or no read access to /proc
  }
  return Math.max(1, navigator.hardwareConcurrency || 1);
}

/** What the runner knows about a trial when building its command. */
export interface TrialContext {
  /** Trial id (also the directory name under `<outDir>/trials/`). */
  id: string;
  /** Trial seed. */
  seed: number;
  /** Full trial config (also written to `configPath`). */
  config: JsonObject;
  /** Absolute trial directory (fresh and empty except for `config.json`). */
  trialDir: string;
  /** Absolute path of `config.json`. */
  configPath: string;
  /** 1 for the first attempt, incremented on every restart. */
  attempt: number;
}

/** A subprocess to start for a trial. */
export interface TrialCommand {
  /** Executable. */
  cmd: string;
  /** Arguments. */
  args: string[];
  /**
   * Extra environment variables (the `SWEEP_TRIAL_*` ones are always added, and
   * `COCA_BLAS_THREADS` unless set here or in the runner's environment).
   */
  env?: Record<string, string>;
  /** Working directory (default: the runner's). */
  cwd?: string;
}

/** Options of {@linkcode runSweep}. */
export interface RunSweepOptions {
  /** The sweep to run. */
  spec: SweepSpec;
  /** Output directory: `results.sqlite` and `trials/<id>/`. Created if missing. */
  outDir: string;
  /**
   * Builds the trial command. Default: `deno run <TRIAL_PERMISSIONS> <entry> --config <cfg> --out
   * <dir>` (the trial inherits the runner's environment, `COCA_BACKEND` included).
   */
  command?: (trial: TrialContext) => TrialCommand;
  /** Trial script for the default command (required when `command` is absent). */
  entry?: string;
  /**
   * Where the trials run (default: the spec's `executor`, else local subprocesses). With
   * `{kind: "slurm", ...}` every batch of pending trials is one job array; `outDir` must then be
   * on storage the nodes share, and `results.sqlite` stays the runner's alone.
   */
  executor?: ExecutorSpec;
  /**
   * Trials run at once, 1..256. Default 1 (in sweep order). Under Slurm: the array throttle
   * (`--array=0-N%concurrency`).
   */
  concurrency?: number;
  /**
   * CPUs the trials share, for each trial's OpenBLAS threads (`COCA_BLAS_THREADS` =
   * {@linkcode trialBlasThreads}`(cpus, concurrency)`, unless the runner's environment or the
   * trial command sets it). Default: the CPUs this process may use (its affinity). Under Slurm
   * each trial gets its `cpusPerTask` instead.
   */
  cpus?: number;
  /** Called after every state change; an exception stops the sweep and is rethrown. */
  onProgress?: (progress: SweepProgress) => void;
  /** Run trials recorded as failed again. Default false. */
  retryFailed?: boolean;
  /** Replace an existing sweep in `outDir` whose trials differ. Default false. */
  force?: boolean;
  /**
   * Kill a trial after this many seconds and record it failed. Default: no limit. Under Slurm:
   * `--time` in minutes, rounded up (unless the executor sets `timeMinutes`).
   */
  trialTimeoutSeconds?: number;
  /** Backend recorded when the trial's `final.json` names none. */
  backend?: string;
  /** Extra versions to record (e.g. `{ tfjs: "4.22.0" }`); `deno`, `v8`, `typescript` are added. */
  versions?: Record<string, string>;
  /** Commit to record; default `git rev-parse HEAD` in the current directory (null if unavailable). */
  gitCommit?: string | null;
  /**
   * Aborting stops scheduling, kills running trials (`scancel` under Slurm) and puts them back
   * to pending.
   */
  signal?: AbortSignal;
}

/** What a {@linkcode runSweep} call did. */
export interface SweepSummary {
  /** Sweep name. */
  sweep: string;
  /** Path of the results database. */
  dbPath: string;
  /** Trials in the sweep. */
  total: number;
  /** Trials done (including earlier runs). */
  done: number;
  /** Trials failed. */
  failed: number;
  /** Trials still pending (only non-zero when aborted). */
  pending: number;
  /** Trials started by this call. */
  started: number;
  /** The executor that ran the trials. */
  executor: ExecutorKind;
  /** Trials found `queued` or `running` from a dead runner. */
  recovered: number;
  /**
   * Of those, trials followed again (still queued or running under Slurm, or finished meanwhile
   * and recorded from their exit record) instead of being started again.
   */
  reattached: number;
  /** Trials lost (gone without an exit record) and started again, here or after a restart. */
  lost: number;
  /** Orphaned trial processes of a dead runner that were killed. */
  orphansKilled: number;
  /** True when stopped by `signal`. */
  aborted: boolean;
  /** Seconds this call took. */
  wallSeconds: number;
}

const STDERR_TAIL_CHARS = 4000;

/**
 * Runs a sweep. Safe to call again on the same `outDir` after a crash or SIGKILL: done and failed
 * trials are kept; trials left `running` by local subprocesses are restarted from a wiped
 * directory (their orphaned process, if still alive, is killed first) with `attempts`
 * incremented; trials left `queued` or `running` under Slurm are followed again (their job ids
 * are in the database), those that finished meanwhile are recorded from their exit records, and
 * only those Slurm no longer knows are submitted again. A failing trial is recorded with its
 * stderr tail and the sweep goes on. A second runner on the same `outDir` is refused (an OS
 * file lock on `<outDir>/.runner.lock`, released even on SIGKILL).
 *
 * See `protocol.ts` for the files a trial reads and writes, `executor.ts` for the executors, and
 * `store.ts` for the schema.
 *
 * @example
 * ```ts
 * import { runSweep } from "./run.ts";
 * const summary = await runSweep({
 *   spec: { name: "lr", base: { lr: 1e-3 }, grid: { lr: [1e-3, 3e-4] }, seeds: [0, 1] },
 *   outDir: "runs/lr",
 *   entry: "src/cli/train.ts",
 *   concurrency: 2,
 *   onProgress: (p) => console.log(p.done, "/", p.total),
 * });
 * ```
 */
export async function runSweep(options: RunSweepOptions): Promise<SweepSummary> {
  const t0 = performance.now();
  const concurrency = options.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) {
    throw new RangeError(`Expected concurrency to be an integer in 1..256, found ${concurrency}`);
  }
  const timeout = options.trialTimeoutSeconds;
  if (timeout !== undefined && !(timeout > 0)) {
    throw new RangeError(`Expected trialTimeoutSeconds > 0, found ${timeout}`);
  }
  const execSpec: ExecutorSpec = parseConfig(
    ExecutorSpecSchema,
    options.executor ?? options.spec.executor ?? { kind: "local" },
    {
      what: "the executor",
      prefix: "executor.",
      error: (m) => new TypeError(`Invalid executor: ${m}`),
    },
  );
  let command = options.command;
  if (command === undefined) {
    if (typeof options.entry !== "string" || options.entry === "") {
      throw new TypeError(
        `Expected either "command" or "entry" in runSweep options, found neither`,
      );
    }
    const entry = resolve(options.entry);
    command = (t) => ({
      cmd: Deno.execPath(),
      args: ["run", ...TRIAL_PERMISSIONS, entry, "--config", t.configPath, "--out", t.trialDir],
    });
  }
  const trials = expandSweep(options.spec);
  const trialById = new Map(trials.map((t) => [t.id, t]));

  await Deno.mkdir(join(options.outDir, "trials"), { recursive: true });
  const outDir = await Deno.realPath(options.outDir);
  const localExecutor = (c: number) =>
    new LocalExecutor({
      concurrency: c,
      blasThreads: trialBlasThreads(options.cpus ?? allowedCpus(), c),
      timeoutSeconds: timeout,
    });
  const executor: Executor = execSpec.kind === "slurm"
    ? new SlurmExecutor({ spec: execSpec, concurrency, outDir, timeoutSeconds: timeout })
    : localExecutor(concurrency);
  let runnerBlasThreads: string | undefined;
  try {
    runnerBlasThreads = Deno.env.get(TRIAL_BLAS_THREADS_ENV) || undefined;
  } catch {
    runnerBlasThreads = undefined; // no --allow-env: the trials get the computed value
  }
  // A value chosen by hand (in the runner's environment) is inherited unchanged.
  const trialEnv: Record<string, string> = runnerBlasThreads === undefined
    ? { [TRIAL_BLAS_THREADS_ENV]: String(executor.blasThreads) }
    : {};

  const lock = await Deno.open(join(outDir, ".runner.lock"), { create: true, write: true });
  if (!(await lock.tryLock(true))) {
    lock.close();
    throw new Error(
      `Expected no other runner on "${outDir}", found its lock held (another runSweep is active)`,
    );
  }
  const dbPath = join(outDir, RESULTS_DB);
  let store: ResultsStore;
  try {
    store = ResultsStore.open(dbPath);
  } catch (e) {
    lock.close();
    throw e;
  }
  const trialDirOf = (id: string) => join(outDir, "trials", id);

  const ctl = new AbortController();
  const onUserAbort = () => ctl.abort(options.signal?.reason);
  if (options.signal?.aborted) ctl.abort(options.signal.reason);
  options.signal?.addEventListener("abort", onUserAbort);
  let progressError: unknown = undefined;

  const running = new Set<string>();
  const attempts = new Map<string, number>();
  let started = 0;
  let lost = 0;
  let orphansKilled = 0;
  const emit = (event: ProgressEvent) => {
    if (!options.onProgress || progressError !== undefined) return;
    const c = store.counts();
    const mean = store.meanWallSeconds();
    try {
      options.onProgress({
        sweep: options.spec.name,
        total: c.total,
        done: c.done,
        failed: c.failed,
        queued: c.queued,
        running: c.running,
        pending: c.pending,
        runningIds: [...running],
        elapsedSeconds: (performance.now() - t0) / 1000,
        meanTrialSeconds: mean,
        etaSeconds: estimateEta({
          pending: c.pending + c.queued,
          running: c.running,
          meanTrialSeconds: mean,
          concurrency: executor.concurrency,
        }),
        event,
      });
    } catch (e) {
      progressError = e;
      ctl.abort(e);
    }
  };

  const queue: Trial[] = [];
  let baseVersions: Record<string, string> = {};
  const recordExit = async (id: string, exit: ExitRecord) => {
    running.delete(id);
    const outcome = await trialOutcome(trialDirOf(id), exit);
    const finishedAt = new Date().toISOString();
    if (outcome.kind === "done") {
      store.markFinished(id, {
        status: "done",
        finishedAt,
        wallSeconds: exit.wallSeconds,
        final: outcome.final.metrics,
        backend: outcome.final.backend ?? options.backend ?? null,
        versions: { ...baseVersions, ...outcome.final.versions },
        error: null,
        steps: outcome.steps,
        host: exit.host,
      });
      emit({ type: "trial-done", trialId: id, wallSeconds: exit.wallSeconds });
    } else {
      store.markFinished(id, {
        status: "failed",
        finishedAt,
        wallSeconds: exit.wallSeconds,
        final: null,
        backend: options.backend ?? null,
        versions: baseVersions,
        error: outcome.error,
        steps: outcome.steps,
        host: exit.host,
      });
      emit({
        type: "trial-failed",
        trialId: id,
        wallSeconds: exit.wallSeconds,
        error: outcome.error,
      });
    }
  };
  const apply = async (u: TaskUpdate) => {
    switch (u.type) {
      case "queued":
        running.delete(u.id);
        store.setJob(u.id, { status: "queued", jobId: u.jobId });
        emit({
          type: "trial-queued",
          trialId: u.id,
          attempt: attempts.get(u.id) ?? 0,
          jobId: u.jobId,
        });
        return;
      case "running":
        if (u.pid !== undefined) store.setPid(u.id, u.pid);
        store.setJob(u.id, { status: "running", jobId: u.jobId, host: u.host });
        // A local trial's start was announced when it was handed over.
        if (executor.kind !== "local") {
          running.add(u.id);
          emit({
            type: "trial-start",
            trialId: u.id,
            attempt: attempts.get(u.id) ?? 0,
            host: u.host,
          });
        }
        return;
      case "exited":
        await recordExit(u.id, u.exit);
        return;
      case "lost":
        running.delete(u.id);
        store.markPending(u.id);
        lost++;
        if (u.orphanKilled) orphansKilled++;
        if (trialById.has(u.id)) queue.push(trialById.get(u.id)!);
        emit({ type: "trial-lost", trialId: u.id, reason: u.reason });
        return;
      case "cancelled":
        running.delete(u.id);
        store.markPending(u.id);
        return;
    }
  };

  try {
    store.syncSweep(options.spec, trials, { force: options.force });
    const gitCommit = options.gitCommit !== undefined ? options.gitCommit : await gitHead();
    baseVersions = { ...Deno.version, ...options.versions };

    // Trials an earlier runner left queued or running.
    const inFlight = store.inFlightTrials();
    const underSlurm = inFlight.filter((t) => t.executor === "slurm");
    if (underSlurm.length > 0 && executor.kind !== "slurm") {
      throw new Error(
        `Expected the slurm executor for the ${underSlurm.length} trials still queued or running ` +
          `under Slurm (${underSlurm.slice(0, 3).map((t) => t.id).join(", ")}), found ` +
          `executor ${executor.kind}: rerun with the Slurm executor to take them over`,
      );
    }
    for (const t of inFlight) attempts.set(t.id, t.attempts);
    const recorded = inFlight.map((t) => ({
      id: t.id,
      attempt: t.attempts,
      trialDir: trialDirOf(t.id),
      executor: t.executor,
      pid: t.pid,
      jobId: t.jobId,
      batch: t.batch,
    }));
    const lostBefore = lost;
    for (
      const u of await localExecutor(1).reattach(recorded.filter((t) => t.executor === "local"))
    ) {
      await apply(u);
    }
    for (const u of await executor.reattach(recorded.filter((t) => t.executor === "slurm"))) {
      await apply(u);
    }
    const reattached = inFlight.length - (lost - lostBefore);
    queue.length = 0; // lost trials are pending again: the queue is built from the database
    if (options.retryFailed) store.resetFailed();
    queue.push(...store.pendingTrials().map((p) => trialById.get(p.id)!));
    emit({ type: "start" });

    const submit = async (batch: Trial[]) => {
      const batchName = `${options.spec.name.replace(/[^A-Za-z0-9_.-]+/g, "_").slice(0, 40)}-` +
        crypto.randomUUID().slice(0, 8);
      const tasks: ExecutorTask[] = [];
      for (const t of batch) {
        const trialDir = trialDirOf(t.id);
        const attempt = store.markRunning(t.id, {
          startedAt: new Date().toISOString(),
          gitCommit,
          versions: baseVersions,
          status: executor.kind === "local" ? "running" : "queued",
          executor: executor.kind,
          batch: executor.kind === "local" ? null : batchName,
        });
        attempts.set(t.id, attempt);
        started++;
        if (executor.kind === "local") {
          running.add(t.id);
          emit({ type: "trial-start", trialId: t.id, attempt });
        }
        const ctx: TrialContext = {
          id: t.id,
          seed: t.seed,
          config: t.config,
          trialDir,
          configPath: join(trialDir, TRIAL_FILES.config),
          attempt,
        };
        try {
          await Deno.remove(trialDir, { recursive: true }).catch((e) => {
            if (!(e instanceof Deno.errors.NotFound)) throw e;
          });
          await Deno.mkdir(trialDir, { recursive: true });
          await writeTextAtomic(ctx.configPath, JSON.stringify(t.config, null, 2) + "\n");
          const c = command!(ctx);
          tasks.push({
            id: t.id,
            attempt,
            trialDir,
            cmd: c.cmd,
            args: c.args,
            env: {
              ...trialEnv,
              ...c.env,
              [TRIAL_ENV.dir]: trialDir,
              [TRIAL_ENV.id]: t.id,
              [TRIAL_ENV.seed]: String(t.seed),
            },
            ...(c.cwd === undefined ? {} : { cwd: c.cwd }),
          });
        } catch (e) {
          const now = new Date().toISOString();
          await recordExit(t.id, {
            id: t.id,
            attempt,
            code: null,
            signal: null,
            host: null,
            startedAt: now,
            finishedAt: now,
            wallSeconds: 0,
            startError: (e as Error).message,
          });
        }
      }
      let updates: TaskUpdate[];
      try {
        updates = await executor.submit(tasks, batchName);
      } catch (e) {
        for (const t of tasks) {
          running.delete(t.id);
          store.markPending(t.id);
        }
        throw e;
      }
      for (const u of updates) await apply(u);
    };

    while (!ctl.signal.aborted && (queue.length > 0 || executor.inFlight() > 0)) {
      const room = executor.capacity - executor.inFlight();
      if (queue.length > 0 && room > 0) {
        await submit(queue.splice(0, Math.min(room, queue.length)));
        continue;
      }
      for (const u of await executor.poll(ctl.signal)) await apply(u);
    }
    if (ctl.signal.aborted) { for (const u of await executor.cancel()) await apply(u); }
    if (progressError !== undefined) throw progressError;
    emit({ type: "finish" });
    const c = store.counts();
    return {
      sweep: options.spec.name,
      dbPath,
      total: c.total,
      done: c.done,
      failed: c.failed,
      pending: c.pending + c.queued + c.running,
      started,
      executor: executor.kind,
      recovered: inFlight.length,
      reattached,
      lost,
      orphansKilled,
      aborted: ctl.signal.aborted,
      wallSeconds: (performance.now() - t0) / 1000,
    };
  } finally {
    options.signal?.removeEventListener("abort", onUserAbort);
    store.close();
    lock.close();
  }
}

type Outcome =
  | { kind: "done"; final: TrialFinal; steps: StepRecord[] }
  | { kind: "failed"; error: string; steps: StepRecord[] };

/**
 * Done or failed, from how the trial process ended and what it left in its folder: exit 0 with
 * a valid `final.json` and valid `metrics.jsonl` is done; anything else is failed with the
 * reason and the stderr tail. The same for every executor.
 */
async function trialOutcome(trialDir: string, exit: ExitRecord): Promise<Outcome> {
  if (exit.startError !== undefined) {
    return { kind: "failed", error: `could not start the trial: ${exit.startError}`, steps: [] };
  }
  const metricsText = await readOptional(join(trialDir, TRIAL_FILES.metrics));
  const timedOut = exit.timedOutSeconds !== undefined;
  if (exit.code === 0 && exit.signal === null && !timedOut && !exit.killedBy) {
    try {
      const finalText = await readOptional(join(trialDir, TRIAL_FILES.final));
      if (finalText === null) {
        throw new Error(`trial exited 0 but wrote no ${TRIAL_FILES.final}`);
      }
      const final = parseFinal(finalText);
      const { records } = parseMetricsJsonl(metricsText ?? "", { strict: true });
      return { kind: "done", final, steps: records };
    } catch (e) {
      return {
        kind: "failed",
        error: (e as Error).message,
        steps: parseMetricsJsonl(metricsText ?? "").records,
      };
    }
  }
  let why = timedOut
    ? `timed out after ${exit.timedOutSeconds} s`
    : exit.killedBy
    ? `killed by ${exit.killedBy}${
      exit.signal ? `, signal ${exit.signal}` : exit.code !== null ? `, exit code ${exit.code}` : ""
    }`
    : exit.signal
    ? `killed by signal ${exit.signal} (exit code ${exit.code})`
    : `exited with code ${exit.code}`;
  // A process that crashed after writing a valid final.json (e.g. at exit) still counts as
  // failed: the crash is a bug to see, and nothing says the results were not affected by it.
  if (!timedOut && exit.signal) {
    const finalText = await readOptional(join(trialDir, TRIAL_FILES.final));
    try {
      if (finalText !== null) {
        parseFinal(finalText);
        why += ` after writing a valid ${TRIAL_FILES.final} (not recorded)`;
      }
    } catch { /* invalid or torn: nothing to add */ }
  }
  const stderr = (await readOptional(join(trialDir, TRIAL_FILES.stderr))) ?? "";
  const tail = stderr.length > STDERR_TAIL_CHARS ? "…" + stderr.slice(-STDERR_TAIL_CHARS) : stderr;
  return {
    kind: "failed",
    error: `trial ${why}${tail.trim() ? `\n--- stderr (tail) ---\n${tail.trimEnd()}` : ""}`,
    steps: parseMetricsJsonl(metricsText ?? "").records,
  };
}

async function readOptional(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

async function gitHead(): Promise<string | null> {
  try {
    const out = await new Deno.Command("git", {
      args: ["rev-parse", "HEAD"],
      stdout: "piped",
      stderr: "null",
    }).output();
    const sha = new TextDecoder().decode(out.stdout).trim();
    return out.success && /^[0-9a-f]{40,64}$/.test(sha) ? sha : null;
  } catch {
    return null;
  }
}
