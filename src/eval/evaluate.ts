/**
 * Evaluate a CoCa model on dataset splits: retrieval, zero-shot classification, caption loss and
 * perplexity, and (given a caption generator) BLEU-4, CIDEr-D and exact match. Every number
 * comes with the level that chance (or a trivial baseline) reaches, so a reader can tell
 * learning from luck.
 *
 * How each number is computed:
 *
 * - **Images and captions.** An example is one (image, caption) pair. Examples whose `image` is
 *   the same `Float32Array` object are one image with several captions (manifests with several
 *   rows per image load that way); shapes and emoji have one caption per image.
 * - **Text inputs.** Captions (and zero-shot prompts) are tokenized as in training
 *   (`toTensors`: BOS caption EOS, padded/truncated to `textLength`), and text latents come from
 *   the first `textLength - 1` ids: exactly what `CoCa.loss` feeds its text encoder, so retrieval
 *   measures the embedding that the contrastive loss trained.
 * - **Retrieval.** L2-normalised latents of every distinct image (`model.encodeImage`) and every
 *   caption (`model.encodeText`), similarity = dot product (rows = images). Recall@1/5/10 in both
 *   directions, two variants:
 *   - `strict`: only the image's own caption(s) count (`recallAtKMulti` from `./metrics.ts`).
 *     Ties count against the query, so when two images share a caption string (shapes repeats
 *     captions for different scenes) even a perfect model cannot reach 1 image→text.
 *   - `captionDedup` (the **headline**, used by the demo): any caption whose string equals one of
 *     the query image's captions is correct, and any image carrying the query caption's string
 *     is correct. This is the fair number: a caption cannot tell identical-caption images apart.
 *   Chance is the expected recall of random scores for the same relevant sets
 *   (`chanceRecallAtK`), e.g. `k / images` for strict text→image.
 * - **Zero-shot.** For every task of `dataset.classes`, each class name is put into every
 *   template of `dataset.promptTemplates[task]` (`["{}"]` when none are given), the normalised
 *   text latents are averaged over templates and renormalised; an image's prediction is the
 *   argmax of image·class similarity. Only distinct images whose (first) example carries
 *   `attributes[task]` take part. Chance is `1 / classes`; `majority` is the share of the most
 *   frequent true class (the accuracy of always guessing it).
 * - **Caption loss.** `model.loss(text, images).captionLoss` per batch, averaged over batches
 *   weighted by their number of non-pad label tokens (so it is the mean NLL per token over the
 *   split, independent of the batch size); perplexity = `exp(mean NLL)`. A uniform guess has
 *   perplexity `numTokens`.
 * - **Captions** (only with `options.generate`): the generator gets batches of distinct images in
 *   split order and returns token ids per image (BOS/EOS/pad are dropped, decoding stops at the
 *   first EOS). BLEU-4, CIDEr-D and exact match are computed against all captions of each
 *   image. The baseline ("chance") scores each image with the captions of the next image
 *   (rotation by one), i.e. a fluent caption of the wrong picture.
 *
 * The model is put in `eval()` mode (patch dropout off) and restored to its previous mode;
 * every tensor created is disposed.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { CoCaLoss } from "../model/coca.ts";
import { hostIds, shiftIds } from "../model/host_ids.ts";
import { toTensors } from "../data/tensors.ts";
import {
  type Dataset,
  type Example,
  fillTemplate,
  SPLIT_NAMES,
  type SplitName,
} from "../data/types.ts";
import type { Tokenizer } from "../text/tokenizer.ts";
import { captionText } from "../text/caption.ts";
import {
  bleu4,
  ciderD,
  exactMatch,
  perplexity,
  recallAtKMulti,
  zeroShotAccuracy,
} from "./metrics.ts";
import { chanceRecallAtK, recallAtKRelevant, type ScoreMatrix } from "./retrieval.ts";

/** The recall cut-offs reported. */
export const RECALL_KS: readonly number[] = [1, 5, 10];

/**
 * What {@linkcode evaluate} needs from a model. `CoCa` has all of it; tests may pass a stand-in.
 */
export interface EvaluableModel {
  /** Whether the model is in training mode (restored after evaluation). */
  readonly training: boolean;
  /** Vocabulary size and pad id. */
  readonly config: { readonly numTokens: number; readonly padId: number };
  /** Switch to training mode. */
  train(): unknown;
  /** Switch to evaluation mode. */
  eval(): unknown;
  /** Images `(b, 3, S, S)` → L2-normalised latents `(b, d)`. */
  encodeImage(images: tf.Tensor4D): tf.Tensor2D;
  /** Token ids `(b, n)` → L2-normalised latents `(b, d)`. */
  encodeText(text: tf.Tensor2D): tf.Tensor2D;
  /** The training objective; only `captionLoss` is used. */
  loss(text: tf.Tensor2D, images: tf.Tensor4D): CoCaLoss;
}

/** Generates caption token ids (without BOS/EOS) for a batch of images. */
export type CaptionGenerator = (images: tf.Tensor4D) => Promise<number[][]>;

/** Progress of {@linkcode evaluate}, reported after each batch. */
export interface EvalProgress {
  /** Split being evaluated (for `zeroShot`, which runs once before all splits: the first). */
  split: string;
  /** `encode`: latents and loss; `zeroShot`: prompt latents; `captions`: generation. */
  phase: "encode" | "zeroShot" | "captions";
  /** Items done in this phase. */
  done: number;
  /** Items in this phase. */
  total: number;
}

/** Options of {@linkcode evaluate}. */
export interface EvaluateOptions {
  /** Row length of the token ids, as in training (BOS + caption + EOS, padded). */
  textLength: number;
  /** Splits: `train`/`val`/`test` or a key of `dataset.extraSplits` (default `["test"]`). */
  splits?: readonly string[];
  /** Examples per batch (default 32). */
  batchSize?: number;
  /** Use at most the first N examples of each split. */
  maxExamples?: number;
  /** Caption generator; without it caption metrics are reported as skipped. */
  generate?: CaptionGenerator;
  /** How many (references, generated) caption pairs to keep per split (default 5). */
  samples?: number;
  /** Called after each batch. */
  onProgress?: (progress: EvalProgress) => void;
}

/** Recall@k per direction, keyed by k, with chance levels. */
export interface RetrievalScores {
  /** Image queries, caption gallery. */
  imageToText: Record<number, number>;
  /** Caption queries, image gallery. */
  textToImage: Record<number, number>;
  /** Expected recall of random scores with the same ground truth. */
  chance: { imageToText: Record<number, number>; textToImage: Record<number, number> };
}

/** Retrieval results of one split. */
export interface RetrievalReport {
  /** The recall cut-offs. */
  ks: number[];
  /** Which variant the headline numbers come from. */
  headline: "captionDedup";
  /** Only the image's own caption(s) count. */
  strict: RetrievalScores;
  /** Any caption (image) with an equal caption string counts. The headline. */
  captionDedup: RetrievalScores;
}

/** Zero-shot result of one task. */
export interface ZeroShotTaskReport {
  /** Top-1 accuracy, or `null` when no image carries the attribute. */
  accuracy: number | null;
  /** `1 / classes`. */
  chance: number;
  /** Share of the most frequent true class (`null` without images). */
  majority: number | null;
  /** Images evaluated. */
  images: number;
  /** Number of classes. */
  classes: number;
  /** Prompt templates used. */
  templates: number;
  /** Prompts longer than `textLength` (cut, EOS kept last): raise `textLength` if > 0. */
  truncatedPrompts: number;
}

/** Zero-shot results of one split. */
export interface ZeroShotReport {
  /** Per task. */
  tasks: Record<string, ZeroShotTaskReport>;
  /** Mean accuracy over tasks that had images (`null` when none). */
  mean: number | null;
  /** Mean chance over the same tasks. */
  meanChance: number | null;
}

/** Caption loss of one split. */
export interface LossReport {
  /** Mean NLL per non-pad label token (nats). */
  captionLoss: number;
  /** `exp(captionLoss)`. */
  perplexity: number;
  /** Perplexity of a uniform guess (`numTokens`). */
  uniformPerplexity: number;
  /** Non-pad label tokens averaged over. */
  tokens: number;
}

/** Caption-generation metrics of one split. */
export type CaptionReport =
  | {
    skipped: false;
    /** Corpus BLEU-4 in [0, 1]. */
    bleu4: number;
    /** Corpus CIDEr-D (×10 scale, 0 .. ~10). */
    ciderD: number;
    /** Fraction of images whose caption equals a reference (case/punctuation-insensitive). */
    exactMatch: number;
    /** The same metrics for another image's captions (`null` with a single image). */
    chance: { bleu4: number; ciderD: number; exactMatch: number } | null;
    /** The first few images' references and generated captions. */
    samples: { references: string[]; generated: string }[];
  }
  | { skipped: true; reason: string };

/** Everything measured on one split. */
export interface SplitReport {
  /** Split name. */
  split: string;
  /** (image, caption) pairs evaluated. */
  examples: number;
  /** Distinct images among them. */
  images: number;
  /** Distinct caption strings among them. */
  distinctCaptions: number;
  /** Captions longer than `textLength` (cut, EOS kept last): raise `textLength` if > 0. */
  truncatedCaptions: number;
  /** Retrieval recall (headline: `captionDedup`). */
  retrieval: RetrievalReport;
  /** Zero-shot classification. */
  zeroShot: ZeroShotReport;
  /** Caption loss and perplexity. */
  loss: LossReport;
  /** Caption-generation metrics. */
  captions: CaptionReport;
  /** Wall-clock seconds for this split. */
  seconds: number;
}

/** Result of {@linkcode evaluate}: plain data, JSON-serialisable. */
export interface EvalReport {
  /** Dataset name. */
  dataset: string;
  /** Token row length used. */
  textLength: number;
  /** Batch size used. */
  batchSize: number;
  /** One report per requested split, in order. */
  splits: SplitReport[];
}

function examplesOf(dataset: Dataset, split: string): Example[] {
  if ((SPLIT_NAMES as readonly string[]).includes(split)) {
    return dataset.splits[split as SplitName];
  }
  const extra = dataset.extraSplits?.[split];
  if (!extra) {
    const known = [...SPLIT_NAMES, ...Object.keys(dataset.extraSplits ?? {})];
    throw new RangeError(
      `expected a split of dataset "${dataset.name}" (${known.join(", ")}), found "${split}"`,
    );
  }
  return extra;
}

function stackImages(list: readonly Float32Array[], size: number): tf.Tensor4D {
  const n = 3 * size * size;
  const pixels = new Float32Array(list.length * n);
  list.forEach((im, i) => {
    if (im.length !== n) {
      throw new RangeError(
        `expected images of ${n} values (3x${size}x${size}), found ${im.length} at ${i}`,
      );
    }
    pixels.set(im, i * n);
  });
  return tf.tensor4d(pixels, [list.length, 3, size, size], "float32");
}

/** Read a latents tensor to the host, dispose it, and check its shape. */
async function readLatents(t: tf.Tensor2D, rows: number, what: string): Promise<Float32Array> {
  try {
    if (t.rank !== 2 || t.shape[0] !== rows) {
      throw new RangeError(`expected ${what} latents of shape (${rows}, d), found [${t.shape}]`);
    }
    return Float32Array.from(await t.data());
  } finally {
    t.dispose();
  }
}

/** `a (m, d)` times `b (n, d)`ᵀ on the device, read back. */
async function similarity(
  a: Float32Array,
  m: number,
  b: Float32Array,
  n: number,
  d: number,
): Promise<Float32Array> {
  const ta = tf.tensor2d(a, [m, d]);
  const tb = tf.tensor2d(b, [n, d]);
  const s = tf.matMul(ta, tb, false, true);
  try {
    return Float32Array.from(await s.data());
  } finally {
    tf.dispose([ta, tb, s]);
  }
}

function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) out[j * rows + i] = data[i * cols + j];
  }
  return out;
}

function byK(f: (k: number) => number): Record<number, number> {
  return Object.fromEntries(RECALL_KS.map((k) => [k, f(k)]));
}

interface PromptLatents {
  /** Per task: `(classes, d)` renormalised mean latents, row-major. */
  byTask: Map<
    string,
    { latents: Float32Array; classes: string[]; templates: number; truncated: number }
  >;
}

async function encodeTexts(
  model: EvaluableModel,
  tokenizer: Tokenizer,
  texts: readonly string[],
  textLength: number,
  batchSize: number,
  onBatch: (done: number) => void,
): Promise<{ latents: Float32Array; d: number; truncated: boolean[] }> {
  const chunks: Float32Array[] = [];
  const truncated: boolean[] = [];
  let d = 0;
  for (let start = 0; start < texts.length; start += batchSize) {
    const batch = texts.slice(start, start + batchSize);
    const enc = tokenizer.encodeBatch(batch, { length: textLength, bos: true, eos: true });
    truncated.push(...enc.truncated);
    const input = shiftIds(enc.data, enc.shape[0], enc.shape[1], 0);
    let lat: tf.Tensor2D;
    try {
      lat = model.encodeText(input);
    } finally {
      input.dispose();
    }
    d = lat.shape[1];
    chunks.push(await readLatents(lat, batch.length, "text"));
    onBatch(start + batch.length);
  }
  const latents = new Float32Array(texts.length * d);
  let at = 0;
  for (const c of chunks) {
    latents.set(c, at);
    at += c.length;
  }
  return { latents, d, truncated };
}

async function promptLatents(
  model: EvaluableModel,
  dataset: Dataset,
  tokenizer: Tokenizer,
  textLength: number,
  batchSize: number,
  progress: (done: number, total: number) => void,
): Promise<PromptLatents> {
  const byTask: PromptLatents["byTask"] = new Map();
  const tasks = Object.entries(dataset.classes ?? {});
  const prompts: string[] = [];
  const layout: { task: string; classes: string[]; templates: string[]; offset: number }[] = [];
  for (const [task, classes] of tasks) {
    const templates = dataset.promptTemplates?.[task] ?? ["{}"];
    if (classes.length === 0 || templates.length === 0) {
      throw new RangeError(
        `expected zero-shot task "${task}" to have classes and templates, found ${classes.length} ` +
          `classes and ${templates.length} templates`,
      );
    }
    layout.push({ task, classes, templates, offset: prompts.length });
    for (const c of classes) for (const t of templates) prompts.push(fillTemplate(t, c));
  }
  if (prompts.length === 0) return { byTask };
  const { latents, d, truncated } = await encodeTexts(
    model,
    tokenizer,
    prompts,
    textLength,
    batchSize,
    (done) => progress(done, prompts.length),
  );
  for (const { task, classes, templates, offset } of layout) {
    const out = new Float32Array(classes.length * d);
    classes.forEach((_, c) => {
      const row = out.subarray(c * d, (c + 1) * d);
      for (let t = 0; t < templates.length; t++) {
        const p = offset + c * templates.length + t;
        for (let i = 0; i < d; i++) row[i] += latents[p * d + i];
      }
      let norm = 0;
      for (let i = 0; i < d; i++) norm += row[i] * row[i];
      norm = Math.max(Math.sqrt(norm), 1e-12);
      for (let i = 0; i < d; i++) row[i] /= norm;
    });
    const n = classes.length * templates.length;
    const cut = truncated.slice(offset, offset + n).filter(Boolean).length;
    byTask.set(task, { latents: out, classes, templates: templates.length, truncated: cut });
  }
  return { byTask };
}

function retrievalScores(
  sim: Float32Array,
  images: number,
  texts: number,
  relevant: (image: number, text: number) => boolean,
): RetrievalScores {
  const i2t = recallAtKRelevant({ data: sim, shape: [images, texts] }, relevant, RECALL_KS);
  const simT: ScoreMatrix = { data: transpose(sim, images, texts), shape: [texts, images] };
  const t2i = recallAtKRelevant(simT, (t, i) => relevant(i, t), RECALL_KS);
  const perImage = Array.from({ length: images }, (_, i) => {
    let r = 0;
    for (let t = 0; t < texts; t++) if (relevant(i, t)) r++;
    return r;
  });
  const perText = Array.from({ length: texts }, (_, t) => {
    let r = 0;
    for (let i = 0; i < images; i++) if (relevant(i, t)) r++;
    return r;
  });
  return {
    imageToText: i2t.recall,
    textToImage: t2i.recall,
    chance: {
      imageToText: byK((k) => chanceRecallAtK(perImage, texts, k)),
      textToImage: byK((k) => chanceRecallAtK(perText, images, k)),
    },
  };
}

async function evaluateSplit(
  model: EvaluableModel,
  dataset: Dataset,
  tokenizer: Tokenizer,
  split: string,
  prompts: PromptLatents,
  opts: Required<Pick<EvaluateOptions, "textLength" | "batchSize" | "samples">> & EvaluateOptions,
): Promise<SplitReport> {
  const t0 = performance.now();
  const { textLength, batchSize } = opts;
  let examples = examplesOf(dataset, split);
  if (opts.maxExamples !== undefined) examples = examples.slice(0, opts.maxExamples);
  if (examples.length === 0) {
    throw new RangeError(
      `expected examples in split "${split}" of dataset "${dataset.name}", found none`,
    );
  }
  const report = (phase: EvalProgress["phase"], done: number, total: number) =>
    opts.onProgress?.({ split, phase, done, total });

  // Distinct images (by object identity) and distinct caption strings.
  const imageIndex = new Map<Float32Array, number>();
  const imageList: Float32Array[] = [];
  const firstExample: Example[] = [];
  const imageOfText: number[] = [];
  const captionId = new Map<string, number>();
  const captionOfText: number[] = [];
  for (const ex of examples) {
    const im = ex.image;
    let i = imageIndex.get(im);
    if (i === undefined) {
      i = imageList.length;
      imageIndex.set(im, i);
      imageList.push(im);
      firstExample.push(ex);
    }
    imageOfText.push(i);
    if (!captionId.has(ex.caption)) captionId.set(ex.caption, captionId.size);
    captionOfText.push(captionId.get(ex.caption)!);
  }
  const U = imageList.length, N = examples.length;
  const imageCaptions: Set<number>[] = Array.from({ length: U }, () => new Set());
  const imageCaptionText: string[][] = Array.from({ length: U }, () => []);
  examples.forEach((ex, t) => {
    imageCaptions[imageOfText[t]].add(captionOfText[t]);
    imageCaptionText[imageOfText[t]].push(ex.caption);
  });

  // One pass: caption loss, text latents, image latents (first occurrence of each image).
  const textChunks: Float32Array[] = [];
  const imageLat: (Float32Array | undefined)[] = new Array(U);
  let d = 0;
  let nllSum = 0, tokens = 0;
  const pad = model.config.padId;
  for (let start = 0; start < N; start += batchSize) {
    const batch = examples.slice(start, start + batchSize);
    const { images, text } = toTensors(batch, tokenizer, textLength);
    const input = shiftIds(hostIds(text), text.shape[0], text.shape[1], 0);
    try {
      const ids = hostIds(text);
      let labelTokens = 0;
      for (let r = 0; r < batch.length; r++) {
        for (let c = 1; c < textLength; c++) if (ids[r * textLength + c] !== pad) labelTokens++;
      }
      const l = model.loss(text, images);
      try {
        nllSum += (await l.captionLoss.data())[0] * labelTokens;
        tokens += labelTokens;
      } finally {
        tf.dispose([l.loss, l.captionLoss, l.contrastiveLoss]);
      }
      const tl = model.encodeText(input);
      d = tl.shape[1];
      textChunks.push(await readLatents(tl, batch.length, "text"));
      const il = await readLatents(model.encodeImage(images), batch.length, "image");
      if (il.length !== batch.length * d) {
        throw new RangeError(
          `expected image and text latents of the same width ${d}, found ${
            il.length / batch.length
          }`,
        );
      }
      batch.forEach((_, r) => {
        const i = imageOfText[start + r];
        if (!imageLat[i]) imageLat[i] = il.slice(r * d, (r + 1) * d);
      });
    } finally {
      tf.dispose([images, text, input]);
    }
    report("encode", start + batch.length, N);
  }
  const textLatents = new Float32Array(N * d);
  textChunks.forEach((c, i) => textLatents.set(c, i * batchSize * d));
  const imageLatents = new Float32Array(U * d);
  imageLat.forEach((v, i) => imageLatents.set(v!, i * d));

  // Retrieval.
  const sim = await similarity(imageLatents, U, textLatents, N, d);
  const multi = recallAtKMulti({ data: sim, shape: [U, N] }, imageOfText, RECALL_KS);
  const strictChance = retrievalScores(sim, U, N, (i, t) => imageOfText[t] === i).chance;
  const retrieval: RetrievalReport = {
    ks: [...RECALL_KS],
    headline: "captionDedup",
    strict: {
      imageToText: multi.imageToText,
      textToImage: multi.textToImage,
      chance: strictChance,
    },
    captionDedup: retrievalScores(sim, U, N, (i, t) => imageCaptions[i].has(captionOfText[t])),
  };

  // Zero-shot.
  const tasks: Record<string, ZeroShotTaskReport> = {};
  for (const [task, { latents, classes, templates, truncated }] of prompts.byTask) {
    const rows: number[] = [];
    const labels: number[] = [];
    firstExample.forEach((ex, i) => {
      const value = ex.attributes?.[task];
      if (value === undefined) return;
      const y = classes.indexOf(value);
      if (y < 0) {
        throw new RangeError(
          `expected attribute "${task}" to be one of the task's classes (${classes.join(", ")}), ` +
            `found "${value}" in split "${split}"`,
        );
      }
      rows.push(i);
      labels.push(y);
    });
    const C = classes.length;
    const scores = new Float32Array(rows.length * C);
    rows.forEach((i, r) => {
      for (let c = 0; c < C; c++) {
        let s = 0;
        for (let k = 0; k < d; k++) s += imageLatents[i * d + k] * latents[c * d + k];
        scores[r * C + c] = s;
      }
    });
    const counts = new Array<number>(C).fill(0);
    for (const y of labels) counts[y]++;
    tasks[task] = {
      accuracy: rows.length
        ? zeroShotAccuracy({ data: scores, shape: [rows.length, C] }, labels)
        : null,
      chance: 1 / C,
      majority: rows.length ? Math.max(...counts) / rows.length : null,
      images: rows.length,
      classes: C,
      templates,
      truncatedPrompts: truncated,
    };
  }
  const scored = Object.values(tasks).filter((t) => t.accuracy !== null);
  const zeroShot: ZeroShotReport = {
    tasks,
    mean: scored.length ? scored.reduce((a, t) => a + t.accuracy!, 0) / scored.length : null,
    meanChance: scored.length ? scored.reduce((a, t) => a + t.chance, 0) / scored.length : null,
  };

  // Caption loss.
  const captionLoss = nllSum / tokens;
  const loss: LossReport = {
    captionLoss,
    perplexity: perplexity(Math.max(0, captionLoss)),
    uniformPerplexity: model.config.numTokens,
    tokens,
  };

  // Generated captions.
  let captions: CaptionReport = { skipped: true, reason: "no caption generator given" };
  if (opts.generate) {
    const generated: string[] = [];
    for (let start = 0; start < U; start += batchSize) {
      const list = imageList.slice(start, start + batchSize);
      const images = stackImages(list, dataset.imageSize);
      let out: number[][];
      try {
        out = await opts.generate(images);
      } finally {
        images.dispose();
      }
      if (!Array.isArray(out) || out.length !== list.length) {
        throw new RangeError(
          `expected the caption generator to return ${list.length} token lists, found ${
            Array.isArray(out) ? out.length : typeof out
          }`,
        );
      }
      for (const ids of out) generated.push(captionText(tokenizer, ids));
      report("captions", start + list.length, U);
    }
    const metrics = (cands: string[]) => ({
      bleu4: bleu4(cands, imageCaptionText).bleu,
      ciderD: ciderD(cands, imageCaptionText).score,
      exactMatch: exactMatch(cands, imageCaptionText),
    });
    captions = {
      skipped: false,
      ...metrics(generated),
      chance: U > 1
        ? metrics(imageCaptionText.map((_, i) => imageCaptionText[(i + 1) % U][0]))
        : null,
      samples: generated.slice(0, opts.samples).map((g, i) => ({
        references: imageCaptionText[i],
        generated: g,
      })),
    };
  }

  return {
    split,
    examples: N,
    images: U,
    distinctCaptions: captionId.size,
    truncatedCaptions: tokenizer.encodeBatch(examples.map((e) => e.caption), {
      length: textLength,
    }).truncated.filter(Boolean).length,
    retrieval,
    zeroShot,
    loss,
    captions,
    seconds: (performance.now() - t0) / 1000,
  };
}

/**
 * Evaluate `model` on the chosen splits of `dataset`. See the module docs for what each number
 * means; the headline retrieval numbers are `retrieval.captionDedup`.
 *
 * @throws {RangeError} for an unknown or empty split, a bad `textLength`/`batchSize`, an attribute
 *   value missing from its task's classes, or a generator returning the wrong number of captions.
 * @example
 * ```ts
 * const report = await evaluate(model, shapesDataset({ testSize: 64 }), tokenizer, {
 *   textLength: 24,
 *   splits: ["test", "heldout"],
 * });
 * console.log(formatReport(report));
 * console.log(report.splits[0].retrieval.captionDedup.imageToText[1]);
 * ```
 */
export async function evaluate(
  model: EvaluableModel,
  dataset: Dataset,
  tokenizer: Tokenizer,
  options: EvaluateOptions,
): Promise<EvalReport> {
  const { textLength } = options;
  const batchSize = options.batchSize ?? 32;
  const splits = options.splits ?? ["test"];
  if (!Number.isInteger(textLength) || textLength < 3) {
    throw new RangeError(
      `expected textLength to be an integer >= 3 (BOS, token, EOS), found ${textLength}`,
    );
  }
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`expected batchSize to be a positive integer, found ${batchSize}`);
  }
  if (
    options.maxExamples !== undefined &&
    (!Number.isInteger(options.maxExamples) || options.maxExamples < 1)
  ) {
    throw new RangeError(
      `expected maxExamples to be a positive integer, found ${options.maxExamples}`,
    );
  }
  if (splits.length === 0) throw new RangeError("expected at least one split name, found none");
  for (const s of splits) examplesOf(dataset, s); // fail early on unknown names
  const samples = options.samples ?? 5;
  const wasTraining = model.training;
  model.eval();
  try {
    const prompts = await promptLatents(
      model,
      dataset,
      tokenizer,
      textLength,
      batchSize,
      (done, total) => options.onProgress?.({ split: splits[0], phase: "zeroShot", done, total }),
    );
    const out: SplitReport[] = [];
    for (const split of splits) {
      out.push(
        await evaluateSplit(model, dataset, tokenizer, split, prompts, {
          ...options,
          textLength,
          batchSize,
          samples,
        }),
      );
    }
    return { dataset: dataset.name, textLength, batchSize, splits: out };
  } finally {
    if (wasTraining) model.train();
  }
}

const f3 = (x: number | null | undefined) =>
  x === null || x === undefined || !Number.isFinite(x) ? "  -  " : x.toFixed(3);

/**
 * Render a report as a compact text table (one block per split). Chance levels sit beside
 * each metric.
 *
 * @example
 * ```ts
 * console.log(formatReport(await evaluate(model, dataset, tokenizer, { textLength: 24 })));
 * ```
 */
export function formatReport(report: EvalReport): string {
  const lines: string[] = [];
  for (const s of report.splits) {
    lines.push(
      `${report.dataset} / ${s.split}: ${s.examples} examples, ${s.images} images, ` +
        `${s.distinctCaptions} distinct captions (${s.seconds.toFixed(1)} s)`,
    );
    const cutPrompts = Object.values(s.zeroShot.tasks).reduce((a, t) => a + t.truncatedPrompts, 0);
    if (s.truncatedCaptions || cutPrompts) {
      lines.push(
        `  warning: textLength ${report.textLength} cut ${s.truncatedCaptions} captions and ` +
          `${cutPrompts} zero-shot prompts`,
      );
    }
    const ks = s.retrieval.ks;
    const head = ks.map((k) => `R@${k}`.padStart(6)).join("");
    lines.push(`  retrieval${" ".repeat(24)}${head}   | chance${head}`);
    const row = (name: string, v: RetrievalScores, dir: "imageToText" | "textToImage") =>
      `  ${name.padEnd(33)}${ks.map((k) => f3(v[dir][k]).padStart(6)).join("")}   |       ${
        ks.map((k) => f3(v.chance[dir][k]).padStart(6)).join("")
      }`;
    lines.push(row("image→text (caption-dedup) *", s.retrieval.captionDedup, "imageToText"));
    lines.push(row("text→image (caption-dedup) *", s.retrieval.captionDedup, "textToImage"));
    lines.push(row("image→text (strict)", s.retrieval.strict, "imageToText"));
    lines.push(row("text→image (strict)", s.retrieval.strict, "textToImage"));
    const tasks = Object.entries(s.zeroShot.tasks);
    if (tasks.length) {
      lines.push(`  zero-shot${" ".repeat(24)}   acc chance  major images`);
      for (const [name, t] of tasks) {
        lines.push(
          `  ${name.padEnd(33)}${f3(t.accuracy).padStart(6)} ${f3(t.chance).padStart(6)} ${
            f3(t.majority).padStart(6)
          } ${String(t.images).padStart(6)}`,
        );
      }
      lines.push(
        `  ${"mean".padEnd(33)}${f3(s.zeroShot.mean).padStart(6)} ${
          f3(s.zeroShot.meanChance).padStart(6)
        }`,
      );
    }
    lines.push(
      `  caption loss ${s.loss.captionLoss.toFixed(4)}  perplexity ${
        s.loss.perplexity.toFixed(2)
      } (uniform ${s.loss.uniformPerplexity})  over ${s.loss.tokens} tokens`,
    );
    const c = s.captions;
    if (c.skipped) lines.push(`  captions: skipped (${c.reason})`);
    else {
      lines.push(
        `  captions  BLEU-4 ${f3(c.bleu4)} (chance ${f3(c.chance?.bleu4)})  CIDEr-D ${
          f3(c.ciderD)
        } ` +
          `(chance ${f3(c.chance?.ciderD)})  exact ${f3(c.exactMatch)} (chance ${
            f3(c.chance?.exactMatch)
          })`,
      );
      for (const sm of c.samples) {
        lines.push(`    "${sm.generated}"  ←  "${sm.references.join('" | "')}"`);
      }
    }
  }
  lines.push("  * headline: a caption shared by several images counts as correct for each of them");
  return lines.join("\n");
}
