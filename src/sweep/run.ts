/**
 * The sweep runner: expands a spec, runs every trial as a subprocess (in order, or several at
 * once), records everything in `<outDir>/results.sqlite` and survives being killed.
 *
 * @module
 */

import { join, resolve } from "node:path";
import { expandSweep } from "./expand.ts";
import type { JsonObject } from "./json.ts";
import { killOrphanTrial } from "./orphan.ts";
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
 * `navigator.hardwareConcurrency`. (The blas backend's `allowedCpuCount` does the same; the sweep
 * layer may not import the backends.)
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
  /** Trials run at once, 1..256. Default 1 (in sweep order). */
  concurrency?: number;
  /**
   * CPUs the trials share, for each trial's OpenBLAS threads (`COCA_BLAS_THREADS` =
   * {@linkcode trialBlasThreads}`(cpus, concurrency)`, unless the runner's environment or the
   * trial command sets it). Default: the CPUs this process may use (its affinity).
   */
  cpus?: number;
  /** Called after every state change; an exception stops the sweep and is rethrown. */
  onProgress?: (progress: SweepProgress) => void;
  /** Run trials recorded as failed again. Default false. */
  retryFailed?: boolean;
  /** Replace an existing sweep in `outDir` whose trials differ. Default false. */
  force?: boolean;
  /** Kill a trial after this many seconds and record it failed. Default: no limit. */
  trialTimeoutSeconds?: number;
  /** Backend recorded when the trial's `final.json` names none. */
  backend?: string;
  /** Extra versions to record (e.g. `{ tfjs: "4.22.0" }`); `deno`, `v8`, `typescript` are added. */
  versions?: Record<string, string>;
  /** Commit to record; default `git rev-parse HEAD` in the current directory (null if unavailable). */
  gitCommit?: string | null;
  /** Aborting stops scheduling, kills running trials and puts them back to pending. */
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
  /** Trials found `running` from a dead runner and restarted. */
  recovered: number;
  /** Orphaned trial processes of a dead runner that were killed. */
  orphansKilled: number;
  /** True when stopped by `signal`. */
  aborted: boolean;
  /** Seconds this call took. */
  wallSeconds: number;
}

const STDERR_TAIL_CHARS = 4000;
const KILL_GRACE_MS = 2000;

/**
 * Runs a sweep. Safe to call again on the same `outDir` after a crash or SIGKILL: done and failed
 * trials are kept, trials left `running` are restarted from a wiped directory (their orphaned
 * process, if still alive, is killed first) with `attempts` incremented. A failing trial is
 * recorded with its stderr tail and the sweep goes on. A second runner on the same `outDir` is
 * refused (an OS file lock on `<outDir>/.runner.lock`, released even on SIGKILL).
 *
 * See `protocol.ts` for the files a trial reads and writes, and `store.ts` for the schema.
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
  const blasThreads = trialBlasThreads(options.cpus ?? allowedCpus(), concurrency);
  let runnerBlasThreads: string | undefined;
  try {
    runnerBlasThreads = Deno.env.get(TRIAL_BLAS_THREADS_ENV) || undefined;
  } catch {
    runnerBlasThreads = undefined; // no --allow-env: the trials get the computed value
  }
  // A value chosen by hand (in the runner's environment) is inherited unchanged.
  const trialEnv: Record<string, string> = runnerBlasThreads === undefined
    ? { [TRIAL_BLAS_THREADS_ENV]: String(blasThreads) }
    : {};

  await Deno.mkdir(join(options.outDir, "trials"), { recursive: true });
  const outDir = await Deno.realPath(options.outDir);
  const lock = await Deno.open(join(outDir, ".runner.lock"), { create: true, write: true });
  if (!(await lock.tryLock(true))) {
    lock.close();
    throw new Error(
      `Expected no other runner on "${outDir}", found its lock held (another runSweep is active)`,
    );
  }
  const dbPath = join(outDir, RESULTS_DB);
  const store = ResultsStore.open(dbPath);
  const trialDirOf = (id: string) => join(outDir, "trials", id);

  const ctl = new AbortController();
  const onUserAbort = () => ctl.abort(options.signal?.reason);
  if (options.signal?.aborted) ctl.abort(options.signal.reason);
  options.signal?.addEventListener("abort", onUserAbort);
  let progressError: unknown = undefined;

  const running = new Set<string>();
  let started = 0;
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
        running: c.running,
        pending: c.pending,
        runningIds: [...running],
        elapsedSeconds: (performance.now() - t0) / 1000,
        meanTrialSeconds: mean,
        etaSeconds: estimateEta({ ...c, meanTrialSeconds: mean, concurrency }),
        event,
      });
    } catch (e) {
      progressError = e;
      ctl.abort(e);
    }
  };

  try {
    store.syncSweep(options.spec, trials, { force: options.force });
    const interrupted = store.recoverInterrupted();
    let orphansKilled = 0;
    for (const t of interrupted) {
      if (t.pid !== null && await killOrphanTrial(t.pid, trialDirOf(t.id))) orphansKilled++;
    }
    if (options.retryFailed) store.resetFailed();
    const gitCommit = options.gitCommit !== undefined ? options.gitCommit : await gitHead();
    const baseVersions: Record<string, string> = { ...Deno.version, ...options.versions };

    const queue = store.pendingTrials();
    emit({ type: "start" });

    const runOne = async (t: { id: string; config: JsonObject; seed: number }) => {
      const trialDir = trialDirOf(t.id);
      const attempt = store.markRunning(t.id, {
        startedAt: new Date().toISOString(),
        gitCommit,
        versions: baseVersions,
      });
      started++;
      running.add(t.id);
      emit({ type: "trial-start", trialId: t.id, attempt });
      const outcome = await execTrial({
        ctx: {
          id: t.id,
          seed: t.seed,
          config: t.config,
          trialDir,
          configPath: join(trialDir, TRIAL_FILES.config),
          attempt,
        },
        command: command!,
        env: trialEnv,
        timeoutMs: timeout === undefined ? undefined : timeout * 1000,
        signal: ctl.signal,
        onSpawn: (pid) => store.setPid(t.id, pid),
      });
      running.delete(t.id);
      if (outcome.kind === "aborted") {
        store.markPending(t.id);
        return;
      }
      const finishedAt = new Date().toISOString();
      if (outcome.kind === "done") {
        store.markFinished(t.id, {
          status: "done",
          finishedAt,
          wallSeconds: outcome.wallSeconds,
          final: outcome.final.metrics,
          backend: outcome.final.backend ?? options.backend ?? null,
          versions: { ...baseVersions, ...outcome.final.versions },
          error: null,
          steps: outcome.steps,
        });
        emit({ type: "trial-done", trialId: t.id, wallSeconds: outcome.wallSeconds });
      } else {
        store.markFinished(t.id, {
          status: "failed",
          finishedAt,
          wallSeconds: outcome.wallSeconds,
          final: null,
          backend: options.backend ?? null,
          versions: baseVersions,
          error: outcome.error,
          steps: outcome.steps,
        });
        emit({
          type: "trial-failed",
          trialId: t.id,
          wallSeconds: outcome.wallSeconds,
          error: outcome.error,
        });
      }
    };

    const worker = async () => {
      while (queue.length > 0 && !ctl.signal.aborted) await runOne(queue.shift()!);
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, worker));
    if (progressError !== undefined) throw progressError;
    emit({ type: "finish" });
    const c = store.counts();
    return {
      sweep: options.spec.name,
      dbPath,
      total: c.total,
      done: c.done,
      failed: c.failed,
      pending: c.pending,
      started,
      recovered: interrupted.length,
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
  | { kind: "done"; wallSeconds: number; final: TrialFinal; steps: StepRecord[] }
  | { kind: "failed"; wallSeconds: number; error: string; steps: StepRecord[] }
  | { kind: "aborted" };

async function execTrial(p: {
  ctx: TrialContext;
  command: (t: TrialContext) => TrialCommand;
  env: Record<string, string>;
  timeoutMs?: number;
  signal: AbortSignal;
  onSpawn: (pid: number) => void;
}): Promise<Outcome> {
  const { ctx } = p;
  const t0 = performance.now();
  const wall = () => (performance.now() - t0) / 1000;
  let child: Deno.ChildProcess;
  let pipes: Promise<unknown>;
  try {
    await Deno.remove(ctx.trialDir, { recursive: true }).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
    await Deno.mkdir(ctx.trialDir, { recursive: true });
    await writeTextAtomic(ctx.configPath, JSON.stringify(ctx.config, null, 2) + "\n");
    const c = p.command(ctx);
    child = new Deno.Command(c.cmd, {
      args: c.args,
      cwd: c.cwd,
      env: {
        ...p.env,
        ...c.env,
        [TRIAL_ENV.dir]: ctx.trialDir,
        [TRIAL_ENV.id]: ctx.id,
        [TRIAL_ENV.seed]: String(ctx.seed),
      },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    p.onSpawn(child.pid);
    const out = await Deno.open(join(ctx.trialDir, TRIAL_FILES.stdout), {
      create: true,
      write: true,
      truncate: true,
    });
    const err = await Deno.open(join(ctx.trialDir, TRIAL_FILES.stderr), {
      create: true,
      write: true,
      truncate: true,
    });
    pipes = Promise.all([child.stdout.pipeTo(out.writable), child.stderr.pipeTo(err.writable)]);
  } catch (e) {
    return {
      kind: "failed",
      wallSeconds: wall(),
      error: `could not start the trial: ${(e as Error).message}`,
      steps: [],
    };
  }

  let timedOut = false;
  let aborted = false;
  let graceTimer: ReturnType<typeof setTimeout> | undefined;
  const stop = () => {
    try {
      child.kill("SIGTERM");
    } catch { /* already exited */ }
    graceTimer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* already exited */ }
    }, KILL_GRACE_MS);
  };
  const timer = p.timeoutMs === undefined ? undefined : setTimeout(() => {
    timedOut = true;
    stop();
  }, p.timeoutMs);
  const onAbort = () => {
    aborted = true;
    stop();
  };
  if (p.signal.aborted) onAbort();
  else p.signal.addEventListener("abort", onAbort);
  const status = await child.status;
  await pipes.catch(() => {});
  clearTimeout(timer);
  clearTimeout(graceTimer);
  p.signal.removeEventListener("abort", onAbort);
  const wallSeconds = wall();
  if (aborted) return { kind: "aborted" };

  const metricsText = await readOptional(join(ctx.trialDir, TRIAL_FILES.metrics));
  if (status.success && !timedOut) {
    try {
      const finalText = await readOptional(join(ctx.trialDir, TRIAL_FILES.final));
      if (finalText === null) {
        throw new Error(`trial exited 0 but wrote no ${TRIAL_FILES.final}`);
      }
      const final = parseFinal(finalText);
      const { records } = parseMetricsJsonl(metricsText ?? "", { strict: true });
      return { kind: "done", wallSeconds, final, steps: records };
    } catch (e) {
      return {
        kind: "failed",
        wallSeconds,
        error: (e as Error).message,
        steps: parseMetricsJsonl(metricsText ?? "").records,
      };
    }
  }
  let why = timedOut
    ? `timed out after ${p.timeoutMs! / 1000} s`
    : status.signal
    ? `killed by signal ${status.signal} (exit code ${status.code})`
    : `exited with code ${status.code}`;
  // A process that crashed after writing a valid final.json (e.g. at exit) still counts as
  // failed: the crash is a bug to see, and nothing says the results were not affected by it.
  if (!timedOut && status.signal) {
    const finalText = await readOptional(join(ctx.trialDir, TRIAL_FILES.final));
    try {
      if (finalText !== null) {
        parseFinal(finalText);
        why += ` after writing a valid ${TRIAL_FILES.final} (not recorded)`;
      }
    } catch { /* invalid or torn: nothing to add */ }
  }
  const stderr = (await readOptional(join(ctx.trialDir, TRIAL_FILES.stderr))) ?? "";
  const tail = stderr.length > STDERR_TAIL_CHARS ? "…" + stderr.slice(-STDERR_TAIL_CHARS) : stderr;
  return {
    kind: "failed",
    wallSeconds,
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
