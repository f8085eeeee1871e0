/**
 * Seeded fuzzing of tokenizer loading: valid tokenizer JSON (trained on small corpora, and the
 * empty one) mutated thousands of times (bit flips and character changes in the text,
 * truncation, field swaps, type changes, huge and odd numbers, duplicated and out-of-order
 * merges, missing or extra special tokens and keys, chained merge lists). Each case either
 * loads a tokenizer that round-trips sample text and its own JSON, or throws a TokenizerError
 * naming the file: never another error (TypeError, SyntaxError, RangeError), never a case
 * slower than a bound. Some cases go through a file and `readTokenizerFile` (byte-level flips,
 * invalid UTF-8).
 */
import assert from "node:assert/strict";
import { mulberry32, pick, type RandFn, randInt } from "../src/util/rng.ts";
import {
  readTokenizerFile,
  Tokenizer,
  TokenizerError,
  trainTokenizer,
} from "../src/text/tokenizer.ts";
import { assertRssBound } from "./helpers.ts";

const SEED = 20261130;
const FILE = "fuzz/tokenizer.json";
/** No single case may take longer (a load takes well under a millisecond to tens of ms). */
const CASE_MS = 2000;

const CORPUS = [
  "a small red circle left of a large blue square",
  "a large green triangle at the top",
  "a small blue square right of a small red circle",
  "café crème 😀 中文字幕",
  "two  spaces\tand\ttabs",
];
const SAMPLES = [...CORPUS, "", "an unseen sentence, with 123 digits!", "\u00e9\u0301 é"];

/** Valid tokenizer JSON texts of several sizes (the empty merge list included). */
const VALID = [259, 270, 300, 400].map((v) =>
  JSON.stringify(trainTokenizer(CORPUS, { vocabSize: v }))
);

/** Values a field may be replaced with: wrong types, huge and odd numbers. */
const ODD = [
  null,
  true,
  "1",
  "byte-bpe",
  "",
  0,
  -1,
  1,
  2,
  0.5,
  -0,
  3,
  258,
  259,
  2 ** 20,
  2 ** 31,
  2 ** 53,
  9007199254740993,
  1e20,
  1e308,
  [],
  {},
  [3],
  [3, 4],
  [3, 4, 5],
  ["3", "4"],
  [[3, 4]],
  { pad: 0, bos: 1, eos: 2 },
  { pad: 0, bos: 1 },
  { pad: 0, bos: 1, eos: 2, unk: 3 },
];
/** The same as raw JSON text, for numbers JSON.stringify cannot write. */
const ODD_TEXT = ["1e400", "-1e400", "NaN", "1e-400", "18446744073709551617", '"\\ud800"'];

type Json = Record<string, unknown>;

/** One structural mutation of the tokenizer object, as JSON text. */
function mutateObject(rand: RandFn, text: string): string {
  const obj = JSON.parse(text) as Json;
  const keys = Object.keys(obj);
  const key = pick(rand, keys.length ? keys : ["merges"]);
  const merges = Array.isArray(obj.merges) ? obj.merges as unknown[] : undefined;
  const raw = (v: string) => `"@@${v}@@"`; // replaced by raw JSON text below
  switch (randInt(rand, 12)) {
    case 0: { // swap two fields
      const other = pick(rand, keys.length ? keys : ["version"]);
      [obj[key], obj[other]] = [obj[other], obj[key]];
      break;
    }
    case 1: // a field of another type, or a huge or odd number
      obj[key] = rand() < 0.8 ? pick(rand, ODD) : raw(pick(rand, ODD_TEXT));
      break;
    case 2: // a field removed, or an extra one added
      if (rand() < 0.5) delete obj[key];
      else obj[pick(rand, ["extra", "vocab", "Version", "merges "])] = pick(rand, ODD);
      break;
    case 3: { // a special token missing, changed, or one added
      const sp =
        (typeof obj.specials === "object" && obj.specials !== null ? obj.specials : {}) as Json;
      const name = pick(rand, ["pad", "bos", "eos", "unk"]);
      if (rand() < 0.4) delete sp[name];
      else sp[name] = pick(rand, ODD);
      obj.specials = sp;
      break;
    }
    case 4: // a merge duplicated (a duplicate token)
      if (merges?.length) merges.splice(randInt(rand, merges.length + 1), 0, pick(rand, merges));
      break;
    case 5: // a merge id changed: forward references, specials, huge numbers, wrong types
      if (merges?.length) {
        const m = pick(rand, merges);
        if (Array.isArray(m) && m.length) {
          m[randInt(rand, m.length)] = pick(rand, [
            ...ODD,
            258 + merges.length,
            259 + merges.length,
            -3,
            2,
            m[0] + 1,
          ]);
        }
      }
      break;
    case 6: // a merge replaced by something that is not a pair
      if (merges?.length) merges[randInt(rand, merges.length)] = pick(rand, ODD);
      break;
    case 7: { // two merges swapped (an id used before it exists) or the list reversed
      if (merges && merges.length > 1) {
        if (rand() < 0.5) merges.reverse();
        else {
          const i = randInt(rand, merges.length), j = randInt(rand, merges.length);
          [merges[i], merges[j]] = [merges[j], merges[i]];
        }
      }
      break;
    }
    case 8: // merges removed from the end or the start
      if (merges?.length) {
        if (rand() < 0.5) merges.length = randInt(rand, merges.length);
        else merges.splice(0, 1 + randInt(rand, merges.length));
      }
      break;
    case 9: { // a long merge list: a chain (each joins the previous; n²/2 bytes) or repeats
      const n = pick(rand, [100, 3000, 8000]);
      obj.merges = rand() < 0.7
        ? Array.from({ length: n }, (_, i) => [i ? 258 + i : 3, 3 + (i % 256)])
        : Array.from({ length: n }, (_, i) => [3 + (i % 256), 3 + ((i >> 8) % 256)]);
      break;
    }
    case 10: { // a duplicated key in the text (JSON.parse keeps the last one)
      const json = JSON.stringify(obj);
      const copy = `${JSON.stringify(key)}:${raw(JSON.stringify(pick(rand, ODD)))}`;
      return (rand() < 0.5 ? `{${copy},${json.slice(1)}` : `${json.slice(0, -1)},${copy}}`)
        .replace(/"@@(.*?)@@"/g, (_, v) => v.replaceAll('\\"', '"'));
    }
    default: // the whole thing replaced by another JSON value
      return JSON.stringify(pick(rand, [...ODD, [obj], { tokenizer: obj }]));
  }
  return JSON.stringify(obj).replace(/"@@(.*?)@@"/g, (_, v) => v.replaceAll('\\"', '"'));
}

/** One mutation of the JSON text. */
function mutate(rand: RandFn, text: string): string {
  switch (randInt(rand, 6)) {
    case 0: { // a few characters changed to JSON punctuation, digits or letters
      let out = text;
      for (let k = 1 + randInt(rand, 3); k > 0; k--) {
        const i = randInt(rand, out.length);
        const c = pick(rand, [
          '"',
          "{",
          "}",
          "[",
          "]",
          ",",
          ":",
          "-",
          "0",
          "9",
          ".",
          "e",
          "\\",
          "",
        ]);
        out = out.slice(0, i) + c + out.slice(i + 1);
      }
      return out;
    }
    case 1: { // bit flips in the UTF-16 code units
      const units = Array.from(text, (c) => c.charCodeAt(0));
      for (let k = 1 + randInt(rand, 4); k > 0; k--) {
        const i = randInt(rand, units.length);
        units[i] ^= 1 << randInt(rand, 16);
      }
      return String.fromCharCode(...units);
    }
    case 2: // truncation
      return text.slice(0, randInt(rand, text.length));
    default:
      return mutateObject(rand, text);
  }
}

/** Byte-level bit flips (invalid UTF-8 included), for the file path. */
function flipBytes(rand: RandFn, bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  for (let k = 1 + randInt(rand, 4); k > 0; k--) {
    out[randInt(rand, out.length)] ^= 1 << randInt(rand, 8);
  }
  return out;
}

/** A loaded tokenizer must round-trip text and its own JSON. */
function checkLoaded(tok: Tokenizer, label: string): void {
  for (const s of SAMPLES) {
    const ids = tok.encode(s, { bos: true, eos: true });
    assert.ok(ids.every((id) => Number.isInteger(id) && id >= 0 && id < tok.vocabSize), label);
    assert.equal(tok.decode(ids), s, `${label}: round trip of ${JSON.stringify(s)}`);
  }
  const again = Tokenizer.fromJSON(JSON.stringify(tok), FILE);
  assert.equal(again.vocabSize, tok.vocabSize, label);
  assert.deepEqual(again.encode(SAMPLES[0]), tok.encode(SAMPLES[0]), label);
}

/** A failure must be the project's own error, naming the file, in "expected ... found". */
function checkError(e: unknown, file: string, label: string): void {
  if (!(e instanceof TokenizerError)) {
    assert.fail(`${label}: expected a TokenizerError, found ${e}`);
  }
  assert.ok(e.message.startsWith(`${file}: `), `${label}: ${e.message}`);
  assert.match(e.message, /expected .*found/, `${label}: ${e.message}`);
  assert.ok(e.message.length < 400, `${label}: a bounded message, found ${e.message.length} chars`);
}

Deno.test("fuzz tokenizer JSON: mutated texts load and round-trip, or fail with a TokenizerError", () => {
  const rand = mulberry32(SEED);
  const cases = 20000;
  const seen = { ok: 0, error: 0 };
  let slowest = 0;
  for (let i = 0; i < cases; i++) {
    assertRssBound(i, "fuzz tokenizer JSON");
    let text = pick(rand, VALID);
    for (let k = 1 + randInt(rand, 3); k > 0; k--) {
      try {
        text = mutate(rand, text);
      } catch {
        break; // the previous mutation broke the JSON: mutate no further
      }
    }
    const label = `case ${i} (seed ${SEED})`;
    const t0 = performance.now();
    let tok: Tokenizer | undefined;
    try {
      tok = Tokenizer.fromJSON(text, FILE);
    } catch (e) {
      checkError(e, FILE, label);
    }
    if (tok) checkLoaded(tok, label);
    seen[tok ? "ok" : "error"]++;
    const ms = performance.now() - t0;
    slowest = Math.max(slowest, ms);
    assert.ok(ms < CASE_MS, `${label} took ${ms.toFixed(0)} ms`);
  }
  // Both outcomes occur: the mutations are neither all harmless nor all fatal.
  assert.ok(seen.ok >= cases / 50 && seen.error > cases / 3, JSON.stringify(seen));
  console.log(`${cases} cases, ${JSON.stringify(seen)}, slowest ${slowest.toFixed(1)} ms`);
});

Deno.test("fuzz tokenizer files: byte flips and mutations through readTokenizerFile", async () => {
  const rand = mulberry32(SEED + 1);
  const dir = await Deno.makeTempDir({ prefix: "fuzz_tokenizer_" });
  const path = `${dir}/tokenizer.json`;
  const cases = 1000;
  const seen = { ok: 0, error: 0 };
  try {
    for (let i = 0; i < cases; i++) {
      assertRssBound(i, "fuzz tokenizer files");
      const valid = new TextEncoder().encode(pick(rand, VALID));
      const bytes = rand() < 0.7
        ? flipBytes(rand, valid)
        : new TextEncoder().encode(mutate(rand, pick(rand, VALID)));
      await Deno.writeFile(path, bytes);
      const label = `file case ${i} (seed ${SEED + 1})`;
      const t0 = performance.now();
      let tok: Tokenizer | undefined;
      try {
        tok = await readTokenizerFile(path);
      } catch (e) {
        checkError(e, path, label);
      }
      if (tok) checkLoaded(tok, label);
      seen[tok ? "ok" : "error"]++;
      assert.ok(performance.now() - t0 < CASE_MS, label);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assert.ok(seen.ok >= cases / 50 && seen.error > cases / 3, JSON.stringify(seen));
  console.log(`${cases} file cases, ${JSON.stringify(seen)}`);
});
