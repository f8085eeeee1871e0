/**
 * Phase 2 of `evaluate()`: one pass over a split's batches giving the text latents of every
 * example, the image latents of every distinct image and the caption-loss sums; and the text
 * encoder for any list of strings (zero-shot prompts).
 *
 * Text latents come from the first `textLength - 1` ids of BOS caption EOS (padded): exactly
 * what `CoCa.loss` feeds its text encoder.
 *
 * @module
 */
import * as tf from "../deps/tf.ts";
import { hostIds, shiftIds } from "../model/host_ids.ts";
import { toTensors } from "../data/tensors.ts";
import type { Example } from "../data/types.ts";
import type { Tokenizer } from "../text/tokenizer.ts";
import { countLabelTokens } from "./caption_loss.ts";
import type { EvaluableModel } from "./types.ts";

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

/** Latents of `texts` `(texts.length, d)` row-major, and which texts were cut to `textLength`. */
export async function encodeTexts(
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

/** What {@linkcode encodeSplit} measured. */
export interface SplitEncoding {
  /** Latents of every example's caption, `(examples, d)` row-major. */
  textLatents: Float32Array;
  /** Latents of every distinct image, `(images, d)` row-major. */
  imageLatents: Float32Array;
  /** Latent width. */
  d: number;
  /** Sum over batches of the batch's caption loss times its non-pad label tokens. */
  nllSum: number;
  /** Non-pad label tokens. */
  tokens: number;
}

/**
 * One pass over `examples` in batches: caption loss, text latents, image latents (first
 * occurrence of each image; `imageOfText[t]` is example t's image, `imageCount` their count).
 */
export async function encodeSplit(
  model: EvaluableModel,
  tokenizer: Tokenizer,
  examples: readonly Example[],
  imageOfText: readonly number[],
  imageCount: number,
  textLength: number,
  batchSize: number,
  onBatch: (done: number) => void,
): Promise<SplitEncoding> {
  const U = imageCount, N = examples.length;
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
      const labelTokens = countLabelTokens(hostIds(text), batch.length, textLength, pad);
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
    onBatch(start + batch.length);
  }
  const textLatents = new Float32Array(N * d);
  textChunks.forEach((c, i) => textLatents.set(c, i * batchSize * d));
  const imageLatents = new Float32Array(U * d);
  imageLat.forEach((v, i) => imageLatents.set(v!, i * d));
  return { textLatents, imageLatents, d, nllSum, tokens };
}
