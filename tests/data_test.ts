import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { batches } from "../src/data/batches.ts";
import { emojiDataset } from "../src/data/emoji.ts";
import { decodeImage, normalizePixel, toModelImage, toRgbBytes } from "../src/data/image.ts";
import { loadManifestDataset, ManifestError, parseCsv } from "../src/data/manifest.ts";
import { mixSeeds, mulberry32, shuffleInPlace } from "../src/util/rng.ts";
import {
  COLOR_NAMES,
  DEFAULT_HELDOUT_PAIRS,
  SHAPE_COLORS,
  SHAPE_NAMES,
  shapesDataset,
} from "../src/data/shapes.ts";
import { toTensors } from "../src/data/tensors.ts";
import { type Example, fillTemplate, SPLIT_NAMES } from "../src/data/types.ts";
import { BOS_ID, EOS_ID, PAD_ID, trainTokenizer } from "../src/text/tokenizer.ts";

const FIX = new URL("./fixtures/data/", import.meta.url).pathname;
const close = (a: number, b: number, eps: number, what = "") =>
  assert.ok(Math.abs(a - b) <= eps, `${what} expected ${b} ± ${eps}, found ${a}`);

/** Identity of an example: FNV-1a hash of its image bytes plus its caption. */
function fingerprint(ex: Example): string {
  const bytes = new Uint8Array(ex.image.buffer, ex.image.byteOffset, ex.image.byteLength);
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return `${h.toString(16)}|${ex.caption}`;
}

// ---------------------------------------------------------------- rng

Deno.test("mulberry32 is deterministic, uniform-ish and seed dependent", () => {
  const a = mulberry32(7), c = mulberry32(8);
  const xs = Array.from({ length: 1000 }, () => a());
  // The canonical mulberry32 outputs for seed 7 (known-answer vectors: tests/rng_test.ts).
  assert.deepEqual(
    xs.slice(0, 5).map((x) => x * 2 ** 32),
    [50271532, 266108690, 4195786334, 3002305430, 2239590375],
  );
  assert.notDeepEqual(xs.slice(0, 10), Array.from({ length: 10 }, () => c()));
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  close(mean, 0.5, 0.05, "mean");
  assert.notEqual(mixSeeds(1, 0), mixSeeds(1, 1));
  assert.notEqual(mixSeeds(1, 2), mixSeeds(2, 1));
  const perm = shuffleInPlace(Array.from({ length: 20 }, (_, i) => i), mulberry32(3));
  assert.deepEqual([...perm].sort((x, y) => x - y), Array.from({ length: 20 }, (_, i) => i));
  assert.notDeepEqual(perm, Array.from({ length: 20 }, (_, i) => i));
});

// ---------------------------------------------------------------- image

Deno.test("decodeImage reads RGB, RGBA, grayscale PNG and JPEG fixtures", async () => {
  const red = decodeImage(await Deno.readFile(FIX + "red_8x8.png"));
  assert.equal(red.width, 8);
  assert.deepEqual(Array.from(red.data.subarray(0, 8)), [255, 0, 0, 255, 255, 0, 0, 255]);
  const half = decodeImage(await Deno.readFile(FIX + "half_transparent_4x4.png"));
  assert.deepEqual(Array.from(half.data.subarray(8, 12)), [255, 0, 0, 0]);
  const gray = decodeImage(await Deno.readFile(FIX + "gray_6x4.png"));
  assert.deepEqual([gray.width, gray.height], [6, 4]);
  assert.deepEqual(Array.from(gray.data.subarray(4, 8)), [51, 51, 51, 255]);
  const blue = decodeImage(await Deno.readFile(FIX + "blue_8x8.jpg"));
  assert.equal(blue.width, 8);
  close(blue.data[2], 255, 6, "jpeg blue");
  close(blue.data[0], 0, 6, "jpeg red");
  assert.throws(
    () => decodeImage(new TextEncoder().encode("hello")),
    /PNG \(89 50 4e 47\) or JPEG.*found 68 65 6c 6c/,
  );
  assert.throws(() => decodeImage(Deno.readFileSync(FIX + "corrupt.png")));
});

Deno.test("toModelImage normalises, composites, crops and resizes as documented", () => {
  assert.equal(normalizePixel(255), 1);
  assert.equal(normalizePixel(0), -1);
  const solid = {
    width: 3,
    height: 3,
    data: new Uint8Array(36).map((_, i) => [255, 0, 0, 255][i % 4]),
  };
  const r = toModelImage(solid, 5);
  assert.equal(r.length, 3 * 25);
  assert.ok(r.subarray(0, 25).every((v) => Math.abs(v - 1) < 1e-6));
  assert.ok(r.subarray(25).every((v) => Math.abs(v + 1) < 1e-6));
  // Area: a 4x4 black/white checkerboard shrinks to uniform mid-grey (0 after normalising).
  const check = new Uint8Array(64);
  for (let p = 0; p < 16; p++) {
    const v = ((p % 4) + Math.floor(p / 4)) % 2 ? 255 : 0;
    check.set([v, v, v, 255], p * 4);
  }
  for (const v of toModelImage({ width: 4, height: 4, data: check }, 2)) close(v, 0, 1e-6);
  // Bilinear (half-pixel centres): columns [0, 255] -> [0, 63.75, 191.25, 255].
  const two = new Uint8Array(16);
  for (let y = 0; y < 2; y++) {
    two.set([0, 0, 0, 255], (y * 2) * 4);
    two.set([255, 255, 255, 255], (y * 2 + 1) * 4);
  }
  const up = toModelImage({ width: 2, height: 2, data: two }, 4);
  const row = Array.from(up.subarray(0, 4), (v) => ((v + 1) / 2) * 255);
  [0, 63.75, 191.25, 255].forEach((e, i) => close(row[i], e, 1e-3, `col ${i}`));
  // Transparency over white by default, or over the given background.
  const half = decodeImage(Deno.readFileSync(FIX + "half_transparent_4x4.png"));
  const w = toModelImage(half, 4);
  assert.deepEqual([w[0], w[3], w[16 + 3], w[32 + 3]], [-1, 1, 1, 1]);
  const k = toModelImage(half, 4, { background: [0, 0, 255] });
  assert.deepEqual([k[3], k[16 + 3], k[32 + 3]], [-1, -1, 1]);
  // Centre crop of the 6x4 gradient keeps columns 1..4; stretch keeps all six.
  const gray = decodeImage(Deno.readFileSync(FIX + "gray_6x4.png"));
  const crop = toRgbBytes(toModelImage(gray, 4, { fit: "crop" }), 4);
  assert.deepEqual([0, 1, 2, 3].map((x) => crop[x * 3]), [51, 102, 153, 204]);
  const stretch = toModelImage(gray, 3, { fit: "stretch" });
  // Area 6 -> 3 averages column pairs: (0+51)/2, (102+153)/2, (204+255)/2.
  [25.5, 127.5, 229.5].forEach((e, x) => close(((stretch[x] + 1) / 2) * 255, e, 1e-3));
  assert.throws(() => toModelImage(solid, 0), /positive integer, found 0/);
  assert.throws(
    () => toModelImage({ width: 2, height: 2, data: new Uint8Array(3) }, 2),
    /16 bytes, found 3/,
  );
});

Deno.test('toModelImage fit "pad" (default) letterboxes onto the background, exactly', () => {
  const rgba = (w: number, h: number, px: number[][]) => ({
    width: w,
    height: h,
    data: new Uint8Array(px.flatMap((p) => [...p, 255])),
  });
  const RED = [255, 0, 0], BLUE = [0, 0, 255];
  const bytes = (img: Float32Array, s: number) => Array.from(toRgbBytes(img, s));
  // 2×1 [red, blue] at S = 2: the longer side fills the width, the row goes on top (the extra
  // row is at the bottom), the bottom row is the white background.
  const wide = rgba(2, 1, [RED, BLUE]);
  assert.deepEqual(bytes(toModelImage(wide, 2), 2), [
    ...RED,
    ...BLUE,
    255,
    255,
    255,
    255,
    255,
    255,
  ]);
  assert.deepEqual(toModelImage(wide, 2), toModelImage(wide, 2, { fit: "pad" }));
  // The margins take the given background; transposed, the column goes left.
  const tall = rgba(1, 2, [RED, BLUE]);
  assert.deepEqual(bytes(toModelImage(tall, 2, { background: [0, 255, 0] }), 2), [
    ...RED,
    0,
    255,
    0,
    ...BLUE,
    0,
    255,
    0,
  ]);
  // 2×1 at S = 4: content 4×2 (bilinear columns 255 → 0 in red, 0 → 255 in blue), centred rows 1-2.
  const big = toRgbBytes(toModelImage(wide, 4), 4);
  const rowOf = (y: number) => Array.from(big.subarray(y * 12, y * 12 + 12));
  const white = new Array(12).fill(255);
  assert.deepEqual(rowOf(0), white);
  assert.deepEqual(rowOf(3), white);
  const content = [255, 0, 0, 191, 0, 64, 64, 0, 191, 0, 0, 255];
  assert.deepEqual(rowOf(1), content);
  assert.deepEqual(rowOf(2), content);
  // The 6×4 grey gradient at S = 3: content 3×2 (column pairs averaged), white bottom row.
  const gray = decodeImage(Deno.readFileSync(FIX + "gray_6x4.png"));
  const pad = toModelImage(gray, 3);
  const byte = (c: number, y: number, x: number) => ((pad[c * 9 + y * 3 + x] + 1) / 2) * 255;
  for (let c = 0; c < 3; c++) {
    for (const y of [0, 1]) {
      [25.5, 127.5, 229.5].forEach((e, x) => close(byte(c, y, x), e, 1e-3, `(${c},${y},${x})`));
    }
    for (let x = 0; x < 3; x++) assert.equal(byte(c, 2, x), 255);
  }
  // Square images come out bit-identical under all three modes.
  const sq = decodeImage(Deno.readFileSync(FIX + "red_8x8.png"));
  for (const size of [3, 8, 11]) {
    const p = toModelImage(sq, size);
    assert.deepEqual(toModelImage(sq, size, { fit: "crop" }), p);
    assert.deepEqual(toModelImage(sq, size, { fit: "stretch" }), p);
  }
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => toModelImage(wide, 2, { fit: "letterbox" as any }),
    /expected fit pad, crop, stretch, found "letterbox"/,
  );
});

// ---------------------------------------------------------------- batching

Deno.test("batches: seeded, deterministic, epoch dependent, complete", () => {
  const items = Array.from({ length: 10 }, (_, i) => i);
  const run = (o: Parameters<typeof batches>[1]) => [...batches(items, o)];
  const a = run({ batchSize: 3, seed: 5, epoch: 0 });
  assert.deepEqual(a, run({ batchSize: 3, seed: 5, epoch: 0 }));
  assert.notDeepEqual(a, run({ batchSize: 3, seed: 5, epoch: 1 }));
  assert.notDeepEqual(a, run({ batchSize: 3, seed: 6, epoch: 0 }));
  assert.deepEqual(a.map((b) => b.length), [3, 3, 3, 1]);
  assert.deepEqual(a.flat().sort((x, y) => x - y), items);
  assert.deepEqual(run({ batchSize: 3, dropLast: true, seed: 5 }).map((b) => b.length), [3, 3, 3]);
  assert.deepEqual(run({ batchSize: 4, shuffle: false }), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
  assert.throws(() => run({ batchSize: 0 }), /batchSize.*found 0/);
});

Deno.test("toTensors stacks images and builds BOS caption EOS rows padded with 0", () => {
  const ds = shapesDataset({ trainSize: 4, valSize: 0, testSize: 0, heldoutSize: 0, seed: 3 });
  const batch = ds.splits.train;
  const tok = trainTokenizer(batch.map((e) => e.caption), { vocabSize: 300 });
  const before = tf.memory().numTensors;
  const { images, text } = toTensors(batch, tok, 40);
  assert.deepEqual(images.shape, [4, 3, 32, 32]);
  assert.equal(images.dtype, "float32");
  assert.deepEqual(text.shape, [4, 40]);
  assert.equal(text.dtype, "int32");
  const ids = text.arraySync();
  ids.forEach((row, i) => {
    const body = tok.encode(batch[i].caption);
    assert.deepEqual(row, [
      BOS_ID,
      ...body,
      EOS_ID,
      ...new Array(40 - body.length - 2).fill(PAD_ID),
    ]);
  });
  const img = images.dataSync();
  assert.deepEqual(
    Array.from(img.subarray(3 * 32 * 32, 2 * 3 * 32 * 32)),
    Array.from(batch[1].image),
  );
  tf.dispose([images, text]);
  assert.equal(tf.memory().numTensors, before);
  const odd = [batch[0], { ...batch[1], image: new Float32Array(12) }];
  assert.throws(() => toTensors(odd, tok, 8), /3072 values.*found 12 in example 1/);
  assert.throws(() => toTensors([], tok, 8), /non-empty batch/);
});

// ---------------------------------------------------------------- shapes

const SMALL = { trainSize: 300, valSize: 60, testSize: 60, heldoutSize: 60 };

Deno.test("shapes: same seed gives bit-identical data, another seed differs", () => {
  const a = shapesDataset({ ...SMALL, seed: 11 });
  const b = shapesDataset({ ...SMALL, seed: 11 });
  const c = shapesDataset({ ...SMALL, seed: 12 });
  for (const split of SPLIT_NAMES) {
    assert.equal(a.splits[split].length, SMALL[`${split}Size`]);
    a.splits[split].forEach((ex, i) => {
      const other = b.splits[split][i];
      assert.equal(ex.caption, other.caption);
      assert.deepEqual(ex.attributes, other.attributes);
      assert.deepEqual(
        new Uint8Array(ex.image.buffer),
        new Uint8Array(other.image.buffer),
        `${split}[${i}] image bytes`,
      );
    });
  }
  assert.deepEqual(
    a.extraSplits!.heldout.map((e) => e.caption),
    b.extraSplits!.heldout.map((e) => e.caption),
  );
  assert.notDeepEqual(a.splits.train.map((e) => e.caption), c.splits.train.map((e) => e.caption));
});

Deno.test("shapes: splits are disjoint and held-out pairs never appear in train/val/test", () => {
  const ds = shapesDataset({ ...SMALL, seed: 1 });
  const seen = new Map<string, string>();
  const all = { ...ds.splits, ...ds.extraSplits };
  for (const [name, exs] of Object.entries(all)) {
    for (const ex of exs) {
      const f = fingerprint(ex);
      assert.ok(!seen.has(f), `${name} repeats an example of ${seen.get(f)}: ${ex.caption}`);
      seen.set(f, name);
    }
  }
  const pairRe = new RegExp(`(${COLOR_NAMES.join("|")}) (${SHAPE_NAMES.join("|")})`, "g");
  const held = new Set(DEFAULT_HELDOUT_PAIRS.map(([c, s]) => `${c} ${s}`));
  const pairsOf = (ex: Example) => [...ex.caption.matchAll(pairRe)].map((m) => m[0]);
  for (const split of SPLIT_NAMES) {
    for (const ex of ds.splits[split]) {
      const pairs = pairsOf(ex);
      assert.ok(pairs.length === 1 || pairs.length === 2, ex.caption);
      for (const p of pairs) assert.ok(!held.has(p), `${split} contains held-out "${p}"`);
    }
  }
  for (const ex of ds.extraSplits!.heldout) {
    assert.ok(pairsOf(ex).some((p) => held.has(p)), `heldout lacks a held-out pair: ${ex.caption}`);
  }
});

Deno.test("shapes: captions, attributes and pixels agree; zero-shot metadata", () => {
  const ds = shapesDataset({ ...SMALL, seed: 2, imageSize: 64 });
  assert.equal(ds.imageSize, 64);
  assert.deepEqual(ds.classes!.shape, [...SHAPE_NAMES]);
  assert.ok(ds.classes!.color.length >= 6 && SHAPE_NAMES.length >= 4);
  assert.equal(fillTemplate(ds.promptTemplates!.shape[1], "circle"), "a photo of a circle");
  const singles = ds.splits.train.filter((e) => e.attributes?.count === "1");
  const pairs = ds.splits.train.filter((e) => e.attributes?.count === "2");
  assert.ok(singles.length > 50 && pairs.length > 50);
  const S = 64;
  for (const ex of singles) {
    const a = ex.attributes!;
    assert.ok(ex.caption.startsWith(`a ${a.size} ${a.color} ${a.shape} `), ex.caption);
    assert.equal(ex.label, a.shape);
    assert.equal(ex.image.length, 3 * S * S);
    // The object's colour is the most common non-background colour of the image.
    const rgb = toRgbBytes(ex.image, S);
    const want = SHAPE_COLORS[a.color];
    let hits = 0;
    for (let p = 0; p < S * S; p++) {
      if (want.every((v, c) => rgb[p * 3 + c] === v)) hits++;
    }
    assert.ok(hits >= (a.size === "small" ? 20 : 80), `${ex.caption}: ${hits} pixels of colour`);
    // Position: the colour's centroid lies on the named side.
    let sx = 0, sy = 0;
    for (let p = 0; p < S * S; p++) {
      if (want.every((v, c) => rgb[p * 3 + c] === v)) {
        sx += p % S;
        sy += Math.floor(p / S);
      }
    }
    const cx = sx / hits / S, cy = sy / hits / S;
    const expected = { left: cx < 0.4, right: cx > 0.6, top: cy < 0.4, bottom: cy > 0.6 };
    if (a.position in expected) {
      assert.ok(expected[a.position as keyof typeof expected], `${ex.caption}: ${cx}, ${cy}`);
    }
  }
  for (const ex of pairs) {
    assert.match(ex.caption, /^a (small|large) \w+ \w+ (left of|right of|above|below) a /);
  }
  assert.throws(() => shapesDataset({ imageSize: 8 }), /imageSize.*\[16, 128\], found 8/);
  assert.throws(
    () => shapesDataset({ heldoutPairs: [["pink", "circle"]] }),
    /found \[pink, circle\]/,
  );
  assert.throws(() => shapesDataset({ trainSize: -1 }), /trainSize.*found -1/);
});

// ---------------------------------------------------------------- manifests

Deno.test("manifest: JSONL, CSV and folder forms load with disjoint splits", async () => {
  const { dataset, skipped } = await loadManifestDataset(FIX + "captions.jsonl", {
    imageSize: 4,
    valFraction: 0,
    testFraction: 0,
  });
  assert.equal(skipped, 0);
  const { train, val, test } = dataset.splits;
  assert.equal(train.length + val.length + test.length, 5);
  assert.deepEqual(test.map((e) => e.caption), ["a grey gradient"]);
  assert.ok(train.some((e) => e.caption === "half black, half transparent"));
  const blue = train.find((e) => e.label === "blue")!;
  assert.deepEqual(blue.attributes, { colour: "blue" });
  close(blue.image[2 * 16], 1, 0.05, "blue channel");
  // Both captions of red_8x8.png share a split (all 5 images -> test with testFraction 1).
  const allTest = await loadManifestDataset(FIX, {
    imageSize: 4,
    valFraction: 0,
    testFraction: 1,
  });
  assert.equal(allTest.dataset.splits.test.length, 4); // explicit "train" row stays in train
  assert.equal(allTest.dataset.splits.train.length, 1);
  // Seeded split assignment keeps images disjoint across splits.
  for (let seed = 0; seed < 5; seed++) {
    const d = (await loadManifestDataset(FIX, {
      imageSize: 4,
      seed,
      valFraction: 0.34,
      testFraction: 0.34,
    }))
      .dataset;
    const owner = new Map<string, string>();
    for (const s of SPLIT_NAMES) {
      for (const e of d.splits[s]) {
        const key = fingerprint({ ...e, caption: "" });
        assert.ok(!owner.has(key) || owner.get(key) === s, `image in ${owner.get(key)} and ${s}`);
        owner.set(key, s);
      }
    }
  }
  const csv = await loadManifestDataset(FIX + "captions.csv", { imageSize: 4 });
  assert.equal(csv.skipped, 0);
  assert.deepEqual(csv.dataset.splits.val.map((e) => e.caption), ['a "blue" square']);
  assert.deepEqual(csv.dataset.splits.test.map((e) => e.caption), [
    "a grey\ngradient on two lines",
  ]);
  const all = SPLIT_NAMES.flatMap((s) => csv.dataset.splits[s].map((e) => e.caption));
  assert.ok(all.includes("a red square, very small"));
  assert.deepEqual(parseCsv('a,b\n"x\ny",2\n3,4').records.map((r) => r.line), [1, 2, 4]);
});

Deno.test("manifest: fail mode names the manifest path and line of the first problem", async () => {
  const path = FIX + "bad.jsonl";
  await assert.rejects(
    () => loadManifestDataset(path),
    (e: unknown) => {
      assert.ok(e instanceof ManifestError);
      assert.equal(e.path, path);
      assert.equal(e.line, 4); // invalid JSON is found while parsing, before any image is read
      assert.match(e.message, /bad\.jsonl:4: .*invalid JSON/);
      return true;
    },
  );
  const dir = await Deno.makeTempDir();
  try {
    const cases: [string, number, RegExp][] = [
      [
        '{"image": "x.png", "caption": "a"}',
        1,
        /:1: expected a readable image file at .*x\.png, found no file/,
      ],
      [
        `{"image": "${FIX}corrupt.png", "caption": "a"}`,
        1,
        /:1: expected a decodable PNG or JPEG at .*corrupt\.png/,
      ],
      [
        `\n{"image": "${FIX}not_an_image.png", "caption": "a"}`,
        2,
        /:2: .*not_an_image\.png.*signature/,
      ],
      ['{"image": "a.png"}', 1, /:1: expected a string "caption", found undefined/],
      ["[1, 2]", 1, /:1: expected a JSON object, found an array/],
    ];
    for (const [text, line, re] of cases) {
      const m = `${dir}/m.jsonl`;
      await Deno.writeTextFile(m, text + "\n");
      await assert.rejects(() => loadManifestDataset(m), (e: unknown) => {
        assert.ok(e instanceof ManifestError, String(e));
        assert.equal(e.line, line);
        assert.ok(e.message.startsWith(`${m}:${line}: `), e.message);
        assert.match(e.message, re);
        return true;
      });
    }
    await Deno.writeTextFile(`${dir}/h.csv`, "picture,text\na.png,b\n");
    await assert.rejects(
      () => loadManifestDataset(`${dir}/h.csv`),
      /h\.csv:1: .*"image" and "caption"/,
    );
    await assert.rejects(
      () => loadManifestDataset(dir),
      /captions\.jsonl or captions\.csv in folder/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("manifest: skip mode drops and counts every bad row", async () => {
  const { dataset, skipped, issues } = await loadManifestDataset(FIX + "bad.jsonl", {
    onError: "skip",
    imageSize: 4,
    valFraction: 0,
    testFraction: 0,
  });
  assert.equal(skipped, 6);
  assert.deepEqual(issues.map((i) => i.line).sort(), [2, 3, 4, 5, 6, 7]);
  assert.deepEqual(dataset.splits.train.map((e) => e.caption), ["good row", "good row 3"]);
  const byLine = new Map(issues.map((i) => [i.line, i]));
  assert.equal(byLine.get(2)!.image, "missing.png");
  assert.match(byLine.get(2)!.message, /bad\.jsonl:2: .*missing\.png, found no file/);
  assert.match(byLine.get(3)!.message, /bad\.jsonl:3: .*corrupt\.png/);
  assert.match(byLine.get(7)!.message, /split.*found "holdout"/);
});

// ---------------------------------------------------------------- emoji

/** A miniature copy of the three packages' layout, with fixture PNGs as art. */
async function fakeEmojiPackages(dir: string, broken = false) {
  const red = await Deno.readFile(FIX + "red_8x8.png");
  const blue = await Deno.readFile(FIX + "blue_8x8.jpg");
  const gray = await Deno.readFile(FIX + "gray_6x4.png");
  const entries = [];
  const base = [];
  for (let i = 0; i < 20; i++) {
    const hex = (0x1f600 + i).toString(16);
    entries.push({
      unified: hex.toUpperCase(),
      image: `${hex}.png`,
      category: "Smileys & Emotion",
      has_img_google: true,
      has_img_twitter: i !== 19, // one emoji lacks twitter art and must be dropped
    });
    base.push({
      hexcode: hex.toUpperCase(),
      label: `face ${i}`,
      tags: ["face", `tag${i}`, "happy"],
      group: i % 2 === 0 ? 0 : 3,
      subgroup: 0,
      order: i,
    });
  }
  for (const vendor of ["google", "twitter"]) {
    await Deno.mkdir(`${dir}/${vendor}/img/${vendor}/64`, { recursive: true });
    await Deno.writeTextFile(`${dir}/${vendor}/emoji.json`, JSON.stringify(entries));
    for (const e of entries) {
      const art = broken && e.image === "1f600.png"
        ? gray.subarray(0, 20)
        : vendor === "google"
        ? red
        : blue;
      await Deno.writeFile(`${dir}/${vendor}/img/${vendor}/64/${e.image}`, art);
    }
  }
  await Deno.mkdir(`${dir}/base/en`, { recursive: true });
  await Deno.writeTextFile(`${dir}/base/en/data.json`, JSON.stringify(base));
  await Deno.writeTextFile(
    `${dir}/base/en/messages.json`,
    JSON.stringify({
      groups: [
        { key: "smileys-emotion", message: "smileys & emotion", order: 0 },
        { key: "component", message: "components", order: 2 },
        { key: "animals-nature", message: "animals & nature", order: 3 },
      ],
      subgroups: [{ key: "face-smiling", message: "smiling", order: 0 }],
    }),
  );
  return { googleDir: `${dir}/google`, twitterDir: `${dir}/twitter`, emojibaseDir: `${dir}/base` };
}

Deno.test("emoji: cross-style splits over disjoint emoji, lazy images, captions", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const dirs = await fakeEmojiPackages(dir, true);
    const ds = await emojiDataset({ ...dirs, imageSize: 4, valFraction: 0.2, testFraction: 0.2 });
    const { train, val, test } = ds.splits;
    assert.deepEqual([train.length, val.length, test.length], [11, 4, 4]);
    const hexes = SPLIT_NAMES.map((s) => new Set(ds.splits[s].map((e) => e.attributes!.hexcode)));
    for (const a of hexes) {
      for (const b of hexes) if (a !== b) { for (const h of a) assert.ok(!b.has(h)); }
    }
    assert.ok(
      !SPLIT_NAMES.some((s) => ds.splits[s].some((e) => e.attributes!.hexcode === "1F613")),
    );
    assert.ok(train.every((e) => e.attributes!.vendor === "google"));
    assert.ok(val.every((e) => e.attributes!.vendor === "google"));
    assert.ok(test.every((e) => e.attributes!.vendor === "twitter"));
    assert.deepEqual(
      ds.extraSplits!.crossStyle.map((e) => [e.caption, e.attributes!.vendor]),
      train.map((e) => [e.caption, "twitter"]),
    );
    assert.deepEqual(ds.classes, { group: ["smileys & emotion", "animals & nature"] });
    const ex = [...train, ...val, ...test].find((e) => e.attributes!.hexcode === "1F601")!;
    assert.equal(ex.caption, "face 1: tag1, happy"); // "face" is in the label already
    assert.equal(ex.label, "animals & nature");
    const good = [...train, ...val, ...test].find((e) => e.attributes!.hexcode === "1F602")!;
    const img = good.image; // decoded now: google art = red PNG, twitter art = blue JPEG
    assert.equal(img.length, 48);
    if (good.attributes!.vendor === "google") close(img[0], 1, 1e-6);
    else close(img[32], 1, 0.05);
    assert.equal(good.image, img, "decoded once and cached");
    const bad = [...train, ...val, ...test].find((e) => e.attributes!.hexcode === "1F600")!;
    assert.throws(() => bad.image, /decodable PNG at .*1f600\.png \(face 0\)/);
    // Swapping vendors swaps the art, seeded partition stays.
    const tw = await emojiDataset({
      ...dirs,
      imageSize: 4,
      valFraction: 0.2,
      testFraction: 0.2,
      trainVendor: "twitter",
    });
    assert.deepEqual(tw.splits.train.map((e) => e.caption), train.map((e) => e.caption));
    assert.ok(tw.splits.test.every((e) => e.attributes!.vendor === "google"));
    const limited = await emojiDataset({ ...dirs, limit: 5, seed: 3 });
    assert.equal(SPLIT_NAMES.reduce((n, s) => n + limited.splits[s].length, 0), 5);
    await assert.rejects(
      // deno-lint-ignore no-explicit-any
      () => emojiDataset({ ...dirs, trainVendor: "apple" as any }),
      /"google" or "twitter".*found "apple"/,
    );
    await assert.rejects(
      () => emojiDataset({ ...dirs, googleDir: `${dir}/nope` }),
      /JSON file at .*nope\/emoji\.json/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const hasEmojiPackages = (() => {
  try {
    Deno.statSync(new URL(import.meta.resolve("emoji-datasource-twitter/package.json")));
    return true;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "emoji: real npm packages (skipped unless installed)",
  ignore: !hasEmojiPackages,
  fn: async () => {
    const ds = await emojiDataset({ limit: 30, imageSize: 16, seed: 1 });
    assert.equal(SPLIT_NAMES.reduce((n, s) => n + ds.splits[s].length, 0), 30);
    assert.equal(ds.classes!.group.length, 9);
    for (const ex of [ds.splits.train[0], ds.splits.test[0]]) {
      const img = ex.image;
      assert.equal(img.length, 3 * 16 * 16);
      assert.ok(img.some((v) => v < 0.5), `${ex.caption} (${ex.attributes!.vendor}) is not blank`);
      assert.ok(ds.classes!.group.includes(ex.label!));
    }
    // Twemoji PNGs are palette images: decode one directly and check it has opaque pixels.
    const png = await Deno.readFile(
      new URL(import.meta.resolve("emoji-datasource-twitter/img/twitter/64/1f600.png")),
    );
    const rgba = decodeImage(png);
    assert.equal(rgba.width, 64);
    assert.ok(rgba.data.some((v, i) => i % 4 === 3 && v === 255));
  },
});

Deno.test("modelImageOptions: a checkpoint's fit and background, defaults otherwise, invalid values dropped", async () => {
  const { modelImageOptions } = await import("../src/data/image_options.ts");
  assert.deepEqual(modelImageOptions(undefined), {});
  assert.deepEqual(modelImageOptions({ name: "shapes" }), {});
  assert.deepEqual(
    modelImageOptions({ name: "manifest", path: "d/", fit: "crop", background: [0, 0, 0] }),
    { fit: "crop", background: [0, 0, 0] },
  );
  // A config.json read without validation (the browser page): only what toModelImage accepts.
  const raw = { name: "manifest", path: "d/", fit: "zoom", background: [0, 0, 999] };
  assert.deepEqual(modelImageOptions(raw as never), {});
});
