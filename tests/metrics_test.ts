import assert from "node:assert/strict";
import {
  bleu4,
  ciderD,
  exactMatch,
  perplexity,
  recallAtK,
  recallAtKMulti,
  tokenizeCaption,
  zeroShotAccuracy,
} from "../src/eval/metrics.ts";

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

Deno.test("exactMatch and perplexity", () => {
  close(exactMatch(["A red circle.", "a blue square"], [["a red circle"], ["a red square"]]), 0.5);
  close(perplexity(Math.log(50)), 50);
  close(perplexity(0), 1);
  assert.throws(() => perplexity(Number.NaN), /finite mean NLL/);
  assert.throws(() => perplexity(-1), /found -1/);
});
