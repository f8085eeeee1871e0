/**
 * Runs one bench case in this process and prints what it measured, for `bench/report.ts`'s
 * side-by-side section: one process per case, so that each case's peak RSS (`VmHWM`) is its own.
 *
 * Usage: `deno run -A bench/case_runner.ts --case ID --backend NAME [--steps N] [--warmup W]`
 *
 * Runs `steps` iterations (the first `warmup` of them untimed in the median but still counted as
 * steps), then prints one line `CASE_RESULT {json}` ({@linkcode CaseRunResult}) on stdout. The
 * OpenBLAS thread count comes from `COCA_BLAS_THREADS` as everywhere else.
 *
 * Exit status: 0 measured, 2 bad arguments, 1 the backend or the case failed.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { CASES } from "./cases.ts";
import { MODEL_CASES } from "./model_cases.ts";
import { MODULE_CASES } from "./module_cases.ts";
import { setBenchBackend } from "./backend_setup.ts";
import { blasInfo } from "../src/backends/blas/backend.ts";

/** The line prefix of the runner's result on stdout. */
export const CASE_RESULT_PREFIX = "CASE_RESULT ";

/** `tf.memory()` figures the runner records. */
export interface TfMemory {
  numTensors: number;
  numBytes: number;
}

/** What one case run measured. */
export interface CaseRunResult {
  id: string;
  backend: string;
  /** Backend details (library, build, threads). */
  detail: string;
  /** OpenBLAS threads (`blasInfo().threads`) on blas, else null. */
  threads: number | null;
  /**
   * On blas, the native kernels that ran (`blasInfo().native`: their library and threads, or why
   * the JavaScript kernels ran instead); null on other backends.
   */
  native: { library: string; threads: number } | { unavailable: string } | null;
  /** Iterations run, warm-up included. */
  steps: number;
  /** Leading iterations left out of the timing. */
  warmup: number;
  /** Milliseconds of every iteration, warm-up included. */
  timesMs: number[];
  /** `tf.memory()` after the first iteration (its outputs disposed). */
  memoryAfterFirst: TfMemory;
  /** `tf.memory()` after the last iteration (its outputs disposed), before the case's cleanup. */
  memoryAfterLast: TfMemory;
  /** Resident set size (bytes) after the first iteration. */
  rssAfterFirst: number;
  /** Resident set size (bytes) after the last iteration. */
  rssAfterLast: number;
  /** Peak resident set size of this process (`VmHWM`, bytes). */
  peakRss: number;
}

/**
 * `VmRSS` and `VmHWM` (bytes) from a `/proc/<pid>/status` text; null for a missing field.
 *
 * @example
 * ```ts
 * import { parseProcStatus } from "./case_runner.ts";
 * console.log(parseProcStatus("VmHWM:\t  2048 kB\nVmRSS:\t 1024 kB\n"));
 * // { rss: 1048576, hwm: 2097152 }
 * ```
 */
export function parseProcStatus(text: string): { rss: number | null; hwm: number | null } {
  const field = (name: string) => {
    const m = new RegExp(`^${name}:\\s*(\\d+)\\s*kB`, "m").exec(text);
    return m ? Number(m[1]) * 1024 : null;
  };
  return { rss: field("VmRSS"), hwm: field("VmHWM") };
}

function memoryNow(): { rss: number; hwm: number } {
  let status = { rss: null as number | null, hwm: null as number | null };
  try {
    status = parseProcStatus(Deno.readTextFileSync("/proc/self/status"));
  } catch {
    // no /proc: fall back to Deno's figure
  }
  const rss = status.rss ?? Deno.memoryUsage().rss;
  return { rss, hwm: status.hwm ?? rss };
}

function tfMemory(): TfMemory {
  const m = tf.memory();
  return { numTensors: m.numTensors, numBytes: m.numBytes };
}

/**
 * Runs case `id` on `backend` for `steps` iterations in this process.
 *
 * @example
 * ```ts
 * import { runCase } from "./case_runner.ts";
 * const r = await runCase("matmul-256", "cpu", 3, 1);
 * console.log(r.memoryAfterFirst.numTensors === r.memoryAfterLast.numTensors);
 * ```
 */
export async function runCase(
  id: string,
  backend: string,
  steps: number,
  warmup: number,
): Promise<CaseRunResult> {
  const c = [...CASES, ...MODULE_CASES, ...MODEL_CASES].find((x) => x.id === id);
  if (!c) throw new Error(`expected a bench case id, found "${id}"`);
  const b = await setBenchBackend(backend);
  if (!b.ok) throw new Error(`backend ${backend} did not start: ${b.reason}`);
  const run = await c.setup();
  const timesMs: number[] = [];
  let memoryAfterFirst: TfMemory = tfMemory();
  let rssAfterFirst = 0;
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    const out = await run.run();
    const outs = Array.isArray(out) ? out : [out];
    for (const t of outs) await t.data();
    timesMs.push(performance.now() - t0);
    tf.dispose(outs);
    if (i === 0) {
      memoryAfterFirst = tfMemory();
      rssAfterFirst = memoryNow().rss;
    }
  }
  const memoryAfterLast = tfMemory();
  const end = memoryNow();
  run.dispose();
  return {
    id,
    backend,
    detail: b.detail,
    threads: backend === "blas" ? blasInfo()?.threads ?? null : null,
    native: backend === "blas" ? blasInfo()?.native ?? null : null,
    steps,
    warmup,
    timesMs,
    memoryAfterFirst,
    memoryAfterLast,
    rssAfterFirst,
    rssAfterLast: end.rss,
    peakRss: end.hwm,
  };
}

function positiveInt(flag: string, v: string | undefined, min: number): number {
  const n = Number(v);
  if (v === undefined || !Number.isInteger(n) || n < min) {
    console.error(`case_runner: expected ${flag} to be an integer >= ${min}, found ${v ?? "none"}`);
    Deno.exit(2);
  }
  return n;
}

if (import.meta.main) {
  let id: string | undefined, backend = "blas", steps = 3, warmup = 1;
  const a = Deno.args;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === "--case") id = a[++i];
    else if (a[i] === "--backend") backend = a[++i] ?? "";
    else if (a[i] === "--steps") steps = positiveInt("--steps", a[++i], 1);
    else if (a[i] === "--warmup") warmup = positiveInt("--warmup", a[++i], 0);
    else {
      console.error(
        `case_runner: expected --case, --backend, --steps or --warmup, found "${a[i]}"`,
      );
      Deno.exit(2);
    }
  }
  if (!id || !backend) {
    console.error("usage: deno run -A bench/case_runner.ts --case ID --backend NAME [--steps N]");
    Deno.exit(2);
  }
  try {
    const r = await runCase(id, backend, steps, Math.min(warmup, steps - 1));
    console.log(CASE_RESULT_PREFIX + JSON.stringify(r));
  } catch (e) {
    console.error(`case_runner: ${e instanceof Error ? e.message : String(e)}`);
    Deno.exit(1);
  }
  Deno.exit(0);
}
