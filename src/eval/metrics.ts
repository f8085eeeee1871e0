/**
 * Caption and classification metrics, pure TypeScript (numbers in, numbers out). Retrieval
 * recall is `./recall.ts`.
 *
 * - {@linkcode zeroShotAccuracy}: top-k accuracy of class scores.
 * - {@linkcode bleu4}: corpus BLEU-4 with brevity penalty (Papineni et al., 2002).
 * - {@linkcode ciderD}: CIDEr-D as computed by the coco-caption toolkit.
 * - {@linkcode exactMatch}, {@linkcode perplexity}.
 *
 * Caption metrics tokenize with {@linkcode tokenizeCaption} (lower-case, punctuation removed,
 * split on whitespace), an approximation of the PTB tokenizer used by coco-caption.
 *
 * @module
 */
import { checkKs, dense, type Matrix } from "./matrix.ts";

export type { Matrix };

/**
 * Fraction of rows of `scores` (`(examples, classes)`) whose true class is among the k
 * highest-scoring classes (ties count against).
 *
 * @example
 * ```ts
 * zeroShotAccuracy([[0.1, 0.9], [0.7, 0.3]], [1, 1]); // 0.5
 * ```
 */
export function zeroShotAccuracy(scores: Matrix, labels: readonly number[], k = 1): number {
  checkKs([k]);
  const s = dense(scores, "scores");
  if (labels.length !== s.rows) {
    throw new RangeError(`expected ${s.rows} labels (one per row), found ${labels.length}`);
  }
  if (s.rows === 0) return 0;
  let hits = 0;
  for (let i = 0; i < s.rows; i++) {
    const y = labels[i];
    if (!Number.isInteger(y) || y < 0 || y >= s.cols) {
      throw new RangeError(`expected labels[${i}] in [0, ${s.cols}), found ${y}`);
    }
    const v = s.at(i, y);
    let rank = 0;
    for (let c = 0; c < s.cols; c++) if (c !== y && !(s.at(i, c) < v)) rank++;
    if (rank < k) hits++;
  }
  return hits / s.rows;
}

/**
 * Caption tokenization used by the caption metrics: lower-case, drop punctuation (keeping
 * letters, digits and apostrophes inside words), split on whitespace.
 *
 * @example
 * ```ts
 * tokenizeCaption("A red circle, left."); // ["a", "red", "circle", "left"]
 * ```
 */
export function tokenizeCaption(text: string): string[] {
  return text.toLowerCase().replace(/[^\p{L}\p{M}\p{N}'\s]+/gu, " ").split(/\s+/).filter((
    w,
  ) => w.length > 0);
}

/** Options shared by the caption metrics. */
export interface CaptionMetricOptions {
  /** Word tokenizer (default {@linkcode tokenizeCaption}). */
  tokenize?: (text: string) => string[];
}

function ngrams(words: readonly string[], n: number): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i + n <= words.length; i++) {
    const g = words.slice(i, i + n).join(" ");
    m.set(g, (m.get(g) ?? 0) + 1);
  }
  return m;
}

function checkPairs(candidates: readonly string[], references: readonly (readonly string[])[]) {
  if (candidates.length !== references.length) {
    throw new RangeError(
      `expected one reference list per candidate (${candidates.length}), found ${references.length}`,
    );
  }
  references.forEach((r, i) => {
    if (!Array.isArray(r) || r.length === 0) {
      throw new RangeError(`expected at least one reference for candidate ${i}, found none`);
    }
  });
}

/** Result of {@linkcode bleu4}. */
export interface BleuResult {
  /** Corpus BLEU-4 in [0, 1]. */
  bleu: number;
  /** Clipped modified n-gram precisions p1..p4. */
  precisions: [number, number, number, number];
  /** `1` if c > r else `exp(1 - r/c)`. */
  brevityPenalty: number;
  /** Total candidate length c (words). */
  candidateLength: number;
  /** Effective reference length r: sum of the reference lengths closest to each candidate. */
  referenceLength: number;
}

/**
 * Corpus BLEU-4 (Papineni et al., 2002): clipped n-gram counts summed over the corpus, uniform
 * weights over n = 1..4, brevity penalty with the closest reference length per candidate (ties
 * → shorter). No smoothing: any zero precision gives BLEU 0.
 *
 * @example
 * ```ts
 * bleu4(["the cat sat on the mat"], [["the cat sat on the mat"]]).bleu; // 1
 * ```
 */
export function bleu4(
  candidates: readonly string[],
  references: readonly (readonly string[])[],
  options: CaptionMetricOptions = {},
): BleuResult {
  checkPairs(candidates, references);
  const tok = options.tokenize ?? tokenizeCaption;
  const matched = [0, 0, 0, 0];
  const total = [0, 0, 0, 0];
  let c = 0;
  let r = 0;
  candidates.forEach((cand, i) => {
    const words = tok(cand);
    const refs = references[i].map(tok);
    c += words.length;
    let best = Infinity;
    let bestLen = 0;
    for (const ref of refs) {
      const d = Math.abs(ref.length - words.length);
      if (d < best || (d === best && ref.length < bestLen)) {
        best = d;
        bestLen = ref.length;
      }
    }
    r += bestLen;
    for (let n = 1; n <= 4; n++) {
      const cg = ngrams(words, n);
      const maxRef = new Map<string, number>();
      for (const ref of refs) {
        for (const [g, k] of ngrams(ref, n)) maxRef.set(g, Math.max(maxRef.get(g) ?? 0, k));
      }
      for (const [g, k] of cg) {
        matched[n - 1] += Math.min(k, maxRef.get(g) ?? 0);
        total[n - 1] += k;
      }
    }
  });
  const precisions = matched.map((m, i) => (total[i] === 0 ? 0 : m / total[i])) as [
    number,
    number,
    number,
    number,
  ];
  const brevityPenalty = c === 0 ? 0 : c > r ? 1 : Math.exp(1 - r / c);
  const bleu = precisions.some((p) => p === 0)
    ? 0
    : brevityPenalty * Math.exp(precisions.reduce((a, p) => a + Math.log(p), 0) / 4);
  return { bleu, precisions, brevityPenalty, candidateLength: c, referenceLength: r };
}

/** Result of {@linkcode ciderD}. */
export interface CiderResult {
  /** Corpus CIDEr-D: mean of `perCandidate`. */
  score: number;
  /** CIDEr-D of each candidate (already ×10). */
  perCandidate: number[];
}

interface TfIdf {
  vec: Map<string, number>[];
  norm: number[];
  length: number;
}

/**
 * CIDEr-D as in the coco-caption toolkit (Vedantam et al., 2015): n-grams n = 1..4, document
 * frequencies counted over the reference sets of the evaluated corpus (idf = log(#images) −
 * log(max(1, df))), tf-idf vectors compared with clipping (`min(cand, ref) · ref`) and cosine
 * normalisation, a gaussian length penalty `exp(−δ²/(2σ²))` with σ = 6, averaged over n and over
 * references, scaled ×10. Like the toolkit, the "length" compared is the number of bigrams.
 *
 * @example
 * ```ts
 * ciderD(["a red circle", "a blue square"], [["a red circle"], ["a blue square"]]).score;
 * ```
 */
export function ciderD(
  candidates: readonly string[],
  references: readonly (readonly string[])[],
  options: CaptionMetricOptions & { sigma?: number } = {},
): CiderResult {
  checkPairs(candidates, references);
  const tok = options.tokenize ?? tokenizeCaption;
  const sigma = options.sigma ?? 6;
  const count = (text: string) => {
    const words = tok(text);
    return [1, 2, 3, 4].map((n) => ngrams(words, n));
  };
  const cands = candidates.map(count);
  const refs = references.map((rs) => rs.map(count));
  const df = new Map<string, number>();
  for (const rs of refs) {
    const seen = new Set<string>();
    for (const r of rs) for (const m of r) for (const g of m.keys()) seen.add(g);
    for (const g of seen) df.set(g, (df.get(g) ?? 0) + 1);
  }
  const refLen = Math.log(refs.length);
  const toVec = (counts: Map<string, number>[]): TfIdf => {
    const vec = counts.map(() => new Map<string, number>());
    const norm = [0, 0, 0, 0];
    let length = 0;
    counts.forEach((m, n) => {
      for (const [g, tf] of m) {
        const v = tf * (refLen - Math.log(Math.max(1, df.get(g) ?? 0)));
        vec[n].set(g, v);
        norm[n] += v * v;
        if (n === 1) length += tf;
      }
    });
    return { vec, norm: norm.map(Math.sqrt), length };
  };
  const perCandidate = cands.map((c, i) => {
    const h = toVec(c);
    let total = 0;
    for (const r of refs[i]) {
      const ref = toVec(r);
      const delta = h.length - ref.length;
      const penalty = Math.exp(-(delta * delta) / (2 * sigma * sigma));
      let sum = 0;
      for (let n = 0; n < 4; n++) {
        let val = 0;
        for (const [g, v] of h.vec[n]) {
          const rv = ref.vec[n].get(g) ?? 0;
          val += Math.min(v, rv) * rv;
        }
        if (h.norm[n] !== 0 && ref.norm[n] !== 0) val /= h.norm[n] * ref.norm[n];
        sum += val * penalty;
      }
      total += sum / 4;
    }
    return (total / refs[i].length) * 10;
  });
  const score = perCandidate.length === 0
    ? 0
    : perCandidate.reduce((a, b) => a + b, 0) / perCandidate.length;
  return { score, perCandidate };
}

/**
 * Fraction of candidates equal to one of their references after {@linkcode tokenizeCaption}
 * normalisation (case and punctuation insensitive).
 *
 * @example
 * ```ts
 * exactMatch(["A red circle."], [["a red circle"]]); // 1
 * ```
 */
export function exactMatch(
  candidates: readonly string[],
  references: readonly (readonly string[])[],
  options: CaptionMetricOptions = {},
): number {
  checkPairs(candidates, references);
  if (candidates.length === 0) return 0;
  const tok = options.tokenize ?? tokenizeCaption;
  const norm = (t: string) => tok(t).join(" ");
  let hits = 0;
  candidates.forEach((c, i) => {
    const nc = norm(c);
    if (references[i].some((r) => norm(r) === nc)) hits++;
  });
  return hits / candidates.length;
}

/**
 * Perplexity `exp(meanNll)` from a mean per-token negative log-likelihood in nats.
 *
 * @example
 * ```ts
 * perplexity(Math.log(50)); // 50
 * ```
 */
export function perplexity(meanNll: number): number {
  if (!Number.isFinite(meanNll) || meanNll < 0) {
    throw new RangeError(`expected a finite mean NLL >= 0 (nats), found ${meanNll}`);
  }
  return Math.exp(meanNll);
}
