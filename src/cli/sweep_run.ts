/**
 * Command-line entry for the sweep runner.
 *
 * ```sh
 * deno run -A src/cli/sweep_run.ts --spec sweep.json --out runs/lr --entry src/cli/train.ts \
 *   [--concurrency 2] [--retry-failed] [--force] [--timeout 600] [--backend cpu] \
 *   [--version tfjs=4.22.0]
 * ```
 *
 * Exit code: 0 when every trial is done, 1 when some failed (or the runner failed), 2 on bad
 * input (flags, spec file, a sweep in `--out` whose trials differ without `--force`), 130 when
 * interrupted (Ctrl-C: running trials are killed and left pending for the next run). Trials run
 * with `TRIAL_PERMISSIONS` (src/cli/permissions.ts) and inherit the environment (`COCA_BACKEND`
 * included).
 * Rerunning the same command resumes the sweep.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { formatProgress } from "../sweep/progress.ts";
import { runSweep } from "../sweep/run.ts";
import { validateSweepSpec } from "../sweep/spec.ts";
import { reportError, runCli, UsageError } from "./main.ts";
import { resolveConfigDataPaths } from "../data/paths.ts";

const USAGE = `Usage: sweep_run --spec <sweep.json> --out <dir> --entry <trial.ts>
  [--concurrency N] [--retry-failed] [--force] [--timeout SECONDS] [--backend NAME]
  [--version NAME=VERSION ...]`;

/**
 * Runs the CLI with `args` and returns the process exit code.
 *
 * @example
 * ```ts
 * import { main } from "./sweep_run.ts";
 * const code = await main(["--spec", "sweep.json", "--out", "runs/x", "--entry", "train.ts"]);
 * ```
 */
export function main(args: string[]): Promise<number> {
  return runCli("sweep_run", USAGE, sweepMain, args);
}

async function sweepMain(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      spec: { type: "string" },
      out: { type: "string" },
      entry: { type: "string" },
      concurrency: { type: "string", default: "1" },
      "retry-failed": { type: "boolean", default: false },
      force: { type: "boolean", default: false },
      timeout: { type: "string" },
      backend: { type: "string" },
      version: { type: "string", multiple: true, default: [] },
      help: { type: "boolean", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.spec || !values.out || !values.entry) {
    const missing = ["spec", "out", "entry"].filter((k) => !values[k as "spec"]);
    throw new UsageError(`expected --spec, --out and --entry, found no --${missing.join(", --")}`);
  }
  const concurrency = Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) {
    throw new UsageError(
      `expected --concurrency to be an integer in 1..256, found "${values.concurrency}"`,
    );
  }
  const timeout = values.timeout === undefined ? undefined : Number(values.timeout);
  if (timeout !== undefined && !(timeout > 0)) {
    throw new UsageError(
      `expected --timeout to be a number of seconds > 0, found "${values.timeout}"`,
    );
  }
  const versions: Record<string, string> = {};
  for (const v of values.version) {
    const eq = v.indexOf("=");
    if (eq <= 0) throw new UsageError(`expected --version NAME=VERSION, found "${v}"`);
    versions[v.slice(0, eq)] = v.slice(eq + 1);
  }

  let raw: unknown;
  try {
    raw = JSON.parse(await Deno.readTextFile(values.spec));
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable) throw e;
    throw new UsageError(`cannot read spec ${values.spec}: ${(e as Error).message}`);
  }
  const tty = Deno.stdout.isTerminal();
  const columns = tty ? Deno.consoleSize().columns : undefined;
  const enc = new TextEncoder();
  const ctl = new AbortController();
  const onSigint = () => ctl.abort(new Error("interrupted"));
  Deno.addSignalListener("SIGINT", onSigint);
  try {
    // A relative base.train.data.path is relative to the spec file's folder.
    const spec = validateSweepSpec(resolveConfigDataPaths(raw, values.spec, ["base", "train"]));
    const summary = await runSweep({
      spec,
      outDir: values.out,
      entry: values.entry,
      concurrency,
      retryFailed: values["retry-failed"],
      force: values.force,
      trialTimeoutSeconds: timeout,
      backend: values.backend,
      versions,
      signal: ctl.signal,
      onProgress: (p) => Deno.stdout.writeSync(enc.encode(formatProgress(p, { tty, columns }))),
    });
    if (tty) Deno.stdout.writeSync(enc.encode("\n"));
    console.log(
      `sweep "${summary.sweep}": ${summary.done}/${summary.total} done, ${summary.failed} failed, ` +
        `${summary.started} started now, ${summary.recovered} recovered; results in ${summary.dbPath}`,
    );
    if (summary.aborted) return 130;
    return summary.failed > 0 ? 1 : 0;
  } catch (e) {
    if (tty) Deno.stdout.writeSync(enc.encode("\n"));
    return reportError("sweep_run", USAGE, e);
  } finally {
    Deno.removeSignalListener("SIGINT", onSigint);
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
