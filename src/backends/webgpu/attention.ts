/**
 * Fused multi-query attention forward for the webgpu backend (`CocaAttention`): scores, the
 * additive mask (causal and pad biases, broadcast), softmax and the value product in one
 * dispatch, writing the heads already merged. What `multiQueryAttention` of `src/nn/attention.ts`
 * computes with two matmuls, an add, a softmax and a transpose.
 *
 * Inputs `q (b, h, L, dh)` (already scaled), `k, v (b, M, dh)` (one key/value head shared by the
 * query heads) and optionally `bias`, broadcastable to the scores `(b, h, L, M)` → `(b, L, h·dh)`.
 * One workgroup per query row `(b, h, i)`: a first pass over the keys finds the row's max and
 * the sum of `exp(score - max)` (each thread an online softmax over its keys, then combined);
 * a second pass goes through the keys in tiles of one key per thread, putting the tile's
 * probabilities `exp(score - max) / sum` in workgroup memory, and thread `d` adds
 * `Σ p_j v[j, d]` for its output feature. Scores are computed twice, never stored. `dh` is at most
 * 256 (the workgroup has `max(64, dh)` threads, rounded up to a power of two).
 *
 * Forward only: no gradient is registered, so it serves inference (evaluation, generation);
 * nothing in `src/ops/` calls it yet.
 *
 * @module
 */
import * as tf from "../../deps/tf.ts";
import { rowProgram, runProgram } from "./program.ts";

/** The kernel's name. */
export const ATTENTION_KERNEL = "CocaAttention";

/** The widest head the kernel takes. */
export const MAX_HEAD_DIM = 256;

const body = (withBias: boolean) => `
  var<workgroup> probs : array<f32, WG>;
  fn score(bb : i32, hh : i32, i : i32, j : i32) -> f32 {
    let dh = uniforms.dh;
    let qBase = ((bb * uniforms.heads + hh) * uniforms.len + i) * dh;
    let kBase = (bb * uniforms.keys + j) * dh;
    var s = 0.0;
    for (var d = 0; d < dh; d = d + 1) {
      s = s + q[qBase + d] * k[kBase + d];
    }
    ${
  withBias
    ? `let bs = uniforms.biasStrides;
    s = s + bias[bb * bs.x + hh * bs.y + i * bs.z + j * bs.w];`
    : ""
}
    return s;
  }

  fn main(index : i32) {
    let row = index / WG;
    let tid = i32(localId.x);
    let rows = uniforms.batch * uniforms.heads * uniforms.len;
    let r = min(row, rows - 1);
    let i = r % uniforms.len;
    let hh = (r / uniforms.len) % uniforms.heads;
    let bb = r / (uniforms.len * uniforms.heads);
    let M = uniforms.keys;
    var m = -3.402823e+38;
    var l = 0.0;
    for (var j = tid; j < M; j = j + WG) {
      let s = score(bb, hh, i, j);
      let mNew = max(m, s);
      l = l * exp(m - mNew) + exp(s - mNew);
      m = mNew;
    }
    let rowMax = wgMax(tid, m);
    let total = wgSum(tid, l * exp(m - rowMax));
    var acc = 0.0;
    for (var t0 = 0; t0 < M; t0 = t0 + WG) {
      let j = t0 + tid;
      var p = 0.0;
      if (j < M) {
        p = exp(score(bb, hh, i, j) - rowMax) / total;
      }
      probs[tid] = p;
      workgroupBarrier();
      if (tid < uniforms.dh) {
        let n = min(WG, M - t0);
        for (var u = 0; u < n; u = u + 1) {
          acc = acc + probs[u] * v[(bb * M + t0 + u) * uniforms.dh + tid];
        }
      }
      workgroupBarrier();
    }
    if (row < rows && tid < uniforms.dh) {
      result[((bb * uniforms.len + i) * uniforms.heads + hh) * uniforms.dh + tid] = acc;
    }
  }
`;

const UNIFORMS =
  "batch : i32, heads : i32, len : i32, keys : i32, dh : i32, biasStrides : vec4<i32>,";

/**
 * The strides of `bias` as a `(b, h, L, M)` tensor, 0 along its broadcast axes.
 *
 * @example
 * ```ts
 * import { broadcastStrides } from "./attention.ts";
 * console.log(broadcastStrides([5, 7], [2, 3, 5, 7])); // [0, 0, 7, 1]
 * ```
 */
export function broadcastStrides(shape: readonly number[], to: readonly number[]): number[] {
  if (shape.length > to.length) {
    throw new RangeError(`expected a bias of rank <= ${to.length}, found shape [${shape}]`);
  }
  const full = [...new Array(to.length - shape.length).fill(1), ...shape];
  const strides = new Array<number>(to.length);
  let stride = 1;
  for (let a = to.length - 1; a >= 0; a--) {
    if (full[a] !== 1 && full[a] !== to[a]) {
      throw new RangeError(`expected a bias broadcastable to [${to}], found shape [${shape}]`);
    }
    strides[a] = full[a] === 1 ? 0 : stride;
    stride *= full[a];
  }
  return strides;
}

/**
 * Register `CocaAttention` for webgpu (idempotent).
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
    kernelFunc: ({ inputs, backend }) => {
      const { q, k, v, bias } = inputs as Record<"q" | "k" | "v", tf.TensorInfo> & {
        bias?: tf.TensorInfo;
      };
      const [b, h, L, dh] = q.shape;
      const M = k.shape[1];
      if (dh > MAX_HEAD_DIM) {
        throw new RangeError(`expected a head dim <= ${MAX_HEAD_DIM}, found ${dh}`);
      }
      const strides = bias ? broadcastStrides(bias.shape, [b, h, L, M]) : [0, 0, 0, 0];
      const wg = Math.max(64, 2 ** Math.ceil(Math.log2(Math.max(dh, 1))));
      const program = rowProgram(
        `cocaAttention_${bias ? "bias" : "plain"}`,
        bias ? ["q", "k", "v", "bias"] : ["q", "k", "v"],
        [b, L, h * dh],
        b * h * L,
        wg,
        UNIFORMS,
        body(!!bias),
      );
      const int = (x: number[]) => ({ type: "int32" as const, data: x });
      return runProgram(backend, program, bias ? [q, k, v, bias] : [q, k, v], "float32", [
        int([b]),
        int([h]),
        int([L]),
        int([M]),
        int([dh]),
        int(strides),
      ]);
    },
  });
}

/**
 * Multi-query attention through `CocaAttention` on the active backend (webgpu): `q (b, h, L, dh)`
 * (scaled), `k, v (b, M, dh)`, `bias` broadcastable to `(b, h, L, M)` → `(b, L, h·dh)`, as
 * `multiQueryAttention` of `src/nn/attention.ts`. Not differentiable.
 *
 * @example
 * ```ts ignore
 * const out = fusedAttention(q, k, v, causalBias(L)); // on webgpu
 * ```
 */
export function fusedAttention(
  q: tf.Tensor,
  k: tf.Tensor,
  v: tf.Tensor,
  bias?: tf.Tensor,
): tf.Tensor {
  const inputs = bias ? { q, k, v, bias } : { q, k, v };
  return tf.engine().runKernel(
    ATTENTION_KERNEL,
    inputs as unknown as tf.NamedTensorMap,
  ) as tf.Tensor;
}
