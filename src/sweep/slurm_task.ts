/**
 * One task of a Slurm job array submitted by the sweep runner: reads its trial from the batch's
 * task table (`<outDir>/slurm/<batch>.tasks.json`, entry `$SLURM_ARRAY_TASK_ID`), runs the trial
 * command as the local executor would (same command, same permissions, stdout and stderr into
 * the trial folder), and writes the exit record `<trialDir>/exit.json` atomically (exit code,
 * signal, host, start and end). It never touches the results database: the runner reads the
 * exit record.
 *
 * Run as `deno run --allow-read --allow-write --allow-env --allow-run slurm_task.ts TABLE INDEX`
 * (the batch script the runner writes does this).
 *
 * @module
 */

import { join } from "node:path";
import type { ExecutorTask, ExitRecord } from "./executor.ts";
import { hostName } from "./executor.ts";
import { describeValue, isPlainObject } from "./json.ts";
import { pipeTrialOutput, writeTextAtomic } from "./protocol.ts";

/** File name of the exit record in a trial folder. */
export const EXIT_RECORD_FILE = "exit.json";

/** A batch's task table: entry `i` is array task `i`. */
export interface TaskTable {
  /** Format version, 1. */
  version: 1;
  /** Batch name (also the Slurm job name). */
  batch: string;
  /** The tasks, by array index. */
  tasks: ExecutorTask[];
}

/**
 * Reads one task of a task table, with the error naming the file when it is not what the runner
 * writes.
 *
 * @example
 * ```ts ignore
 * const task = await readTask("runs/lr/slurm/b1.tasks.json", 0);
 * ```
 */
export async function readTask(tablePath: string, index: number): Promise<ExecutorTask> {
  const table = JSON.parse(await Deno.readTextFile(tablePath)) as unknown;
  if (!isPlainObject(table) || table.version !== 1 || !Array.isArray(table.tasks)) {
    throw new Error(
      `Expected a task table {version: 1, batch, tasks: [...]} in "${tablePath}", found ${
        describeValue(table)
      }`,
    );
  }
  const task = (table.tasks as unknown[])[index];
  if (!isPlainObject(task) || typeof task.id !== "string" || typeof task.cmd !== "string") {
    throw new Error(
      `Expected task ${index} in "${tablePath}" (${table.tasks.length} tasks), found ${
        describeValue(task)
      }`,
    );
  }
  return task as unknown as ExecutorTask;
}

/**
 * Runs one task and writes its exit record; returns it. A SIGTERM (Slurm's cancel or time
 * limit) is passed on to the trial, and the record then says so.
 *
 * @example
 * ```ts ignore
 * const exit = await runTask(await readTask(table, 0));
 * ```
 */
export async function runTask(task: ExecutorTask): Promise<ExitRecord> {
  const host = Deno.env.get("SLURMD_NODENAME") || hostName();
  const startedAt = new Date();
  const t0 = performance.now();
  const record = (rest: Partial<ExitRecord>): ExitRecord => ({
    id: task.id,
    attempt: task.attempt,
    code: null,
    signal: null,
    host,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    wallSeconds: (performance.now() - t0) / 1000,
    ...rest,
  });
  let exit: ExitRecord;
  let terminated = false;
  try {
    const child = new Deno.Command(task.cmd, {
      args: task.args,
      cwd: task.cwd,
      env: task.env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const onTerm = () => {
      terminated = true;
      try {
        child.kill("SIGTERM");
      } catch { /* already exited */ }
    };
    Deno.addSignalListener("SIGTERM", onTerm);
    const pipes = pipeTrialOutput(child, task.trialDir);
    const status = await child.status;
    await pipes.catch(() => {});
    Deno.removeSignalListener("SIGTERM", onTerm);
    exit = record({
      code: status.code,
      signal: status.signal,
      ...(terminated ? { killedBy: "SIGTERM to the array task (Slurm cancel or time limit)" } : {}),
    });
  } catch (e) {
    exit = record({ startError: (e as Error).message });
  }
  await writeTextAtomic(join(task.trialDir, EXIT_RECORD_FILE), JSON.stringify(exit) + "\n");
  return exit;
}

if (import.meta.main) {
  const [table, index = Deno.env.get("SLURM_ARRAY_TASK_ID")] = Deno.args;
  const i = Number(index);
  if (table === undefined || !Number.isInteger(i) || i < 0) {
    console.error(
      `slurm_task: expected arguments TABLE INDEX (or $SLURM_ARRAY_TASK_ID), found ${
        Deno.args.join(" ") || "none"
      }`,
    );
    Deno.exit(2);
  }
  const exit = await runTask(await readTask(table, i));
  Deno.exit(exit.code ?? 1);
}
