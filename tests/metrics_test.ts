import assert from "node:assert/strict";
import {
  bleu4,
  ciderD,
  exactMatch,
  perplexity,
  tokenizeCaption,
  zeroShotAccuracy,
} from "../src/eval/metrics.ts";
import { recallAtK, recallAtKMulti } from "../src/eval/recall.ts";

const close = (a: number, b: number, eps = 1e-9) =>
  assert.ok(Math.abs(a - b) <= eps, `expected ${b}, found ${a}`);

Deno.test("recallAtK on a hand-checked 3x3 matrix, nested and flat", () => {
  const S = [[0.9, 0.1, 0.3], [0.2, 0.5, 0.6], [0.1, 0.4, 0.7]];
  // i2t: row 1 prefers text 2 (0.6 > 0.5) -> true rank 1; t2i: every column's max is diagonal.
  const r = recallAtK(S, [1, 2]);
  close(r.imageToText[1], 2 / 3);
  close(r.imageToText[2], 1);
  close(r.textToImage[1], 1);
  const flat = recallAtK({ data: Float32Array.from(S.flat()), shape: [3, 3] }, [1, 2]);
  assert.deepEqual(flat, r);
  // Transposing swaps the directions.
  const T = S[0].map((_, j) => S.map((row) => row[j]));
  const rt = recallAtK(T, [1, 2]);
  assert.deepEqual(rt.imageToText, r.textToImage);
  assert.deepEqual(rt.textToImage, r.imageToText);
});

Deno.test("recallAtK counts ties against the query and validates input", () => {
  const c = recallAtK([[1, 1, 1], [1, 1, 1], [1, 1, 1]], [1, 2, 3]);
  assert.deepEqual(c.imageToText, { 1: 0, 2: 0, 3: 1 });
  assert.deepEqual(c.textToImage, { 1: 0, 2: 0, 3: 1 });
  assert.throws(() => recallAtK([[1, 2, 3], [4, 5, 6]], [1]), /square.*2x3/);
  assert.throws(() => recallAtK([[1]], [0]), /positive integer, found 0/);
  assert.throws(() => recallAtK({ data: [1, 2, 3], shape: [2, 2] }, [1]), /found 3/);
});

Deno.test("recallAtKMulti with several captions per image", () => {
  const S = [[0.1, 0.9, 0.5], [0.3, 0.2, 0.8]];
  const r = recallAtKMulti(S, [0, 0, 1], [1, 2]);
  // Image 0 finds its text 1 first; text 0 (image 0) scores higher with image 1 (0.3 > 0.1).
  assert.deepEqual(r.imageToText, { 1: 1, 2: 1 });
  close(r.textToImage[1], 2 / 3);
  close(r.textToImage[2], 1);
  // Image 1 with its text ranked behind a wrong one.
  const r2 = recallAtKMulti([[0.1, 0.9, 0.5], [0.3, 0.9, 0.2]], [0, 0, 1], [1, 2]);
  assert.deepEqual(r2.imageToText, { 1: 0.5, 2: 0.5 });
  assert.throws(() => recallAtKMulti(S, [0, 0], [1]), /one image index per text \(3\), found 2/);
  assert.throws(() => recallAtKMulti(S, [0, 0, 2], [1]), /textImage\[2\]/);
});

Deno.test("zeroShotAccuracy top-1 and top-k", () => {
  const scores = [[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.3, 0.3, 0.4]];
  close(zeroShotAccuracy(scores, [1, 1, 2]), 2 / 3);
  close(zeroShotAccuracy(scores, [1, 1, 2], 2), 1);
  close(zeroShotAccuracy(scores, [0, 0, 0], 2), 1 / 3); // row 2: tie with class 1 counts against
  assert.throws(() => zeroShotAccuracy(scores, [1, 1]), /3 labels.*found 2/);
  assert.throws(() => zeroShotAccuracy(scores, [1, 1, 3]), /labels\[2\] in \[0, 3\), found 3/);
});

Deno.test("tokenizeCaption lower-cases and drops punctuation", () => {
  assert.deepEqual(tokenizeCaption("A Red circle, left-of the SQUARE."), [
    "a",
    "red",
    "circle",
    "left",
    "of",
    "the",
    "square",
  ]);
});

Deno.test("bleu4 matches hand computation", () => {
  // p1 = 5/6 (second "the" clipped), p2 = 3/5, p3 = 2/4, p4 = 1/3, c = r = 6.
  const one = bleu4(["the cat sat on the mat"], [["the cat sat on a mat"]]);
  assert.deepEqual(one.precisions, [5 / 6, 3 / 5, 2 / 4, 1 / 3]);
  close(one.brevityPenalty, 1);
  close(one.bleu, (1 / 12) ** 0.25);
  // Short candidate: closest reference length is 6 -> BP = exp(1 - 6/4).
  const short = bleu4(["the cat sat on"], [["the cat sat on the mat", "the cat sat on a red mat"]]);
  close(short.bleu, Math.exp(-0.5));
  // Corpus level: counts and lengths are summed before combining.
  const corpus = bleu4(
    ["the cat sat on the mat", "the cat sat on"],
    [["the cat sat on a mat"], ["the cat sat on the mat", "the cat sat on a red mat"]],
  );
  assert.equal(corpus.candidateLength, 10);
  assert.equal(corpus.referenceLength, 12);
  close(corpus.bleu, Math.exp(1 - 12 / 10) * (0.9 * 0.75 * (4 / 6) * 0.5) ** 0.25);
  // Equidistant references: the shorter one is used (c = 5 > r = 4, so no penalty).
  close(bleu4(["a b c d e"], [["a b c d", "a b c d e f"]]).brevityPenalty, 1);
  // No 4-gram overlap -> 0 (no smoothing).
  assert.equal(bleu4(["a b c d"], [["a b c x"]]).bleu, 0);
  assert.throws(() => bleu4(["a"], []), /one reference list per candidate/);
  assert.throws(() => bleu4(["a"], [[]]), /at least one reference for candidate 0/);
});

Deno.test("bleu4 equals NLTK's corpus_bleu / sentence_bleu on fixed sentence sets", () => {
  // Reference values from Debian's python3-nltk 3.8 (nltk.translate.bleu_score), run with
  // /usr/bin/python3 on the same token lists: corpus_bleu(list_of_references, hypotheses) and
  // sentence_bleu(references, hypothesis) with the defaults weights=(0.25,) * 4,
  // smoothing_function=None (method0: no smoothing), auto_reweigh=False. Those match bleu4's
  // conventions: clipped counts summed over the corpus, closest reference length with ties to
  // the shorter, brevity penalty 1 if c > r else exp(1 - r/c). One difference: where a
  // precision is 0, NLTK's method0 substitutes sys.float_info.min and returns ~1e-77 where
  // bleu4 returns 0; and NLTK counts a candidate shorter than n words as 0 of 1 n-grams
  // (max(1, count)) where bleu4, like coco-caption, counts 0 of 0, which changes corpus
  // scores, so every candidate below has at least 4 words.
  const split = { tokenize: (t: string) => t.split(" ") }; // NLTK is case-sensitive
  // NLTK's own docstring example (its documented results: corpus 0.5920..., sentence 0.5045...).
  const hyp1 = "It is a guide to action which ensures that the military always obeys the " +
    "commands of the party";
  const refs1 = [
    "It is a guide to action that ensures that the military will forever heed Party commands",
    "It is the guiding principle which guarantees the military forces always being under the " +
    "command of the Party",
    "It is the practical guide for the army always to heed the directions of the party",
  ];
  const hyp2 = "he read the book because he was interested in world history";
  const refs2 = ["he was interested in world history because he read the book"];
  close(bleu4([hyp1, hyp2], [refs1, refs2], split).bleu, 0.5920778868801042, 1e-12);
  close(bleu4([hyp1], [refs1], split).bleu, 0.5045666840058485, 1e-12);
  close(bleu4([hyp2], [refs2], split).bleu, 0.7400828044922853, 1e-12);
  // Captions like ours, with the default tokenizer (already lower-case, no punctuation).
  const caps: [string, string[]][] = [
    ["a red circle left of a blue square", [
      "a red circle left of a large blue square",
      "a small red circle to the left of a blue square",
    ]],
    ["a green triangle above a circle", [
      "a green triangle above a red circle",
      "a large green triangle",
    ]],
    ["a small blue square right of a small red circle", [
      "a small blue square right of a small red circle",
    ]],
    ["a large red square below a small red square", [
      "a big red square under a small red square",
      "a large red square below a red square",
    ]],
  ];
  close(bleu4(caps.map((c) => c[0]), caps.map((c) => c[1])).bleu, 0.8791832189948326, 1e-12);
  const sentence = [0.8824969025845955, 0.6731821382417487, 1, 0.8694417438899827];
  caps.forEach(([c, rs], i) => close(bleu4([c], [rs]).bleu, sentence[i], 1e-12));
  // Equidistant references (4 and 6 words for 5): the shorter, so no penalty (NLTK: 1.0).
  close(bleu4(["a b c d e"], [["a b c d", "a b c d e f"]]).bleu, 1, 1e-12);
  close(bleu4(["a b c d e"], [["a b c d x y"]]).bleu, 0.5475182535069453, 1e-12);
  assert.equal(bleu4(["a b c d"], [["a b c x"]]).bleu, 0); // NLTK: 8.6e-78
});

Deno.test("ciderD matches hand computation", () => {
  // Perfect captions over disjoint vocabularies, >= 4 words: cosine 1 for every n -> 10.
  const perfect = ciderD(
    ["red circle left of square", "green triangle above blue diamond"],
    [["red circle left of square"], ["green triangle above blue diamond"]],
  );
  assert.equal(perfect.perCandidate.length, 2);
  for (const v of perfect.perCandidate) close(v, 10);
  // Shared word "a" has idf 0; no 4-grams -> mean over n of [1, 1, 1, 0] = 0.75 -> 7.5.
  const shared = ciderD(["a red circle", "a blue square"], [["a red circle"], ["a blue square"]]);
  for (const v of shared.perCandidate) close(v, 7.5);
  // Clipping and the length penalty (delta = 2 - 5 bigrams, sigma 6).
  const r = ciderD(
    ["red red circle", "green triangle"],
    [["red circle left of blue square"], ["green triangle"]],
  );
  const expected0 = ((2 / Math.sqrt(30) + 1 / Math.sqrt(10)) * Math.exp(-9 / 72) / 4) * 10;
  close(r.perCandidate[0], expected0);
  close(r.perCandidate[1], 5);
  close(r.score, (expected0 + 5) / 2);
  // Several references are averaged.
  const multi = ciderD(
    ["green triangle", "red circle"],
    [["green triangle", "blue square"], ["red circle"]],
  );
  // df: green/triangle/blue/square/"green triangle"/"blue square" = 1, idf = log 2 each.
  close(multi.perCandidate[0], (5 + 0) / 2);
});

Deno.test("ciderD on a three-image corpus with unequal document frequencies (hand computation)", () => {
  // References: image 0 "a red circle", image 1 "a red square", image 2 "a blue square".
  // Candidates: "a red circle" for images 0 and 1, "a blue circle" for image 2.
  // idf(g) = log(3) - log(max(1, df(g))), df over the 3 reference sets:
  //   a: df 3 -> 0;  red, square, "a red": df 2 -> L = log(3/2);
  //   circle, blue, "red circle", "red square", "a blue", "blue square", every trigram: df 1
  //   -> T = log 3;  n-grams in no reference ("blue circle", "a blue circle"): df 0 -> T too.
  // Every tf is 1, every caption has 2 bigrams (length penalty exp(0) = 1), no 4-grams (the
  // n = 4 term is 0); per candidate CIDEr-D = 10 * (c1 + c2 + c3 + 0) / 4, with c_n the
  // clipped cosine sum(min(h, r) r) / (|h| |r|).
  //   image 0 (exact): c1 = c2 = c3 = 1                             -> 7.5
  //   image 1: c1 = L*L / (sqrt(L²+T²) * sqrt(2) L) = L / (sqrt 2 sqrt(L²+T²)) = 0.244830
  //            c2 = L*L / (sqrt(L²+T²))² = L² / (L²+T²) = 0.119883   ("a red" shared)
  //            c3 = 0 ("a red circle" vs "a red square")           -> 0.911782
  //   image 2: c1 = T*T / (sqrt(T²+L²) * sqrt 2 T) = T / (sqrt 2 sqrt(T²+L²)) = 0.663369
  //            c2 = T*T / (sqrt 2 T * sqrt 2 T) = 1/2 ("a blue" shared), c3 = 0 -> 2.908422
  const L = Math.log(1.5), T = Math.log(3);
  const want = [
    7.5,
    10 * (L / (Math.SQRT2 * Math.hypot(L, T)) + L * L / (L * L + T * T)) / 4,
    10 * (T / (Math.SQRT2 * Math.hypot(L, T)) + 0.5) / 4,
  ];
  close(want[1], 0.9117824078995883, 1e-12);
  close(want[2], 2.908422430858626, 1e-12);
  const r = ciderD(
    ["a red circle", "a red circle", "a blue circle"],
    [["a red circle"], ["a red square"], ["a blue square"]],
  );
  r.perCandidate.forEach((v, i) => close(v, want[i], 1e-12));
  close(r.score, (want[0] + want[1] + want[2]) / 3, 1e-12);
});

Deno.test("exactMatch and perplexity", () => {
  close(exactMatch(["A red circle.", "a blue square"], [["a red circle"], ["a red square"]]), 0.5);
  close(perplexity(Math.log(50)), 50);
  close(perplexity(0), 1);
  assert.throws(() => perplexity(Number.NaN), /finite mean NLL/);
  assert.throws(() => perplexity(-1), /found -1/);
});
