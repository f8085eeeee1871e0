/**
 * `deno task experiment <name> [--quick] [--out DIR] [--backend B] [--concurrency N] [--force]
 * [--executor local|slurm] [--partition P] [--time MIN] [--cpus-per-task N] [--slurm-arg=ARG]...`:
 * run one experiment of `experiments/` (its sweep, then `summary.md` and `report.html` next to
 * `results.sqlite`). Rerunning the same command resumes (under Slurm it takes over the trials
 * still queued or running); Ctrl-C stops (cancels the Slurm jobs) and keeps what is done.
 * `--tiny` is a seconds-long mode for tests (its numbers mean nothing). Backend: `--backend`, else
 * `$COCA_BACKEND`, else `auto`, written into every trial's config. Exit status: 0 every trial done,
 * 1 some failed (or the run was stopped), 2 bad input.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { EXPERIMENTS, type Mode, runExperiment } from "./mod.ts";
import type { ExecutorSpec } from "../src/sweep/executor.ts";
import { formatProgress } from "../src/sweep/progress.ts";
import { BACKEND_CHOICES } from "../src/backends/setup.ts";
import { isPositiveInt } from "../src/util/validate.ts";
import { backendChoice, exitOnUncaught, UsageError } from "../src/cli/main.ts";

const USAGE = `usage: deno task experiment <${Object.keys(EXPERIMENTS).join("|")}> [--quick] ` +
  `[--out DIR] [--backend ${BACKEND_CHOICES}] [--concurrency N] [--force] ` +
  `[--executor local|slurm] [--partition P] [--time MIN] [--cpus-per-task N] [--slurm-arg=ARG]...`;
exitOnUncaught("experiment", USAGE);

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    quick: { type: "boolean", default: false },
    tiny: { type: "boolean", default: false },
    out: { type: "string" },
    backend: { type: "string" },
    concurrency: { type: "string", default: "1" },
    force: { type: "boolean", default: false },
    executor: { type: "string", default: "local" },
    partition: { type: "string" },
    time: { type: "string" },
    "cpus-per-task": { type: "string" },
    "slurm-arg": { type: "string", multiple: true },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log(USAGE);
  Deno.exit(0);
}
const name = positionals[0];
const exp = name === undefined ? undefined : EXPERIMENTS[name];
if (!exp || positionals.length !== 1) {
  throw new UsageError(
    `expected one experiment name (${Object.keys(EXPERIMENTS).join(", ")}), found ${
      positionals.length ? positionals.map((p) => `"${p}"`).join(" ") : "none"
    }`,
  );
}
const concurrency = Number(values.concurrency);
if (!isPositiveInt(concurrency)) {
  throw new UsageError(
    `expected --concurrency to be a positive integer, found ${values.concurrency}`,
  );
}
const slurmFlags = ["partition", "time", "cpus-per-task", "slurm-arg"] as const;
let executor: ExecutorSpec;
if (values.executor === "slurm") {
  const positive = (flag: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!isPositiveInt(n)) {
      throw new UsageError(`expected ${flag} to be a positive integer, found ${v}`);
    }
    return n;
  };
  executor = {
    kind: "slurm",
    ...(values.partition === undefined ? {} : { partition: values.partition }),
    ...(values.time === undefined
      ? {}
      : { timeMinutes: positive("--time (minutes)", values.time) }),
    ...(values["cpus-per-task"] === undefined
      ? {}
      : { cpusPerTask: positive("--cpus-per-task", values["cpus-per-task"]) }),
    ...(values["slurm-arg"] === undefined ? {} : { args: values["slurm-arg"] }),
  };
} else if (values.executor === "local") {
  const given = slurmFlags.filter((f) => values[f] !== undefined);
  if (given.length > 0) {
    throw new UsageError(
      `expected --executor slurm with ${
        given.map((f) => `--${f}`).join(", ")
      }, found executor local`,
    );
  }
  executor = { kind: "local" };
} else {
  throw new UsageError(`expected --executor to be local or slurm, found "${values.executor}"`);
}
// Written into each trial's config, so the trials run on it whatever their environment.
const backend = backendChoice(values.backend) ?? "auto";
const mode: Mode = values.tiny ? "tiny" : values.quick ? "quick" : "full";
const ctl = new AbortController();
Deno.addSignalListener("SIGINT", () => ctl.abort());
const tty = Deno.stdout.isTerminal();
const out = await runExperiment(exp, {
  mode,
  outDir: values.out,
  backend,
  concurrency,
  executor,
  force: values.force,
  signal: ctl.signal,
  onProgress: (p) => Deno.stdout.writeSync(new TextEncoder().encode(formatProgress(p, { tty }))),
});
if (tty) console.log();
console.log(`\n${out.summary}`);
console.log(`results: ${out.dbPath}\nsummary: ${out.summaryPath}\nreport:  ${out.reportPath}`);
console.log(
  `${out.sweep.done}/${out.sweep.total} trials done, ${out.sweep.failed} failed, ` +
    `${out.sweep.wallSeconds.toFixed(1)} s`,
);
Deno.exit(out.sweep.failed > 0 || out.sweep.aborted ? 1 : 0);
