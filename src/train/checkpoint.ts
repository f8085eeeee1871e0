/**
 * Checkpoints, in one place. A checkpoint folder ({@linkcode CHECKPOINT_FILES}) holds
 * - `config.json`: `{model: {vit: ViTConfig, coca: CoCaConfig}, data: DataConfig,
 *   textLength: number, ...}` (camelCase; the trainer's whole config),
 * - `weights.safetensors`: the state dict (see `src/weights/io.ts`),
 * - `tokenizer.json`: `Tokenizer.toJSON()` output,
 * - `optimizer.safetensors` and `state.json` (step, data position, RNG state): for resuming.
 *
 * It is written atomically ({@linkcode saveCheckpoint}): a temporary folder is filled, then
 * swapped in by rename, so a crash leaves either the old or the new checkpoint (`DIR.old`).
 * Every reader falls back to `DIR.old`: {@linkcode readCheckpoint} (resume) and
 * {@linkcode loadCheckpoint} / {@linkcode readCheckpointConfig} (evaluation, captioning).
 *
 * {@linkcode buildModel} is the shared "config → model" builder: the trainer uses it to create
 * what it trains, the loader to recreate it.
 *
 * @module
 */
import type * as tf from "../deps/tf.ts";
import type { CoCa } from "../model/coca.ts";
import { ModelConfigSchema } from "../model/config.ts";
import { Tokenizer } from "../text/tokenizer.ts";
import { isPlainObject } from "../util/json.ts";
import type { DataConfig } from "../data/load.ts";
import { DataConfigSchema } from "../data/config.ts";
import { num, parseConfig } from "../schema/format.ts";
import { z } from "../deps/zod.ts";
import type { AdamW, AdamWState } from "./optimizer.ts";
import { resolveTrainConfig, type TrainConfig } from "./config.ts";
import { weightsToBytes } from "../weights/io.ts";
import { type RawTensor, readSafetensors, serializeSafetensors } from "../weights/safetensors.ts";
import {
  buildModel,
  type ModelConfig,
  modelWithWeights,
  parseConfigJson,
} from "./checkpoint_model.ts";

export { buildModel, type ModelConfig };

/** Where the run is: restored exactly by `--resume`. */
export interface TrainState {
  /** Optimizer steps done. */
  step: number;
  /** Current epoch and the next batch within it. */
  epoch: number;
  batchInEpoch: number;
  /** Patch-dropout generator state. */
  rngState: number;
  /** Training seconds so far (for throughput and ETA). */
  seconds: number;
  /** The backend the run actually trained on (`blas`, `wasm`, ...); absent in older checkpoints. */
  backend?: string;
  /**
   * The learning-rate schedule's length: the `steps` the run began with (or was rescheduled to);
   * a resume with more steps keeps it. Absent in older checkpoints (their config's `steps` then).
   */
  scheduleSteps?: number;
}

/** File names inside a checkpoint folder. */
export const CHECKPOINT_FILES = {
  config: "config.json",
  weights: "weights.safetensors",
  optimizer: "optimizer.safetensors",
  tokenizer: "tokenizer.json",
  state: "state.json",
} as const;

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/**
 * The folder to read for checkpoint `dir`: `dir` itself when it holds `file`, else `DIR.old`
 * (left by a crash during {@linkcode saveCheckpoint}'s swap) when that does, else the newest
 * complete `DIR.tmp-*` ({@linkcode newestCompleteCheckpoint}), else undefined.
 */
async function checkpointAt(dir: string, file: string): Promise<string | undefined> {
  if (await exists(`${dir}/${file}`)) return dir;
  if (await exists(`${dir}.old/${file}`)) return `${dir}.old`;
  // Two crashes in a row can leave only complete DIR.tmp-* folders (see saveCheckpoint).
  const newest = await newestCompleteCheckpoint(dir);
  return newest !== undefined && await exists(`${newest}/${file}`) ? newest : undefined;
}

function varNames(model: CoCa): Map<tf.Variable, string> {
  const names = new Map<tf.Variable, string>();
  for (const [k, v] of model.stateDict()) {
    if (!names.has(v as tf.Variable)) names.set(v as tf.Variable, k);
  }
  return names;
}

/**
 * Test hook: `COCA_CRASH_AT=PHASE:N` makes the process exit at once (`Deno.exit(137)`, as a
 * SIGKILL would) the N-th time (1-based) {@linkcode saveCheckpoint} reaches PHASE, one of
 * {@linkcode CRASH_PHASES}. Used by `tests/crash_resume_test.ts`; never set it otherwise.
 */
export const CRASH_PHASES = [
  "files", // some files written into the temporary folder, no completeness marker yet
  "synced", // temporary folder complete and fsynced, nothing swapped
  "old-removed", // a previous DIR.old removed (DIR still there)
  "moved-old", // DIR renamed to DIR.old, the new one not yet in place
  "swapped", // the new one is DIR, DIR.old not yet removed
  "cleaned", // DIR.old and stale temporaries removed
] as const;
const crashCounts = new Map<string, number>();
function crashPoint(phase: (typeof CRASH_PHASES)[number]): void {
  let spec: string | undefined;
  try {
    // Never prompt: without --allow-env the hook is simply off.
    const env = { name: "env", variable: "COCA_CRASH_AT" } as const;
    if (Deno.permissions.querySync(env).state !== "granted") return;
    spec = Deno.env.get("COCA_CRASH_AT");
  } catch {
    return;
  }
  if (!spec) return;
  const [want, n] = spec.split(":");
  if (want !== phase) return;
  const count = (crashCounts.get(phase) ?? 0) + 1;
  crashCounts.set(phase, count);
  if (count === Number(n ?? 1)) Deno.exit(137);
}

/** Name of the marker written (and fsynced) last into a checkpoint folder: it is complete. */
export const COMPLETE_MARKER = "complete";

async function writeSynced(path: string, data: Uint8Array | string): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  try {
    let off = 0;
    while (off < bytes.length) off += await file.write(bytes.subarray(off));
    await file.sync();
  } finally {
    file.close();
  }
}

/** fsync a folder, so that the renames and creations inside it are on disk. */
async function syncDir(path: string): Promise<void> {
  let dir: Deno.FsFile;
  try {
    dir = await Deno.open(path, { read: true });
  } catch {
    return; // a platform that cannot open folders (Windows): best effort
  }
  try {
    await dir.sync();
  } catch {
    // some filesystems refuse fsync on a folder
  } finally {
    dir.close();
  }
}

function parentOf(path: string): string {
  const i = path.replace(/\/+$/, "").lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : path.slice(0, i);
}

function baseOf(path: string): string {
  const p = path.replace(/\/+$/, "");
  return p.slice(p.lastIndexOf("/") + 1);
}

/**
 * The step of checkpoint folder `path` when it is complete, else undefined. Complete means: the
 * {@linkcode COMPLETE_MARKER} is there (written last), or, for `DIR` and `DIR.old` written before
 * the marker existed (they only ever appeared by rename of a finished folder), every file is.
 */
async function completeStep(path: string, legacyOk: boolean): Promise<number | undefined> {
  let marker: string | undefined;
  try {
    marker = await Deno.readTextFile(`${path}/${COMPLETE_MARKER}`);
  } catch {
    marker = undefined;
  }
  if (marker === undefined) {
    if (!legacyOk) return undefined;
    for (const f of Object.values(CHECKPOINT_FILES)) if (!(await exists(`${path}/${f}`))) return;
  }
  try {
    const step = JSON.parse(await Deno.readTextFile(`${path}/${CHECKPOINT_FILES.state}`)).step;
    return typeof step === "number" && Number.isFinite(step) ? step : -1;
  } catch {
    return -1; // complete but unreadable: chosen only when nothing else is, then reported
  }
}

/** `DIR.tmp-*` siblings of checkpoint `dir`. */
async function temporaries(dir: string): Promise<string[]> {
  const parent = parentOf(dir), prefix = `${baseOf(dir)}.tmp-`;
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(parent)) {
      if (e.isDirectory && e.name.startsWith(prefix)) out.push(`${parent}/${e.name}`);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out.sort();
}

/**
 * The newest complete checkpoint among `DIR`, `DIR.old` and `DIR.tmp-*` (ties: `DIR` first, then
 * `DIR.old`), or undefined when there is none.
 */
export async function newestCompleteCheckpoint(dir: string): Promise<string | undefined> {
  dir = dir.replace(/\/+$/, "");
  let best: string | undefined, bestStep = -Infinity;
  const candidates: [string, boolean][] = [
    [dir, true],
    [`${dir}.old`, true],
    ...(await temporaries(dir)).map((t): [string, boolean] => [t, false]),
  ];
  for (const [path, legacyOk] of candidates) {
    const step = await completeStep(path, legacyOk);
    if (step !== undefined && step > bestStep) [best, bestStep] = [path, step];
  }
  return best;
}

/**
 * Remove what a killed {@linkcode saveCheckpoint} left beside checkpoint `dir`: every `DIR.tmp-*`
 * and `DIR.old` except `keep` (the folder being resumed from, which the next save replaces).
 */
export async function removeStaleCheckpoints(dir: string, keep?: string): Promise<void> {
  dir = dir.replace(/\/+$/, "");
  for (const t of [...(await temporaries(dir)), `${dir}.old`]) {
    if (t === keep || !(await exists(t))) continue;
    // Never remove the last complete checkpoint: only when DIR (or keep) is complete.
    if (t === `${dir}.old` && keep !== undefined && keep !== dir) continue;
    await Deno.remove(t, { recursive: true });
  }
}

/**
 * Write a checkpoint folder so that a crash at any point, even twice in a row, leaves at least one
 * complete checkpoint on disk: the files go into `DIR.tmp-*`, each fsynced, then the
 * {@linkcode COMPLETE_MARKER} last and the folder fsynced; then `DIR` becomes `DIR.old` (only when
 * `DIR` is complete; otherwise the last complete one, `DIR.old` or a temporary, stays untouched),
 * the new folder becomes `DIR`, and only then are `DIR.old` and stale temporaries removed.
 * Readers ({@linkcode newestCompleteCheckpoint}) pick the newest complete one.
 *
 * @example
 * ```ts ignore
 * await saveCheckpoint("runs/x/checkpoint", { config, model, optimizer, tokenizerJson, state });
 * ```
 */
export async function saveCheckpoint(
  dir: string,
  parts: {
    config: TrainConfig;
    model: CoCa;
    optimizer: AdamW;
    tokenizerJson: unknown;
    state: TrainState;
  },
): Promise<void> {
  dir = dir.replace(/\/+$/, "");
  const parent = parentOf(dir);
  const tmp = `${dir}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.mkdir(tmp, { recursive: true });
  const f = CHECKPOINT_FILES;
  await writeSynced(`${tmp}/${f.config}`, JSON.stringify(parts.config, null, 2) + "\n");
  await writeSynced(
    `${tmp}/${f.weights}`,
    await weightsToBytes(parts.model, { format: "coca-workbench/1" }),
  );
  crashPoint("files");
  const opt = await parts.optimizer.getState();
  const names = varNames(parts.model);
  const raw = new Map<string, RawTensor>();
  parts.optimizer.vars.forEach((v, i) => {
    const name = names.get(v) ?? `param${i}`;
    raw.set(`m.${name}`, {
      dtype: "F32",
      shape: [...v.shape],
      data: new Uint8Array(opt.m[i].buffer),
    });
    raw.set(`v.${name}`, {
      dtype: "F32",
      shape: [...v.shape],
      data: new Uint8Array(opt.v[i].buffer),
    });
  });
  const order = parts.optimizer.vars.map((v, i) => names.get(v) ?? `param${i}`);
  await writeSynced(
    `${tmp}/${f.optimizer}`,
    serializeSafetensors(raw, { step: String(opt.step), order: JSON.stringify(order) }),
  );
  await writeSynced(`${tmp}/${f.tokenizer}`, JSON.stringify(parts.tokenizerJson) + "\n");
  await writeSynced(`${tmp}/${f.state}`, JSON.stringify(parts.state, null, 2) + "\n");
  await syncDir(tmp);
  await writeSynced(`${tmp}/${COMPLETE_MARKER}`, JSON.stringify({ step: parts.state.step }) + "\n");
  await syncDir(tmp);
  await syncDir(parent);
  crashPoint("synced");
  const old = `${dir}.old`;
  if ((await completeStep(dir, true)) !== undefined) {
    // DIR is complete: it may replace DIR.old as the fallback.
    if (await exists(old)) await Deno.remove(old, { recursive: true });
    crashPoint("old-removed");
    await Deno.rename(dir, old);
    await syncDir(parent);
  } else if (await exists(dir)) {
    // An incomplete DIR (never written by this code): the complete ones are elsewhere.
    await Deno.remove(dir, { recursive: true });
  }
  crashPoint("moved-old");
  await Deno.rename(tmp, dir);
  await syncDir(parent);
  crashPoint("swapped");
  await removeStaleCheckpoints(dir);
  await syncDir(parent);
  crashPoint("cleaned");
}

/** A training checkpoint read back from disk for resuming ({@linkcode readCheckpoint}). */
export interface SavedCheckpoint {
  /** The folder actually read: the newest complete one (`DIR`, `DIR.old` or `DIR.tmp-*`). */
  dir: string;
  config: TrainConfig;
  tokenizerJson: unknown;
  state: TrainState;
  weightsPath: string;
}

/**
 * Check a checkpoint's `state.json` contents: every field present, of the right type and range.
 *
 * @throws {TypeError} naming the file, the field, what was expected and what was found.
 */
export function validateTrainState(json: unknown, path: string): TrainState {
  const bad = (what: string, found: unknown): never => {
    throw new TypeError(
      `${path}: expected ${what}, found ${found === undefined ? "nothing" : JSON.stringify(found)}`,
    );
  };
  if (!isPlainObject(json)) {
    bad("a JSON object {step, epoch, batchInEpoch, rngState, seconds}", json);
  }
  const o = json as Record<string, unknown>;
  const int = (key: string, max = Number.MAX_SAFE_INTEGER) => {
    const v = o[key];
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > max) {
      bad(`${key} to be an integer in [0, ${max}]`, v);
    }
  };
  int("step");
  int("epoch");
  int("batchInEpoch");
  int("rngState", 0xffffffff);
  if (typeof o.seconds !== "number" || !Number.isFinite(o.seconds) || o.seconds < 0) {
    bad("seconds to be a finite number >= 0", o.seconds);
  }
  if (o.backend !== undefined && typeof o.backend !== "string") {
    bad("backend to be a string", o.backend);
  }
  if (o.scheduleSteps !== undefined) {
    const v = o.scheduleSteps;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1) {
      bad(`scheduleSteps to be an integer in [1, ${Number.MAX_SAFE_INTEGER}]`, v);
    }
  }
  return o as unknown as TrainState;
}

/**
 * Find and read the newest complete checkpoint among `DIR`, `DIR.old` and `DIR.tmp-*` (a crash
 * during {@linkcode saveCheckpoint} can leave any of them). Returns undefined when there is none.
 * `state.json` is validated ({@linkcode validateTrainState}).
 *
 * @example
 * ```ts ignore
 * const ckpt = await readCheckpoint("runs/x/checkpoint");
 * ```
 */
export async function readCheckpoint(dir: string): Promise<SavedCheckpoint | undefined> {
  const at = await newestCompleteCheckpoint(dir);
  if (at === undefined) return undefined;
  const f = CHECKPOINT_FILES;
  const read = async (name: string) => {
    try {
      return JSON.parse(await Deno.readTextFile(`${at}/${name}`));
    } catch (e) {
      throw new Error(`checkpoint ${at}: cannot read ${name}: ${(e as Error).message}`);
    }
  };
  const config = await read(f.config);
  try {
    resolveTrainConfig(config); // the same checks as a training config file
  } catch (e) {
    (e as Error).message = `${at}/${f.config}: ${(e as Error).message}`;
    throw e;
  }
  return {
    dir: at,
    config,
    tokenizerJson: await read(f.tokenizer),
    state: validateTrainState(await read(f.state), `${at}/${f.state}`),
    weightsPath: `${at}/${f.weights}`,
  };
}

/**
 * Restore optimizer moments saved by {@linkcode saveCheckpoint}, matched by parameter name.
 *
 * @example
 * ```ts ignore
 * await loadOptimizerState(`${ckpt.dir}/optimizer.safetensors`, model, optimizer);
 * ```
 */
export async function loadOptimizerState(
  path: string,
  model: CoCa,
  optimizer: AdamW,
): Promise<number> {
  const st = await readSafetensors(path);
  const names = varNames(model);
  const stepText = st.metadata.step;
  const step = Number(stepText);
  if (typeof stepText !== "string" || !/^\d+$/.test(stepText) || !Number.isSafeInteger(step)) {
    throw new TypeError(
      `${path}: expected __metadata__.step to be a non-negative integer, found ${
        JSON.stringify(stepText) ?? "nothing"
      }`,
    );
  }
  const state: AdamWState = { step, m: [], v: [] };
  optimizer.vars.forEach((v, i) => {
    const name = names.get(v) ?? `param${i}`;
    for (const which of ["m", "v"] as const) {
      const key = `${which}.${name}`;
      const raw = st.tensors.get(key);
      if (!raw) throw new Error(`optimizer state ${path} lacks ${key}`);
      if (raw.dtype !== "F32" || JSON.stringify(raw.shape) !== JSON.stringify(v.shape)) {
        throw new TypeError(
          `${path}: expected ${key} to be F32 of shape [${v.shape}], found ${raw.dtype} of ` +
            `shape [${raw.shape}]`,
        );
      }
      const copy = raw.data.slice();
      state[which].push(new Float32Array(copy.buffer));
    }
  });
  optimizer.setState(state);
  return state.step;
}

export type { DataConfig };

/** The contents of a checkpoint's `config.json` that this module reads. */
export interface CheckpointConfig {
  /** Model architecture. */
  model: ModelConfig;
  /** Data the model was trained on. */
  data: DataConfig;
  /** Token row length (BOS + caption + EOS, padded). */
  textLength: number;
  /** Anything else the trainer stored. */
  [key: string]: unknown;
}

/** A checkpoint loaded by {@linkcode loadCheckpoint}: what evaluation and captioning need. */
export interface LoadedCheckpoint {
  /** The folder actually read (the `.old` one after a crash mid-swap). */
  dir: string;
  /** The parsed `config.json`. */
  config: CheckpointConfig;
  /** The model with the checkpoint's weights. */
  model: CoCa;
  /** The tokenizer. */
  tokenizer: Tokenizer;
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    throw new Deno.errors.NotFound(
      `expected ${what} at ${path}, found ${
        e instanceof Deno.errors.NotFound ? "no such file" : (e as Error).message
      }`,
    );
  }
}

/**
 * Read and check a checkpoint folder's `config.json` (`modelOnly`: only `model` is required, as
 * for captioning; otherwise `data` and `textLength` too). Reads `DIR.old` when `DIR` has no
 * `config.json` and `DIR.old` has (a crash during the atomic swap).
 *
 * @throws {Deno.errors.NotFound} when the folder or file is missing;
 *   {@linkcode SyntaxError}/{@linkcode TypeError} for malformed contents.
 * @example
 * ```ts ignore
 * import { readCheckpointConfig } from "./checkpoint.ts";
 * const config = await readCheckpointConfig("runs/shapes-small");
 * console.log(config.textLength);
 * ```
 */
export async function readCheckpointConfig(
  dir: string,
  opts: { modelOnly?: boolean } = {},
): Promise<CheckpointConfig> {
  dir = (await checkpointAt(dir, CHECKPOINT_FILES.config)) ?? dir;
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch {
    throw new Deno.errors.NotFound(
      `expected a checkpoint directory (config.json, weights.safetensors, tokenizer.json) at ${dir}, found nothing there`,
    );
  }
  if (!info.isDirectory) {
    throw new Deno.errors.NotFound(
      `expected a checkpoint directory at ${dir}, found a file`,
    );
  }
  const path = `${dir}/${CHECKPOINT_FILES.config}`;
  const text = await readText(path, "the checkpoint config");
  const json = parseConfigJson(text, path);
  // The trainer stores its whole config; what loading needs is checked by the same schemas that
  // check a training config (other keys are the trainer's and pass through).
  parseConfig(opts.modelOnly ? CHECKPOINT_MODEL_SCHEMA : CHECKPOINT_SCHEMA, json, {
    what: `the checkpoint config ${path}`,
    error: (m) => new TypeError(`${path}: ${m}`),
  });
  return json as CheckpointConfig;
}

/** What a checkpoint's `config.json` must hold for its model alone. */
const CHECKPOINT_MODEL_SCHEMA = z.looseObject({ model: ModelConfigSchema });
/** ... and for evaluation: the data it was trained on and the token row length. */
const CHECKPOINT_SCHEMA = z.looseObject({
  model: ModelConfigSchema,
  data: DataConfigSchema,
  textLength: num.int(3),
});

/**
 * Load a checkpoint folder: config, model with its weights (strict), tokenizer. Falls back to
 * `DIR.old` like {@linkcode readCheckpoint}. The caller owns the model (`model.dispose()`).
 *
 * @example
 * ```ts ignore
 * import { loadCheckpoint } from "./checkpoint.ts";
 * import { loadDataset } from "../data/load.ts";
 * const { config, model, tokenizer } = await loadCheckpoint("runs/shapes-small");
 * const dataset = await loadDataset(config.data);
 * ```
 */
export async function loadCheckpoint(
  dir: string,
  opts: { modelOnly?: boolean } = {},
): Promise<LoadedCheckpoint> {
  dir = (await checkpointAt(dir, CHECKPOINT_FILES.config)) ?? dir;
  const config = await readCheckpointConfig(dir, opts);
  const tokenizerPath = `${dir}/${CHECKPOINT_FILES.tokenizer}`;
  const tokenizer = Tokenizer.fromJSON(
    await readText(tokenizerPath, "the tokenizer"),
    tokenizerPath,
  );
  const weights = `${dir}/${CHECKPOINT_FILES.weights}`;
  try {
    await Deno.stat(weights);
  } catch {
    throw new Deno.errors.NotFound(`expected the model weights at ${weights}, found no such file`);
  }
  const model = modelWithWeights(config.model, tokenizer, await Deno.readFile(weights), {
    dir,
    config: `${dir}/${CHECKPOINT_FILES.config}`,
    weights,
    tokenizer: tokenizerPath,
  });
  return { dir, config, model, tokenizer };
}
