/**
 * Kernel-level bench cases built from the model's own modules: multi-query
 * causal self-attention with rotary, cross-attention, the SwiGLU feed-forward,
 * the parallel block, a ViT block and layer norm; forward and forward+backward
 * (gradients of every parameter and the input), at the small and README sizes.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { ParamStore } from "../src/nn/params.ts";
import { CrossAttention, ParallelTransformerBlock } from "../src/nn/blocks.ts";
import { LayerNorm, Linear } from "../src/nn/layers.ts";
import { causalBias, multiQueryAttention, splitHeads } from "../src/nn/attention.ts";
import { applyRotary } from "../src/nn/rotary.ts";
import { swiglu } from "../src/ops/swiglu.ts";
import { SimpleViT } from "../src/model/vit.ts";
import type { BenchCase } from "./cases.ts";

/** Text-side sizes of a config. */
interface Size {
  name: "small" | "readme";
  batch: number;
  /** Text length. */
  L: number;
  dim: number;
  heads: number;
  dimHead: number;
  ffMult: number;
  /** Image tokens the multimodal cross-attention sees (numImgQueries). */
  imageTokens: number;
  vit: {
    imageSize: number;
    patchSize: number;
    dim: number;
    heads: number;
    dimHead: number;
    mlpDim: number;
  };
}

const SIZES: Size[] = [
  {
    name: "small",
    batch: 16,
    L: 32,
    dim: 256,
    heads: 8,
    dimHead: 32,
    ffMult: 4,
    imageTokens: 256,
    vit: { imageSize: 64, patchSize: 8, dim: 256, heads: 8, dimHead: 64, mlpDim: 512 },
  },
  {
    name: "readme",
    batch: 4,
    L: 512,
    dim: 512,
    heads: 8,
    dimHead: 64,
    ffMult: 4,
    imageTokens: 256,
    vit: { imageSize: 256, patchSize: 32, dim: 1024, heads: 16, dimHead: 64, mlpDim: 2048 },
  },
];

interface Module {
  /** Parameters to differentiate (besides the input). */
  params: tf.Variable[];
  input: tf.Tensor;
  forward(x: tf.Tensor): tf.Tensor;
  dispose(): void;
}

function moduleCase(
  id: string,
  description: string,
  s: Size,
  build: () => Module,
  forwardFlops: number,
  train: boolean,
): BenchCase {
  return {
    id: `${id}-${s.name}${train ? "-train" : ""}`,
    group: `modules ${s.name}${train ? " (forward+backward)" : " (forward)"}`,
    description,
    flops: forwardFlops > 0 ? (train ? 3 : 1) * forwardFlops : undefined,
    samples: s.batch,
    setup() {
      const m = build();
      const input = train ? tf.variable(m.input.clone()) : m.input;
      const vars = train ? [input as tf.Variable, ...m.params] : [];
      return {
        run: () => {
          if (!train) return tf.tidy(() => m.forward(m.input));
          const { value, grads } = tf.variableGrads(
            () => m.forward(input).square().mean() as tf.Scalar,
            vars,
          );
          return [value, ...Object.values(grads)];
        },
        dispose: () => {
          if (train) input.dispose();
          m.dispose();
        },
      };
    },
  };
}

function selfAttention(s: Size): Module {
  const store = new ParamStore(1);
  const inner = s.heads * s.dimHead;
  const toQKV = new Linear(store, "qkv", s.dim, inner + 2 * s.dimHead);
  const toOut = new Linear(store, "out", inner, s.dim);
  return {
    params: [...store.params.values()],
    input: tf.randomNormal([s.batch, s.L, s.dim]),
    forward: (x) => {
      const [q0, k0, v] = tf.split(toQKV.apply(x), [inner, s.dimHead, s.dimHead], -1);
      const q = applyRotary(splitHeads(q0, s.heads)).mul(s.dimHead ** -0.5);
      return toOut.apply(multiQueryAttention(q, applyRotary(k0), v, causalBias(s.L)));
    },
    dispose: () => store.dispose(),
  };
}

function crossAttention(s: Size): Module {
  const store = new ParamStore(2);
  const xattn = new CrossAttention(store, "x", s.dim, { dimHead: s.dimHead, heads: s.heads });
  const context = tf.randomNormal([s.batch, s.imageTokens, s.dim]);
  return {
    params: [...store.params.values()],
    input: tf.randomNormal([s.batch, s.L, s.dim]),
    forward: (x) => xattn.apply(x, context),
    dispose: () => {
      store.dispose();
      context.dispose();
    },
  };
}

function swigluFF(s: Size): Module {
  const store = new ParamStore(3);
  const F = s.ffMult * s.dim;
  const up = new Linear(store, "up", s.dim, 2 * F), down = new Linear(store, "down", F, s.dim);
  return {
    params: [...store.params.values()],
    input: tf.randomNormal([s.batch, s.L, s.dim]),
    forward: (x) => down.apply(swiglu(up.apply(x))),
    dispose: () => store.dispose(),
  };
}

function parallelBlock(s: Size): Module {
  const store = new ParamStore(4);
  const block = new ParallelTransformerBlock(store, "b", s.dim, s.dimHead, s.heads, s.ffMult);
  return {
    params: [...store.params.values()],
    input: tf.randomNormal([s.batch, s.L, s.dim]),
    forward: (x) => block.apply(x),
    dispose: () => store.dispose(),
  };
}

function vitBlock(s: Size): Module {
  const v = s.vit;
  const vit = new SimpleViT({ ...v, depth: 1, patchDropout: 0 }, { seed: 5 });
  return {
    params: vit.encoderParams(),
    input: tf.randomNormal([s.batch, 3, v.imageSize, v.imageSize]),
    forward: (x) => vit.encode(x as tf.Tensor4D),
    dispose: () => vit.store.dispose(),
  };
}

function layerNorm(s: Size): Module {
  const store = new ParamStore(6);
  const norm = new LayerNorm(store, "n", s.dim, "coca");
  return {
    params: [...store.params.values()],
    input: tf.randomNormal([s.batch, s.L, s.dim]),
    forward: (x) => norm.apply(x),
    dispose: () => store.dispose(),
  };
}

/** Forward matmul FLOPs of each module at a size (multiply-add = 2). */
const FLOPS: Record<string, (s: Size) => number> = {
  "mq-self-attn": (s) => {
    const inner = s.heads * s.dimHead;
    return s.batch *
      (2 * s.L * s.dim * (inner + 2 * s.dimHead) + 4 * s.heads * s.L * s.L * s.dimHead +
        2 * s.L * inner * s.dim);
  },
  "cross-attn": (s) => {
    const inner = s.heads * s.dimHead;
    return s.batch * (4 * s.L * s.dim * inner + 4 * s.imageTokens * s.dim * s.dimHead +
      4 * s.heads * s.L * s.imageTokens * s.dimHead);
  },
  "swiglu-ff": (s) => {
    const F = s.ffMult * s.dim;
    return s.batch * s.L * (2 * s.dim * 2 * F + 2 * F * s.dim);
  },
  "parallel-block": (s) => {
    const inner = s.heads * s.dimHead, F = s.ffMult * s.dim;
    return s.batch *
      (2 * s.L * s.dim * (inner + 2 * s.dimHead + 2 * F) + 4 * s.heads * s.L * s.L * s.dimHead +
        2 * s.L * inner * s.dim + 2 * s.L * F * s.dim);
  },
  "vit-block": (s) => {
    const v = s.vit, m = (v.imageSize / v.patchSize) ** 2, inner = v.heads * v.dimHead;
    return s.batch *
      (2 * m * 3 * v.patchSize ** 2 * v.dim + 2 * m * v.dim * 3 * inner + 4 * m * m * inner +
        2 * m * inner * v.dim + 4 * m * v.dim * v.mlpDim);
  },
  "layer-norm": () => 0,
};

const MODULES: [string, string, (s: Size) => Module][] = [
  [
    "mq-self-attn",
    "multi-query causal self-attention with rotary (projections included)",
    selfAttention,
  ],
  ["cross-attn", "multi-query cross-attention to the image tokens", crossAttention],
  ["swiglu-ff", "SwiGLU feed-forward (up, SwiGLU, down)", swigluFF],
  ["parallel-block", "PaLM parallel block (fused projection, attention + SwiGLU)", parallelBlock],
  ["vit-block", "SimpleViT depth 1 (patch embedding + one pre-norm block + final norm)", vitBlock],
  ["layer-norm", "CoCa layer norm (gamma, zero beta)", layerNorm],
];

/**
 * Every module case: the six modules × small/README sizes × forward / forward+backward.
 * README sizes are opt-in (`BENCH_README=1`) like the README model cases.
 *
 * @example
 * ```ts
 * import { MODULE_CASES } from "./module_cases.ts";
 * console.log(MODULE_CASES.length); // 24
 * ```
 */
export const MODULE_CASES: BenchCase[] = SIZES.flatMap((s) =>
  [false, true].flatMap((train) =>
    MODULES.map(([id, description, build]) => {
      const c = moduleCase(
        id,
        `${description}, ${s.name} size`,
        s,
        () => build(s),
        FLOPS[id](s),
        train,
      );
      if (s.name === "readme") c.optIn = "BENCH_README";
      return c;
    })
  )
);
