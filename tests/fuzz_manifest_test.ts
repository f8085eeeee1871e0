// Issue 10, fuzz: seeded mutations of valid JSONL and CSV manifests: bit flips, truncation,
// quote/comma/newline/CR insertion, field and line swaps, deleted and repeated lines, type
// changes, huge numbers, BOMs, duplicate columns and keys, odd image paths and splits. Each case
// either loads (consistent splits, skipped rows listed with their line) or fails with a
// ManifestError whose message starts with the manifest path and line; never another error
// type, never a slow case.
import assert from "node:assert/strict";
import { type LoadedManifest, loadManifestDataset, ManifestError } from "../src/data/manifest.ts";
import { mulberry32 } from "../src/util/rng.ts";
import { assertRssBound } from "./helpers.ts";

const FIX = new URL("./fixtures/data/", import.meta.url).pathname;
const CASES = 3000;
const SEED = 20261130;
const MAX_CASE_MS = 2000;
const SIZE = 4;

const JSONL = [
  '{"image": "red.png", "caption": "a red square", "label": "red"}',
  '{"image": "blue.jpg", "caption": "a blue square", "split": "val", "attributes": {"c": "blue"}}',
  '{"image": "gray.png", "caption": "a grey gradient, wide", "split": "test"}',
  "",
  '{"image": "red.png", "caption": "the same red square again"}',
  '{"image": "half.png", "caption": "half \\"transparent\\"", "split": "train"}',
].join("\n") + "\n";

const CSV = [
  "image,caption,split,label",
  'red.png,"a red square, very small",,red',
  'blue.jpg,"a ""blue"" square",val,blue',
  'gray.png,"a grey\ngradient on two lines",test,',
  "half.png,half black,train,",
  "red.png,red again,,red",
].join("\r\n") + "\r\n";

/** One text mutation of a manifest; `csv` selects the format-aware ones. */
function mutate(text: string, csv: boolean, rand: () => number): { text: string; how: string } {
  const int = (n: number) => Math.floor(rand() * n);
  const at = () => int(text.length + 1);
  const insert = (s: string, where = at()) => text.slice(0, where) + s + text.slice(where);
  const lines = text.split("\n");
  const huge = () =>
    ["1e999", "-1e308", "9".repeat(400), "NaN", "Infinity", "0x10", "1e-400", "-0"][int(8)];
  const kind = int(16);
  switch (kind) {
    case 0: { // bit flips in the UTF-8 bytes (may make invalid UTF-8)
      const b = new TextEncoder().encode(text);
      const n = 1 + int(4);
      for (let k = 0; k < n && b.length; k++) b[int(b.length)] ^= 1 << int(8);
      return { text: new TextDecoder().decode(b), how: `flip ${n} bits` };
    }
    case 1: {
      const w = at();
      return { text: text.slice(0, w), how: `truncate at ${w}` };
    }
    case 2: {
      const s = ['"', ",", "\n", "\r", "\r\n", '""', "\\", "{", "}", "[", ":", "\t", "\0"][int(13)];
      const w = at();
      return { text: insert(s, w), how: `insert ${JSON.stringify(s)} at ${w}` };
    }
    case 3: {
      const w = [0, int(text.length + 1)][int(2)];
      return { text: insert("\uFEFF", w), how: `BOM at ${w}` };
    }
    case 4: { // swap two lines
      const i = int(lines.length), j = int(lines.length);
      [lines[i], lines[j]] = [lines[j], lines[i]];
      return { text: lines.join("\n"), how: `swap lines ${i + 1} and ${j + 1}` };
    }
    case 5: { // delete or repeat a line
      const i = int(lines.length);
      if (rand() < 0.5) lines.splice(i, 1);
      else lines.splice(i, 0, lines[i]);
      return { text: lines.join("\n"), how: `delete/repeat line ${i + 1}` };
    }
    case 6: { // swap two fields within a line
      const i = int(lines.length);
      const parts = lines[i].split(csv ? "," : ", ");
      const a = int(parts.length), b = int(parts.length);
      [parts[a], parts[b]] = [parts[b], parts[a]];
      lines[i] = parts.join(csv ? "," : ", ");
      return { text: lines.join("\n"), how: `swap fields ${a} and ${b} on line ${i + 1}` };
    }
    case 7: { // duplicate a column (CSV header) or a key (JSONL)
      if (csv) {
        const cols = lines[0].split(",");
        const c = cols[int(cols.length)];
        lines[0] = lines[0] + "," + c;
        return { text: lines.join("\n"), how: `duplicate column ${c}` };
      }
      const i = int(lines.length);
      lines[i] = lines[i].replace("{", '{"caption": "dup", ');
      return { text: lines.join("\n"), how: `duplicate key on line ${i + 1}` };
    }
    case 8: { // type change of a JSON value or a CSV field
      const v = [huge(), "null", "true", "[]", '{"a": 1}', '["x"]', "7", '""', '"val"'][int(9)];
      const re = csv ? /[^,\n"]+/g : /"[^"]*"(?=[,}])/g;
      const spots = [...text.matchAll(re)];
      if (spots.length === 0) return { text, how: "no field" };
      const m = spots[int(spots.length)];
      return {
        text: text.slice(0, m.index) + v + text.slice(m.index! + m[0].length),
        how: `value ${JSON.stringify(m[0])} -> ${v}`,
      };
    }
    case 9: { // odd image paths
      const p = ["/dev/zero", "/", "..", "", "missing.png", "../fixtures", "/nonexistent/x.png"][
        int(7)
      ];
      const img = ["red.png", "blue.jpg", "gray.png", "half.png"][int(4)];
      return { text: text.replace(img, p), how: `image ${img} -> ${JSON.stringify(p)}` };
    }
    case 10: { // odd split values
      const s = ["TRAIN", "holdout", "", "val ", "test"][int(5)];
      return { text: text.replace(/val|test|train/, s), how: `split -> ${JSON.stringify(s)}` };
    }
    case 11: { // a long line or field
      const n = [1000, 100000][int(2)];
      return { text: insert("x".repeat(n)), how: `insert ${n} x` };
    }
    case 12: { // deep nesting / many fields
      const s = csv ? ",".repeat(1000) : "[".repeat(5000);
      return { text: insert(s), how: `insert ${csv ? "1000 commas" : "5000 ["}` };
    }
    case 13: { // cut a range
      const w = at(), n = 1 + int(20);
      return { text: text.slice(0, w) + text.slice(w + n), how: `cut ${n} at ${w}` };
    }
    case 14: { // random bytes
      const n = 1 + int(8);
      const s = String.fromCharCode(...Array.from({ length: n }, () => int(256)));
      return { text: insert(s), how: `insert ${n} random chars` };
    }
    default: { // empty or whitespace-only
      const t = ["", "\n", "\r\n\r\n", " ", "\uFEFF", '"'][int(6)];
      return { text: t, how: `replace with ${JSON.stringify(t)}` };
    }
  }
}

/** One load: the result or the error, a comparable summary of either, and the time it took. */
async function attempt(path: string, onError: "skip" | "fail") {
  const t0 = performance.now();
  let m: LoadedManifest | undefined, error: unknown, summary: unknown;
  try {
    m = await loadManifestDataset(path, { imageSize: SIZE, onError });
    const splits = Object.entries(m.dataset.splits).map(([k, v]) => [k, v.map((e) => e.caption)]);
    summary = { splits, skipped: m.issues.map((i) => i.message) };
  } catch (e) {
    error = e;
    summary = e instanceof ManifestError ? e.message : `not a ManifestError: ${e}`;
  }
  return { m, error, summary, ms: performance.now() - t0 };
}

Deno.test(`fuzz: ${CASES} mutated JSONL/CSV manifests load or throw a ManifestError`, async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (
      const [from, to] of [
        ["red_8x8.png", "red.png"],
        ["blue_8x8.jpg", "blue.jpg"],
        ["gray_6x4.png", "gray.png"],
        ["half_transparent_4x4.png", "half.png"],
      ]
    ) await Deno.copyFile(FIX + from, `${dir}/${to}`);
    // The seeds themselves load cleanly.
    for (const [name, text] of [["m.jsonl", JSONL], ["m.csv", CSV]]) {
      await Deno.writeTextFile(`${dir}/${name}`, text);
      const m = await loadManifestDataset(`${dir}/${name}`, { imageSize: SIZE });
      assert.equal(m.skipped, 0, name);
      assert.equal(Object.values(m.dataset.splits).flat().length, 5, name);
    }
    const rand = mulberry32(SEED);
    const t0 = performance.now();
    let loaded = 0, withSkips = 0, refused = 0, slowest = 0;
    for (let i = 0; i < CASES; i++) {
      assertRssBound(i, "fuzz manifests");
      const csv = rand() < 0.5;
      let text = csv ? CSV : JSONL;
      const hows: string[] = [];
      const n = 1 + Math.floor(rand() * 3);
      for (let k = 0; k < n; k++) {
        const m = mutate(text, csv, rand);
        text = m.text;
        hows.push(m.how);
      }
      const onError = rand() < 0.5 ? "skip" : "fail";
      const path = `${dir}/m.${csv ? "csv" : "jsonl"}`;
      await Deno.writeTextFile(path, text);
      const what = `case ${i} (${csv ? "csv" : "jsonl"}, ${onError}: ${hows.join(", ")})`;
      const lineCount = text.split(/\r\n|\r|\n/).length;
      const first = await attempt(path, onError);
      slowest = Math.max(slowest, first.ms);
      assert.ok(first.ms < MAX_CASE_MS, `${what}: took ${first.ms.toFixed(0)} ms`);
      if (i % 3 === 0 && !text.startsWith("\uFEFF")) {
        // A BOM at the start changes nothing.
        await Deno.writeTextFile(path, "\uFEFF" + text);
        const bom = await attempt(path, onError);
        assert.deepEqual(bom.summary, first.summary, `${what}: with a BOM`);
      }
      // A CSV header naming a column twice is an error.
      const header = text.replace(/^\uFEFF/, "").split(/\r\n|\r|\n/).find((l) => l !== "");
      if (csv && header !== undefined && !header.includes('"')) {
        const names = header.split(",").map((h) => h.trim());
        if (new Set(names).size < names.length) {
          assert.ok(first.m === undefined, `${what}: duplicate column loaded`);
        }
      }
      const m = first.m;
      if (m !== undefined) {
        // JSONL: every non-blank line is an example or a listed skipped row.
        if (!csv && onError === "skip") {
          const rows = text.replace(/^\uFEFF/, "").split(/\r?\n/).filter((l) => l.trim() !== "");
          const examples = Object.values(m.dataset.splits).flat().length;
          assert.equal(examples + m.skipped, rows.length, `${what}: rows accounted for`);
        }
        for (const ex of Object.values(m.dataset.splits).flat()) {
          assert.equal(ex.image.length, 3 * SIZE * SIZE, what);
          assert.ok(ex.image.every((v) => v >= -1 - 1e-6 && v <= 1 + 1e-6), what);
          assert.equal(typeof ex.caption, "string", what);
        }
        assert.equal(m.skipped, m.issues.length, what);
        if (onError === "fail") assert.equal(m.skipped, 0, what);
        for (const issue of m.issues) {
          assert.equal(issue.path, path, what);
          assert.ok(issue.line >= 1 && issue.line <= lineCount, `${what}: line ${issue.line}`);
          assert.equal(issue.message, `${path}:${issue.line}: ${issue.reason}`, what);
          assert.match(issue.reason, /^expected .*found/s, `${what}: ${issue.reason}`);
        }
        loaded++;
        if (m.skipped > 0) withSkips++;
      } else {
        const e = first.error;
        if (!(e instanceof ManifestError)) {
          assert.fail(
            `${what}: expected a ManifestError, found ${e instanceof Error ? e.stack : e}`,
          );
        }
        assert.equal(e.path, path, what);
        assert.ok(e.line >= 1 && e.line <= lineCount, `${what}: line ${e.line}`);
        assert.ok(e.message.startsWith(`${path}:${e.line}: expected `), `${what}: ${e.message}`);
        assert.match(e.message, /found/, `${what}: ${e.message}`);
        refused++;
      }
    }
    const total = performance.now() - t0;
    console.log(
      `fuzz: ${CASES} manifests in ${(total / 1000).toFixed(1)} s: ${loaded} loaded ` +
        `(${withSkips} with skipped rows), ${refused} ManifestError; slowest ${
          slowest.toFixed(0)
        } ms`,
    );
    assert.ok(loaded > 0 && withSkips > 0 && refused > 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
