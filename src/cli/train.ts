/**
 * `deno task train --config FILE [--resume] [--out DIR] [--steps N] [--backend B] [--allow-backend-change] [--reschedule]`
 *
 * Trains CoCa from a plain JSON config (see src/train/config.ts). Ctrl-C saves a
 * checkpoint before exiting; `--resume` continues exactly where it stopped.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { resolveTrainConfig, type TrainConfigInput } from "../train/config.ts";
import { dataSummaryText, train } from "../train/trainer.ts";
import { releaseTrainLock } from "../train/lock.ts";
import { readCheckpoint } from "../train/checkpoint.ts";
import { resolveConfigDataPaths } from "../data/paths.ts";
import { ProgressBar, trainProgressText } from "./progress.ts";
import { isPositiveInt } from "../util/validate.ts";
import { BACKEND_CHOICES } from "../backends/setup.ts";
import {
  backendChoice,
  errorMessage,
  exitOnUncaught,
  isInputError,
  requireBackendPermissions,
} from "./main.ts";

const usage =
  `usage: deno task train --config FILE.json [--resume] [--out DIR] [--steps N] [--backend ${BACKEND_CHOICES}]\n` +
  "       [--allow-backend-change]   (resume on another backend than the checkpoint's)\n" +
  "       [--reschedule]   (resume with more --steps: stretch the lr schedule over them)\n" +
  "       deno task train --resume --out DIR   (continue a run from its checkpoint's config)";

function fail(message: string): never {
  console.error(`train: ${message}\n${usage}`);
  Deno.exit(2);
}
exitOnUncaught("train", usage);

const { values } = parseArgs({
  args: Deno.args,
  options: {
    config: { type: "string" },
    resume: { type: "boolean" },
    out: { type: "string" },
    steps: { type: "string" },
    backend: { type: "string" },
    "allow-backend-change": { type: "boolean" },
    reschedule: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log(usage);
  Deno.exit(0);
}

let input: TrainConfigInput;
if (values.config) {
  try {
    // A relative data.path (and emoji's *Dir) is relative to the config file's folder.
    input = resolveConfigDataPaths(
      JSON.parse(await Deno.readTextFile(values.config)),
      values.config,
    );
  } catch (e) {
    fail(`cannot read config ${values.config}: ${errorMessage(e)}`);
  }
} else if (values.resume && values.out) {
  const ckpt = await readCheckpoint(`${values.out}/checkpoint`).catch((e) => fail(errorMessage(e)));
  if (!ckpt) fail(`no checkpoint in ${values.out}/checkpoint to resume`);
  input = ckpt.config;
} else fail("expected --config FILE (or --resume --out DIR)");

if (values.out) input.outDir = values.out;
// --backend, else the config's backend, else $COCA_BACKEND, else auto.
const backend = values.backend !== undefined || input.backend === undefined
  ? backendChoice(values.backend)
  : undefined;
if (backend) input.backend = backend;
if (values.steps) {
  const n = Number(values.steps);
  if (!isPositiveInt(n)) {
    fail(`expected --steps to be a positive integer, found ${values.steps}`);
  }
  input.steps = n;
}
let config;
try {
  config = resolveTrainConfig(input);
} catch (e) {
  fail(`bad config: ${(e as Error).message}`);
}
requireBackendPermissions(config.backend);

const abort = new AbortController();
let interrupts = 0;
Deno.addSignalListener("SIGINT", () => {
  if (++interrupts > 1) {
    releaseTrainLock(config.outDir);
    Deno.exit(130);
  }
  console.error("\ntrain: interrupted, saving a checkpoint (Ctrl-C again to quit at once)");
  abort.abort();
});

const bar = new ProgressBar();
const summary = await train(config, {
  resume: values.resume,
  allowBackendChange: values["allow-backend-change"],
  reschedule: values.reschedule,
  signal: abort.signal,
  onNote: (m) => console.error(`train: ${m}`),
  onData: (d) => console.error(dataSummaryText(d)),
  onProgress: (p) => bar.update(p.step, p.steps, trainProgressText(p, { digits: 4, lr: true })),
}).catch((e) => {
  bar.done();
  console.error(`train: ${errorMessage(e)}`);
  if (isInputError(e)) console.error(usage);
  Deno.exit(isInputError(e) ? 2 : 1);
});
bar.done();
console.log(JSON.stringify({
  steps: summary.steps,
  interrupted: summary.interrupted,
  backend: summary.backend,
  seconds: Math.round(summary.seconds * 10) / 10,
  loss: summary.last?.loss,
  checkpoint: summary.checkpoint,
  metrics: `${summary.outDir}/metrics.jsonl`,
}));
Deno.exit(summary.interrupted ? 130 : 0);
