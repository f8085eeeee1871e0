/**
 * `deno task eval --checkpoint DIR [--split test] [--json] [--backend B] [--max-examples N]
 * [--batch-size N] [--max-length N] [--no-captions]`: evaluate a checkpoint folder (see
 * `src/train/checkpoint.ts`) and print a table; with `--json`, one JSON object is the last line.
 *
 * `--split` may be repeated or comma-separated (`--split test,heldout`). Captions are generated
 * with `src/generate.ts` (greedy, `--max-length` tokens, default the checkpoint's textLength)
 * when that module exists; otherwise caption metrics are reported as skipped.
 *
 * Backend: `--backend`, else `$COCA_BACKEND`, else `auto`. Exit status: 0 on success, 2 for bad
 * usage, a missing/malformed checkpoint or a missing permission, 1 otherwise.
 *
 * @module
 */
import { parseArgs } from "node:util";
import type * as tf from "../deps/tf.ts";
import { BACKEND_CHOICES, setupBackend } from "../backends/setup.ts";
import type { CoCa } from "../model/coca.ts";
import { modelImageSide } from "../model/config.ts";
import { loadCheckpoint, readCheckpointConfig } from "../train/checkpoint.ts";
import { loadDataset } from "../data/load.ts";
import { type CaptionGenerator, evaluate, formatReport } from "../eval/evaluate.ts";
import { isPositiveInt } from "../util/validate.ts";
import {
  backendChoice,
  errorMessage,
  exitOnUncaught,
  isInputError,
  requireBackendPermissions,
} from "./main.ts";

const usage = "usage: deno task eval --checkpoint DIR [--split test[,heldout]] [--json] " +
  `[--backend ${BACKEND_CHOICES}] [--max-examples N] [--batch-size N] [--max-length N] ` +
  "[--no-captions]";

function fail(message: string, code: number): never {
  console.error(`eval: ${message}`);
  if (code === 2) console.error(usage);
  Deno.exit(code);
}
exitOnUncaught("eval", usage);

function positiveIntOption(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!isPositiveInt(n)) {
    fail(`expected --${name} to be a positive integer, found "${v}"`, 2);
  }
  return n;
}

/** The generator from `src/generate.ts`, or why there is none. */
async function loadGenerator(
  model: CoCa,
  maxLength: number,
): Promise<CaptionGenerator | string> {
  const url = new URL("../generate/generate.ts", import.meta.url);
  try {
    await Deno.stat(url);
  } catch {
    return "src/generate.ts is not available";
  }
  try {
    const mod = await import(url.href);
    if (typeof mod.generate !== "function") return "src/generate.ts has no generate() export";
    return async (images: tf.Tensor4D) =>
      (await mod.generate(model, images, { maxLength, strategy: "greedy" })).tokens;
  } catch (e) {
    return `src/generate.ts failed to load: ${(e as Error).message}`;
  }
}

let args;
try {
  args = parseArgs({
    args: Deno.args,
    options: {
      checkpoint: { type: "string" },
      split: { type: "string", multiple: true },
      json: { type: "boolean" },
      backend: { type: "string" },
      "max-examples": { type: "string" },
      "batch-size": { type: "string" },
      "max-length": { type: "string" },
      "no-captions": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
} catch (e) {
  fail(errorMessage(e), 2);
}
const { values } = args;
if (values.help) {
  console.log(usage);
  Deno.exit(0);
}
if (!values.checkpoint) fail("expected --checkpoint DIR, found none", 2);
const maxExamples = positiveIntOption("max-examples", values["max-examples"]);
const batchSize = positiveIntOption("batch-size", values["batch-size"]);
const maxLengthArg = positiveIntOption("max-length", values["max-length"]);
const backend = backendChoice(values.backend);
requireBackendPermissions(backend);
const splits = (values.split ?? ["test"]).flatMap((s) => s.split(",")).filter((s) => s !== "");

// Check the folder before starting a backend (fast, clear failure), then load on that backend.
try {
  await readCheckpointConfig(values.checkpoint);
} catch (e) {
  fail(`cannot load checkpoint: ${errorMessage(e)}`, 2);
}
let info;
try {
  info = await setupBackend(backend);
} catch (e) {
  fail(errorMessage(e), 2);
}
let loaded;
try {
  loaded = await loadCheckpoint(values.checkpoint);
} catch (e) {
  fail(`cannot load checkpoint ${values.checkpoint}: ${errorMessage(e)}`, 2);
}
const { config, model, tokenizer } = loaded;
try {
  // The data at the model's image size, as the trainer loads it.
  const { dataset } = await loadDataset(config.data, modelImageSide(config.model.vit));
  let generate: CaptionGenerator | undefined;
  let captionsNote = "";
  if (values["no-captions"]) captionsNote = "disabled with --no-captions";
  else {
    const g = await loadGenerator(model, maxLengthArg ?? config.textLength);
    if (typeof g === "string") captionsNote = g;
    else generate = g;
  }
  const report = await evaluate(model, dataset, tokenizer, {
    textLength: config.textLength,
    splits,
    batchSize,
    maxExamples,
    generate,
    onProgress: (p) => {
      if (p.done === p.total) console.error(`eval: ${p.split} ${p.phase} ${p.done}/${p.total}`);
    },
  });
  if (captionsNote) {
    for (const s of report.splits) s.captions = { skipped: true, reason: captionsNote };
  }
  console.log(`checkpoint ${values.checkpoint}, backend ${info.name}`);
  console.log(formatReport(report));
  if (values.json) {
    console.log(JSON.stringify({ checkpoint: values.checkpoint, backend: info.name, ...report }));
  }
} catch (e) {
  fail(errorMessage(e), isInputError(e) ? 2 : 1);
} finally {
  model.dispose();
}
