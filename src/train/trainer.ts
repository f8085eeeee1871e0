/**
 * The training loop: data, tokenizer, model, AdamW with warmup + cosine,
 * gradient clipping, metrics as JSONL, atomic checkpoints, exact resume.
 * Nothing here prints or reads argv: progress goes to the `onProgress` callback.
 *
 * @module
 */
import * as tf from "../deps/tf.ts";
import type { CoCa } from "../model/coca.ts";
import type { SimpleViT } from "../model/vit.ts";
import { modelImageSide } from "../model/config.ts";
import { setupBackend } from "../backends/setup.ts";
import { AdamW } from "./optimizer.ts";
import { trainStep } from "./step.ts";
import { learningRate } from "./schedule.ts";
import type { TrainConfig } from "./config.ts";
import {
  buildModel,
  loadOptimizerState,
  readCheckpoint,
  removeStaleCheckpoints,
  saveCheckpoint,
  type TrainState,
} from "./checkpoint.ts";
import { loadWeights } from "../weights/io.ts";
import { loadDataset } from "../data/load.ts";
import { batches } from "../data/batches.ts";
import { toTensors } from "../data/tensors.ts";
import type { Dataset, Example } from "../data/types.ts";
import { acquireTrainLock } from "./lock.ts";
import { Tokenizer, trainTokenizer } from "../text/tokenizer.ts";

/** One line of `metrics.jsonl`. */
export interface MetricsLine {
  step: number;
  split: "train" | "val";
  [metric: string]: number | string;
}

/** What the loop reports after every step. */
export interface TrainProgress {
  step: number;
  steps: number;
  loss: number;
  captionLoss: number;
  contrastiveLoss: number;
  lr: number;
  stepsPerSecond: number;
  etaSeconds: number;
}

/** The data a run trains on, as {@linkcode TrainOptions.onData} reports it. */
export interface DataSummary {
  /** The dataset's config name (`shapes`, `emoji`, `manifest`). */
  name: string;
  /** The manifest file or folder (manifest data only). */
  path?: string;
  /** Examples per split: train, val, test, then any extra split (e.g. heldout). */
  sizes: Record<string, number>;
  /** Rows the loader skipped (`onError: "skip"`). */
  skipped: number;
  /** Where and why, when the loader lists them (`file:line: reason` each). */
  skippedRows?: string[];
}

/** How many skipped rows {@linkcode dataSummaryText} lists before "... and N more". */
export const SKIPPED_ROWS_SHOWN = 10;

/**
 * The lines `train` prints at start about its data: sizes per split, then the skipped rows (the
 * first {@linkcode SKIPPED_ROWS_SHOWN}, then how many more).
 *
 * @example
 * ```ts
 * import { dataSummaryText } from "./trainer.ts";
 * const text = dataSummaryText({
 *   name: "manifest",
 *   path: "my-data/",
 *   sizes: { train: 612, val: 68, test: 105 },
 *   skipped: 3,
 * });
 * console.log(text); // data: manifest my-data/ — train 612, val 68, test 105; skipped 3 rows
 * ```
 */
export function dataSummaryText(d: DataSummary): string {
  const sizes = Object.entries(d.sizes).map(([k, n]) => `${k} ${n}`).join(", ");
  const skipped = d.skipped ? `; skipped ${d.skipped} row${d.skipped === 1 ? "" : "s"}` : "";
  const lines = [`data: ${d.name}${d.path !== undefined ? ` ${d.path}` : ""} — ${sizes}${skipped}`];
  const rows = d.skippedRows ?? [];
  for (const r of rows.slice(0, SKIPPED_ROWS_SHOWN)) lines.push(`  skipped ${r}`);
  if (rows.length > SKIPPED_ROWS_SHOWN) {
    lines.push(`  ... and ${rows.length - SKIPPED_ROWS_SHOWN} more`);
  }
  return lines.join("\n");
}

/** Options of {@linkcode train}. */
export interface TrainOptions {
  /** Continue from `outDir/checkpoint` (error if there is none). */
  resume?: boolean;
  /**
   * On resume, stretch the learning-rate schedule over the run's new `steps` (the cosine then
   * ends at the new last step). By default the schedule keeps the length it was started with
   * (recorded in `state.json` as `scheduleSteps`): every step's lr is what the original run
   * would have used, and steps past its end run at the final lr, `minLrRatio · lr`.
   */
  reschedule?: boolean;
  /** Notes worth a line (a schedule kept or stretched on resume, a stale lock taken over). */
  onNote?: (message: string) => void;
  /** Called once the data is loaded, with its split sizes ({@linkcode dataSummaryText}). */
  onData?: (data: DataSummary) => void;
  /**
   * Allow resuming on another backend than the checkpoint's (recorded in `state.json`); by
   * default that is an error, since the run would no longer be exactly reproducible.
   */
  allowBackendChange?: boolean;
  /** Abort to stop after the current step; a checkpoint is written first. */
  signal?: AbortSignal;
  onProgress?: (p: TrainProgress) => void;
  /** Called after each checkpoint is written. */
  onCheckpoint?: (dir: string, step: number) => void;
  /** Validation metrics; default: mean losses on the validation split. */
  evaluate?: (
    model: CoCa,
    dataset: Dataset,
    tokenizer: Tokenizer,
  ) => Promise<Record<string, number>>;
}

/** How a run ended. */
export interface TrainSummary {
  steps: number;
  interrupted: boolean;
  backend: string;
  seconds: number;
  last: TrainProgress | undefined;
  outDir: string;
  checkpoint: string;
  /** The trained model (in eval mode), its tokenizer and data, for callers that go on. */
  model: CoCa;
  tokenizer: Tokenizer;
  dataset: Dataset;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Append lines to `metrics.jsonl` and fsync it: a line once written survives a crash. */
async function appendLines(path: string, lines: MetricsLine[]): Promise<void> {
  if (!lines.length) return;
  const bytes = new TextEncoder().encode(lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
  const file = await Deno.open(path, { append: true, create: true });
  try {
    let off = 0;
    while (off < bytes.length) off += await file.write(bytes.subarray(off));
    await file.sync();
  } finally {
    file.close();
  }
}

/**
 * Keep only metric lines up to `step` (lines written after the checkpoint are redone on resume).
 * The kept lines go into a new file, fsynced, renamed over the old one: a crash leaves either the
 * whole old history or the new one. Nothing is rewritten when no line is dropped.
 */
async function truncateMetrics(path: string, step: number): Promise<void> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    return;
  }
  const lines = text.split("\n").filter((l) => l.trim());
  const keep = lines.filter((l) => {
    try {
      return (JSON.parse(l) as MetricsLine).step <= step;
    } catch {
      return false; // a line torn by a crash
    }
  });
  if (keep.length === lines.length && (text === "" || text.endsWith("\n"))) return;
  const tmp = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
  try {
    const bytes = new TextEncoder().encode(keep.map((l) => l + "\n").join(""));
    let off = 0;
    while (off < bytes.length) off += await file.write(bytes.subarray(off));
    await file.sync();
  } finally {
    file.close();
  }
  await Deno.rename(tmp, path);
}

/**
 * Mean losses over the whole validation split (model in eval mode), the last partial batch
 * included: the caption loss is weighted by each batch's non-pad label tokens (the mean NLL per
 * token), the contrastive loss by its examples (within-batch negatives), and `loss` combines the
 * two with the model's loss weights. An empty split gives `{}`.
 *
 * @example
 * ```ts ignore
 * const m = await validationLosses(model, dataset.splits.val, tokenizer, 24, 32);
 * console.log(m.captionLoss);
 * ```
 */
export async function validationLosses(
  model: CoCa,
  examples: Example[],
  tokenizer: Tokenizer,
  textLength: number,
  batchSize: number,
): Promise<Record<string, number>> {
  let capSum = 0, tokens = 0, conSum = 0, n = 0;
  const pad = model.config.padId;
  for (const batch of batches(examples, { batchSize, shuffle: false, dropLast: false })) {
    const { images, text } = toTensors(batch, tokenizer, textLength);
    const ids = await text.data();
    let labels = 0; // non-pad labels: every column but the first (the ids shifted by one)
    for (let i = 0; i < ids.length; i++) if (i % textLength !== 0 && ids[i] !== pad) labels++;
    const l = model.loss(text, images);
    const v = await tf.stack([l.captionLoss, l.contrastiveLoss]).data();
    tf.dispose([images, text, l.loss, l.captionLoss, l.contrastiveLoss]);
    capSum += v[0] * labels;
    tokens += labels;
    conSum += v[1] * batch.length;
    n += batch.length;
  }
  if (!n) return {};
  const captionLoss = capSum / tokens, contrastiveLoss = conSum / n;
  const c = model.config;
  return {
    loss: c.captionLossWeight * captionLoss + c.contrastiveLossWeight * contrastiveLoss,
    captionLoss,
    contrastiveLoss,
  };
}

/**
 * Train (or resume) a CoCa as the config says. The same config, seed and
 * backend give the same loss curve; a resumed run ends with exactly the weights
 * of an uninterrupted one.
 *
 * @example
 * ```ts ignore
 * import { resolveTrainConfig } from "./config.ts";
 * const summary = await train(resolveTrainConfig(json), { onProgress: console.log });
 * ```
 */
export async function train(config: TrainConfig, opts: TrainOptions = {}): Promise<TrainSummary> {
  const ckptDir = `${config.outDir}/checkpoint`;
  if (opts.resume) {
    try {
      await Deno.stat(config.outDir);
    } catch {
      throw new Error(`cannot resume: no checkpoint in ${ckptDir} (no folder ${config.outDir})`);
    }
  }
  await Deno.mkdir(config.outDir, { recursive: true });
  // One run per folder: taken before the checkpoint is read, held until every way out.
  const lock = await acquireTrainLock(config.outDir, { onNote: opts.onNote });
  try {
    return await trainLocked(config, opts);
  } finally {
    lock.release();
  }
}

async function trainLocked(config: TrainConfig, opts: TrainOptions): Promise<TrainSummary> {
  const ckptDir = `${config.outDir}/checkpoint`;
  const metricsPath = `${config.outDir}/metrics.jsonl`;
  const existing = await readCheckpoint(ckptDir);
  if (opts.resume && !existing) {
    throw new Error(`cannot resume: no checkpoint in ${ckptDir}`);
  }
  if (!opts.resume && existing) {
    throw new Error(
      `${config.outDir} already holds a checkpoint: pass --resume, or choose another outDir`,
    );
  }
  if (existing) {
    // The checkpoint lies in outDir, however that is spelled; the backend is checked below, as the
    // one actually used (a config's "auto" can resolve differently).
    const skip = new Set(["steps", "outDir", ...(opts.allowBackendChange ? ["backend"] : [])]);
    const pick = (c: object) =>
      Object.fromEntries(Object.entries(c).filter(([k]) => !skip.has(k)).sort());
    const mine = pick(config), theirs = pick(existing.config);
    if (!sameJson(mine, theirs)) {
      const diff = Object.keys({ ...mine, ...theirs }).filter((k) =>
        !sameJson((mine as Record<string, unknown>)[k], (theirs as Record<string, unknown>)[k])
      );
      throw new Error(
        `cannot resume: the config differs from the checkpoint's (${existing.dir}/config.json) ` +
          `in ${diff.join(", ")}`,
      );
    }
  }
  const info = await setupBackend(config.backend);
  const usedBefore = existing?.state.backend;
  if (usedBefore !== undefined && usedBefore !== info.name && !opts.allowBackendChange) {
    throw new Error(
      `cannot resume: the checkpoint (${existing?.dir}/state.json) was trained on backend ` +
        `${usedBefore}, this run got ` +
        `${info.name} (backend "${config.backend}"); exact resume needs the same backend ` +
        `(give it the permissions it needs, e.g. --allow-ffi for blas), or pass ` +
        `--allow-backend-change`,
    );
  }
  const loaded = await loadDataset(config.data, modelImageSide(config.model.vit));
  const { dataset } = loaded;
  const train = dataset.splits.train;
  opts.onData?.(summarizeData(config, loaded));
  if (train.length < config.batchSize) {
    throw new RangeError(
      `expected at least batchSize ${config.batchSize} training examples, found ${train.length}`,
    );
  }
  const tokenizer = existing
    ? Tokenizer.fromJSON(existing.tokenizerJson, `${existing.dir}/tokenizer.json`)
    : trainTokenizer(train.map((e) => e.caption), { vocabSize: config.tokenizer.vocabSize });
  const model = buildModel(config.model, config.seed);
  const vit = model.imgEncoder as SimpleViT;
  const o = config.optimizer;
  const optimizer = new AdamW(model.trainableVariables(), {
    lr: o.lr,
    beta1: o.beta1,
    beta2: o.beta2,
    eps: o.eps,
    weightDecay: o.weightDecay,
  });
  let state: TrainState = {
    step: 0,
    epoch: 0,
    batchInEpoch: 0,
    rngState: vit.rng.state,
    seconds: 0,
    scheduleSteps: config.steps,
  };
  if (existing) {
    const optPath = `${existing.dir}/optimizer.safetensors`;
    try {
      await namingFile(existing.weightsPath, () => loadWeights(model, existing.weightsPath));
      const optStep = await namingFile(
        optPath,
        () => loadOptimizerState(optPath, model, optimizer),
      );
      if (optStep !== existing.state.step) {
        throw new Error(
          `cannot resume: ${existing.dir}/state.json says step ${existing.state.step}, its ` +
            `optimizer.safetensors says step ${optStep}`,
        );
      }
    } catch (e) {
      optimizer.dispose();
      model.dispose();
      throw e;
    }
    await removeStaleCheckpoints(ckptDir, existing.dir);
    state = { ...existing.state };
    vit.rng.state = state.rngState;
    state.scheduleSteps = resumedSchedule(existing, config, opts);
    await truncateMetrics(metricsPath, state.step);
  } else {
    await Deno.writeTextFile(metricsPath, "");
  }
  const save = async () => {
    state.rngState = vit.rng.state;
    state.backend = info.name;
    await saveCheckpoint(ckptDir, {
      config,
      model,
      optimizer,
      tokenizerJson: tokenizer.toJSON(),
      state,
    });
    opts.onCheckpoint?.(ckptDir, state.step);
  };
  const evaluate = opts.evaluate ??
    ((m: CoCa) =>
      validationLosses(m, dataset.splits.val, tokenizer, config.textLength, config.batchSize));
  const runEval = async () => {
    model.eval();
    const metrics = await evaluate(model, dataset, tokenizer);
    model.train();
    await appendLines(metricsPath, [{ step: state.step, split: "val", ...metrics }]);
  };

  let epochBatches: Example[][] = [];
  let epochOf = -1;
  const nextBatch = (): Example[] => {
    for (;;) {
      if (epochOf !== state.epoch) {
        epochBatches = [
          ...batches(train, {
            batchSize: config.batchSize,
            seed: config.seed,
            epoch: state.epoch,
            dropLast: true,
          }),
        ];
        epochOf = state.epoch;
      }
      if (state.batchInEpoch < epochBatches.length) return epochBatches[state.batchInEpoch++];
      state.epoch++;
      state.batchInEpoch = 0;
    }
  };

  model.train();
  let last: TrainProgress | undefined;
  let interrupted = false;
  const started = performance.now() - state.seconds * 1000;
  const firstStep = state.step;
  const loopStart = performance.now();
  while (state.step < config.steps) {
    if (opts.signal?.aborted) {
      interrupted = true;
      break;
    }
    const lr = learningRate(state.step, {
      ...config.schedule,
      lr: o.lr,
      totalSteps: state.scheduleSteps ?? config.steps,
    });
    const { images, text } = toTensors(nextBatch(), tokenizer, config.textLength);
    const r = await trainStep(model, optimizer, text, images, {
      lr,
      clipNorm: o.clipNorm > 0 ? o.clipNorm : undefined,
    });
    tf.dispose([images, text]);
    if (!Number.isFinite(r.loss)) {
      throw new Error(
        `the loss became ${r.loss} at step ${state.step + 1}; lower optimizer.lr or raise clipping`,
      );
    }
    state.step++;
    state.seconds = (performance.now() - started) / 1000;
    const rate = (state.step - firstStep) / ((performance.now() - loopStart) / 1000);
    last = {
      step: state.step,
      steps: config.steps,
      loss: r.loss,
      captionLoss: r.captionLoss,
      contrastiveLoss: r.contrastiveLoss,
      lr,
      stepsPerSecond: rate,
      etaSeconds: (config.steps - state.step) / rate,
    };
    opts.onProgress?.(last);
    if (state.step % config.logEvery === 0 || state.step === config.steps) {
      await appendLines(metricsPath, [{
        step: state.step,
        split: "train",
        loss: r.loss,
        captionLoss: r.captionLoss,
        contrastiveLoss: r.contrastiveLoss,
        lr,
        ...(r.gradNorm !== undefined ? { gradNorm: r.gradNorm } : {}),
        stepsPerSecond: rate,
        seconds: state.seconds,
      }]);
    }
    const evalNow = config.evalEvery > 0 && state.step % config.evalEvery === 0;
    const ckptNow = config.checkpointEvery > 0 && state.step % config.checkpointEvery === 0;
    if (evalNow) await runEval();
    if (ckptNow && state.step < config.steps) await save();
  }
  // A resumed finished run trains nothing: its val line is already in metrics.jsonl.
  if (!interrupted && config.evalEvery === 0 && state.step > firstStep) await runEval();
  await save();
  optimizer.dispose();
  model.eval();
  return {
    steps: state.step,
    interrupted,
    backend: info.name,
    seconds: state.seconds,
    last,
    outDir: config.outDir,
    checkpoint: ckptDir,
    model,
    tokenizer,
    dataset,
  };
}

/** Run `f`; an error that does not name `path` gets it in front of its message. */
async function namingFile<T>(path: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof Error && !e.message.includes(path)) e.message = `${path}: ${e.message}`;
    throw e;
  }
}

function summarizeData(config: TrainConfig, loaded: Awaited<ReturnType<typeof loadDataset>>) {
  const { dataset, skipped, skippedRows } = loaded;
  const sizes: Record<string, number> = {};
  for (const [k, v] of Object.entries({ ...dataset.splits, ...dataset.extraSplits })) {
    sizes[k] = v.length;
  }
  const data = config.data as { name: string; path?: unknown };
  const summary: DataSummary = { name: data.name, sizes, skipped };
  if (typeof data.path === "string") summary.path = data.path;
  if (skippedRows.length) summary.skippedRows = skippedRows.map((r) => r.message);
  return summary;
}

/**
 * The schedule length a resumed run uses: the one recorded in the checkpoint (older checkpoints:
 * the `steps` of the config they were written with), or, with `reschedule`, the new `steps`.
 */
function resumedSchedule(
  existing: { state: TrainState; config: TrainConfig },
  config: TrainConfig,
  opts: TrainOptions,
): number {
  const legacy = existing.config.steps; // checkpoints from before scheduleSteps was recorded
  const recorded = existing.state.scheduleSteps ??
    (Number.isSafeInteger(legacy) && legacy >= 1 ? legacy : config.steps);
  const s = { ...config.schedule, lr: config.optimizer.lr };
  const at = existing.state.step;
  const lrText = (n: number) => n.toExponential(2);
  if (opts.reschedule) {
    if (recorded !== config.steps) {
      opts.onNote?.(
        `rescheduled: the learning-rate schedule is stretched from ${recorded} to ` +
          `${config.steps} steps (--reschedule); lr at step ${at + 1} is ` +
          `${lrText(learningRate(at, { ...s, totalSteps: config.steps }))} instead of ` +
          `${lrText(learningRate(at, { ...s, totalSteps: recorded }))}`,
      );
    }
    return config.steps;
  }
  if (config.steps > recorded) {
    opts.onNote?.(
      `schedule kept: ${recorded} steps as the run began; steps ${recorded + 1} to ` +
        `${config.steps} run at its final lr ` +
        `${lrText(learningRate(recorded - 1, { ...s, totalSteps: recorded }))} ` +
        `(--reschedule stretches it over ${config.steps} steps)`,
    );
  }
  return recorded;
}
