/**
 * One training run per output folder: {@linkcode acquireTrainLock} creates `OUT/train.lock`
 * (exclusively, naming the holder's pid) or fails at once when a live run holds it; a lock whose
 * holder is gone (a `kill -9`, a crash) is taken over with a note. The trainer holds it for the
 * whole run and releases it on every way out (normal end, Ctrl-C, an error).
 *
 * Whether the holder lives is read from `/proc/PID` (Linux; a zombie counts as dead). Where that
 * cannot be told (no `/proc`, no read permission), the lock counts as live and the error says which
 * file to remove.
 *
 * @module
 */

/** The lock file's name inside the output folder. */
export const LOCK_FILE = "train.lock";

/** A held lock ({@linkcode acquireTrainLock}). */
export interface TrainLock {
  /** The lock file. */
  path: string;
  /** Remove the lock file if it still names this process (idempotent, synchronous). */
  release(): void;
}

/**
 * Another live run holds the output folder.
 *
 * @example
 * ```ts
 * import { TrainLockError } from "./lock.ts";
 * const e = new TrainLockError("runs/x", 1234, "runs/x/train.lock", "");
 * console.log(e.pid); // 1234
 * ```
 */
export class TrainLockError extends Error {
  /** The holder's pid. */
  readonly pid: number;
  /** The lock file. */
  readonly path: string;
  /** Say which folder, which pid and which lock file; `extra` is appended. */
  constructor(outDir: string, pid: number, path: string, extra: string) {
    super(
      `expected no other training run in ${outDir}, found one running as pid ${pid} ` +
        `(lock ${path})${extra}; wait for it to end or choose another --out`,
    );
    this.name = "TrainLockError";
    this.pid = pid;
    this.path = path;
  }
}

/**
 * Whether process `pid` is alive: true, false, or undefined when this platform cannot tell
 * (no readable `/proc`). A zombie (exited, not yet reaped) is dead.
 *
 * @example
 * ```ts
 * import { processAlive } from "./lock.ts";
 * console.log(processAlive(Deno.pid)); // true on Linux
 * ```
 */
export function processAlive(pid: number): boolean | undefined {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // "PID (comm) STATE ...": comm may hold spaces and parentheses; the state follows the last ")".
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) return undefined;
  }
  try {
    Deno.statSync("/proc/self/stat");
    return false; // /proc works, and has no such process
  } catch {
    return undefined;
  }
}

function lockPath(outDir: string): string {
  return `${outDir.replace(/\/+$/, "") || "/"}/${LOCK_FILE}`;
}

/**
 * Remove `OUT/train.lock` if this process holds it (synchronous, so that it also runs right before
 * `Deno.exit`, e.g. on a second Ctrl-C); otherwise do nothing.
 *
 * @example
 * ```ts
 * import { acquireTrainLock, releaseTrainLock } from "./lock.ts";
 * const dir = await Deno.makeTempDir();
 * await acquireTrainLock(dir);
 * releaseTrainLock(dir);
 * ```
 */
export function releaseTrainLock(outDir: string): void {
  const path = lockPath(outDir);
  try {
    if (readHolder(path)?.pid === Deno.pid) Deno.removeSync(path);
  } catch {
    // already gone
  }
}

function readHolder(path: string): { pid: number; started?: string } | undefined {
  try {
    const o = JSON.parse(Deno.readTextFileSync(path));
    return Number.isSafeInteger(o?.pid) && o.pid > 0
      ? { pid: o.pid, started: typeof o.started === "string" ? o.started : undefined }
      : undefined;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw e;
    return undefined; // torn or not ours: nobody can hold it
  }
}

/**
 * Take `OUT/train.lock` for this process. A lock naming a live process (this one included) is an
 * error ({@linkcode TrainLockError}); one naming a dead process, or unreadable, is replaced and
 * `onNote` told so. `outDir` must exist.
 *
 * @throws {TrainLockError} when another live run holds `outDir`.
 * @example
 * ```ts
 * import { acquireTrainLock } from "./lock.ts";
 * const dir = await Deno.makeTempDir();
 * const lock = await acquireTrainLock(dir, { onNote: console.error });
 * lock.release();
 * ```
 */
export async function acquireTrainLock(
  outDir: string,
  opts: { onNote?: (message: string) => void } = {},
): Promise<TrainLock> {
  const path = lockPath(outDir);
  const text = JSON.stringify({ pid: Deno.pid, started: new Date().toISOString() }) + "\n";
  for (let attempt = 0;; attempt++) {
    try {
      const file = await Deno.open(path, { write: true, createNew: true });
      try {
        await file.write(new TextEncoder().encode(text));
        await file.sync();
      } finally {
        file.close();
      }
      return { path, release: () => releaseTrainLock(outDir) };
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists) || attempt >= 3) throw e;
    }
    let holder;
    try {
      holder = readHolder(path);
    } catch {
      continue; // removed meanwhile: try again
    }
    if (holder !== undefined) {
      const alive = holder.pid === Deno.pid || processAlive(holder.pid);
      const since = holder.started ? `, since ${holder.started}` : "";
      if (alive === true) throw new TrainLockError(outDir, holder.pid, path, since);
      if (alive === undefined) {
        throw new TrainLockError(
          outDir,
          holder.pid,
          path,
          `${since}; whether it lives cannot be told here: remove ${path} if it does not`,
        );
      }
    }
    opts.onNote?.(
      holder === undefined
        ? `took over the unreadable lock ${path}`
        : `took over the stale lock ${path} of pid ${holder.pid} (no such process: a killed run)`,
    );
    await Deno.remove(path).catch(() => {});
  }
}
