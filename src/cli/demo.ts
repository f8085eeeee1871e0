/**
 * `deno task demo [--backend B] [--steps N] [--out DIR]`: the main job on built-in
 * data (backend: `--backend`, else `$COCA_BACKEND`, else `auto`). Trains a small CoCa on the shapes dataset (the config: `configs/demo.json`),
 * evaluates it on held-out images (retrieval, zero-shot, captions), prints image → caption
 * pairs, writes an offline HTML report with plotly charts, and prints one JSON object of
 * metrics as its last line.
 *
 * @module
 */
import { parseArgs } from "node:util";
import * as tf from "../deps/tf.ts";
import { resolveTrainConfig, type TrainConfigInput } from "../train/config.ts";
import { train } from "../train/trainer.ts";
import { evaluate, type SplitReport } from "../eval/evaluate.ts";
import { generate } from "../generate/generate.ts";
import { lossCurves } from "../plot/loss_curves.ts";
import { imageGrid } from "../plot/image_grid.ts";
import { toHtml } from "../plot/to_html.ts";
import { BACKEND_CHOICES } from "../backends/setup.ts";
import { formatDuration } from "../util/duration.ts";
import { captionText } from "../text/caption.ts";
import { ProgressBar, trainProgressText } from "./progress.ts";
import { backendChoice, exitOnUncaught, requireBackendPermissions, UsageError } from "./main.ts";

const usage = `usage: deno task demo [--backend ${BACKEND_CHOICES}] [--steps N] [--out DIR]`;
exitOnUncaught("demo", usage);

/** The demo's model and run (small enough for about 3 minutes on 2 CPU cores). */
const DEMO_CONFIG_FILE = new URL("../../configs/demo.json", import.meta.url);
const DEMO_CONFIG = JSON.parse(await Deno.readTextFile(DEMO_CONFIG_FILE)) as TrainConfigInput;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    backend: { type: "string" },
    steps: { type: "string" },
    out: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log(usage);
  Deno.exit(0);
}

if (values.steps !== undefined && !/^[1-9][0-9]*$/.test(values.steps)) {
  throw new UsageError(`expected --steps to be a positive integer, found ${values.steps}`);
}
const backend = backendChoice(values.backend) ?? DEMO_CONFIG.backend;
requireBackendPermissions(backend);

const started = performance.now();
const input: TrainConfigInput = {
  ...DEMO_CONFIG,
  backend,
  outDir: values.out ?? DEMO_CONFIG.outDir,
  ...(values.steps ? { steps: Number(values.steps) } : {}),
};
const config = resolveTrainConfig(input);
// The demo always starts fresh.
await Deno.remove(config.outDir, { recursive: true }).catch(() => {});

console.log(`demo: training a ${config.steps}-step CoCa on shapes (${config.outDir})`);
const bar = new ProgressBar();
const run = await train(config, {
  onProgress: (p) => bar.update(p.step, p.steps, trainProgressText(p)),
});
bar.done();
const { model, tokenizer, dataset } = run;
console.log(
  `demo: trained on ${run.backend} in ${
    formatDuration(run.seconds)
  }; evaluating on held-out images`,
);

const greedy = async (images: tf.Tensor4D) =>
  (await generate(model, images, { maxLength: config.textLength, strategy: "greedy" })).tokens;
const report = await evaluate(model, dataset, tokenizer, {
  textLength: config.textLength,
  splits: ["test", "heldout"],
  generate: greedy,
  samples: 8,
});

// Image -> caption pairs for the console and the report.
const shown = dataset.splits.test.slice(0, 8);
const images = tf.tensor4d(
  Float32Array.from(shown.flatMap((e) => Array.from(e.image))),
  [shown.length, 3, dataset.imageSize, dataset.imageSize],
);
const captions = (await greedy(images)).map((ids) => captionText(tokenizer, ids));
images.dispose();
console.log("\nimage -> generated caption (reference):");
shown.forEach((e, i) => console.log(`  #${i + 1}: ${captions[i]}   (${e.caption})`));

const [test, heldout] = report.splits as [SplitReport, SplitReport];
const pct = (
  x: number | null | undefined,
) => (x === null || x === undefined ? "-" : `${(100 * x).toFixed(1)}%`);
const captionMetrics = (s: SplitReport) => (s.captions.skipped ? undefined : s.captions);
console.log(
  `\n${"split".padEnd(8)} R@1 i→t  R@1 t→i  chance   zero-shot  caption exact  BLEU-4  CIDEr-D`,
);
for (const s of [test, heldout]) {
  const c = captionMetrics(s);
  console.log(
    `${s.split.padEnd(8)} ${pct(s.retrieval.captionDedup.imageToText[1]).padStart(8)} ${
      pct(s.retrieval.captionDedup.textToImage[1]).padStart(8)
    } ${pct(s.retrieval.captionDedup.chance.imageToText[1]).padStart(7)}  ${
      pct(s.zeroShot.mean).padStart(9)
    }  ${pct(c?.exactMatch).padStart(13)}  ${c ? c.bleu4.toFixed(3) : "-"}   ${
      c ? c.ciderD.toFixed(3) : "-"
    }`,
  );
}

// Offline HTML report.
const lines = (await Deno.readTextFile(`${config.outDir}/metrics.jsonl`)).trim().split("\n")
  .map((l) => JSON.parse(l));
const trainLines = lines.filter((l) => l.split === "train");
const valLines = lines.filter((l) => l.split === "val");
const series = (rows: Record<string, number>[], key: string, name: string) => ({
  name,
  steps: rows.map((r) => r.step),
  values: rows.map((r) => r[key]),
});
const reportPath = `${config.outDir}/report.html`;
await Deno.writeTextFile(
  reportPath,
  toHtml([
    `Backend **${run.backend}**, ${config.steps} steps, batch ${config.batchSize}, ` +
    `trained in ${
      formatDuration(run.seconds)
    }. Retrieval recall@1 on ${test.images} test images: ` +
    `image→text ${pct(test.retrieval.captionDedup.imageToText[1])}, text→image ` +
    `${pct(test.retrieval.captionDedup.textToImage[1])} (chance ${
      pct(test.retrieval.captionDedup.chance.imageToText[1])
    }).`,
    lossCurves([
      series(trainLines, "loss", "train total"),
      series(trainLines, "captionLoss", "train caption"),
      series(trainLines, "contrastiveLoss", "train contrastive"),
      series(valLines, "captionLoss", "val caption"),
      series(valLines, "contrastiveLoss", "val contrastive"),
    ], { title: "Loss curves", xTitle: "step", yTitle: "loss" }),
    imageGrid(
      shown.map((e, i) => ({
        image: { data: e.image, height: dataset.imageSize, width: dataset.imageSize },
        caption: `${captions[i]} (reference: ${e.caption})`,
      })),
      {
        columns: 4,
        title: "Test images with generated captions",
      },
    ),
  ], { title: "CoCa demo on shapes" }),
);
console.log(`\nreport: ${reportPath}`);

const result = {
  recallAt1: {
    imageToText: test.retrieval.captionDedup.imageToText[1],
    textToImage: test.retrieval.captionDedup.textToImage[1],
  },
  recallAt1Chance: test.retrieval.captionDedup.chance.imageToText[1],
  zeroShotAccuracy: test.zeroShot.mean,
  captionExactMatch: captionMetrics(test)?.exactMatch ?? null,
  bleu4: captionMetrics(test)?.bleu4 ?? null,
  ciderD: captionMetrics(test)?.ciderD ?? null,
  heldoutRecallAt1: {
    imageToText: heldout.retrieval.captionDedup.imageToText[1],
    textToImage: heldout.retrieval.captionDedup.textToImage[1],
  },
  evalImages: test.images + heldout.images,
  steps: config.steps,
  seconds: Math.round((performance.now() - started) / 100) / 10,
  backend: run.backend,
  report: reportPath,
};
console.log(JSON.stringify(result));
