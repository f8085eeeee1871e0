/**
 * Per-kernel profile of one pre-LN transformer layer, forward + backward (`tf.grads`), on a chosen
 * backend. Prints total step time and the kernels sorted by time.
 *
 * Usage: `deno run -A bench/profile_layer.ts [backend=blas] [steps=3] [seq=64]`
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { setBenchBackend } from "./backend_setup.ts";

/** Shape of the profiled layer. */
export interface LayerConfig {
  batch: number;
  seq: number;
  dim: number;
  heads: number;
  mlpRatio: number;
}

/** Parameters of one transformer layer. */
export type LayerParams = tf.Variable[];

/**
 * Creates the weights of one transformer layer (qkv, proj, two MLP matrices, biases, 2 layer norms).
 *
 * @example
 * ```ts
 * import { makeLayerParams } from "./profile_layer.ts";
 * const p = makeLayerParams({ batch: 2, seq: 8, dim: 32, heads: 4, mlpRatio: 4 });
 * console.log(p.length); // 12
 * ```
 */
export function makeLayerParams(c: LayerConfig): LayerParams {
  const d = c.dim, h = d * c.mlpRatio;
  // tf.variable keeps its initial tensor's data alive until that tensor is disposed too.
  const v = (t: tf.Tensor) => {
    const r = tf.variable(t);
    t.dispose();
    return r;
  };
  const w = (r: number, k: number) => v(tf.randomNormal([r, k], 0, 1 / Math.sqrt(r)));
  const z = (k: number) => v(tf.zeros([k]));
  const o = (k: number) => v(tf.ones([k]));
  return [
    o(d),
    z(d),
    w(d, 3 * d),
    z(3 * d),
    w(d, d),
    z(d),
    o(d),
    z(d),
    w(d, h),
    z(h),
    w(h, d),
    z(d),
  ];
}

function layerNorm(x: tf.Tensor2D, g: tf.Tensor, b: tf.Tensor): tf.Tensor2D {
  const { mean, variance } = tf.moments(x, -1, true);
  return x.sub(mean).mul(tf.rsqrt(variance.add(1e-5))).mul(g).add(b);
}

function gelu(x: tf.Tensor): tf.Tensor {
  return x.mul(0.5).mul(tf.erf(x.mul(Math.SQRT1_2)).add(1));
}

/**
 * Forward pass of one pre-LN layer on `x` of shape `[batch·seq, dim]`; returns the same shape.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { layerForward, makeLayerParams } from "./profile_layer.ts";
 * const c = { batch: 2, seq: 8, dim: 32, heads: 4, mlpRatio: 4 };
 * const y = layerForward(tf.randomNormal([16, 32]), makeLayerParams(c), c);
 * console.log(y.shape); // [16, 32]
 * ```
 */
export function layerForward(x: tf.Tensor2D, p: LayerParams, c: LayerConfig): tf.Tensor2D {
  const [g1, b1, wqkv, bqkv, wo, bo, g2, b2, w1, bw1, w2, bw2] = p;
  const { batch: B, seq: S, dim: D, heads: H } = c;
  const hd = D / H;
  const h = layerNorm(x, g1, b1);
  const qkv = tf.matMul(h, wqkv).add(bqkv).reshape([B, S, 3, H, hd]).transpose([2, 0, 3, 1, 4]);
  const [q, k, v] = tf.unstack(qkv).map((t) => t.reshape([B * H, S, hd]));
  const att = tf.softmax(tf.matMul(q, k, false, true).mul(1 / Math.sqrt(hd)));
  const ctx = tf.matMul(att, v).reshape([B, H, S, hd]).transpose([0, 2, 1, 3]).reshape([B * S, D]);
  const x1 = x.add(tf.matMul(ctx, wo).add(bo)) as tf.Tensor2D;
  const h2 = layerNorm(x1, g2, b2);
  const m = tf.matMul(gelu(tf.matMul(h2, w1).add(bw1)) as tf.Tensor2D, w2).add(bw2);
  return x1.add(m) as tf.Tensor2D;
}

/**
 * FLOPs of one forward pass (matmuls only); a training step is about 3× this.
 *
 * @example
 * ```ts
 * import { layerForwardFlops } from "./profile_layer.ts";
 * console.log(layerForwardFlops({ batch: 16, seq: 64, dim: 256, heads: 4, mlpRatio: 4 }));
 * ```
 */
export function layerForwardFlops(c: LayerConfig): number {
  const t = c.batch * c.seq, d = c.dim;
  const dense = 2 * t * d * (3 * d + d + 2 * c.mlpRatio * d);
  const attn = 2 * 2 * c.batch * c.seq * c.seq * d;
  return dense + attn;
}

/**
 * Runs one forward+backward step and returns the summed loss gradient tensors (caller disposes).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { layerTrainStep, makeLayerParams } from "./profile_layer.ts";
 * const c = { batch: 2, seq: 8, dim: 32, heads: 4, mlpRatio: 4 };
 * const p = makeLayerParams(c);
 * tf.dispose(layerTrainStep(tf.randomNormal([16, 32]), p, c));
 * ```
 */
export function layerTrainStep(x: tf.Tensor2D, p: LayerParams, c: LayerConfig): tf.Tensor[] {
  const f = (...ws: tf.Tensor[]) => {
    const y = layerForward(x, ws as LayerParams, c);
    return y.square().mean();
  };
  return tf.grads(f)(p);
}

if (import.meta.main) {
  const backend = Deno.args[0] ?? "blas";
  const steps = Number(Deno.args[1] ?? 3);
  const seq = Number(Deno.args[2] ?? 64);
  const setup = await setBenchBackend(backend);
  if (!setup.ok) {
    console.error(`backend ${backend} unavailable: ${setup.reason}`);
    Deno.exit(1);
  }
  const c: LayerConfig = { batch: 16, seq, dim: 256, heads: 4, mlpRatio: 4 };
  const params = makeLayerParams(c);
  const x = tf.randomNormal([c.batch * c.seq, c.dim]) as tf.Tensor2D;
  // warm-up
  tf.dispose(layerTrainStep(x, params, c));
  const times: number[] = [];
  const byKernel = new Map<string, { ms: number; n: number }>();
  for (let s = 0; s < steps; s++) {
    const t0 = performance.now();
    const info = await tf.profile(() => {
      const g = layerTrainStep(x, params, c);
      for (const t of g) t.dataSync();
      return g;
    });
    times.push(performance.now() - t0);
    tf.dispose(info.result as tf.Tensor[]);
    for (const k of info.kernels) {
      const e = byKernel.get(k.name) ?? { ms: 0, n: 0 };
      e.ms += (k.kernelTimeMs as number) / steps;
      e.n += 1 / steps;
      byKernel.set(k.name, e);
    }
  }
  // Timing without the profiler's overhead.
  const plain: number[] = [];
  for (let s = 0; s < steps; s++) {
    const t0 = performance.now();
    const g = layerTrainStep(x, params, c);
    for (const t of g) t.dataSync();
    tf.dispose(g);
    plain.push(performance.now() - t0);
  }
  plain.sort((a, b) => a - b);
  const med = plain[Math.floor(plain.length / 2)];
  const flops = 3 * layerForwardFlops(c);
  console.log(
    `backend=${backend} B=${c.batch} S=${c.seq} D=${c.dim} H=${c.heads}: train step median ` +
      `${med.toFixed(1)} ms (${(flops / med / 1e6).toFixed(1)} GFLOP/s on matmul FLOPs), ` +
      `profiled ${times.map((t) => t.toFixed(0)).join("/")} ms`,
  );
  const total = [...byKernel.values()].reduce((a, e) => a + e.ms, 0);
  const rows = [...byKernel.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 20);
  for (const [name, e] of rows) {
    console.log(
      `${name.padEnd(22)} ${e.ms.toFixed(2).padStart(8)} ms ${
        (100 * e.ms / total).toFixed(1).padStart(5)
      }%  calls ${e.n.toFixed(0)}`,
    );
  }
}
