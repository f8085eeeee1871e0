// The fused WGSL kernels of the webgpu backend (src/backends/webgpu/): each op, forward and
// gradient, on awkward shapes, against the same op on webgpu with the fused kernel unregistered
// (the plain tfjs path) and against the cpu backend; the kernel recorder proves the fused kernel
// ran, and no tensor is left behind.
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { recordKernelCalls, setupBackend } from "../mod.ts";
import { registerWebGPUAdamW } from "../src/backends/webgpu/mod.ts";
import { attention, type AttentionOptions, MASK_VALUE } from "../src/ops/attention.ts";
import { layerNorm } from "../src/ops/layer_norm.ts";
import { swiglu } from "../src/ops/swiglu.ts";
import { tokenNll } from "../src/ops/nll.ts";
import { type AdamWAttrs, adamwUpdate } from "../src/ops/adamw.ts";
import { captionLoss } from "../src/model/losses.ts";
import { AdamW } from "../src/train/optimizer.ts";
import { trainStep } from "../src/train/step.ts";
import { backendAvailable, ids, tinyModel } from "./helpers.ts";

const webgpu = await backendAvailable("webgpu");
const FORWARD_TOL = 1e-5, GRAD_TOL = 1e-4;

interface Input {
  shape: number[];
  data: Float32Array | Int32Array;
  dtype: "float32" | "int32";
}

interface Case {
  name: string;
  /** The fused kernels the case must run on webgpu (and must not run without them). */
  kernels: string[];
  inputs: Input[];
  /** Forward value(s) first, then gradients; every tensor it returns is compared. */
  run: (...xs: tf.Tensor[]) => tf.Tensor[];
  /** How many of the outputs are forward values (compared at FORWARD_TOL); default 1. */
  forwards?: number;
  /** An absolute error allowed on top of the relative one (rows far from zero). */
  atol?: number;
  /** Run once before counting tensors (the op caches a tensor on first use: the causal bias). */
  warm?: boolean;
}

/** Deterministic normal-ish values: `mean + sd · (sum of 4 uniforms - 2)`. */
function randn(shape: number[], seed: number, sd = 1, mean = 0): Input {
  const n = shape.reduce((a, b) => a * b, 1);
  let s = (seed * 2654435761) >>> 0 || 1;
  const u = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const data = Float32Array.from({ length: n }, () => mean + sd * (u() + u() + u() + u() - 2));
  return { shape, data, dtype: "float32" };
}

function int32(shape: number[], values: number[]): Input {
  return { shape, data: Int32Array.from(values), dtype: "int32" };
}

/** Run `fn` with the fused `kernels` unregistered from webgpu (restored afterwards). */
async function withoutFused<T>(kernels: string[], fn: () => Promise<T>): Promise<T> {
  const saved = kernels.map((k) => tf.getKernel(k, "webgpu"));
  for (const k of saved) if (k) tf.unregisterKernel(k.kernelName, "webgpu");
  try {
    return await fn();
  } finally {
    for (const k of saved) if (k) tf.registerKernel(k);
  }
}

interface Run {
  values: Float32Array[];
  shapes: number[][];
  kernels: Set<string>;
}

/** The case's outputs on `backend`, the kernels it ran there; asserts that nothing leaked. */
async function evaluate(backend: string, c: Case): Promise<Run> {
  await setupBackend(backend);
  const inputs = c.inputs.map((i) => tf.tensor(i.data, i.shape, i.dtype));
  if (c.warm) tf.dispose(tf.tidy(() => c.run(...inputs)));
  const before = tf.memory().numTensors;
  const { result, calls } = await recordKernelCalls(() => tf.tidy(() => c.run(...inputs)));
  const values = await Promise.all(result.map(async (t) => new Float32Array(await t.data())));
  const shapes = result.map((t) => [...t.shape]);
  tf.dispose(result);
  assert.equal(tf.memory().numTensors, before, `${c.name} on ${backend}: tensors leaked`);
  tf.dispose(inputs);
  const kernels = new Set(calls.filter((k) => k.backend === backend).map((k) => k.kernel));
  return { values, shapes, kernels };
}

/** `max |a - b| / max |b|` (the error relative to the output's scale), with `atol` forgiven. */
function relErr(a: Float32Array, b: Float32Array, atol = 0): number {
  let err = 0, scale = 0;
  for (let i = 0; i < b.length; i++) {
    if (Number.isNaN(a[i]) !== Number.isNaN(b[i])) return Infinity;
    err = Math.max(err, Math.max(0, Math.abs(a[i] - b[i]) - atol));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return scale === 0 ? err : err / scale;
}

/** Largest error seen per case, printed at the end of each test (the report's numbers). */
function check(c: Case, fused: Run, reference: Run, against: string): number[] {
  assert.deepEqual(fused.shapes, reference.shapes, `${c.name}: shapes vs ${against}`);
  const forwards = c.forwards ?? 1;
  return fused.values.map((v, i) => {
    const e = relErr(v, reference.values[i], c.atol);
    const tol = i < forwards ? FORWARD_TOL : GRAD_TOL;
    assert.ok(
      e <= tol,
      `${c.name}: output ${i} (${i < forwards ? "value" : "gradient"}) is off by ${
        e.toExponential(2)
      } relative to ${against} (tolerance ${tol})`,
    );
    return e;
  });
}

async function runCases(cases: Case[]): Promise<void> {
  const worst = new Map<string, number>();
  for (const c of cases) {
    const fused = await evaluate("webgpu", c);
    for (const k of c.kernels) {
      assert.ok(
        fused.kernels.has(k),
        `${c.name}: ${k} did not run on webgpu: ${[...fused.kernels]}`,
      );
    }
    const plain = await withoutFused(c.kernels, () => evaluate("webgpu", c));
    const ran = c.kernels.filter((k) => plain.kernels.has(k));
    assert.deepEqual(ran, [], `${c.name}: the plain path ran fused kernels`);
    const cpu = await evaluate("cpu", c);
    const errs = [...check(c, fused, plain, "webgpu plain"), ...check(c, fused, cpu, "cpu")];
    worst.set(c.name, Math.max(...errs));
  }
  console.log(
    [...worst].map(([name, e]) => `  ${name.padEnd(46)} max rel err ${e.toExponential(2)}`)
      .join("\n"),
  );
}

/** `f(...xs)` and its gradients with respect to the first `n` inputs, under a fixed `dy`. */
function valueAndGrads(
  f: (...xs: tf.Tensor[]) => tf.Tensor,
  n: number,
  dy: tf.Tensor,
  xs: tf.Tensor[],
): tf.Tensor[] {
  const y = f(...xs);
  const grads = tf.grads((...ws: tf.Tensor[]) => f(...ws, ...xs.slice(n)).mul(dy).sum())(
    xs.slice(0, n),
  );
  return [y, ...grads];
}

// ------------------------------------------------------------------ layer norm

const layerNormCases: Case[] = (
  [
    ["[1,7]", [1, 7], 0],
    ["[3,33]", [3, 33], 0],
    ["[2,5,129]", [2, 5, 129], 0],
    ["[4,1000]", [4, 1000], 0],
    ["[2,4096] (256-thread rows)", [2, 4096], 0],
    ["[2100,7] (256-thread columns)", [2100, 7], 0],
    ["[66000,5] (more rows than one dispatch dimension)", [66000, 5], 0],
    ["[4,97] offset 100", [4, 97], 100],
  ] as [string, number[], number][]
).map(([name, shape, offset], i) => {
  const d = shape[shape.length - 1];
  return {
    name: `layerNorm ${name}`,
    kernels: ["CocaLayerNorm", "CocaLayerNormGrad"],
    inputs: [
      randn(shape, 10 + i, 1, offset),
      randn([d], 20 + i, 0.5, 1),
      randn([d], 30 + i, 0.5),
      randn(shape, 40 + i),
    ],
    // dy is the last input; gradients for x, scale and shift.
    run: (x, g, b, dy) => valueAndGrads((a, s, t) => layerNorm(a, s, t), 3, dy, [x, g, b]),
    // Rows at 100 ± 1: centring cancels about 7 bits, so summation order shows at ~1e-5 · 100.
    atol: offset ? 3e-4 : 0,
  };
});

Deno.test({
  name: "[webgpu] fused layer norm: value and gradients (x, scale, shift) vs plain webgpu and cpu",
  ignore: !webgpu,
  fn: () => runCases(layerNormCases),
});

// ------------------------------------------------------------------ SwiGLU

const swigluCases: Case[] = [[1, 2], [3, 14], [2, 5, 194], [7, 2000], [33, 258]].map((
  shape,
  i,
) => ({
  name: `swiglu [${shape}]`,
  kernels: ["CocaSwiGLU", "CocaSwiGLUGrad"],
  inputs: [
    randn(shape, 50 + i, 4),
    randn([...shape.slice(0, -1), shape[shape.length - 1] / 2], 60 + i),
  ],
  run: (t, dy) => valueAndGrads((u) => swiglu(u), 1, dy, [t]),
}));

Deno.test({
  name: "[webgpu] fused SwiGLU: value and gradient vs plain webgpu and cpu",
  ignore: !webgpu,
  fn: () => runCases(swigluCases),
});

// ------------------------------------------------------------------ cross-entropy

function labels(n: number, v: number, seed: number, pads = false): Input {
  return int32(
    [n],
    Array.from({ length: n }, (_, i) => pads && i % 4 === 3 ? 0 : (i * 7919 + seed) % v),
  );
}

const xentCases: Case[] = [
  ...([[1, 2], [10, 97], [30, 270], [7, 1000], [3, 20000]] as [number, number][]).map((
    [n, v],
    i,
  ): Case => ({
    name: `tokenNll [${n},${v}]`,
    kernels: ["CocaNll", "CocaNllGrad"],
    inputs: [randn([n, v], 70 + i, 3), labels(n, v, i), randn([n], 80 + i)],
    run: (x, y, dy) =>
      valueAndGrads((l) => tokenNll(l as tf.Tensor2D, y as tf.Tensor1D), 1, dy, [x]),
  })),
  // The caption loss: pads (label 0) masked out, so their rows get dy = 0.
  ...([[2, 5, 97], [3, 11, 270]] as [number, number, number][]).map(([b, n, v], i) => ({
    name: `captionLoss [${b},${n},${v}] with pads`,
    kernels: ["CocaNll", "CocaNllGrad"],
    inputs: [randn([b, n, v], 90 + i, 2), {
      ...labels(b * n, v, i, true),
      shape: [b, n],
    }],
    run: (x: tf.Tensor, y: tf.Tensor) => {
      const f = (l: tf.Tensor) => captionLoss(l, y, 0);
      return [f(x), tf.grad(f)(x)];
    },
  })),
  {
    name: "tokenNll labels outside [0, V) (as the plain op: 0)",
    kernels: ["CocaNll", "CocaNllGrad"],
    inputs: [randn([4, 9], 99), int32([4], [-1, 3, 9, 8]), randn([4], 98)],
    run: (x, y, dy) =>
      valueAndGrads((l) => tokenNll(l as tf.Tensor2D, y as tf.Tensor1D), 1, dy, [x]),
  },
];

Deno.test({
  name: "[webgpu] fused token cross-entropy: value and gradient vs plain webgpu and cpu",
  ignore: !webgpu,
  fn: () => runCases(xentCases),
});

// ------------------------------------------------------------------ AdamW

const ATTRS: AdamWAttrs[] = [
  {
    lr: 0.01,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weightDecay: 0.1,
    bc1: 0.1,
    bc2: 0.001,
    gradScale: 0.5,
  },
  {
    lr: 3e-3,
    beta1: 0.85,
    beta2: 0.98,
    eps: 1e-6,
    weightDecay: 0,
    bc1: 1 - 0.85 ** 3,
    bc2: 1 - 0.98 ** 3,
    gradScale: 1,
  },
];

const adamwCases: Case[] = [[3, 5], [7], [4099], [2, 33, 65]].flatMap((shape, i): Case[] => [
  ...ATTRS.map((attrs, j) => ({
    name: `adamwUpdate [${shape}] ${j ? "no decay, no clip" : "decay, clip 0.5"}`,
    kernels: ["CocaAdamW"],
    inputs: [
      randn(shape, 100 + i),
      randn(shape, 110 + i),
      randn(shape, 120 + i, 0.1),
      { ...randn(shape, 130 + i, 1e-3), data: randn(shape, 130 + i, 1e-3).data.map(Math.abs) },
    ],
    run: (p: tf.Tensor, g: tf.Tensor, m: tf.Tensor, v: tf.Tensor) => adamwUpdate(p, g, m, v, attrs),
    forwards: 3,
  })),
  {
    name: `AdamW 3 steps [${shape}] (clip 0.5, then 1; decay)`,
    kernels: ["CocaAdamW"],
    inputs: [randn(shape, 140 + i), randn(shape, 150 + i), randn(shape, 160 + i, 1e-3)],
    run: (p0: tf.Tensor, g1: tf.Tensor, g2: tf.Tensor) => {
      const p = tf.variable(p0.clone(), true);
      const opt = new AdamW([p], { lr: 0.01, weightDecay: 0.1 });
      try {
        opt.apply([g1], undefined, 0.5);
        opt.apply([g2]);
        opt.apply([g1], 0.003);
        return [p.clone()];
      } finally {
        opt.dispose();
        p.dispose();
      }
    },
  },
]);

// More workgroups than one dispatch dimension holds (65535 of 64 threads): laid out in 2-D.
adamwCases.push({
  ...adamwCases[0],
  name: "adamwUpdate [65535·64 + 999] (2-D dispatch)",
  inputs: [0, 1, 2, 3].map((k) => {
    const r = randn([65535 * 64 + 999], 170 + k, k === 3 ? 1e-3 : 1);
    return k === 3 ? { ...r, data: r.data.map(Math.abs) } : r;
  }),
});

Deno.test({
  name: "[webgpu] fused AdamW update: p, m, v vs plain webgpu and cpu (decay, clip scale)",
  ignore: !webgpu,
  fn: async () => {
    registerWebGPUAdamW();
    try {
      await runCases(adamwCases);
    } finally {
      tf.unregisterKernel("CocaAdamW", "webgpu");
    }
  },
});

Deno.test({
  name: "[webgpu] the fused kernels are on by default, AdamW off: a clipped trainStep runs",
  ignore: !webgpu,
  fn: async () => {
    await setupBackend("webgpu");
    for (const k of ["CocaLayerNorm", "CocaSwiGLU", "CocaNll", "CocaAttention"]) {
      assert.ok(tf.getKernel(k, "webgpu"), `${k} is not registered for webgpu`);
    }
    // trainStep reads gradients on the host (hostGlobalNorm) where a fused AdamW is registered,
    // which webgpu tensors do not allow: AdamW stays opt-in until trainStep tells them apart.
    assert.equal(tf.getKernel("CocaAdamW", "webgpu"), undefined);
    const model = tinyModel(3);
    const opt = new AdamW(model.trainableVariables(), { lr: 1e-3 });
    const text = ids([[1, 5, 9, 2, 0], [3, 4, 0, 0, 0]]);
    const images = tf.randomNormal([2, 3, 16, 16], 0, 1, "float32", 4) as tf.Tensor4D;
    const { kernels, result } = await (async () => {
      const { calls, result } = await recordKernelCalls(() =>
        trainStep(model, opt, text, images, { clipNorm: 0.5 })
      );
      return { kernels: new Set(calls.map((c) => c.kernel)), result };
    })();
    const expected = [
      ...["CocaLayerNorm", "CocaLayerNormGrad", "CocaSwiGLU", "CocaSwiGLUGrad"],
      ...["CocaNll", "CocaNllGrad", "CocaAttention", "CocaAttentionGrad"],
    ];
    for (const k of expected) {
      assert.ok(kernels.has(k), `${k} did not run in the train step`);
    }
    assert.ok(Number.isFinite(result.loss) && Number.isFinite(result.gradNorm!), String(result));
    tf.dispose([text, images]);
    opt.dispose();
    model.dispose();
  },
});

// ------------------------------------------------------------------ attention

/** `(b, 1, 1, M)` pad bias: the last `pads[b]` keys of each batch row masked. */
function padBias(b: number, M: number, pads: number[]): Input {
  const data = new Float32Array(b * M);
  for (let r = 0; r < b; r++) for (let j = M - pads[r]; j < M; j++) data[r * M + j] = MASK_VALUE;
  return { shape: [b, 1, 1, M], data, dtype: "float32" };
}

const attentionCases: Case[] = (
  [
    // name, q shape, k/v leading shape (shared or per head), M, dv, options, bias
    ["multi-query [1,1,1,1] x 1 key", [1, 1, 1, 1], true, 1, 1, {}, undefined],
    ["multi-query [2,3,5,8] x 7 keys, causal", [2, 3, 5, 8], true, 7, 8, { causal: true }],
    [
      "multi-query [2,4,33,7] x 33 keys, dv 5, causal + pad",
      [2, 4, 33, 7],
      true,
      33,
      5,
      { causal: true },
      padBias(2, 33, [3, 0]),
    ],
    [
      "multi-query [3,2,6,32] x 129 keys, pad",
      [3, 2, 6, 32],
      true,
      129,
      32,
      {},
      padBias(3, 129, [0, 5, 128]),
    ],
    ["multi-head [2,3,17,16] x 17 keys, scale", [2, 3, 17, 16], false, 17, 16, { scale: 0.25 }],
    ["multi-query [1,2,3,64] x 1000 keys", [1, 2, 3, 64], true, 1000, 64, {}],
    ["multi-head [1,2,2,129] x 70 keys, causal", [1, 2, 2, 129], false, 70, 65, { causal: true }],
  ] as [string, number[], boolean, number, number, AttentionOptions, Input?][]
).map(([name, qShape, shared, M, dv, opts, bias], i) => {
  const [b, h, , dk] = qShape;
  const lead = shared ? [b] : [b, h];
  const inputs = [
    randn(qShape, 200 + i, dk ** -0.5),
    randn([...lead, M, dk], 210 + i),
    randn([...lead, M, dv], 220 + i),
    randn([b, qShape[2], h * dv], 230 + i),
  ];
  if (bias) inputs.push(bias);
  return {
    name: `attention ${name}`,
    kernels: ["CocaAttention", "CocaAttentionGrad"],
    inputs,
    warm: opts.causal,
    run: (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, dy: tf.Tensor, bi?: tf.Tensor) =>
      valueAndGrads((a, c, e) => attention(a, c, e, { ...opts, bias: bi }), 3, dy, [q, k, v]),
  };
});

Deno.test({
  name: "[webgpu] fused attention: value and gradients (q, k, v) vs plain webgpu and cpu",
  ignore: !webgpu,
  fn: () => runCases(attentionCases),
});
