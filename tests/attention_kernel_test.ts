// The fused attention kernels of blas (CocaAttention / CocaAttentionGrad) against the plain op
// path on blas and on cpu and against a float64 host reference, forward and gradients (tf.grads),
// over both layouts the model uses (multi-query with a shared key/value head, multi-head), the
// causal mask and padding biases, and awkward shapes; no tensor leaks; the kernels really run.
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { setupBackend } from "../src/backends/setup.ts";
import { traceKernelsSync } from "../src/backends/kernel_trace.ts";
import { registerAttentionKernels } from "../src/backends/blas/attention_kernel.ts";
import {
  attention,
  type AttentionOptions,
  causalBias,
  hasFusedAttention,
  MASK_VALUE,
  plainAttention,
} from "../src/ops/attention.ts";
import { multiHeadAttention, multiQueryAttention } from "../src/nn/attention.ts";
import { backendAvailable, backendTest, ids, images, tinyModel } from "./helpers.ts";

/** One attention call on host data: shapes, options, and how the bias is built. */
interface Case {
  name: string;
  q: number[];
  k: number[];
  v: number[];
  scale?: number;
  causal?: boolean;
  /** Shape of an additive bias; masked entries (MASK_VALUE) where `masked(b, h, i, j)`. */
  bias?: { shape: number[]; masked: (b: number, h: number, i: number, j: number) => boolean };
  /** Build the bias as causalBias(L, M) instead (what the text blocks pass). */
  causalBiasTensor?: boolean;
}

const CASES: Case[] = [
  {
    name: "multi-query self-attention, causal (text block)",
    q: [2, 4, 6, 8],
    k: [2, 6, 8],
    v: [2, 6, 8],
    causal: true,
  },
  {
    name: "multi-query, causal + CLS pad bias (b, 1, L, L) (unimodal block)",
    q: [3, 2, 5, 4],
    k: [3, 5, 4],
    v: [3, 5, 4],
    causal: true,
    bias: { shape: [3, 1, 5, 5], masked: (b, _h, i, j) => i === 4 && j < 4 && (j + b) % 3 === 0 },
  },
  {
    name: "multi-query, causalBias(L, M) tensor with M ≠ L (incremental decoding)",
    q: [2, 3, 3, 6],
    k: [2, 7, 6],
    v: [2, 7, 6],
    causalBiasTensor: true,
  },
  {
    name: "multi-query, L = 1, batch 1 (one generated token)",
    q: [1, 4, 1, 8],
    k: [1, 9, 8],
    v: [1, 9, 8],
    causal: true,
  },
  {
    name: "multi-query cross-attention, M ≠ L, odd head dim, no mask",
    q: [2, 3, 4, 5],
    k: [2, 11, 5],
    v: [2, 11, 5],
  },
  {
    name: "multi-query, value width ≠ key width, scale, bias over keys only (1, M)",
    q: [2, 2, 3, 4],
    k: [2, 5, 4],
    v: [2, 5, 7],
    scale: 0.37,
    bias: { shape: [5], masked: (_b, _h, _i, j) => j === 2 },
  },
  {
    name: "multi-head (ViT), scale dh^-0.5, odd head dim, batch 1",
    q: [1, 3, 7, 5],
    k: [1, 3, 7, 5],
    v: [1, 3, 7, 5],
    scale: 5 ** -0.5,
  },
  {
    name: "multi-head, causal with M ≠ L, per-head bias (1, h, L, M)",
    q: [2, 3, 4, 6],
    k: [2, 3, 6, 6],
    v: [2, 3, 6, 6],
    scale: 6 ** -0.5,
    causal: true,
    bias: { shape: [1, 3, 4, 6], masked: (_b, h, i, j) => j === (h + i) % 3 },
  },
  { name: "L = 1, M = 1, one head, dh 1", q: [1, 1, 1, 1], k: [1, 1, 1], v: [1, 1, 1] },
  {
    name: "causal with M < L: the first rows see no key (uniform over masked scores)",
    q: [1, 2, 4, 3],
    k: [1, 2, 3],
    v: [1, 2, 3],
    causal: true,
  },
];

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Seeded host data (mulberry32), normal-ish via the sum of uniforms. */
function hostData(n: number, seed: number, scale = 1): Float32Array {
  let state = seed >>> 0;
  const u = () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Float32Array.from({ length: n }, () => (u() + u() + u() - 1.5) * 2 * scale);
}

interface HostInputs {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  w: Float32Array;
  bias?: Float32Array;
  biasShape?: number[];
}

function dimsOf(c: Case) {
  const [b, h, L, dk] = c.q;
  const M = c.k[c.k.length - 2], dv = c.v[c.v.length - 1];
  return { b, h, L, M, dk, dv, shared: c.k.length === 3 };
}

function hostInputs(c: Case, seed: number): HostInputs {
  const { b, h, L, M, dv } = dimsOf(c);
  const out: HostInputs = {
    q: hostData(size(c.q), seed + 1, 1.5),
    k: hostData(size(c.k), seed + 2, 1.5),
    v: hostData(size(c.v), seed + 3),
    w: hostData(b * L * h * dv, seed + 4),
  };
  if (c.bias) {
    const shape = c.bias.shape, full = [...new Array(4 - shape.length).fill(1), ...shape];
    const bias = hostData(size(shape), seed + 5, 0.5);
    for (let bb = 0; bb < full[0]; bb++) {
      for (let hh = 0; hh < full[1]; hh++) {
        for (let i = 0; i < full[2]; i++) {
          for (let j = 0; j < full[3]; j++) {
            const at = ((bb * full[1] + hh) * full[2] + i) * full[3] + j;
            if (c.bias.masked(bb, hh, i, j)) bias[at] = MASK_VALUE;
          }
        }
      }
    }
    out.bias = bias;
    out.biasShape = shape;
  } else if (c.causalBiasTensor) {
    const bias = new Float32Array(L * M);
    for (let i = 0; i < L; i++) {
      for (let j = M - L + i + 1; j < M; j++) bias[i * M + j] = MASK_VALUE;
    }
    out.bias = bias;
    out.biasShape = [L, M];
  }
  return out;
}

/** Float64 reference of the forward: `(b, L, h·dv)`. */
function hostAttention(c: Case, x: HostInputs): Float64Array {
  const { b, h, L, M, dk, dv, shared } = dimsOf(c);
  const scale = c.scale ?? 1;
  const out = new Float64Array(b * L * h * dv);
  const bs = x.biasShape ? [...new Array(4 - x.biasShape.length).fill(1), ...x.biasShape] : [];
  const biasAt = (bb: number, hh: number, i: number, j: number) => {
    if (!x.bias) return 0;
    const ix = [bb, hh, i, j].map((d, a) => (bs[a] === 1 ? 0 : d));
    return x.bias[((ix[0] * bs[1] + ix[1]) * bs[2] + ix[2]) * bs[3] + ix[3]];
  };
  for (let bb = 0; bb < b; bb++) {
    for (let hh = 0; hh < h; hh++) {
      const kv = shared ? bb : bb * h + hh;
      for (let i = 0; i < L; i++) {
        const s = new Float64Array(M);
        for (let j = 0; j < M; j++) {
          let dot = 0;
          for (let d = 0; d < dk; d++) {
            dot += x.q[((bb * h + hh) * L + i) * dk + d] * x.k[(kv * M + j) * dk + d];
          }
          s[j] = dot * scale + (c.causal && j > M - L + i ? MASK_VALUE : 0) + biasAt(bb, hh, i, j);
        }
        const m = Math.max(...s);
        let sum = 0;
        for (let j = 0; j < M; j++) sum += s[j] = Math.exp(s[j] - m);
        for (let d = 0; d < dv; d++) {
          let acc = 0;
          for (let j = 0; j < M; j++) acc += (s[j] / sum) * x.v[(kv * M + j) * dv + d];
          out[((bb * L + i) * h + hh) * dv + d] = acc;
        }
      }
    }
  }
  return out;
}

/** Output and gradients (tf.grads of `sum(out · w)` in q, k, v) of one path on the active backend. */
function run(
  c: Case,
  x: HostInputs,
  f: (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, o: AttentionOptions) => tf.Tensor,
): Float32Array[] {
  const { b, h, L, M, dv } = dimsOf(c);
  if (c.causal) causalBias(L, M); // the plain path's cached mask, made before counting tensors
  const q = tf.tensor(x.q, c.q), k = tf.tensor(x.k, c.k), v = tf.tensor(x.v, c.v);
  const bias = x.bias ? tf.tensor(x.bias, x.biasShape) : undefined;
  const w = tf.tensor(x.w, [b, L, h * dv]);
  const opts = { scale: c.scale, causal: c.causal, bias };
  const before = tf.memory().numTensors;
  const out = f(q, k, v, opts);
  assert.equal(tf.memory().numTensors, before + 1, "the forward leaves only its output");
  const grads = tf.grads((a: tf.Tensor, bk: tf.Tensor, c3: tf.Tensor) =>
    f(a, bk, c3, opts).mul(w).sum()
  )([q, k, v]);
  assert.equal(tf.memory().numTensors, before + 4, "the gradient leaves only dq, dk, dv");
  const values = [out, ...grads].map((t) => t.dataSync() as Float32Array);
  assert.deepEqual(grads.map((g) => g.shape), [c.q, c.k, c.v]);
  tf.dispose([q, k, v, w, out, ...grads, ...(bias ? [bias] : [])]);
  return values;
}

/** `max |a - b| / max |b|`: the error relative to the reference's magnitude. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let err = 0, mag = 0;
  for (let i = 0; i < b.length; i++) {
    err = Math.max(err, Math.abs(a[i] - b[i]));
    mag = Math.max(mag, Math.abs(b[i]));
  }
  return mag === 0 ? err : err / mag;
}

const FORWARD_TOL = 1e-5, GRAD_TOL = 1e-4;
const NAMES = ["output", "dq", "dk", "dv"];
const worst = new Map<string, number>();

for (const [n, c] of CASES.entries()) {
  await backendTest(`fused attention: ${c.name}`, ["blas"], async () => {
    const x = hostInputs(c, 100 * n);
    assert.ok(hasFusedAttention(), "blas has both attention kernels");
    const traced = traceKernelsSync(() => run(c, x, attention));
    assert.ok(traced.kernels.has("CocaAttention"), [...traced.kernels].join());
    assert.ok(traced.kernels.has("CocaAttentionGrad"), [...traced.kernels].join());
    assert.ok(!traced.kernels.has("Softmax"), "no softmax kernel on the fused path");
    const fused = traced.result;
    const plainBlas = run(c, x, plainAttention);
    await setupBackend("cpu");
    assert.ok(!hasFusedAttention(), "cpu has no fused attention");
    const plainCpu = run(c, x, attention);
    const host = hostAttention(c, x);
    const report: string[] = [];
    fused.forEach((got, i) => {
      const tol = i === 0 ? FORWARD_TOL : GRAD_TOL;
      const refs: [string, ArrayLike<number>][] = [["plain blas", plainBlas[i]], [
        "plain cpu",
        plainCpu[i],
      ]];
      if (i === 0) refs.push(["float64 host", host]);
      for (const [what, ref] of refs) {
        const e = relErr(got, ref);
        report.push(`${NAMES[i]} vs ${what}: ${e.toExponential(2)}`);
        worst.set(`${NAMES[i]} vs ${what}`, Math.max(worst.get(`${NAMES[i]} vs ${what}`) ?? 0, e));
        assert.ok(e <= tol, `${NAMES[i]} vs ${what}: relative error ${e} > ${tol}`);
      }
      // The plain path itself is within the same tolerance of float64 (the reference is sound).
      if (i === 0) assert.ok(relErr(plainCpu[0], host) <= FORWARD_TOL);
    });
    if (Deno.env.get("ATTENTION_STATS")) console.log(`${c.name}\n  ${report.join("\n  ")}`);
  });
}

await backendTest("fused attention: the masked probabilities are exactly 0", ["blas"], () => {
  const q = tf.randomNormal([1, 2, 4, 8], 0, 3, "float32", 1);
  const k = tf.randomNormal([1, 4, 8], 0, 3, "float32", 2);
  const v = tf.eye(4).reshape([1, 4, 4]); // the output rows are the probabilities themselves
  const out = attention(q, k, v, { causal: true }).reshape([1, 4, 2, 4])
    .arraySync() as number[][][][];
  for (let i = 0; i < 4; i++) {
    for (let hh = 0; hh < 2; hh++) {
      const row = out[0][i][hh];
      for (let j = i + 1; j < 4; j++) assert.equal(row[j], 0, `query ${i} head ${hh} key ${j}`);
      assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-6);
    }
  }
  tf.dispose([q, k, v]);
});

await backendTest(
  "fused attention: nn layers route through the kernel; inference frees the probabilities",
  ["blas"],
  () => {
    const q = tf.randomNormal([2, 3, 5, 4], 0, 1, "float32", 3);
    const k = tf.randomNormal([2, 5, 4], 0, 1, "float32", 4);
    const kh = tf.randomNormal([2, 3, 5, 4], 0, 1, "float32", 5);
    const mask = causalBias(5); // cached: made (once) before counting
    const before = tf.memory().numTensors;
    const a = traceKernelsSync(() => multiQueryAttention(q, k, k, mask));
    const b = traceKernelsSync(() => multiHeadAttention(q, kh, kh, 0.5));
    assert.ok(a.kernels.has("CocaAttention") && b.kernels.has("CocaAttention"));
    assert.ok(!a.kernels.has("BatchMatMul") && !b.kernels.has("BatchMatMul"));
    // The two outputs, no saved probabilities (no gradient tape).
    assert.equal(tf.memory().numTensors, before + 2);
    assert.deepEqual([a.result.shape, b.result.shape], [[2, 5, 12], [2, 5, 12]]);
    // Without the probabilities (scratch) the kernel gives the same output, bit for bit, and a
    // later call does not disturb an earlier output.
    const run = (saveProbs: boolean, query = q) =>
      tf.engine().runKernel(
        "CocaAttention",
        { q: query, k: kh, v: kh, bias: mask } as unknown as tf.NamedTensorMap,
        { scale: 0.5, causal: false, saveProbs } as unknown as tf.NamedAttrMap,
      ) as tf.Tensor[];
    const [withProbs, probs] = run(true), scratchOnly = run(false);
    assert.equal(scratchOnly.length, 1);
    const first = scratchOnly[0].dataSync().slice();
    const again = run(false, kh); // other queries, other probabilities in the scratch
    assert.deepEqual(scratchOnly[0].dataSync(), withProbs.dataSync());
    assert.deepEqual(scratchOnly[0].dataSync(), first);
    assert.deepEqual(probs.shape, [2, 3, 5, 5]);
    tf.dispose([q, k, kh, a.result, b.result, withProbs, probs, ...scratchOnly, ...again]);
  },
);

await backendTest(
  "attention outside a gradient tape leaves only its output (a kernel may return the probabilities anyway)",
  ["blas", "webgpu"],
  async () => {
    const q = tf.randomNormal([2, 3, 4, 8], 0, 1, "float32", 6);
    const k = tf.randomNormal([2, 5, 8], 0, 1, "float32", 7);
    const before = tf.memory().numTensors;
    const { result, kernels } = traceKernelsSync(() => attention(q, k, k, { scale: 0.3 }));
    assert.equal(tf.memory().numTensors, before + 1);
    assert.equal(kernels.has("CocaAttention"), hasFusedAttention());
    assert.deepEqual(result.shape, [2, 4, 24]);
    await result.data();
    tf.dispose([q, k, result]);
  },
);

await backendTest("fused attention: shape errors name the shapes", ["blas"], () => {
  const q = tf.zeros([2, 3, 4, 5]);
  assert.throws(() => attention(q, tf.zeros([2, 6, 4]), tf.zeros([2, 6, 5])), /k as wide as q/);
  assert.throws(() => attention(q, tf.zeros([1, 6, 5]), tf.zeros([1, 6, 5])), /leading dims/);
  assert.throws(() => attention(q, tf.zeros([2, 6, 5]), tf.zeros([2, 7, 5])), /as many values/);
  assert.throws(
    () => attention(q, tf.zeros([2, 6, 5]), tf.zeros([2, 6, 5]), { bias: tf.zeros([3, 6]) }),
    /broadcastable/,
  );
  assert.throws(() => registerAttentionKernels("cpu"), /OpenBLAS/);
  q.dispose();
});

await backendTest("fused attention: a tiny model's train step runs the kernels", ["blas"], () => {
  const model = tinyModel();
  model.train();
  const text = ids([[3, 5, 7, 0], [4, 4, 9, 2]]);
  const imgs = images(2);
  const traced = traceKernelsSync(() =>
    tf.tidy(() => tf.variableGrads(() => model.loss(text, imgs).loss as tf.Scalar).value)
  );
  assert.ok(traced.kernels.has("CocaAttention") && traced.kernels.has("CocaAttentionGrad"));
  assert.ok(!traced.kernels.has("Softmax"), [...traced.kernels].join());
  tf.dispose([traced.result, text, imgs]);
  model.dispose();
});

Deno.test({
  name: "fused attention: worst relative errors (printed)",
  ignore: !(await backendAvailable("blas")),
  fn() {
    for (const [k, e] of worst) console.log(`  ${k.padEnd(24)} ${e.toExponential(2)}`);
    assert.ok(worst.size > 0);
  },
});
