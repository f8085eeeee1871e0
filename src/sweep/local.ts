/**
 * The local executor: each trial is a subprocess of the runner, at most `concurrency` at once;
 * stdout and stderr go to the trial folder; a trial over the time limit gets SIGTERM, then
 * SIGKILL after 2 s. Tasks of a killed runner cannot be followed (their parent is gone): a
 * still-alive orphan is killed and the task reported lost, to be run again.
 *
 * @module
 */

import type { Executor, ExecutorTask, ExitRecord, RecordedTask, TaskUpdate } from "./executor.ts";
import { hostName } from "./executor.ts";
import { killOrphanTrial } from "./orphan.ts";
import { pipeTrialOutput } from "./protocol.ts";

const KILL_GRACE_MS = 2000;

/** Options of {@linkcode LocalExecutor}. */
export interface LocalExecutorOptions {
  /** Trials at once, 1..256. */
  concurrency: number;
  /** OpenBLAS threads per trial. */
  blasThreads: number;
  /** Stop a trial after this many seconds. Default: no limit. */
  timeoutSeconds?: number;
}

interface Running {
  task: ExecutorTask;
  child: Deno.ChildProcess | null;
  stop: () => void;
  cancelled: boolean;
  done: Promise<void>;
}

/**
 * Runs trials as subprocesses of this process.
 *
 * @example
 * ```ts
 * import { LocalExecutor } from "./local.ts";
 * const ex = new LocalExecutor({ concurrency: 2, blasThreads: 1 });
 * const dir = await Deno.makeTempDir();
 * await ex.submit([{
 *   id: "t", attempt: 1, trialDir: dir, cmd: Deno.execPath(), args: ["eval", "1"], env: {},
 * }], "b1");
 * const updates = await ex.poll(new AbortController().signal); // [{ type: "exited", ... }]
 * ```
 */
export class LocalExecutor implements Executor {
  /** `"local"`. */
  readonly kind = "local" as const;
  /** Trials at once. */
  readonly concurrency: number;
  /** Same as the concurrency: the runner hands over only what can start now. */
  readonly capacity: number;
  /** OpenBLAS threads per trial. */
  readonly blasThreads: number;
  private readonly timeoutSeconds?: number;
  private readonly host = hostName();
  private readonly running = new Map<string, Running>();
  private readonly updates: TaskUpdate[] = [];
  private wake: (() => void) | null = null;

  /** @param options concurrency, threads per trial, time limit */
  constructor(options: LocalExecutorOptions) {
    this.concurrency = options.concurrency;
    this.capacity = options.concurrency;
    this.blasThreads = options.blasThreads;
    this.timeoutSeconds = options.timeoutSeconds;
  }

  /** Trials running, or ended and not yet reported by {@linkcode LocalExecutor.poll}. */
  inFlight(): number {
    return this.running.size +
      this.updates.filter((u) => u.type === "exited" || u.type === "cancelled").length;
  }

  /** Starts every task now (the runner never hands over more than the concurrency). */
  submit(tasks: ExecutorTask[], _batch?: string): Promise<TaskUpdate[]> {
    return Promise.resolve(tasks.map((t) => this.start(t)));
  }

  /** Kills the still-alive orphans of the tasks and reports every task lost. */
  async reattach(tasks: RecordedTask[]): Promise<TaskUpdate[]> {
    const out: TaskUpdate[] = [];
    for (const t of tasks) {
      const killed = t.pid !== null && await killOrphanTrial(t.pid, t.trialDir);
      out.push({
        type: "lost",
        id: t.id,
        reason: killed
          ? `its process ${t.pid} outlived the runner and was killed`
          : "the runner that started it is gone",
        orphanKilled: killed,
      });
    }
    return out;
  }

  /** Waits until a trial ends (or `signal`). */
  async poll(signal: AbortSignal): Promise<TaskUpdate[]> {
    if (this.updates.length === 0 && this.running.size > 0 && !signal.aborted) {
      await new Promise<void>((resolve) => {
        const done = () => {
          signal.removeEventListener("abort", done);
          this.wake = null;
          resolve();
        };
        this.wake = done;
        signal.addEventListener("abort", done);
      });
    }
    return this.updates.splice(0);
  }

  /** SIGTERM (SIGKILL after 2 s) to every running trial; waits for them to end. */
  async cancel(): Promise<TaskUpdate[]> {
    const all = [...this.running.values()];
    for (const r of all) {
      r.cancelled = true;
      r.stop();
    }
    await Promise.all(all.map((r) => r.done));
    return this.updates.splice(0);
  }

  private push(u: TaskUpdate): void {
    this.updates.push(u);
    this.wake?.();
  }

  private start(task: ExecutorTask): TaskUpdate {
    const startedAt = new Date();
    const t0 = performance.now();
    const exitOf = (rest: Partial<ExitRecord>): ExitRecord => ({
      id: task.id,
      attempt: task.attempt,
      code: null,
      signal: null,
      host: this.host,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      wallSeconds: (performance.now() - t0) / 1000,
      ...rest,
    });
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(task.cmd, {
        args: task.args,
        cwd: task.cwd,
        env: task.env,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (e) {
      this.push({
        type: "exited",
        id: task.id,
        exit: exitOf({ startError: (e as Error).message }),
      });
      return { type: "running", id: task.id, host: this.host };
    }
    let graceTimer: ReturnType<typeof setTimeout> | undefined;
    const stop = () => {
      try {
        child.kill("SIGTERM");
      } catch { /* already exited */ }
      graceTimer ??= setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* already exited */ }
      }, KILL_GRACE_MS);
    };
    let timedOut = false;
    const limit = this.timeoutSeconds;
    const timer = limit === undefined ? undefined : setTimeout(() => {
      timedOut = true;
      stop();
    }, limit * 1000);
    const r: Running = { task, child, stop, cancelled: false, done: Promise.resolve() };
    r.done = (async () => {
      const pipes = pipeTrialOutput(child, task.trialDir);
      const status = await child.status;
      await pipes.catch(() => {});
      clearTimeout(timer);
      clearTimeout(graceTimer);
      this.running.delete(task.id);
      if (r.cancelled) this.push({ type: "cancelled", id: task.id });
      else {
        this.push({
          type: "exited",
          id: task.id,
          exit: exitOf({
            code: status.code,
            signal: status.signal,
            ...(timedOut ? { timedOutSeconds: limit } : {}),
          }),
        });
      }
    })();
    this.running.set(task.id, r);
    return { type: "running", id: task.id, host: this.host, pid: child.pid };
  }
}
