/**
 * The Slurm executor: each batch of pending trials is one job array (`sbatch --array=0-(n-1)%P`,
 * P = the sweep's concurrency). The runner writes the batch's task table and script into
 * `<outDir>/slurm/`; array task `i` runs `slurm_task.ts`, which runs trial `i` and writes its exit
 * record into the trial folder. The runner follows the tasks with `squeue` (queued, running,
 * host), reads the exit records, asks `scontrol show job` why a task without one ended (a task
 * Slurm killed is failed with Slurm's reason), cancels with `scancel`, and after a restart takes
 * over the tasks still queued or running (their job ids are in the results database).
 *
 * Only the trial folders must be on storage the nodes share; `results.sqlite` and the runner's
 * lock stay on the submitting machine.
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type {
  Executor,
  ExecutorTask,
  ExitRecord,
  RecordedTask,
  SlurmExecutorSpec,
  TaskUpdate,
} from "./executor.ts";
import { parseExitRecord } from "./executor.ts";
import { writeTextAtomic } from "./protocol.ts";
import { EXIT_RECORD_FILE, type TaskTable } from "./slurm_task.ts";

/** The script each array task runs (`slurm_task.ts` next to this file). */
export const SLURM_TASK_SCRIPT: string = fileURLToPath(new URL("./slurm_task.ts", import.meta.url));

/** Permissions of the array task's Deno process (it spawns the trial with the trial's own). */
export const SLURM_TASK_PERMISSIONS: readonly string[] = [
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-run",
];

/** Seconds a task may be gone from the queue, ended normally, before its exit record shows. */
const EXIT_RECORD_GRACE_SECONDS = 30;
/** Seconds to wait for cancelled tasks to leave the queue. */
const CANCEL_WAIT_SECONDS = 60;
/** Seconds the queue may stay unreadable (e.g. slurmctld restarting) before the runner gives up. */
const QUEUE_OUTAGE_SECONDS = 120;

/** Options of {@linkcode SlurmExecutor}. */
export interface SlurmExecutorOptions {
  /** Partition, time, CPUs, extra `sbatch` arguments. */
  spec: SlurmExecutorSpec;
  /** Array tasks of one batch running at once (`%P`). */
  concurrency: number;
  /** The sweep folder (absolute): task tables and logs go to `<outDir>/slurm/`. */
  outDir: string;
  /** The runner's trial time limit, used for `--time` when the spec sets none. */
  timeoutSeconds?: number;
  /** Deno executable the array tasks run. Default `Deno.execPath()`. */
  deno?: string;
  /** Working directory of the array tasks. Default the runner's. */
  cwd?: string;
}

/** One array task's state in the queue. */
export interface QueueEntry {
  /** `<array job id>_<index>`. */
  jobId: string;
  /** Slurm state (`PENDING`, `RUNNING`, ...). */
  state: string;
  /** Node list (empty while pending). */
  nodes: string;
  /** Slurm's reason (`None`, `Resources`, ...). */
  reason: string;
  /** Job name (the batch). */
  name: string;
}

/**
 * Parses `squeue -h -r -o '%i|%T|%N|%r|%j'` output.
 *
 * @example
 * ```ts
 * import { parseSqueue } from "./slurm.ts";
 * parseSqueue("12_0|RUNNING|n1|None|b1\n12_1|PENDING||Resources|b1\n")[1].state; // "PENDING"
 * ```
 */
export function parseSqueue(text: string): QueueEntry[] {
  const out: QueueEntry[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const [jobId, state, nodes, reason, ...name] = line.trim().split("|");
    if (state === undefined || reason === undefined) {
      throw new Error(`Expected squeue lines "id|state|nodes|reason|name", found "${line}"`);
    }
    out.push({ jobId, state, nodes, reason, name: name.join("|") });
  }
  return out;
}

/** A job as `scontrol show -o job` describes it. */
export interface JobInfo {
  /** `JobState`, e.g. `COMPLETED`, `CANCELLED`, `TIMEOUT`. */
  state: string;
  /** `Reason` (`None` when there is none). */
  reason: string;
  /** `NodeList`. */
  nodes: string | null;
  /** `ExitCode`, `code:signal`. */
  exitCode: string | null;
  /** `TimeLimit`. */
  timeLimit: string | null;
}

/**
 * Parses one line of `scontrol show -o job ID`.
 *
 * @example
 * ```ts
 * import { parseScontrolJob } from "./slurm.ts";
 * const job = parseScontrolJob("JobId=5 JobState=TIMEOUT Reason=TimeLimit NodeList=n1 ExitCode=0:15");
 * job.state; // "TIMEOUT"
 * ```
 */
export function parseScontrolJob(line: string): JobInfo {
  const get = (key: string) => new RegExp(`(?:^|\\s)${key}=(\\S*)`).exec(line)?.[1] ?? null;
  const state = get("JobState");
  if (state === null) {
    throw new Error(
      `Expected "JobState=..." in scontrol's job line, found "${line.slice(0, 200)}"`,
    );
  }
  const nodes = get("NodeList");
  return {
    state,
    reason: get("Reason") ?? "None",
    nodes: nodes === "(null)" ? null : nodes,
    exitCode: get("ExitCode"),
    timeLimit: get("TimeLimit"),
  };
}

/**
 * The `sbatch` arguments of a batch of `n` tasks (before the script path).
 *
 * @example
 * ```ts
 * import { sbatchArgs } from "./slurm.ts";
 * sbatchArgs({ kind: "slurm", partition: "cpu", timeMinutes: 30, cpusPerTask: 4 }, {
 *   batch: "lr-1a2b", n: 6, concurrency: 2, logDir: "/shared/runs/lr/slurm", cwd: "/shared/repo",
 * });
 * // ["--parsable", "--job-name=lr-1a2b", "--array=0-5%2", ..., "--partition=cpu", "--time=30"]
 * ```
 */
export function sbatchArgs(
  spec: SlurmExecutorSpec,
  p: {
    batch: string;
    n: number;
    concurrency: number;
    logDir: string;
    cwd: string;
    timeoutSeconds?: number;
  },
): string[] {
  const time = spec.timeMinutes ??
    (p.timeoutSeconds === undefined ? undefined : Math.max(1, Math.ceil(p.timeoutSeconds / 60)));
  return [
    "--parsable",
    `--job-name=${p.batch}`,
    `--array=0-${p.n - 1}%${p.concurrency}`,
    `--output=${join(p.logDir, `${p.batch}-%a.log`)}`,
    `--chdir=${p.cwd}`,
    `--cpus-per-task=${spec.cpusPerTask ?? 1}`,
    ...(spec.partition ? [`--partition=${spec.partition}`] : []),
    ...(time === undefined ? [] : [`--time=${time}`]),
    ...(spec.args ?? []),
  ];
}

interface Tracked {
  id: string;
  attempt: number;
  trialDir: string;
  batch: string;
  index: number;
  jobId: string | null;
  state: "unknown" | "queued" | "running";
  host: string | null;
  goneSince: number | null;
}

const KILLED_STATES = new Set([
  "CANCELLED",
  "TIMEOUT",
  "NODE_FAIL",
  "OUT_OF_MEMORY",
  "PREEMPTED",
  "BOOT_FAIL",
  "DEADLINE",
  "REVOKED",
]);

const QUEUED_STATES = new Set([
  "PENDING",
  "CONFIGURING",
  "REQUEUED",
  "REQUEUE_HOLD",
  "RESV_DEL_HOLD",
]);

async function command(
  cmd: string,
  args: string[],
): Promise<{ code: number; out: string; err: string }> {
  let r: Deno.CommandOutput;
  try {
    r = await new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" })
      .output();
  } catch (e) {
    throw new Error(
      `Expected the Slurm command "${cmd}" to run (is Slurm installed, SLURM_CONF set, and ` +
        `--allow-run given?), found: ${(e as Error).message}`,
    );
  }
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr).trim() };
}

async function readText(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/**
 * Runs trials as Slurm job arrays.
 *
 * @example
 * ```ts ignore
 * import { SlurmExecutor } from "./slurm.ts";
 * const ex = new SlurmExecutor({ spec: { kind: "slurm", cpusPerTask: 2 }, concurrency: 4,
 *   outDir: "/shared/runs/lr" });
 * ```
 */
export class SlurmExecutor implements Executor {
  /** `"slurm"`. */
  readonly kind = "slurm" as const;
  /** Array tasks of a batch at once. */
  readonly concurrency: number;
  /**
   * Trials in flight at most: the pending trials go into one array of up to 1000 tasks (Slurm's
   * default `MaxArraySize` is 1001); more follow as these finish.
   */
  readonly capacity: number = 1000;
  /** `--cpus-per-task`. */
  readonly blasThreads: number;
  private readonly spec: SlurmExecutorSpec;
  private readonly opts: SlurmExecutorOptions;
  private readonly logDir: string;
  private readonly tracked = new Map<string, Tracked>();
  private failingSince: number | null = null;

  /** @param options the spec, concurrency and sweep folder */
  constructor(options: SlurmExecutorOptions) {
    this.spec = options.spec;
    this.opts = options;
    this.concurrency = options.concurrency;
    this.blasThreads = options.spec.cpusPerTask ?? 1;
    this.logDir = join(options.outDir, "slurm");
  }

  /** Tasks followed. */
  inFlight(): number {
    return this.tracked.size;
  }

  /** Writes the task table and batch script, then submits one job array. */
  async submit(tasks: ExecutorTask[], batch: string): Promise<TaskUpdate[]> {
    if (tasks.length === 0) return [];
    await Deno.mkdir(this.logDir, { recursive: true });
    const tablePath = join(this.logDir, `${batch}.tasks.json`);
    const table: TaskTable = { version: 1, batch, tasks };
    await writeTextAtomic(tablePath, JSON.stringify(table, null, 1) + "\n");
    const scriptPath = join(this.logDir, `${batch}.sh`);
    const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
    await writeTextAtomic(
      scriptPath,
      [
        "#!/bin/sh",
        `# Written by the sweep runner: array task $SLURM_ARRAY_TASK_ID of batch ${batch}.`,
        `exec ${q(this.opts.deno ?? Deno.execPath())} run ${SLURM_TASK_PERMISSIONS.join(" ")} ` +
        `${q(SLURM_TASK_SCRIPT)} ${q(tablePath)} "$SLURM_ARRAY_TASK_ID"`,
        "",
      ].join("\n"),
    );
    const args = sbatchArgs(this.spec, {
      batch,
      n: tasks.length,
      concurrency: this.concurrency,
      logDir: this.logDir,
      cwd: this.opts.cwd ?? Deno.cwd(),
      timeoutSeconds: this.opts.timeoutSeconds,
    });
    const r = await command("sbatch", [...args, scriptPath]);
    const arrayId = /^(\d+)/.exec(r.out.trim())?.[1];
    if (r.code !== 0 || arrayId === undefined) {
      throw new Error(
        `Expected sbatch to accept the job array of ${tasks.length} trials (batch ${batch}), ` +
          `found exit code ${r.code}: ${r.err || r.out.trim() || "no output"}`,
      );
    }
    return tasks.map((t, index) => {
      const jobId = `${arrayId}_${index}`;
      this.tracked.set(t.id, {
        id: t.id,
        attempt: t.attempt,
        trialDir: t.trialDir,
        batch,
        index,
        jobId,
        state: "queued",
        host: null,
        goneSince: null,
      });
      return { type: "queued", id: t.id, jobId };
    });
  }

  /** Follows the recorded tasks again and reports what happened to them meanwhile. */
  async reattach(tasks: RecordedTask[]): Promise<TaskUpdate[]> {
    const lost: TaskUpdate[] = [];
    for (const t of tasks) {
      if (t.batch === null) {
        lost.push({ type: "lost", id: t.id, reason: "no Slurm batch was recorded for it" });
        continue;
      }
      let index = -1;
      try {
        const table = JSON.parse(
          await Deno.readTextFile(join(this.logDir, `${t.batch}.tasks.json`)),
        ) as TaskTable;
        index = table.tasks.findIndex((x) => x.id === t.id && x.attempt === t.attempt);
      } catch { /* no table: the batch was never submitted */ }
      if (index < 0) {
        lost.push({
          type: "lost",
          id: t.id,
          reason: `attempt ${t.attempt} is not in the task table of batch ${t.batch}`,
        });
        continue;
      }
      this.tracked.set(t.id, {
        id: t.id,
        attempt: t.attempt,
        trialDir: t.trialDir,
        batch: t.batch,
        index,
        jobId: t.jobId,
        state: "unknown",
        host: null,
        goneSince: null,
      });
    }
    return [...lost, ...await this.check()];
  }

  /** Sleeps the poll interval (or until `signal`), then looks at the queue and exit records. */
  async poll(signal: AbortSignal): Promise<TaskUpdate[]> {
    if (this.tracked.size === 0) return [];
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, (this.spec.pollSeconds ?? 2) * 1000);
      signal.addEventListener("abort", done);
      if (signal.aborted) done();
    });
    if (signal.aborted) return [];
    try {
      const updates = await this.check();
      this.failingSince = null;
      return updates;
    } catch (e) {
      // The controller may be restarting: look again at the next poll, for a while.
      this.failingSince ??= Date.now();
      if (Date.now() - this.failingSince > QUEUE_OUTAGE_SECONDS * 1000) throw e;
      return [];
    }
  }

  /** `scancel` of every task followed; waits until they left the queue. */
  async cancel(): Promise<TaskUpdate[]> {
    if (this.tracked.size === 0) return [];
    const ids = [...this.tracked.values()].map((t) => t.jobId).filter((j) => j !== null);
    const unknown = [
      ...new Set([...this.tracked.values()].filter((t) => !t.jobId).map((t) => t.batch)),
    ];
    if (ids.length) await command("scancel", ids as string[]);
    if (unknown.length) await command("scancel", [`--name=${unknown.join(",")}`]);
    const deadline = Date.now() + CANCEL_WAIT_SECONDS * 1000;
    while (Date.now() < deadline) {
      const q = await this.queue();
      if (
        ![...this.tracked.values()].some((t) =>
          q.has(t.jobId ?? "") ||
          t.jobId === null && [...q.values()].some((e) => e.name === t.batch)
        )
      ) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const out: TaskUpdate[] = [];
    for (const t of this.tracked.values()) {
      const exit = await this.exitRecord(t);
      // A trial that had finished before the cancel keeps its result.
      if (exit && exit.code === 0 && exit.signal === null && !exit.killedBy) {
        out.push({ type: "exited", id: t.id, exit });
      } else out.push({ type: "cancelled", id: t.id });
    }
    this.tracked.clear();
    return out;
  }

  private async queue(): Promise<Map<string, QueueEntry>> {
    const batches = [...new Set([...this.tracked.values()].map((t) => t.batch))];
    const r = await command("squeue", [
      "-h",
      "-r",
      "-o",
      "%i|%T|%N|%r|%j",
      `--name=${batches.join(",")}`,
    ]);
    if (r.code !== 0) {
      throw new Error(
        `Expected squeue to list the sweep's jobs, found exit code ${r.code}: ${r.err}`,
      );
    }
    return new Map(parseSqueue(r.out).map((e) => [e.jobId, e]));
  }

  private async exitRecord(t: Tracked): Promise<ExitRecord | null> {
    const text = await readText(join(t.trialDir, EXIT_RECORD_FILE));
    if (text === null) return null;
    const exit = parseExitRecord(text);
    return exit.id === t.id && exit.attempt === t.attempt ? exit : null;
  }

  private async job(jobId: string): Promise<JobInfo | null> {
    const r = await command("scontrol", ["show", "-o", "job", jobId]);
    if (r.code !== 0) return null; // purged (MinJobAge) or never known
    return parseScontrolJob(r.out.trim().split("\n")[0]);
  }

  /** One look at the queue and the exit records. */
  private async check(): Promise<TaskUpdate[]> {
    if (this.tracked.size === 0) return [];
    const q = await this.queue();
    // Array job ids of batches whose submission was not confirmed (a runner killed in sbatch).
    for (const t of this.tracked.values()) {
      if (t.jobId !== null) continue;
      const e = [...q.values()].find((e) => e.name === t.batch);
      if (e) t.jobId = `${e.jobId.split("_")[0]}_${t.index}`;
    }
    const out: TaskUpdate[] = [];
    for (const t of [...this.tracked.values()]) {
      const e = t.jobId === null ? undefined : q.get(t.jobId);
      // The exit record is written last, as the task ends: no need to look while Slurm still
      // lists it pending or running (the next poll sees it).
      const exit = e !== undefined && e.state !== "COMPLETING" ? null : await this.exitRecord(t);
      if (exit !== null) {
        if (exit.killedBy && t.jobId) {
          const job = await this.job(t.jobId);
          if (job) exit.killedBy = slurmKilledBy(job);
        }
        this.tracked.delete(t.id);
        out.push({ type: "exited", id: t.id, exit });
        continue;
      }
      if (e !== undefined) {
        t.goneSince = null;
        if (QUEUED_STATES.has(e.state)) {
          if (t.state !== "queued") out.push({ type: "queued", id: t.id, jobId: e.jobId });
          t.state = "queued";
        } else if (t.state !== "running" || (e.nodes && e.nodes !== t.host)) {
          t.state = "running";
          t.host = e.nodes || t.host;
          out.push({ type: "running", id: t.id, host: t.host, jobId: e.jobId });
        }
        continue;
      }
      // Gone from the queue without an exit record: ask Slurm what became of it.
      const job = t.jobId === null ? null : await this.job(t.jobId);
      if (job === null) {
        this.tracked.delete(t.id);
        out.push({
          type: "lost",
          id: t.id,
          reason: t.jobId === null
            ? `batch ${t.batch} is not in the queue and its submission was never confirmed`
            : `job ${t.jobId} is unknown to Slurm (squeue, scontrol) and wrote no exit record`,
        });
        continue;
      }
      if (!KILLED_STATES.has(job.state)) {
        // Ended on its own: the exit record may still be on its way (shared file systems).
        t.goneSince ??= Date.now();
        if (Date.now() - t.goneSince < EXIT_RECORD_GRACE_SECONDS * 1000) continue;
      }
      this.tracked.delete(t.id);
      const now = new Date().toISOString();
      const code = Number(job.exitCode?.split(":")[0]);
      out.push({
        type: "exited",
        id: t.id,
        exit: {
          id: t.id,
          attempt: t.attempt,
          code: Number.isInteger(code) ? code : null,
          signal: null,
          host: job.nodes ?? t.host,
          startedAt: now,
          finishedAt: now,
          wallSeconds: 0,
          killedBy: `${slurmKilledBy(job)}; the array task wrote no ${EXIT_RECORD_FILE}`,
        },
      });
    }
    return out;
  }
}

/**
 * Who killed a task, from Slurm's view of its job: `Slurm: STATE (reason)`, with the time limit
 * for a timeout.
 *
 * @example
 * ```ts
 * import { parseScontrolJob, slurmKilledBy } from "./slurm.ts";
 * slurmKilledBy(parseScontrolJob("JobState=TIMEOUT Reason=TimeLimit TimeLimit=00:01:00"));
 * // "Slurm: TIMEOUT (TimeLimit, time limit 00:01:00)"
 * ```
 */
export function slurmKilledBy(job: JobInfo): string {
  const why = [
    job.reason !== "None" ? job.reason : "",
    job.state === "TIMEOUT" && job.timeLimit ? `time limit ${job.timeLimit}` : "",
  ].filter((s) => s).join(", ");
  return `Slurm: ${job.state}${why ? ` (${why})` : ""}`;
}
