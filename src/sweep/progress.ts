/**
 * Sweep-level progress: the snapshot passed to `onProgress`, an ETA estimate and a formatter for
 * command-line output.
 *
 * @module
 */

import { formatDuration } from "../util/duration.ts";

/** What just happened. */
export type ProgressEvent =
  | { type: "start" }
  | { type: "trial-queued"; trialId: string; attempt: number; jobId: string }
  | { type: "trial-start"; trialId: string; attempt: number; host?: string | null }
  | { type: "trial-lost"; trialId: string; reason: string }
  | { type: "trial-done"; trialId: string; wallSeconds: number }
  | { type: "trial-failed"; trialId: string; wallSeconds: number; error: string }
  | { type: "finish" };

/** A snapshot of the whole sweep, emitted after every state change. */
export interface SweepProgress {
  /** Sweep name. */
  sweep: string;
  /** Number of trials in the sweep. */
  total: number;
  /** Trials finished successfully (including in earlier runs). */
  done: number;
  /** Trials that failed. */
  failed: number;
  /** Trials submitted to a scheduler and waiting for a node. */
  queued: number;
  /** Trials running now. */
  running: number;
  /** Trials not started yet. */
  pending: number;
  /** Ids of the running trials. */
  runningIds: string[];
  /** Seconds since this `runSweep` call started. */
  elapsedSeconds: number;
  /** Mean wall time of finished trials, or null before the first one finishes. */
  meanTrialSeconds: number | null;
  /** Estimated seconds until the sweep completes, or null when unknown. */
  etaSeconds: number | null;
  /** The event that produced this snapshot. */
  event: ProgressEvent;
}

/**
 * Estimates remaining time: the remaining trials (pending + running) times the mean trial wall
 * time, divided by the parallelism that can actually be used. Returns 0 when nothing remains and
 * null when no trial has finished yet.
 *
 * @example
 * ```ts
 * import { estimateEta } from "./progress.ts";
 * estimateEta({ pending: 3, running: 1, meanTrialSeconds: 10, concurrency: 2 }); // 20
 * ```
 */
export function estimateEta(
  p: { pending: number; running: number; meanTrialSeconds: number | null; concurrency: number },
): number | null {
  const remaining = p.pending + p.running;
  if (remaining === 0) return 0;
  if (p.meanTrialSeconds === null) return null;
  return (p.meanTrialSeconds * remaining) / Math.max(1, Math.min(p.concurrency, remaining));
}

/**
 * Renders a progress snapshot for a CLI. With `tty: true` it returns a carriage return, an
 * erase-line sequence and the status line (no newline), so repeated writes update a single line;
 * otherwise it returns a plain line ending in `\n` that also names the trial event. Queued trials
 * (submitted to Slurm, waiting for a node) are shown when there are any.
 *
 * @example
 * ```ts
 * import { formatProgress } from "./progress.ts";
 * const line = formatProgress({
 *   sweep: "lr", total: 4, done: 1, failed: 0, queued: 0, running: 1, pending: 2, runningIds: ["a"],
 *   elapsedSeconds: 12, meanTrialSeconds: 10, etaSeconds: 30, event: { type: "start" },
 * }, { tty: false });
 * // "[lr] 1/4 done, 0 failed, 1 running, ETA 30s, elapsed 12s\n"
 * ```
 */
export function formatProgress(
  p: SweepProgress,
  options: { tty: boolean; columns?: number },
): string {
  const eta = p.etaSeconds === null ? "ETA ?" : `ETA ${formatDuration(p.etaSeconds)}`;
  const status =
    `[${p.sweep}] ${p.done}/${p.total} done, ${p.failed} failed, ${p.running} running, ` +
    `${p.queued > 0 ? `${p.queued} queued, ` : ""}${eta}, elapsed ${
      formatDuration(p.elapsedSeconds)
    }`;
  if (options.tty) {
    const cols = options.columns ?? 120;
    const line = status.length > cols - 1 ? status.slice(0, cols - 2) + "…" : status;
    return `\r\x1b[2K${line}`;
  }
  const e = p.event;
  let what = "";
  if (e.type === "trial-queued") {
    what = ` | queued ${e.trialId} (attempt ${e.attempt}) as Slurm job ${e.jobId}`;
  } else if (e.type === "trial-start") {
    what = ` | start ${e.trialId} (attempt ${e.attempt}${e.host ? ` on ${e.host}` : ""})`;
  } else if (e.type === "trial-lost") what = ` | lost ${e.trialId} (${e.reason}): runs again`;
  else if (e.type === "trial-done") {
    what = ` | done ${e.trialId} in ${formatDuration(e.wallSeconds)}`;
  } else if (e.type === "trial-failed") {
    const first = e.error.split("\n")[0];
    what = ` | FAILED ${e.trialId}: ${first}`;
  }
  return `${status}${what}\n`;
}
