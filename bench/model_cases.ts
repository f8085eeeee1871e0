/**
 * Model-level bench cases: forward and full train step (forward, backward,
 * AdamW) of the small and README configs, and caption generation with and
 * without the key/value cache. The forward and train-step cases name the PyTorch anchor's
 * measurement they correspond to (`anchor`), which `bench/report.ts` runs in the same sitting.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { CoCa } from "../src/model/coca.ts";
import { SimpleViT } from "../src/model/vit.ts";
import type { CoCaConfig, ViTConfig } from "../src/model/config.ts";
import { AdamW } from "../src/train/optimizer.ts";
import { trainStep } from "../src/train/step.ts";
import { generate } from "../src/generate/generate.ts";
import type { BenchCase } from "./cases.ts";
import { cocaForwardFlops } from "./coca_flops.ts";

interface ModelConfig {
  name: string;
  vit: ViTConfig;
  coca: CoCaConfig;
  batch: number;
  textLength: number;
}

/** The small config (batch 16, text 32, 64×64 images). */
export const SMALL: ModelConfig = {
  name: "small",
  vit: {
    imageSize: 64,
    patchSize: 8,
    dim: 256,
    depth: 4,
    heads: 8,
    mlpDim: 512,
    patchDropout: 0.5,
    numClasses: 1000,
  },
  coca: {
    dim: 256,
    imageDim: 256,
    numTokens: 1000,
    unimodalDepth: 4,
    multimodalDepth: 4,
    heads: 8,
    dimHead: 32,
    numImgQueries: 256,
  },
  batch: 16,
  textLength: 32,
};

/** The reference README's model (batch 4, text 512, 256×256 images). */
export const README: ModelConfig = {
  name: "readme",
  vit: {
    imageSize: 256,
    patchSize: 32,
    dim: 1024,
    depth: 6,
    heads: 16,
    mlpDim: 2048,
    patchDropout: 0.5,
    numClasses: 1000,
  },
  coca: {
    dim: 512,
    imageDim: 1024,
    numTokens: 20000,
    unimodalDepth: 6,
    multimodalDepth: 6,
    dimHead: 64,
    heads: 8,
    numImgQueries: 256,
  },
  batch: 4,
  textLength: 512,
};

function build(cfg: ModelConfig) {
  const vit = new SimpleViT(cfg.vit, { seed: 0 });
  const model = new CoCa({ ...cfg.coca, imgEncoder: vit }, { seed: 0 });
  const V = model.config.numTokens;
  const ids = Int32Array.from(
    { length: cfg.batch * cfg.textLength },
    (_, i) => 1 + (i * 7919) % (V - 1),
  );
  const size = Array.isArray(cfg.vit.imageSize) ? cfg.vit.imageSize[0] : cfg.vit.imageSize;
  const images = tf.randomNormal([cfg.batch, 3, size, size], 0, 1, "float32", 1) as tf.Tensor4D;
  return { model, vit, ids, images };
}

function forwardCase(cfg: ModelConfig, opts: Partial<BenchCase> = {}): BenchCase {
  return {
    id: `${cfg.name}-forward`,
    group: `model ${cfg.name}`,
    description: `${cfg.name} config forward (eval), batch ${cfg.batch}, text ${cfg.textLength}`,
    flops: cocaForwardFlops({ ...cfg }),
    samples: cfg.batch,
    ...opts,
    setup() {
      const { model, ids, images } = build(cfg);
      model.eval();
      return {
        // tidy frees the text tensor made here (it leaked one tensor per iteration before).
        run: () =>
          tf.tidy(() =>
            model.forward(tf.tensor2d(ids, [cfg.batch, cfg.textLength], "int32"), images)
          ),
        dispose: () => {
          model.dispose();
          images.dispose();
        },
      };
    },
  };
}

function trainCase(cfg: ModelConfig, opts: Partial<BenchCase> = {}): BenchCase {
  const v = cfg.vit;
  const patches = (Number(v.imageSize) / Number(v.patchSize)) ** 2;
  const kept = Math.max(1, Math.floor(patches * (1 - (v.patchDropout ?? 0.5))));
  return {
    id: `${cfg.name}-train-step`,
    group: `model ${cfg.name}`,
    description: `${cfg.name} config train step (forward, backward, AdamW; patch dropout on)`,
    flops: 3 * cocaForwardFlops({ ...cfg, textLength: cfg.textLength - 1, imageTokens: kept }),
    samples: cfg.batch,
    ...opts,
    setup() {
      const { model, ids, images } = build(cfg);
      model.train();
      const opt = new AdamW(model.trainableVariables(), { lr: 1e-4 });
      return {
        run: async () => {
          const text = tf.tensor2d(ids, [cfg.batch, cfg.textLength], "int32");
          const r = await trainStep(model, opt, text, images);
          text.dispose();
          return tf.scalar(r.loss);
        },
        dispose: () => {
          opt.dispose();
          model.dispose();
          images.dispose();
        },
      };
    },
  };
}

function generateCase(cache: boolean): BenchCase {
  const cfg = { ...SMALL, batch: 8 };
  const tokens = 32;
  return {
    id: `small-generate-${cache ? "cached" : "naive"}`,
    group: "generation",
    description: `greedy captions, small config, batch ${cfg.batch} × ${tokens} tokens, ${
      cache ? "key/value cache" : "re-running the prefix"
    } (samples = tokens)`,
    flops: cocaForwardFlops({ ...cfg, textLength: cache ? 1 : tokens / 2 }) * tokens,
    samples: cfg.batch * tokens,
    setup() {
      const { model, images } = build(cfg);
      model.eval();
      return {
        run: async () => {
          // A rare id as EOS so that every caption runs the full 32 tokens.
          const eosId = model.config.numTokens - 1;
          const r = await generate(model, images, { maxLength: tokens, eosId, cache });
          return tf.scalar(r.tokens.length);
        },
        dispose: () => {
          model.dispose();
          images.dispose();
        },
      };
    },
  };
}

/** Every model-level case. README-config cases are opt-in (`BENCH_README=1`) and run on blas only (one README forward takes 123 s on wasm). */
export const MODEL_CASES: BenchCase[] = [
  forwardCase(SMALL, { anchor: { config: "small", kind: "forward" } }),
  trainCase(SMALL, { anchor: { config: "small", kind: "train" } }),
  generateCase(true),
  generateCase(false),
  forwardCase(README, {
    anchor: { config: "readme", kind: "forward" },
    optIn: "BENCH_README",
    maxSeconds: 120,
    backends: ["blas"],
  }),
  trainCase(README, {
    anchor: { config: "readme", kind: "train" },
    optIn: "BENCH_README",
    maxSeconds: 300,
    backends: ["blas"],
  }),
];
