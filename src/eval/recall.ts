/**
 * Retrieval recall, one implementation: {@linkcode recallAtKRelevant} ranks each query's best
 * relevant gallery item among the non-relevant ones (ties count against the query) for any
 * many-to-many ground truth; {@linkcode recallAtKMulti} (images with several captions) and
 * {@linkcode recallAtK} (the diagonal) are that ground truth spelled out. {@linkcode chanceRecallAtK}
 * is the recall that random scores would reach.
 *
 * @module
 */
import { checkKs, dense, type Matrix } from "./matrix.ts";

/** Retrieval recall per direction, keyed by k (fractions in [0, 1]). */
export interface RecallResult {
  /** Image queries retrieving texts (rows of the similarity matrix). */
  imageToText: Record<number, number>;
  /** Text queries retrieving images (columns of the similarity matrix). */
  textToImage: Record<number, number>;
}

/**
 * Recall@k for a square `(images, texts)` similarity matrix whose ground truth is the diagonal.
 * The rank of the true item is the number of other items scoring `>=` it (ties count against
 * the query, so a constant matrix scores 0 for every k < n).
 *
 * @example
 * ```ts
 * import { recallAtK } from "./recall.ts";
 * const r = recallAtK([[0.9, 0.1], [0.8, 0.2]], [1]);
 * // r.imageToText[1] = 0.5 (row 1 prefers text 0); r.textToImage[1] = 0.5
 * ```
 */
export function recallAtK(similarity: Matrix, ks: readonly number[]): RecallResult {
  const s = dense(similarity, "similarity");
  if (s.rows !== s.cols) {
    throw new RangeError(`expected a square similarity matrix, found ${s.rows}x${s.cols}`);
  }
  const truth = Array.from({ length: s.cols }, (_, j) => j);
  return recallAtKMulti(similarity, truth, ks);
}

/**
 * Recall@k when images have several captions: `similarity` is `(images, texts)` and
 * `textImage[j]` is the index of the image that text `j` describes. An image query counts as a
 * hit when any of its texts ranks in the top k; a text query when its image does.
 *
 * @example
 * ```ts
 * // image 0 has texts 0 and 1, image 1 has text 2
 * import { recallAtKMulti } from "./recall.ts";
 * const r = recallAtKMulti([[0.1, 0.9, 0.5], [0.3, 0.2, 0.8]], [0, 0, 1], [1]);
 * // r.imageToText[1] = 1; r.textToImage[1] = 2/3
 * ```
 */
export function recallAtKMulti(
  similarity: Matrix,
  textImage: readonly number[],
  ks: readonly number[],
): RecallResult {
  checkKs(ks);
  const s = dense(similarity, "similarity");
  if (textImage.length !== s.cols) {
    throw new RangeError(
      `expected one image index per text (${s.cols}), found ${textImage.length}`,
    );
  }
  textImage.forEach((img, j) => {
    if (!Number.isInteger(img) || img < 0 || img >= s.rows) {
      throw new RangeError(`expected textImage[${j}] in [0, ${s.rows}), found ${img}`);
    }
  });
  // One implementation of recall: the many-to-many one, with "text j describes image i" as the
  // ground truth (a text has one relevant image, an image all of its texts).
  const rows = s.rows, cols = s.cols;
  const data = new Array<number>(rows * cols);
  const dataT = new Array<number>(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) data[i * cols + j] = dataT[j * rows + i] = s.at(i, j);
  }
  const i2t = recallAtKRelevant({ data, shape: [rows, cols] }, (i, j) => textImage[j] === i, ks);
  const t2i = recallAtKRelevant(
    { data: dataT, shape: [cols, rows] },
    (j, i) => textImage[j] === i,
    ks,
  );
  return { imageToText: i2t.recall, textToImage: t2i.recall };
}

/** A row-major `(queries, gallery)` score matrix. */
export interface ScoreMatrix {
  /** Flat row-major scores, `shape[0] * shape[1]` entries. */
  data: ArrayLike<number>;
  /** `[queries, gallery items]`. */
  shape: readonly [number, number];
}

function checkMatrix(m: ScoreMatrix): void {
  const [rows, cols] = m.shape;
  if (m.data.length !== rows * cols) {
    throw new RangeError(
      `expected score data of length ${rows}*${cols}=${rows * cols}, found ${m.data.length}`,
    );
  }
}

/**
 * Recall@k of each query (row) of `scores` given which gallery items (columns) are relevant to
 * it. A query is a hit at k when its best-scoring relevant item has fewer than k non-relevant
 * items scoring `>=` it. Queries with no relevant item are left out of the mean (and counted in
 * `queries` only when they have one).
 *
 * @example
 * ```ts
 * import { recallAtKRelevant } from "./recall.ts";
 * // query 0: items 0 and 1 relevant; query 1: item 2 relevant
 * const r = recallAtKRelevant(
 *   { data: [0.9, 0.9, 0.1, 0.5, 0.6, 0.4], shape: [2, 3] },
 *   (q, j) => (q === 0 ? j < 2 : j === 2),
 *   [1, 2],
 * );
 * // r.recall[1] = 0.5 (query 1 ranks item 2 third), r.recall[2] = 0.5
 * ```
 */
export function recallAtKRelevant(
  scores: ScoreMatrix,
  isRelevant: (query: number, item: number) => boolean,
  ks: readonly number[],
): { recall: Record<number, number>; queries: number } {
  checkKs(ks);
  checkMatrix(scores);
  const [rows, cols] = scores.shape;
  const ranks: number[] = [];
  const relevant = new Uint8Array(cols);
  for (let q = 0; q < rows; q++) {
    let best = -Infinity;
    let any = false;
    for (let j = 0; j < cols; j++) {
      relevant[j] = isRelevant(q, j) ? 1 : 0;
      if (relevant[j]) {
        any = true;
        best = Math.max(best, scores.data[q * cols + j]);
      }
    }
    if (!any) continue;
    let rank = 0;
    for (let j = 0; j < cols; j++) {
      if (!relevant[j] && !(scores.data[q * cols + j] < best)) rank++;
    }
    ranks.push(rank);
  }
  const recall: Record<number, number> = {};
  for (const k of ks) {
    recall[k] = ranks.length === 0 ? 0 : ranks.filter((r) => r < k).length / ranks.length;
  }
  return { recall, queries: ranks.length };
}

/**
 * Expected recall@k of random (untied) scores: a query with `r` relevant items among `n` hits
 * with probability `1 - C(n-r, k) / C(n, k)`; the result is the mean over queries.
 *
 * @example
 * ```ts
 * import { chanceRecallAtK } from "./recall.ts";
 * chanceRecallAtK([1, 1, 1, 1], 4, 1); // 0.25 (one relevant item out of four)
 * chanceRecallAtK([2], 4, 1); // 0.5
 * ```
 */
export function chanceRecallAtK(relevantCounts: readonly number[], n: number, k: number): number {
  checkKs([k]);
  if (!Number.isInteger(n) || n < 0) {
    throw new RangeError(`expected a gallery size n >= 0, found ${n}`);
  }
  const counts = relevantCounts.filter((r) => r > 0);
  if (counts.length === 0) return 0;
  let sum = 0;
  for (const r of counts) {
    if (!Number.isInteger(r) || r > n) {
      throw new RangeError(`expected relevant counts that are integers <= n (${n}), found ${r}`);
    }
    // C(n-r, k) / C(n, k) = prod_{i=0}^{k-1} (n-r-i) / (n-i)
    let miss = 1;
    for (let i = 0; i < k && miss > 0; i++) miss *= Math.max(0, n - r - i) / (n - i);
    sum += 1 - miss;
  }
  return sum / counts.length;
}
