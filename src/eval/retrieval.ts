/**
 * The retrieval phase of `evaluate()`: L2-normalised latents of every distinct image and every
 * caption, similarity = dot product (rows = images), recall@k in both directions for two ground
 * truths, each with the recall that random scores would reach:
 *
 * - `strict`: only the image's own caption(s) count. Ties count against the query, so when two
 *   images share a caption string (shapes repeats captions for different scenes) even a perfect
 *   model cannot reach 1 image→text.
 * - `captionDedup` (the **headline**, used by the demo): any caption whose string equals one of
 *   the query image's captions is correct, and any image carrying the query caption's string is
 *   correct. This is the fair number: a caption cannot tell identical-caption images apart.
 *
 * @module
 */
import * as tf from "../deps/tf.ts";
import { chanceRecallAtK, recallAtKRelevant, type ScoreMatrix } from "./recall.ts";
import type { RetrievalReport, RetrievalScores } from "./types.ts";
import type { SplitIndex } from "./index.ts";

/** The recall cut-offs reported. */
export const RECALL_KS: readonly number[] = [1, 5, 10];

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

/** Recall@k both ways and its chance level for the ground truth `relevant`. */
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

/**
 * Retrieval recall of a split from its image latents `(images, d)` and text latents
 * `(examples, d)`.
 */
export async function retrievalReport(
  index: SplitIndex,
  imageLatents: Float32Array,
  textLatents: Float32Array,
  d: number,
): Promise<RetrievalReport> {
  const { imageOfText, imageCaptions, captionOfText } = index;
  const U = index.imageList.length, N = imageOfText.length;
  const sim = await similarity(imageLatents, U, textLatents, N, d);
  return {
    ks: [...RECALL_KS],
    headline: "captionDedup",
    strict: retrievalScores(sim, U, N, (i, t) => imageOfText[t] === i),
    captionDedup: retrievalScores(sim, U, N, (i, t) => imageCaptions[i].has(captionOfText[t])),
  };
}
