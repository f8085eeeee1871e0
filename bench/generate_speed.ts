/**
 * Caption generation speed, with and without the key/value cache, on a small random CoCa
 * (dim 256, 4 unimodal + 4 multimodal layers, 64x64 images, batch 8, 32 new tokens).
 *
 * `deno run -A bench/generate_speed.ts [--backend cpu|wasm|webgpu] [--batch 8] [--tokens 32]
 * [--strategies greedy,beam] [--no-naive]`; prints one JSON line per run.
 *
 * @module
 */
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { setupBackend } from "../src/backends/setup.ts";
import { CoCa } from "../src/model/coca.ts";
import { generate, type GenerateOptions } from "../src/generate/generate.ts";
import { SimpleViT } from "../src/model/vit.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    backend: { type: "string", default: "cpu" },
    batch: { type: "string", default: "8" },
    tokens: { type: "string", default: "32" },
    strategies: { type: "string", default: "greedy" },
    "no-naive": { type: "boolean" },
  },
});
const info = await setupBackend(values.backend);
const b = Number(values.batch), maxLength = Number(values.tokens);
const vit = new SimpleViT({
  imageSize: 64,
  patchSize: 8,
  dim: 256,
  depth: 2,
  heads: 4,
  dimHead: 64,
  mlpDim: 512,
}, { seed: 1 });
const model = new CoCa({
  dim: 256,
  numTokens: 1000,
  unimodalDepth: 4,
  multimodalDepth: 4,
  dimHead: 64,
  heads: 4,
  numImgQueries: 64,
  imgEncoder: vit,
}, { seed: 1 });
const images = tf.randomNormal([b, 3, 64, 64], 0, 1, "float32", 2) as tf.Tensor4D;
// EOS 999 instead of 2, so that random captions rarely stop early; "tokens" counts what ran.
const eosId = 999;

for (const strategy of values.strategies.split(",") as GenerateOptions["strategy"][]) {
  for (const cache of values["no-naive"] ? [true] : [true, false]) {
    const opts: GenerateOptions = { strategy, cache, eosId };
    await generate(model, images, { ...opts, maxLength: 2 }); // warm-up (kernels, tables)
    const t0 = performance.now();
    const r = await generate(model, images, { ...opts, maxLength });
    const s = (performance.now() - t0) / 1000;
    const tokens = r.tokens.reduce((n, t, i) => n + t.length + (r.finished[i] ? 1 : 0), 0);
    console.log(JSON.stringify({
      backend: info.name,
      strategy,
      cache,
      batch: b,
      tokens,
      seconds: +s.toFixed(3),
      tokensPerSecond: +(tokens / s).toFixed(1),
      numTensors: tf.memory().numTensors,
    }));
  }
}
images.dispose();
model.dispose();
