/**
 * The caption-loss phase of `evaluate()`: `model.loss(text, images).captionLoss` per batch
 * (measured in `./encode.ts`'s pass), averaged over batches weighted by their number of non-pad
 * label tokens, so it is the mean NLL per token over the split, independent of the batch size;
 * perplexity = `exp(mean NLL)`. A uniform guess has perplexity `numTokens`.
 *
 * @module
 */
import { perplexity } from "./metrics.ts";
import type { LossReport } from "./types.ts";

/**
 * Non-pad label tokens of a batch of ids `(rows, textLength)`: every column but the first (the
 * labels are the ids shifted by one).
 *
 * @example
 * ```ts
 * import { countLabelTokens } from "./caption_loss.ts";
 * countLabelTokens(new Int32Array([1, 5, 2, 0, 1, 2, 0, 0]), 2, 4, 0); // 3
 * ```
 */
export function countLabelTokens(
  ids: ArrayLike<number>,
  rows: number,
  textLength: number,
  pad: number,
): number {
  let labelTokens = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 1; c < textLength; c++) if (ids[r * textLength + c] !== pad) labelTokens++;
  }
  return labelTokens;
}

/**
 * The loss report from the pass's sums: mean NLL per label token, its perplexity, and the
 * uniform guess's perplexity (`numTokens`).
 *
 * @example
 * ```ts
 * import { lossReport } from "./caption_loss.ts";
 * lossReport(2 * 10, 10, 300).perplexity; // Math.exp(2)
 * ```
 */
export function lossReport(nllSum: number, tokens: number, numTokens: number): LossReport {
  const captionLoss = nllSum / tokens;
  return {
    captionLoss,
    perplexity: perplexity(Math.max(0, captionLoss)),
    uniformPerplexity: numTokens,
    tokens,
  };
}
