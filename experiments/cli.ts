/**
 * `deno task experiment <name> [--quick] [--out DIR] [--backend B] [--concurrency N] [--force]`:
 * run one experiment of `experiments/` (its sweep, then `summary.md` and `report.html` next to
 * `results.sqlite`). Rerunning the same command resumes; Ctrl-C stops and keeps what is done.
 * `--tiny` is a seconds-long mode for tests (its numbers mean nothing).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { EXPERIMENTS, type Mode, runExperiment } from "./mod.ts";
import { formatProgress } from "../src/sweep/progress.ts";
import { BACKEND_CHOICES, BACKENDS } from "../src/backends/setup.ts";
import { isPositiveInt } from "../src/util/validate.ts";

const USAGE = `usage: deno task experiment <${Object.keys(EXPERIMENTS).join("|")}> [--quick] ` +
  `[--out DIR] [--backend ${BACKEND_CHOICES}] [--concurrency N] [--force]`;

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    quick: { type: "boolean", default: false },
    tiny: { type: "boolean", default: false },
    out: { type: "string" },
    backend: { type: "string", default: "auto" },
    concurrency: { type: "string", default: "1" },
    force: { type: "boolean", default: false },
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
  console.error(
    `experiment: expected one experiment name (${Object.keys(EXPERIMENTS).join(", ")}), found ${
      positionals.length ? positionals.map((p) => `"${p}"`).join(" ") : "none"
    }\n${USAGE}`,
  );
  Deno.exit(2);
}
const concurrency = Number(values.concurrency);
if (!isPositiveInt(concurrency)) {
  console.error(
    `experiment: expected --concurrency to be a positive integer, found ${values.concurrency}`,
  );
  Deno.exit(2);
}
if (!["auto", ...BACKENDS].includes(values.backend)) {
  console.error(
    `experiment: expected --backend ${BACKEND_CHOICES}, found ${values.backend}`,
  );
  Deno.exit(2);
}
const mode: Mode = values.tiny ? "tiny" : values.quick ? "quick" : "full";
const ctl = new AbortController();
Deno.addSignalListener("SIGINT", () => ctl.abort());
const tty = Deno.stdout.isTerminal();
const out = await runExperiment(exp, {
  mode,
  outDir: values.out,
  backend: values.backend,
  concurrency,
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
