/**
 * Fused scaled dot-product attention for the webgpu backend, forward and gradient, under the
 * blas kernels' names and contract (`CocaAttention`, `CocaAttentionGrad`; see
 * `src/backends/blas/attention_kernel.ts`), so the attention op of `src/ops/attention.ts` uses
 * them on webgpu unchanged.
 *
 * `CocaAttention`: `q (b, h, L, dk)` with `k (b, M, dk)`, `v (b, M, dv)` (multi-query) or
 * `k (b, h, M, dk)`, `v (b, h, M, dv)` (multi-head), optionally `bias` broadcastable to
 * `(b, h, L, M)`; attrs `scale`, `causal` → `[out (b, L, h·dv), probs (b, h, L, M)]` in one
 * dispatch, one workgroup per query row: the row's scores (`q·k`, then `· scale` when it is not
 * 1, then `+ MASK_VALUE` where `causal` hides key `j > M - L + i`, then `+ bias`, in the op's
 * order), the softmax with the row maximum subtracted, written as the saved probabilities, and
 * `out[d] = Σ_j p_j v[j, d]` with the heads merged.
 *
 * `CocaAttentionGrad`: `q`, `k`, `v`, `probs`, `dy (b, L, h·dv)`, attr `scale` → `[dq, dk, dv]`:
 * one dispatch for `dS = (P ⊙ dP − P · rowsum(P ⊙ dP)) · scale` with `dP = dO·Vᵀ` (a workgroup
 * per row, which also writes `dO` with the heads split, `(b, h, L, dv)`), then `dQ = dS·K`,
 * `dK = dSᵀ·Q` and `dV = Pᵀ·dO` on tfjs-webgpu's tiled `BatchMatMul` (summed over the heads when
 * `k`, `v` are shared); reshapes cost no dispatch.
 *
 * @module
 */
import * as tf from "../../deps/tf.ts";
import {
  ATTENTION_GRAD_KERNEL,
  ATTENTION_KERNEL,
  type AttentionAttrs,
  attentionDims,
  biasStrides,
  MASK_VALUE,
} from "../fused_contract.ts";
import { rowWorkgroupSize, type Uniform, workgroupReduceWgsl } from "./program.ts";
import { bindingsWgsl, MULTI_HEADER, runMultiOutput } from "./multi_output.ts";

const UNIFORMS = "batch : i32, heads : i32, len : i32, keys : i32, dk : i32, dv : i32, " +
  "sharedKv : i32, causal : i32, scale : f32, biasStrides : vec4<i32>";

/** Row `r = (bb · h + hh) · L + i` and the offsets of its query, keys and values. */
const ROW = `
  struct Row { bb : i32, hh : i32, i : i32, kv : i32 };
  fn rowOf(r : i32) -> Row {
    let L = uniforms.len;
    let H = uniforms.heads;
    let bb = r / (L * H);
    let hh = (r / L) % H;
    var kv = bb;
    if (uniforms.sharedKv == 0) {
      kv = bb * H + hh;
    }
    return Row(bb, hh, r % L, kv * uniforms.keys);
  }
`;

const forwardCode = (wg: number, withBias: boolean) => `
  ${
  bindingsWgsl(
    ["outV", "probs"],
    [["q", "f32"], ["k", "f32"], ["v", "f32"], ...(withBias ? [["bias", "f32"] as const] : [])],
    UNIFORMS,
  )
}
  ${workgroupReduceWgsl(wg)}
  ${ROW}
  @compute @workgroup_size(${wg})
  fn main(${MULTI_HEADER}) {
    let rows = uniforms.batch * uniforms.heads * uniforms.len;
    let row = i32(wid.y * nwg.x + wid.x);
    let r = min(row, rows - 1);
    let tid = i32(lid.x);
    let at = rowOf(r);
    let M = uniforms.keys;
    let dk = uniforms.dk;
    let qBase = r * dk;
    let pBase = r * M;
    let visible = M - uniforms.len + at.i;
    let live = row < rows;
    var m = -3.402823e+38;
    for (var j = tid; j < M; j = j + WG) {
      var s = 0.0;
      for (var d = 0; d < dk; d = d + 1) {
        s = s + q[qBase + d] * k[(at.kv + j) * dk + d];
      }
      if (uniforms.scale != 1.0) {
        s = s * uniforms.scale;
      }
      if (uniforms.causal != 0 && j > visible) {
        s = s + ${MASK_VALUE.toExponential()};
      }
      ${
  withBias
    ? `let bs = uniforms.biasStrides;
      s = s + bias[at.bb * bs.x + at.hh * bs.y + at.i * bs.z + j * bs.w];`
    : ""
}
      if (live) {
        probs[pBase + j] = s;
      }
      m = max(m, s);
    }
    let rowMax = wgMax(tid, m);
    var l = 0.0;
    for (var j = tid; j < M; j = j + WG) {
      if (live) {
        let e = exp(probs[pBase + j] - rowMax);
        probs[pBase + j] = e;
        l = l + e;
      }
    }
    let total = wgSum(tid, l);
    for (var j = tid; j < M; j = j + WG) {
      if (live) {
        probs[pBase + j] = probs[pBase + j] / total;
      }
    }
    storageBarrier();
    workgroupBarrier();
    let dv = uniforms.dv;
    let oBase = ((at.bb * uniforms.len + at.i) * uniforms.heads + at.hh) * dv;
    if (dv * 2 > WG) {
      if (live) {
        for (var d = tid; d < dv; d = d + WG) {
          var acc = 0.0;
          for (var j = 0; j < M; j = j + 1) {
            acc = acc + probs[pBase + j] * v[(at.kv + j) * dv + d];
          }
          outV[oBase + d] = acc;
        }
      }
    } else {
      // Narrow values: the keys split into S interleaved slices, thread (slice, d), then a sum
      // over the slices.
      let S = WG / dv;
      let sl = tid / dv;
      let d = tid % dv;
      var acc = 0.0;
      if (sl < S && live) {
        for (var j = sl; j < M; j = j + S) {
          acc = acc + probs[pBase + j] * v[(at.kv + j) * dv + d];
        }
      }
      wgBuf[tid] = acc;
      workgroupBarrier();
      if (tid < dv && live) {
        var sum = 0.0;
        for (var u = 0; u < S; u = u + 1) {
          sum = sum + wgBuf[u * dv + tid];
        }
        outV[oBase + tid] = sum;
      }
    }
  }
`;

/** `dS` of one row per workgroup. */
const scoresGradCode = (wg: number) => `
  ${bindingsWgsl(["dS", "dyT"], [["v", "f32"], ["probs", "f32"], ["dy", "f32"]], UNIFORMS)}
  ${workgroupReduceWgsl(wg)}
  ${ROW}
  @compute @workgroup_size(${wg})
  fn main(${MULTI_HEADER}) {
    let rows = uniforms.batch * uniforms.heads * uniforms.len;
    let row = i32(wid.y * nwg.x + wid.x);
    let r = min(row, rows - 1);
    let tid = i32(lid.x);
    let at = rowOf(r);
    let M = uniforms.keys;
    let dv = uniforms.dv;
    let pBase = r * M;
    let oBase = ((at.bb * uniforms.len + at.i) * uniforms.heads + at.hh) * dv;
    let live = row < rows;
    var t = 0.0;
    for (var j = tid; j < M; j = j + WG) {
      var dp = 0.0;
      for (var d = 0; d < dv; d = d + 1) {
        dp = dp + dy[oBase + d] * v[(at.kv + j) * dv + d];
      }
      let pdp = probs[pBase + j] * dp;
      if (live) {
        dS[pBase + j] = pdp;
      }
      t = t + pdp;
    }
    let rowSum = wgSum(tid, t);
    if (live) {
      for (var j = tid; j < M; j = j + WG) {
        dS[pBase + j] = (dS[pBase + j] - probs[pBase + j] * rowSum) * uniforms.scale;
      }
      for (var d = tid; d < dv; d = d + WG) {
        dyT[r * dv + d] = dy[oBase + d];
      }
    }
  }
`;

/** A stock webgpu kernel's function. */
function kernel(name: string): tf.KernelFunc {
  const config = tf.getKernel(name, "webgpu");
  if (!config) throw new Error(`expected tfjs-webgpu to register ${name}, found none`);
  return config.kernelFunc;
}

function uniformsOf(
  dims: ReturnType<typeof attentionDims>,
  scale: number,
  causal: boolean,
  strides: number[],
): Uniform[] {
  const int = (x: number): Uniform => ({ type: "int32", data: [x] });
  return [
    int(dims.b),
    int(dims.h),
    int(dims.L),
    int(dims.M),
    int(dims.dk),
    int(dims.dv),
    int(dims.shared ? 1 : 0),
    int(causal ? 1 : 0),
    { type: "float32", data: [scale] },
    { type: "int32", data: strides },
  ];
}

/**
 * Register `CocaAttention` and `CocaAttentionGrad` for webgpu (idempotent).
 *
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-webgpu";
 * import { registerWebGPUAttention } from "./attention.ts";
 * registerWebGPUAttention();
 * ```
 */
export function registerWebGPUAttention(): void {
  if (tf.getKernel(ATTENTION_KERNEL, "webgpu")) return;
  tf.registerKernel({
    kernelName: ATTENTION_KERNEL,
    backendName: "webgpu",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { q, k, v, bias } = inputs as Record<"q" | "k" | "v", tf.TensorInfo> & {
        bias?: tf.TensorInfo;
      };
      const { scale, causal } = attrs as unknown as AttentionAttrs;
      const dims = attentionDims(q.shape, k.shape, v.shape);
      const { b, h, L, M, dv } = dims;
      const strides = bias ? biasStrides(bias.shape, [b, h, L, M]) : [0, 0, 0, 0];
      const wg = rowWorkgroupSize(M);
      return runMultiOutput(
        backend,
        {
          key: `cocaAttention_${wg}_${bias ? "bias" : "plain"}`,
          code: forwardCode(wg, !!bias),
          workgroups: b * h * L,
        },
        bias ? [q, k, v, bias] : [q, k, v],
        [[b, L, h * dv], [b, h, L, M]],
        uniformsOf(dims, scale, causal, strides),
      );
    },
  });
  tf.registerKernel({
    kernelName: ATTENTION_GRAD_KERNEL,
    backendName: "webgpu",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { q, k, v, probs, dy } = inputs as Record<
        "q" | "k" | "v" | "probs" | "dy",
        tf.TensorInfo
      >;
      const { scale } = attrs as unknown as { scale: number };
      const dims = attentionDims(q.shape, k.shape, v.shape);
      const { b, h, L, M } = dims;
      const uniforms = uniformsOf(dims, scale, false, [0, 0, 0, 0]);
      const wg = rowWorkgroupSize(M);
      const [dS, dyT] = runMultiOutput(
        backend,
        { key: `cocaAttentionDs_${wg}`, code: scoresGradCode(wg), workgroups: b * h * L },
        [v, probs, dy],
        [[b, h, L, M], [b, h, L, dims.dv]],
        uniforms,
      );
      // The three products on tfjs-webgpu's own (tiled) BatchMatMul: per batch with the heads
      // folded into the rows when k, v are shared (which sums dK and dV over the heads), per
      // batch and head otherwise.
      const kb = backend as tf.KernelBackend;
      const temps: tf.TensorInfo[] = [];
      const reshape = (x: tf.TensorInfo, shape: number[]) => {
        const out = kernel("Reshape")({
          inputs: { x },
          backend,
          attrs: { shape },
        }) as tf.TensorInfo;
        temps.push(out);
        return out;
      };
      const matMul = (a: tf.TensorInfo, c: tf.TensorInfo, transposeA: boolean) => {
        const out = kernel("BatchMatMul")({
          inputs: { a, b: c },
          backend,
          attrs: { transposeA, transposeB: false },
        }) as tf.TensorInfo;
        temps.push(out);
        return out;
      };
      const [G, R] = dims.shared ? [b, h * L] : [b * h, L];
      const dS3 = reshape(dS, [G, R, M]), p3 = reshape(probs, [G, R, M]);
      const q3 = reshape(q, [G, R, dims.dk]), dyT3 = reshape(dyT, [G, R, dims.dv]);
      const k3 = reshape(k, [G, M, dims.dk]);
      const grads = [
        kernel("Reshape")({
          inputs: { x: matMul(dS3, k3, false) },
          backend,
          attrs: { shape: [...q.shape] },
        }) as tf.TensorInfo,
        kernel("Reshape")({
          inputs: { x: matMul(dS3, q3, true) },
          backend,
          attrs: { shape: [...k.shape] },
        }) as tf.TensorInfo,
        kernel("Reshape")({
          inputs: { x: matMul(p3, dyT3, true) },
          backend,
          attrs: { shape: [...v.shape] },
        }) as tf.TensorInfo,
      ];
      for (const t of [dS, dyT, ...temps]) kb.disposeData(t.dataId);
      return grads;
    },
  });
}
