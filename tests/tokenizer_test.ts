import assert from "node:assert/strict";
import {
  BOS_ID,
  BYTE_OFFSET,
  EOS_ID,
  FIRST_MERGE_ID,
  PAD_ID,
  pretokenize,
  readTokenizerFile,
  Tokenizer,
  TokenizerError,
  trainTokenizer,
} from "../src/text/tokenizer.ts";
import { mulberry32 } from "../src/util/rng.ts";

const CORPUS = [
  "a small red circle left of a large blue square",
  "a large green triangle at the top",
  "a small blue square right of a small red circle",
  "a red circle",
  "a blue square above a green triangle",
];

const TRICKY = [
  "",
  " ",
  "\t\n  \r\n",
  "  leading and trailing  ",
  "café crème brûlée",
  "e\u0301 combining accent",
  "😀 emoji 👩‍👩‍👧‍👦 family, flags 🇫🇷",
  "中文字幕 日本語のテキスト 한국어",
  "\ufeffbyte order mark first",
  "mixed123numbers 4.5e-3 and punctuation!?…",
  "tabs\tand\u00a0nbsp\u2003em-space",
  "it's the cat's 'quoted' \"text\"",
];

Deno.test("special ids are pad 0, bos 1, eos 2, then 256 bytes", () => {
  assert.equal(PAD_ID, 0);
  assert.equal(BOS_ID, 1);
  assert.equal(EOS_ID, 2);
  assert.equal(FIRST_MERGE_ID, BYTE_OFFSET + 256);
  const tok = new Tokenizer([]);
  assert.equal(tok.vocabSize, 259);
  assert.deepEqual(tok.encode("A"), [BYTE_OFFSET + 65]);
  assert.deepEqual(tok.encode("A", { bos: true, eos: true }), [1, BYTE_OFFSET + 65, 2]);
});

Deno.test("pretokenize covers the text and attaches spaces to the following word", () => {
  for (const t of [...TRICKY, ...CORPUS]) assert.equal(pretokenize(t).join(""), t);
  assert.deepEqual(pretokenize("a red circle, left"), ["a", " red", " circle", ",", " left"]);
  assert.deepEqual(pretokenize("two  spaces"), ["two", " ", " spaces"]);
});

Deno.test("training learns merges and encode/decode round-trips any text", () => {
  const tok = trainTokenizer(CORPUS, { vocabSize: 320 });
  assert.ok(tok.vocabSize > FIRST_MERGE_ID, "some merges learned");
  assert.ok(tok.vocabSize <= 320);
  // Frequent words compress well below their byte length.
  assert.ok(tok.encode(" circle").length < " circle".length);
  for (const t of [...TRICKY, ...CORPUS]) {
    assert.equal(tok.decode(tok.encode(t)), t, JSON.stringify(t));
    assert.equal(tok.decode(tok.encode(t, { bos: true, eos: true })), t);
  }
  // Random code points (excluding lone surrogates) round-trip too.
  let s = 12345;
  const rnd = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let n = 0; n < 50; n++) {
    let t = "";
    for (let i = 0; i < 20; i++) {
      let cp = Math.floor(rnd() * 0x10ffff);
      if (cp >= 0xd800 && cp <= 0xdfff) cp = 0x20;
      t += String.fromCodePoint(cp);
    }
    assert.equal(tok.decode(tok.encode(t)), t);
  }
});

Deno.test("merges never cross word boundaries", () => {
  const tok = trainTokenizer(["ab ab ab ab ab ab"], { vocabSize: 400, minFrequency: 1 });
  for (let id = FIRST_MERGE_ID; id < tok.vocabSize; id++) {
    const text = new TextDecoder().decode(tok.tokenBytes(id));
    assert.ok(!/\S\s|\s\s/.test(text), `merge ${id} = ${JSON.stringify(text)} crosses a boundary`);
  }
  // "ab", " a", " ab" are learnable but "ab ab" is not.
  assert.ok(tok.vocabSize < 400);
});

Deno.test("training respects vocabSize, minFrequency and is deterministic", () => {
  const a = trainTokenizer(CORPUS, { vocabSize: 270 });
  assert.equal(a.vocabSize, 270);
  const b = trainTokenizer(CORPUS, { vocabSize: 270 });
  assert.deepEqual(a.toJSON(), b.toJSON());
  const high = trainTokenizer(CORPUS, { vocabSize: 1000, minFrequency: 1000 });
  assert.equal(high.vocabSize, FIRST_MERGE_ID);
  assert.throws(() => trainTokenizer(CORPUS, { vocabSize: 100 }), /vocabSize.*found 100/);
  assert.throws(
    () => trainTokenizer(CORPUS, { vocabSize: 300, minFrequency: 0 }),
    /minFrequency.*found 0/,
  );
});

Deno.test("decode skips specials and rejects unknown ids", () => {
  const tok = trainTokenizer(CORPUS, { vocabSize: 300 });
  const ids = tok.encode("a red circle");
  assert.equal(tok.decode([BOS_ID, ...ids, EOS_ID, PAD_ID, PAD_ID]), "a red circle");
  assert.throws(() => tok.decode([5, 300]), /\[0, 300\), found 300 at position 1/);
  assert.throws(() => tok.decode([-1]), /found -1/);
});

Deno.test("encodeBatch pads right with 0 and keeps eos when truncating", () => {
  const tok = trainTokenizer(CORPUS, { vocabSize: 300 });
  const texts = ["a red circle", "a small blue square right of a small red circle", ""];
  const L = 8;
  const { data, shape, lengths, truncated } = tok.encodeBatch(texts, { length: L });
  assert.deepEqual(shape, [3, L]);
  assert.equal(data.length, 3 * L);
  assert.ok(data instanceof Int32Array);
  const row = (i: number) => Array.from(data.subarray(i * L, (i + 1) * L));
  const full0 = tok.encode(texts[0], { bos: true, eos: true });
  assert.ok(full0.length <= L);
  assert.deepEqual(row(0), [...full0, ...new Array(L - full0.length).fill(PAD_ID)]);
  assert.equal(lengths[0], full0.length);
  const full1 = tok.encode(texts[1], { bos: true, eos: true });
  assert.ok(full1.length > L);
  assert.deepEqual(row(1), [...full1.slice(0, L - 1), EOS_ID]);
  assert.deepEqual(truncated, [false, true, false]);
  assert.deepEqual(row(2), [BOS_ID, EOS_ID, 0, 0, 0, 0, 0, 0]);
  const noEos = tok.encodeBatch([texts[1]], { length: L, eos: false, bos: false });
  assert.deepEqual(Array.from(noEos.data), tok.encode(texts[1]).slice(0, L));
  assert.throws(() => tok.encodeBatch(texts, { length: 1 }), /length.*>= 2, found 1/);
});

Deno.test("toJSON/fromJSON round trip and validation", () => {
  const tok = trainTokenizer(CORPUS, { vocabSize: 300 });
  const text = JSON.stringify(tok);
  const back = Tokenizer.fromJSON(text);
  assert.equal(back.vocabSize, tok.vocabSize);
  for (const t of [...CORPUS, ...TRICKY]) assert.deepEqual(back.encode(t), tok.encode(t));
  const obj = JSON.parse(text);
  assert.equal(obj.version, 1);
  assert.throws(() => Tokenizer.fromJSON("{not json"), /unparsable/);
  assert.throws(() => Tokenizer.fromJSON([]), /found array/);
  assert.throws(() => Tokenizer.fromJSON({ ...obj, version: 2 }), /version 1, found 2/);
  assert.throws(() => Tokenizer.fromJSON({ ...obj, type: "wordpiece" }), /"byte-bpe"/);
  assert.throws(
    () => Tokenizer.fromJSON({ ...obj, specials: { pad: 5, bos: 1, eos: 2 } }),
    /specials/,
  );
  assert.throws(() => Tokenizer.fromJSON({ ...obj, merges: [[3, 4], [3]] }), /merge 1/);
  // A merge referring to an id that does not exist yet.
  assert.throws(() => Tokenizer.fromJSON({ ...obj, merges: [[3, 259]] }), /merge 0.*259/);
  assert.throws(() => Tokenizer.fromJSON({ ...obj, merges: [[3, 4], [3, 4]] }), /unique/);
});

/**
 * Reference BPE training, written for clarity rather than speed: recount every adjacent pair of
 * every piece after each merge, take the most frequent (ties: smallest (left, right) ids), stop
 * below `minFrequency`. `trainTokenizer` keeps the counts incrementally; both must learn the
 * same merges.
 */
function referenceMerges(corpus: string[], vocabSize: number, minFrequency = 2): number[][] {
  const freq = new Map<string, number>();
  for (const text of corpus) for (const p of pretokenize(text)) freq.set(p, (freq.get(p) ?? 0) + 1);
  const words = [...freq].map(([p, n]) => ({
    ids: Array.from(new TextEncoder().encode(p), (b) => b + BYTE_OFFSET),
    n,
  }));
  const merges: number[][] = [];
  while (FIRST_MERGE_ID + merges.length < vocabSize) {
    // Pair (a, b) as the number a * 2^20 + b: numeric order is (a, b) order.
    const counts = new Map<number, number>();
    for (const { ids, n } of words) {
      for (let i = 0; i + 1 < ids.length; i++) {
        const k = ids[i] * 2 ** 20 + ids[i + 1];
        counts.set(k, (counts.get(k) ?? 0) + n);
      }
    }
    let bestKey = -1, bestCount = 0;
    for (const [k, c] of counts) {
      if (c > bestCount || (c === bestCount && k < bestKey)) [bestKey, bestCount] = [k, c];
    }
    const best = [Math.floor(bestKey / 2 ** 20), bestKey % 2 ** 20];
    if (bestKey < 0 || bestCount < minFrequency) break;
    const id = FIRST_MERGE_ID + merges.length;
    merges.push(best);
    for (const w of words) {
      const out: number[] = [];
      for (let i = 0; i < w.ids.length; i++) {
        if (i + 1 < w.ids.length && w.ids[i] === best[0] && w.ids[i + 1] === best[1]) {
          out.push(id);
          i++;
        } else out.push(w.ids[i]);
      }
      w.ids = out;
    }
  }
  return merges;
}

Deno.test("training on a few thousand captions learns the merges of a from-scratch reference BPE", () => {
  // Captions of pseudo-words (2-4 syllables, seeded), so that merges keep changing which
  // pairs neighbour each other, plus the shapes-like captions the tokenizer is used on.
  const rand = mulberry32(5);
  const syllables = ["ka", "lo", "mi", "ne", "su", "ra", "to", "vi", "qu", "ex"];
  const word = () =>
    Array.from(
      { length: 2 + Math.floor(rand() * 3) },
      () => syllables[Math.floor(rand() * syllables.length)],
    ).join("");
  const colours = ["red", "green", "blue", "yellow", "purple", "orange"];
  const shapes = ["circle", "square", "triangle", "diamond"];
  const corpus: string[] = [];
  for (let i = 0; i < 3000; i++) {
    const c = (k: number) => colours[(i * 7 + k) % colours.length];
    const s = (k: number) => shapes[(i * 3 + k) % shapes.length];
    corpus.push(`a ${i % 2 ? "small" : "large"} ${c(0)} ${s(0)} left of a ${c(i)} ${s(i)} #${i}`);
    if (i % 3 === 0) corpus.push(Array.from({ length: 6 }, word).join(" "));
  }
  const tok = trainTokenizer(corpus, { vocabSize: 1000 });
  const merges = tok.toJSON().merges;
  assert.equal(
    merges.length,
    1000 - FIRST_MERGE_ID,
    "the corpus has enough pairs to fill 1000 ids",
  );
  assert.deepEqual(merges, referenceMerges(corpus, 1000));
  // Overlapping pairs ("aaaa") and a frequency threshold that stops early.
  const odd = ["aaaa aaa", "banana bandana", "aaaa", "abab abab"];
  for (const minFrequency of [1, 2, 3]) {
    assert.deepEqual(
      trainTokenizer(odd, { vocabSize: 300, minFrequency }).toJSON().merges,
      referenceMerges(odd, 300, minFrequency),
      `minFrequency ${minFrequency}`,
    );
  }
  assert.equal(tok.decode(tok.encode(corpus[42])), corpus[42]);
});

Deno.test("tokenizer JSON errors are TokenizerErrors naming the file and the field", async () => {
  const obj = JSON.parse(JSON.stringify(trainTokenizer(CORPUS, { vocabSize: 280 })));
  const named = (json: unknown, field: string | undefined, detail: RegExp) =>
    assert.throws(() => Tokenizer.fromJSON(json, "tok.json"), (e) => {
      assert.ok(e instanceof TokenizerError, `expected a TokenizerError, found ${e}`);
      assert.equal(e.file, "tok.json");
      assert.equal(e.field, field);
      assert.ok(e.message.startsWith(`tok.json: ${field ? `${field}: ` : ""}expected`), e.message);
      assert.match(e.message, detail);
      return true;
    });
  named("{not json", undefined, /unparsable text/);
  named("null", undefined, /found null/);
  named({ ...obj, extra: 1 }, undefined, /exactly the keys .* found .*"extra"/);
  named({ ...obj, version: "1" }, "version", /found the string "1"/);
  // Before: "Cannot read properties of null (reading 'pad')", a raw TypeError.
  named({ ...obj, specials: null }, "specials", /found null/);
  named({ ...obj, specials: { pad: 0, bos: 1 } }, "specials.eos", /found eos nothing/);
  named({ ...obj, specials: { pad: 0, bos: 1, eos: 2, unk: 3 } }, "specials", /"unk"/);
  named({ ...obj, merges: {} }, "merges", /an array, found an object/);
  // Before: a plain TypeError that named neither the file nor the field.
  named({ ...obj, merges: [[3, 4], null] }, "merges[1]", /pair of integer ids, found null/);
  named({ ...obj, merges: [[3, 4], [3, 1e400]] }, "merges[1]", /found \[3, Infinity\]/);
  named({ ...obj, merges: [[3, 4], [3, 4]] }, "merges[1]", /unique.*merge 0 and merge 1/);
  // Each merge joining the previous one: n²/2 bytes, refused at 16 MiB, not built.
  const chain = Array.from({ length: 20000 }, (_, i) => [i ? 258 + i : 3, 3]);
  named({ ...obj, merges: chain }, "merges[5791]", /at most 16777216 bytes in all/);

  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/tokenizer.json`;
    await Deno.writeTextFile(path, JSON.stringify(obj));
    assert.equal((await readTokenizerFile(path)).vocabSize, 280);
    await Deno.writeFile(path, Uint8Array.of(0x7b, 0xff, 0x7d));
    await assert.rejects(
      readTokenizerFile(path),
      /^TokenizerError: .*tokenizer.json: expected UTF-8/,
    );
    await assert.rejects(readTokenizerFile(dir), /: expected a regular file/);
    await assert.rejects(readTokenizerFile(`${dir}/none.json`), /none.json: expected a readable/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
