/**
 * Cleaning up trial processes orphaned by a runner that was killed (e.g. SIGKILL): before a
 * `running` trial is restarted, its old process must not keep writing into the trial directory.
 *
 * @module
 */

import { TRIAL_ENV } from "./protocol.ts";

/**
 * Kills the process `pid` if, and only if, it is still alive and is the trial process for
 * `trialDir` — verified through `/proc/<pid>/environ` containing `SWEEP_TRIAL_DIR=<trialDir>`, so
 * a recycled pid is never killed. Waits (up to `timeoutMs`) until it is gone. Returns whether a
 * process was killed. On systems without `/proc` (non-Linux) nothing can be verified and it
 * returns false.
 *
 * @example
 * ```ts
 * import { killOrphanTrial } from "./orphan.ts";
 * await killOrphanTrial(123456789, "/tmp/sweep/trials/x"); // false: no such process
 * ```
 */
export async function killOrphanTrial(
  pid: number,
  trialDir: string,
  timeoutMs = 5000,
): Promise<boolean> {
  if (!isTrialProcess(pid, trialDir)) return false;
  try {
    Deno.kill(pid, "SIGKILL");
  } catch {
    return false;
  }
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) {
      throw new Error(
        `Expected orphaned trial process ${pid} (${trialDir}) to exit after SIGKILL, found it ` +
          `still alive after ${timeoutMs} ms`,
      );
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

function isTrialProcess(pid: number, trialDir: string): boolean {
  let environ: string;
  try {
    environ = Deno.readTextFileSync(`/proc/${pid}/environ`);
  } catch {
    return false;
  }
  return environ.split("\0").includes(`${TRIAL_ENV.dir}=${trialDir}`);
}

/** Alive and not a zombie (a zombie no longer runs code, it only awaits reaping). */
function isAlive(pid: number): boolean {
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return false;
  }
  const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  return state !== "Z" && state !== "X";
}
