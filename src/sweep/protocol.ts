/**
 * The file protocol between the sweep runner and a trial process, with helpers for both sides.
 *
 * A trial process is started with its trial directory prepared by the runner:
 *
 * - `<trialDir>/config.json` — the full trial config (written by the runner).
 * - argv (default command): `--config <trialDir>/config.json --out <trialDir>`;
 *   env: `SWEEP_TRIAL_DIR`, `SWEEP_TRIAL_ID`, `SWEEP_TRIAL_SEED` (always set).
 *
 * The trial then:
 *
 * 1. appends one JSON object per line to `<trialDir>/metrics.jsonl`, each with a numeric `step`
 *    (e.g. `{"step": 10, "loss": 2.3}`); several lines may share a step;
 * 2. writes `<trialDir>/final.json` atomically (temp file + rename) as
 *    `{"metrics": {...}, "backend"?: "cpu", "versions"?: {"tfjs": "4.22.0"}}`;
 * 3. exits with code 0.
 *
 * Anything else (non-zero exit, missing or invalid `final.json`, an invalid metrics line) marks
 * the trial failed. stdout/stderr are captured to `<trialDir>/stdout.log` and `stderr.log`.
 *
 * @module
 */

import { join } from "node:path";
import { describeValue, isPlainObject, type JsonObject, type JsonValue } from "./json.ts";

/** Environment variables set for every trial process. */
export const TRIAL_ENV = {
  /** Absolute trial directory. */
  dir: "SWEEP_TRIAL_DIR",
  /** Trial id. */
  id: "SWEEP_TRIAL_ID",
  /** Trial seed (decimal). */
  seed: "SWEEP_TRIAL_SEED",
} as const;

/** File names inside a trial directory. */
export const TRIAL_FILES = {
  config: "config.json",
  metrics: "metrics.jsonl",
  final: "final.json",
  stdout: "stdout.log",
  stderr: "stderr.log",
} as const;

/**
 * Copy a spawned trial's stdout and stderr (both `"piped"`) into its folder's `stdout.log` and
 * `stderr.log` until it exits; every executor runs trials through this.
 *
 * @example
 * ```ts ignore
 * const pipes = pipeTrialOutput(child, trialDir);
 * const status = await child.status;
 * await pipes.catch(() => {}); // the logs are best effort
 * ```
 */
export async function pipeTrialOutput(child: Deno.ChildProcess, trialDir: string): Promise<void> {
  const open = (name: string) =>
    Deno.open(join(trialDir, name), { create: true, write: true, truncate: true });
  const [out, err] = await Promise.all([open(TRIAL_FILES.stdout), open(TRIAL_FILES.stderr)]);
  await Promise.all([child.stdout.pipeTo(out.writable), child.stderr.pipeTo(err.writable)]);
}

/** Content of `final.json`. */
export interface TrialFinal {
  /** Final metrics (non-finite numbers are not representable in JSON: use null). */
  metrics: JsonObject;
  /** Backend the trial ran on (e.g. a tfjs backend name). */
  backend?: string;
  /** Library versions used by the trial, merged over the runner's. */
  versions?: Record<string, string>;
}

/** One line of `metrics.jsonl`. */
export interface StepRecord {
  /** Training step. */
  step: number;
  /** All fields of the line, `step` included. */
  metrics: JsonObject;
}

/**
 * Parses the `--config <path> --out <dir>` arguments the default runner command passes.
 *
 * @example
 * ```ts
 * import { parseTrialArgs } from "./protocol.ts";
 * const { config, out } = parseTrialArgs(["--config", "t/config.json", "--out", "t"]);
 * ```
 */
export function parseTrialArgs(args: string[]): { config: string; out: string } {
  const get = (flag: string): string => {
    const i = args.indexOf(flag);
    if (i < 0 || i + 1 >= args.length) {
      throw new Error(`Expected "${flag} <path>" in trial arguments, found: ${args.join(" ")}`);
    }
    return args[i + 1];
  };
  return { config: get("--config"), out: get("--out") };
}

/**
 * Appends one metrics line to `<trialDir>/metrics.jsonl`.
 *
 * @example
 * ```ts
 * import { appendMetrics } from "./protocol.ts";
 * const dir = await Deno.makeTempDir();
 * await appendMetrics(dir, { step: 1, loss: 2.5 });
 * ```
 */
export async function appendMetrics(
  trialDir: string,
  record: { step: number } & Record<string, JsonValue>,
): Promise<void> {
  if (!Number.isFinite(record.step)) {
    throw new TypeError(`Expected a finite numeric "step" in metrics record, found ${record.step}`);
  }
  await Deno.writeTextFile(join(trialDir, TRIAL_FILES.metrics), JSON.stringify(record) + "\n", {
    append: true,
  });
}

/**
 * Writes a file atomically: to a temporary sibling, then renames over the target, so readers
 * never observe a partial file.
 *
 * @example
 * ```ts
 * import { writeTextAtomic } from "./protocol.ts";
 * const dir = await Deno.makeTempDir();
 * await writeTextAtomic(`${dir}/a.json`, "{}");
 * ```
 */
export async function writeTextAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    await Deno.writeTextFile(tmp, text);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/**
 * Writes `<trialDir>/final.json` atomically. Call it last, then exit 0.
 *
 * @example
 * ```ts
 * import { writeFinal } from "./protocol.ts";
 * const dir = await Deno.makeTempDir();
 * await writeFinal(dir, { metrics: { loss: 0.42 }, backend: "cpu" });
 * ```
 */
export async function writeFinal(trialDir: string, final: TrialFinal): Promise<void> {
  parseFinal(JSON.stringify(final));
  await writeTextAtomic(join(trialDir, TRIAL_FILES.final), JSON.stringify(final, null, 2) + "\n");
}

/**
 * Parses and validates the text of `final.json`.
 *
 * @example
 * ```ts
 * import { parseFinal } from "./protocol.ts";
 * parseFinal('{"metrics": {"loss": 0.5}}').metrics.loss; // 0.5
 * ```
 */
export function parseFinal(text: string): TrialFinal {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new Error(`Expected final.json to be JSON, found a parse error: ${(e as Error).message}`);
  }
  if (!isPlainObject(data) || !isPlainObject(data.metrics)) {
    throw new Error(
      `Expected final.json to be {"metrics": {...}}, found ${
        isPlainObject(data) ? `metrics: ${describeValue(data.metrics)}` : describeValue(data)
      }`,
    );
  }
  for (const key of Object.keys(data)) {
    if (!["metrics", "backend", "versions"].includes(key)) {
      throw new Error(
        `Unexpected field "${key}" in final.json (expected metrics, backend, versions)`,
      );
    }
  }
  if (data.backend !== undefined && typeof data.backend !== "string") {
    throw new Error(
      `Expected final.json "backend" to be a string, found ${describeValue(data.backend)}`,
    );
  }
  if (
    data.versions !== undefined &&
    !(isPlainObject(data.versions) &&
      Object.values(data.versions).every((v) => typeof v === "string"))
  ) {
    throw new Error(`Expected final.json "versions" to map names to version strings`);
  }
  return data as unknown as TrialFinal;
}

/**
 * Parses `metrics.jsonl`. With `strict`, any malformed line throws (naming the line number);
 * otherwise malformed lines (e.g. a line cut short by a crash) are skipped and reported in
 * `skipped`.
 *
 * @example
 * ```ts
 * import { parseMetricsJsonl } from "./protocol.ts";
 * const { records } = parseMetricsJsonl('{"step":1,"loss":2}\n{"step":2,"loss":1}\n');
 * records.length; // 2
 * ```
 */
export function parseMetricsJsonl(
  text: string,
  options: { strict?: boolean } = {},
): { records: StepRecord[]; skipped: number[] } {
  const records: StepRecord[] = [];
  const skipped: number[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "") continue;
    let problem: string | undefined;
    let data: unknown;
    try {
      data = JSON.parse(line);
    } catch (e) {
      problem = `invalid JSON (${(e as Error).message})`;
    }
    if (problem === undefined) {
      if (!isPlainObject(data)) problem = `expected an object, found ${describeValue(data)}`;
      else if (typeof data.step !== "number" || !Number.isFinite(data.step)) {
        problem = `expected a finite numeric "step", found ${describeValue(data.step)}`;
      }
    }
    if (problem !== undefined) {
      if (options.strict) throw new Error(`metrics.jsonl line ${i + 1}: ${problem}`);
      skipped.push(i + 1);
      continue;
    }
    const obj = data as JsonObject;
    records.push({ step: obj.step as number, metrics: obj });
  }
  return { records, skipped };
}
