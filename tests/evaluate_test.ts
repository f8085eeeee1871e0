import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { setupBackend } from "../src/backends/setup.ts";
import type { CoCaLoss } from "../src/model/coca.ts";
import { buildModel, type ModelConfig } from "../src/train/checkpoint.ts";
import { loadDataset } from "../src/data/load.ts";
import { shapesDataset } from "../src/data/shapes.ts";
import { type Dataset, type Example, fillTemplate } from "../src/data/types.ts";
import {
  type EvaluableModel,
  evaluate,
  formatReport,
  type SplitReport,
} from "../src/eval/evaluate.ts";
import { chanceRecallAtK, recallAtKMulti, recallAtKRelevant } from "../src/eval/recall.ts";
import { hostIds } from "../src/model/host_ids.ts";
import { type Tokenizer, trainTokenizer } from "../src/text/tokenizer.ts";
import { saveWeights } from "../src/weights/io.ts";
import { TINY_COCA, TINY_VIT } from "./helpers.ts";

await setupBackend("cpu");

const close = (a: number, b: number, eps: number, what = "") =>
  assert.ok(Math.abs(a - b) <= eps, `${what}: expected ${b} ± ${eps}, found ${a}`);

// ---------------------------------------------------------------- retrieval helpers

Deno.test("recallAtKRelevant agrees with recallAtKMulti on a one-image-per-text ground truth", () => {
  let s = 7;
  const rand = () => (s = (s * 16807) % 2147483647) / 2147483647;
  const U = 6, N = 9;
  const textImage = [0, 0, 1, 2, 3, 3, 3, 4, 5];
  const data = Float32Array.from({ length: U * N }, () => Math.round(rand() * 5) / 5); // with ties
  const multi = recallAtKMulti({ data, shape: [U, N] }, textImage, [1, 2, 5]);
  const mine = recallAtKRelevant({ data, shape: [U, N] }, (i, t) => textImage[t] === i, [1, 2, 5]);
  assert.deepEqual(mine.recall, multi.imageToText);
  assert.equal(mine.queries, U);
});

Deno.test("recallAtKRelevant: hand-checked many-to-many case; chanceRecallAtK formula", () => {
  // query 0: items 0, 1 relevant (tied best 0.9); query 1: item 2 relevant, ranked third.
  const r = recallAtKRelevant(
    { data: [0.9, 0.9, 0.1, 0.5, 0.6, 0.4], shape: [2, 3] },
    (q, j) => (q === 0 ? j < 2 : j === 2),
    [1, 2, 3],
  );
  assert.deepEqual(r.recall, { 1: 0.5, 2: 0.5, 3: 1 });
  // a query without relevant items is left out
  const none = recallAtKRelevant({ data: [1, 2], shape: [2, 1] }, (q) => q === 0, [1]);
  assert.equal(none.queries, 1);
  assert.throws(() => recallAtKRelevant({ data: [1], shape: [2, 2] }, () => true, [1]), /4/);
  close(chanceRecallAtK([1, 1, 1, 1], 4, 1), 0.25, 1e-12, "1 of 4");
  close(chanceRecallAtK([2], 4, 2), 1 - 1 / 6, 1e-12, "1 - C(2,2)/C(4,2)");
  close(chanceRecallAtK([1, 3], 4, 1), (0.25 + 0.75) / 2, 1e-12, "mean over queries");
  close(chanceRecallAtK([1], 3, 10), 1, 1e-12, "k > n");
});

// ---------------------------------------------------------------- a stand-in model

const S = 4; // image side of the hand-made datasets

/** An image whose first pixel encodes `index` (read back by the fake encoder). */
function indexImage(index: number): Float32Array {
  const im = new Float32Array(3 * S * S);
  im[0] = index / 100;
  return im;
}

function oneHot(rows: number[], d: number): tf.Tensor2D {
  const data = new Float32Array(rows.length * d);
  rows.forEach((c, i) => (data[i * d + c] = 1));
  return tf.tensor2d(data, [rows.length, d]);
}

/**
 * Latents are one-hot: images by `imageClass[index]`, texts by the first `textClass` key the
 * decoded text contains. `loss` is the mean over non-pad labels of `(label % 7) / 10`.
 */
class FakeModel implements EvaluableModel {
  training = true;
  readonly config = { numTokens: 400, padId: 0 };
  readonly texts: string[] = [];
  constructor(
    readonly tokenizer: Tokenizer,
    readonly imageClass: number[],
    readonly textClass: [string, number][],
    readonly d = 8,
  ) {}
  train() {
    this.training = true;
  }
  eval() {
    this.training = false;
  }
  encodeImage(images: tf.Tensor4D): tf.Tensor2D {
    const first = tf.tidy(() => images.slice([0, 0, 0, 0], [-1, 1, 1, 1]).reshape([-1]));
    const idx = Array.from(first.dataSync(), (v) => Math.round(v * 100));
    first.dispose();
    return oneHot(idx.map((i) => this.imageClass[i]), this.d);
  }
  encodeText(text: tf.Tensor2D): tf.Tensor2D {
    const [b, n] = text.shape;
    const ids = hostIds(text);
    const rows: number[] = [];
    for (let i = 0; i < b; i++) {
      const s = this.tokenizer.decode(ids.subarray(i * n, (i + 1) * n));
      this.texts.push(s);
      rows.push(this.textClass.find(([key]) => s.includes(key))?.[1] ?? this.d - 1);
    }
    return oneHot(rows, this.d);
  }
  loss(text: tf.Tensor2D, _images: tf.Tensor4D): CoCaLoss {
    const [b, n] = text.shape;
    const ids = hostIds(text);
    let sum = 0, count = 0;
    for (let i = 0; i < b; i++) {
      for (let j = 1; j < n; j++) {
        if (ids[i * n + j] !== 0) {
          sum += (ids[i * n + j] % 7) / 10;
          count++;
        }
      }
    }
    return {
      loss: tf.scalar(sum / count),
      captionLoss: tf.scalar(sum / count),
      contrastiveLoss: tf.scalar(0),
    };
  }
}

function handDataset(captions: string[], attributes?: Record<string, string>[]): Dataset {
  const test: Example[] = captions.map((caption, i) => ({
    image: indexImage(i),
    caption,
    ...(attributes?.[i] ? { attributes: attributes[i] } : {}),
  }));
  return { name: "hand", imageSize: S, splits: { train: [], val: [], test } };
}

const HAND_TOKENIZER = trainTokenizer(
  ["alpha beta gamma delta", "a circle", "a square shape", "a triangle"],
  { vocabSize: 280 },
);

Deno.test("perfect one-hot encoder: caption-dedup recall is 1, strict recall pays for duplicate captions", async () => {
  // images 0 and 1 share caption "alpha"; latents are one-hot of the caption class.
  const ds = handDataset(["alpha", "alpha", "beta", "gamma"]);
  const model = new FakeModel(HAND_TOKENIZER, [0, 0, 1, 2], [["alpha", 0], ["beta", 1], [
    "gamma",
    2,
  ]]);
  const r = (await evaluate(model, ds, HAND_TOKENIZER, { textLength: 8, batchSize: 3 })).splits[0];
  const { strict, captionDedup } = r.retrieval;
  assert.deepEqual(captionDedup.imageToText, { 1: 1, 5: 1, 10: 1 });
  assert.deepEqual(captionDedup.textToImage, { 1: 1, 5: 1, 10: 1 });
  // strict: for image 0, text 1 ties with its own text 0 (ties count against): miss at k=1.
  assert.deepEqual(strict.imageToText, { 1: 0.5, 5: 1, 10: 1 });
  assert.deepEqual(strict.textToImage, { 1: 0.5, 5: 1, 10: 1 });
  assert.equal(r.images, 4);
  assert.equal(r.distinctCaptions, 3);
  // chance: strict R@1 = 1/4; dedup image→text: images 0,1 have 2 relevant of 4 texts.
  close(strict.chance.imageToText[1], 0.25, 1e-12, "strict chance");
  close(captionDedup.chance.imageToText[1], (0.5 + 0.5 + 0.25 + 0.25) / 4, 1e-12, "dedup chance");
  assert.equal(model.training, true, "training mode is restored");
});

Deno.test("multi-caption images (same Float32Array) are one image with several references", async () => {
  const im0 = indexImage(0), im1 = indexImage(1);
  const test: Example[] = [
    { image: im0, caption: "alpha" },
    { image: im0, caption: "beta" },
    { image: im1, caption: "gamma" },
  ];
  const ds: Dataset = { name: "multi", imageSize: S, splits: { train: [], val: [], test } };
  const model = new FakeModel(HAND_TOKENIZER, [0, 1], [["alpha", 0], ["beta", 0], ["gamma", 1]]);
  const seen: number[] = [];
  const r = (await evaluate(model, ds, HAND_TOKENIZER, {
    textLength: 8,
    generate: (images) => {
      seen.push(images.shape[0]);
      return Promise.resolve([HAND_TOKENIZER.encode("beta"), HAND_TOKENIZER.encode("delta")]);
    },
  })).splits[0];
  assert.equal(r.examples, 3);
  assert.equal(r.images, 2);
  assert.deepEqual(seen, [2], "the generator sees each distinct image once");
  assert.deepEqual(r.retrieval.strict.imageToText[1], 1);
  assert.deepEqual(r.retrieval.strict.textToImage[1], 1);
  assert.ok(!r.captions.skipped);
  assert.equal(r.captions.exactMatch, 0.5, "'beta' matches image 0's second reference");
  assert.deepEqual(r.captions.samples[0], { references: ["alpha", "beta"], generated: "beta" });
});

Deno.test("caption loss is the token-weighted mean NLL, independent of the batch size", async () => {
  const captions = ["alpha", "alpha beta gamma delta", "beta", "gamma delta", "a circle"];
  const ds = handDataset(captions);
  const model = new FakeModel(HAND_TOKENIZER, [0, 1, 2, 3, 4], []);
  const enc = HAND_TOKENIZER.encodeBatch(captions, { length: 10 });
  let sum = 0, count = 0;
  for (let i = 0; i < captions.length; i++) {
    for (let j = 1; j < 10; j++) {
      const t = enc.data[i * 10 + j];
      if (t !== 0) {
        sum += (t % 7) / 10;
        count++;
      }
    }
  }
  for (const batchSize of [2, 5]) {
    const { loss } = (await evaluate(model, ds, HAND_TOKENIZER, { textLength: 10, batchSize }))
      .splits[0];
    assert.equal(loss.tokens, count);
    close(loss.captionLoss, sum / count, 1e-6, `batch ${batchSize}`);
    close(loss.perplexity, Math.exp(sum / count), 1e-5, "perplexity");
    assert.equal(loss.uniformPerplexity, 400);
  }
});

Deno.test("zero-shot encodes every class in every template and scores only attributed images", async () => {
  const ds = handDataset(
    ["alpha", "beta", "gamma", "delta"],
    [{ shape: "circle" }, { shape: "square" }, { shape: "circle" }, {}],
  );
  ds.classes = { shape: ["circle", "square"] };
  ds.promptTemplates = { shape: ["a {}", "a {} shape"] };
  // images 0, 2 look like class 0 (circle), image 1 like class 1 (square).
  const model = new FakeModel(HAND_TOKENIZER, [0, 1, 0, 3], [["circle", 0], ["square", 1]]);
  const r = (await evaluate(model, ds, HAND_TOKENIZER, { textLength: 24 })).splits[0];
  const prompts = ["circle", "square"].flatMap((c) =>
    ["a {}", "a {} shape"].map((t) => fillTemplate(t, c))
  );
  for (const p of prompts) assert.ok(model.texts.includes(p), `prompt "${p}" was encoded`);
  const task = r.zeroShot.tasks.shape;
  assert.equal(task.images, 3);
  assert.equal(task.accuracy, 1);
  assert.equal(task.chance, 0.5);
  close(task.majority!, 2 / 3, 1e-12, "majority");
  assert.equal(task.templates, 2);
  assert.equal(r.zeroShot.mean, 1);

  // Swapped image classes: every prediction is wrong.
  const wrong = new FakeModel(HAND_TOKENIZER, [1, 0, 1, 3], [["circle", 0], ["square", 1]]);
  const r2 = (await evaluate(wrong, ds, HAND_TOKENIZER, { textLength: 24 })).splits[0];
  assert.equal(r2.zeroShot.tasks.shape.accuracy, 0);

  // An attribute value outside the classes is an error that names it.
  ds.splits.test[3].attributes = { shape: "hexagon" };
  await assert.rejects(
    () => evaluate(model, ds, HAND_TOKENIZER, { textLength: 24 }),
    /expected attribute "shape" to be one of the task's classes \(circle, square\), found "hexagon"/,
  );
});

Deno.test("evaluate rejects unknown splits, bad options and a wrong-sized generator output", async () => {
  const ds = handDataset(["alpha", "beta"]);
  const model = new FakeModel(HAND_TOKENIZER, [0, 1], []);
  await assert.rejects(
    () => evaluate(model, ds, HAND_TOKENIZER, { textLength: 8, splits: ["heldout"] }),
    /expected a split of dataset "hand" \(train, val, test\), found "heldout"/,
  );
  await assert.rejects(
    () => evaluate(model, ds, HAND_TOKENIZER, { textLength: 8, splits: ["train"] }),
    /expected examples in split "train"/,
  );
  await assert.rejects(
    () => evaluate(model, ds, HAND_TOKENIZER, { textLength: 2 }),
    /textLength to be an integer >= 3/,
  );
  await assert.rejects(
    () =>
      evaluate(model, ds, HAND_TOKENIZER, {
        textLength: 8,
        generate: () => Promise.resolve([[5]]),
      }),
    /expected the caption generator to return 2 token lists, found 1/,
  );
});

// ---------------------------------------------------------------- a real tiny model

const TINY_DATA = {
  name: "shapes" as const,
  trainSize: 24,
  valSize: 2,
  testSize: 16,
  heldoutSize: 6,
  imageSize: 16,
};
const TEXT_LENGTH = 20;

function tinySetup(): { ds: Dataset; tokenizer: Tokenizer; modelConfig: ModelConfig } {
  const { name: _, ...cfg } = TINY_DATA;
  const ds = shapesDataset(cfg);
  const tokenizer = trainTokenizer(ds.splits.train.map((e) => e.caption), { vocabSize: 270 });
  const modelConfig: ModelConfig = {
    vit: { ...TINY_VIT },
    coca: { ...TINY_COCA, numTokens: tokenizer.vocabSize },
  };
  return { ds, tokenizer, modelConfig };
}

function checkUnit(x: number | null, what: string) {
  assert.ok(x !== null && x >= 0 && x <= 1, `${what}: expected a number in [0, 1], found ${x}`);
}

Deno.test("tiny CoCa on shapes: report structure, ranges, fake captions, no leaked tensors", async () => {
  const { ds, tokenizer, modelConfig } = tinySetup();
  const model = buildModel(modelConfig, 3);
  try {
    // Half of the images get their reference caption, the rest a wrong one.
    let seen = 0;
    const refs = ds.splits.test.map((e) => e.caption);
    const generate = (images: tf.Tensor4D) =>
      Promise.resolve(
        Array.from({ length: images.shape[0] }, () => {
          const i = seen++;
          return tokenizer.encode(i < refs.length && i % 2 === 0 ? refs[i] : "a cross");
        }),
      );
    const opts = { textLength: TEXT_LENGTH, splits: ["test", "heldout"], batchSize: 6, generate };
    await evaluate(model, ds, tokenizer, opts); // warm the model's cached tables
    seen = 0;
    const phases = new Set<string>();
    const before = tf.memory().numTensors;
    const report = await evaluate(model, ds, tokenizer, {
      ...opts,
      onProgress: (p) => phases.add(`${p.split}:${p.phase}`),
    });
    assert.equal(tf.memory().numTensors, before, "evaluate leaves no tensors behind");
    assert.equal(model.training, false, "eval mode kept (it was the mode before)");
    assert.deepEqual([...phases].sort(), [
      "heldout:captions",
      "heldout:encode",
      "test:captions",
      "test:encode",
      "test:zeroShot",
    ]);
    assert.equal(report.dataset, "shapes");
    assert.deepEqual(report.splits.map((s) => [s.split, s.examples, s.images]), [
      ["test", 16, 16],
      ["heldout", 6, 6],
    ]);
    const test: SplitReport = report.splits[0];
    for (const variant of [test.retrieval.strict, test.retrieval.captionDedup]) {
      for (const dir of ["imageToText", "textToImage"] as const) {
        for (const k of test.retrieval.ks) {
          checkUnit(variant[dir][k], `${dir}@${k}`);
          checkUnit(variant.chance[dir][k], `chance ${dir}@${k}`);
        }
      }
    }
    close(test.retrieval.strict.chance.textToImage[1], 1 / 16, 1e-12, "strict chance R@1");
    assert.deepEqual(Object.keys(test.zeroShot.tasks), ["shape", "color"]);
    const singles = ds.splits.test.filter((e) => e.attributes?.count === "1").length;
    assert.equal(test.zeroShot.tasks.shape.images, singles);
    assert.equal(test.zeroShot.tasks.shape.chance, 1 / 5);
    assert.equal(test.zeroShot.tasks.color.chance, 1 / 8);
    for (const t of Object.values(test.zeroShot.tasks)) checkUnit(t.accuracy, "zero-shot");
    // an untrained model is near the uniform perplexity
    assert.ok(test.loss.captionLoss > 0 && Number.isFinite(test.loss.captionLoss));
    assert.ok(
      test.loss.perplexity > 0.5 * test.loss.uniformPerplexity &&
        test.loss.perplexity < 2 * test.loss.uniformPerplexity,
      `untrained perplexity ${test.loss.perplexity} near uniform ${test.loss.uniformPerplexity}`,
    );
    assert.ok(!test.captions.skipped);
    assert.equal(test.captions.exactMatch, 0.5);
    checkUnit(test.captions.bleu4, "bleu4");
    assert.ok(test.captions.bleu4 > test.captions.chance!.bleu4, "half-perfect beats rotation");
    assert.equal(test.captions.samples.length, 5);
    assert.equal(test.captions.samples[0].generated, refs[0]);
    const text = formatReport(report);
    assert.match(text, /shapes \/ test: 16 examples/);
    assert.match(text, /image→text \(caption-dedup\) \*/);
    assert.match(text, /BLEU-4 /);
    // JSON round trip keeps the numbers
    assert.deepEqual(JSON.parse(JSON.stringify(report)).splits[0].loss, test.loss);

    // Batch size changes nothing but rounding.
    model.train();
    const other = (await evaluate(model, ds, tokenizer, { textLength: TEXT_LENGTH, batchSize: 16 }))
      .splits[0];
    assert.equal(model.training, true, "training mode restored");
    close(other.loss.captionLoss, test.loss.captionLoss, 1e-4, "loss vs batch size");
    assert.deepEqual(other.retrieval.captionDedup.chance, test.retrieval.captionDedup.chance);
    assert.ok(other.captions.skipped);
  } finally {
    model.dispose();
  }
});

Deno.test("loadDataset and buildModel explain bad configs", async () => {
  await assert.rejects(
    // deno-lint-ignore no-explicit-any
    () => loadDataset({ name: "mnist" } as any),
    /expected data.name "shapes", "emoji" or "manifest", found "mnist"/,
  );
  await assert.rejects(
    // deno-lint-ignore no-explicit-any
    () => loadDataset({ name: "manifest" } as any),
    /expected data.path/,
  );
  const { dataset: ds } = await loadDataset({ ...TINY_DATA, testSize: 3 });
  assert.equal(ds.splits.test.length, 3);
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => buildModel({ vit: TINY_VIT } as any),
    /expected a model config \{vit: \{...\}, coca: \{...\}\}/,
  );
});

// ---------------------------------------------------------------- CLI

const CLI = new URL("../src/cli/eval.ts", import.meta.url).pathname;

async function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** A checkpoint folder with the tiny model (seed 1), its tokenizer and `data` as its data config. */
async function tinyCheckpoint(data: Record<string, unknown>): Promise<string> {
  const { tokenizer, modelConfig } = tinySetup();
  const dir = await Deno.makeTempDir({ prefix: "coca_eval_" });
  const model = buildModel(modelConfig, 1);
  await saveWeights(model, `${dir}/weights.safetensors`);
  model.dispose();
  await Deno.writeTextFile(`${dir}/tokenizer.json`, JSON.stringify(tokenizer));
  await Deno.writeTextFile(
    `${dir}/config.json`,
    JSON.stringify({ model: modelConfig, data, textLength: TEXT_LENGTH, steps: 0 }),
  );
  return dir;
}

Deno.test("CLI: evaluates a checkpoint folder and ends with one JSON line", async () => {
  const dir = await tinyCheckpoint(TINY_DATA);
  try {
    const r = await runCli([
      "--checkpoint",
      dir,
      "--json",
      "--backend",
      "cpu",
      "--split",
      "test,heldout",
      "--max-examples",
      "5",
      "--no-captions",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    const json = JSON.parse(lines[lines.length - 1]);
    assert.equal(json.backend, "cpu");
    assert.deepEqual(json.splits.map((s: SplitReport) => [s.split, s.examples]), [
      ["test", 5],
      ["heldout", 5],
    ]);
    assert.deepEqual(json.splits[0].captions, {
      skipped: true,
      reason: "disabled with --no-captions",
    });
    assert.match(r.stdout, /caption-dedup/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("CLI: loads the data at the model's image size, not the dataset's default", async () => {
  // No data.imageSize: shapes defaults to 32 px, the model takes 16 px (it failed with
  // "expected images of shape (b, 3, 16, 16), found [..,3,32,32]").
  const { imageSize: _, ...data } = TINY_DATA;
  assert.equal(tinySetup().modelConfig.vit.imageSize, 16);
  const dir = await tinyCheckpoint(data);
  try {
    const r = await runCli([
      "--checkpoint",
      dir,
      "--json",
      "--backend",
      "cpu",
      "--max-examples",
      "3",
      "--no-captions",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const json = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    assert.equal(json.splits[0].examples, 3);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("CLI: a missing checkpoint is a clear error with exit status 2", async () => {
  const missing = `${await Deno.makeTempDir()}/nope`;
  const r = await runCli(["--checkpoint", missing, "--backend", "cpu"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /expected a checkpoint directory .* at .*nope, found nothing there/);
  const none = await runCli([]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /expected --checkpoint DIR, found none/);
});

Deno.test("captions and prompts longer than textLength are counted and flagged", async () => {
  const ds = handDataset(["alpha beta gamma delta", "beta"], [{ shape: "circle" }, {}]);
  ds.classes = { shape: ["circle", "square"] };
  ds.promptTemplates = { shape: ["a {}", "alpha beta gamma delta {}"] };
  const model = new FakeModel(HAND_TOKENIZER, [0, 1], []);
  // "a circle"/"a square" need 2 + 7 ids, the long captions and prompts 2 + 19 or more.
  assert.equal(HAND_TOKENIZER.encode("a square").length, 7);
  assert.equal(HAND_TOKENIZER.encode("alpha beta gamma delta").length, 19);
  const report = await evaluate(model, ds, HAND_TOKENIZER, { textLength: 9 });
  const r = report.splits[0];
  assert.equal(r.truncatedCaptions, 1);
  assert.equal(r.zeroShot.tasks.shape.truncatedPrompts, 2);
  assert.match(
    formatReport(report),
    /warning: textLength 9 cut 1 captions and 2 zero-shot prompts/,
  );
});
