/**
 * What `evaluate()` takes and returns: the model interface, the options, the progress events and
 * the report (plain, JSON-serialisable data).
 *
 * @module
 */
import type * as tf from "../deps/tf.ts";
import type { CoCaLoss } from "../model/coca.ts";

/**
 * What `evaluate()` needs from a model. `CoCa` has all of it; tests may pass a stand-in.
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

/** Progress of `evaluate()`, reported after each batch. */
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

/** Options of `evaluate()`. */
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

/** Result of `evaluate()`: plain data, JSON-serialisable. */
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
