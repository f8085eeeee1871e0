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
 *   - `strict`: only the image's own caption(s) count (`recallAtKMulti` from `./recall.ts`).
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
 * One file per phase, composed by {@linkcode evaluate}: `./index.ts` (distinct images and
 * captions), `./encode.ts` (latents and loss sums in one pass), `./retrieval.ts`,
 * `./zero_shot.ts`, `./caption_loss.ts`, `./captions.ts`, and `./report.ts` (the text table);
 * the report types are `./types.ts`.
 *
 * @module
 */
import type { Dataset } from "../data/types.ts";
import type { Tokenizer } from "../text/tokenizer.ts";
import { positiveInt } from "../util/validate.ts";
import { examplesOf, indexExamples } from "./index.ts";
import { encodeSplit } from "./encode.ts";
import { retrievalReport } from "./retrieval.ts";
import { type PromptLatents, promptLatents, zeroShotReport } from "./zero_shot.ts";
import { lossReport } from "./caption_loss.ts";
import { captionReport } from "./captions.ts";
import type {
  EvalProgress,
  EvalReport,
  EvaluableModel,
  EvaluateOptions,
  SplitReport,
} from "./types.ts";

export type * from "./types.ts";
export { RECALL_KS } from "./retrieval.ts";
export { formatReport } from "./report.ts";

/** One split: index, encode, then each phase's report from what the pass measured. */
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

  const index = indexExamples(examples);
  const U = index.imageList.length, N = examples.length;
  const enc = await encodeSplit(
    model,
    tokenizer,
    examples,
    index.imageOfText,
    U,
    textLength,
    batchSize,
    (done) => report("encode", done, N),
  );
  const retrieval = await retrievalReport(index, enc.imageLatents, enc.textLatents, enc.d);
  const zeroShot = zeroShotReport(prompts, index.firstExample, enc.imageLatents, enc.d, split);
  const loss = lossReport(enc.nllSum, enc.tokens, model.config.numTokens);
  const captions = await captionReport(
    opts.generate,
    tokenizer,
    index.imageList,
    index.imageCaptionText,
    dataset.imageSize,
    batchSize,
    opts.samples,
    (done, total) => report("captions", done, total),
  );
  return {
    split,
    examples: N,
    images: U,
    distinctCaptions: index.distinctCaptions,
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
 * ```ts ignore
 * import { evaluate, formatReport } from "./evaluate.ts";
 * import { shapesDataset } from "../data/shapes.ts";
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
  positiveInt("batchSize", batchSize);
  if (options.maxExamples !== undefined) positiveInt("maxExamples", options.maxExamples);
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
