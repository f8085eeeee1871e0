/**
 * Retrieval recall when any number of gallery items may be correct for a query, and the recall
 * that random scores would reach (the chance level).
 *
 * {@linkcode recallAtKRelevant} generalises `recallAtKMulti` from `./metrics.ts` to a
 * many-to-many ground truth (e.g. every image whose caption string equals the query's). Ranks
 * follow the same convention: the rank of a query's best relevant item is the number of
 * non-relevant items scoring `>=` it, so ties count against the query.
 *
 * @module
 */

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

function checkKs(ks: readonly number[]): void {
  for (const k of ks) {
    if (!Number.isInteger(k) || k < 1) {
      throw new RangeError(`expected every k to be a positive integer, found ${k}`);
    }
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
