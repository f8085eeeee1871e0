/**
 * Fused scaled dot-product attention for the blas backend, forward and gradient, each one host
 * kernel: the two products of each batch (or each batch and head) are OpenBLAS `sgemm` calls on
 * views of the tensors' own arrays, and the scale, the masks and the softmax are one pass over
 * each row of the scores, in the array that becomes the saved probabilities. No tfjs tensor is
 * made in between (the op form ran about a dozen kernels: reshapes, two batched matmuls, an add,
 * a softmax and a transpose, and more than twice as many for the gradient).
 *
 * `CocaAttention`: inputs `q (b, h, L, dk)`, `k (b, M, dk)` and `v (b, M, dv)` (multi-query: one
 * key/value head shared by the `h` query heads) or `k (b, h, M, dk)`, `v (b, h, M, dv)`
 * (multi-head), optionally `bias` broadcastable to `(b, h, L, M)`; attrs `scale` and `causal` →
 * `[out (b, L, h·dv), probs (b, h, L, M)]`, heads merged head-major in `out`; with attr
 * `saveProbs: false` (inference: nothing will ask for the gradient) only `[out]`, the
 * probabilities then living in a reused scratch array (a fresh array costs a page fault per 4 KiB
 * on first touch, about as much as the products themselves here). Each score row is
 * `s = q·k` (one product), then `s · scale` (when `scale ≠ 1`), then `+ MASK_VALUE` where
 * `causal` hides key `j` from query `i` (`j > M - L + i`), then `+ bias`, each rounded to
 * float32 in that order, as the op form computes it; then softmax with the row maximum
 * subtracted (as the blas backend's `Softmax`).
 *
 * `CocaAttentionGrad`: inputs `q`, `k`, `v`, `probs` (the forward's) and `dy (b, L, h·dv)`, attr
 * `scale` → `[dq, dk, dv]` shaped as `q`, `k`, `v`: `dV = Pᵀ·dO`, `dP = dO·Vᵀ`,
 * `dS = (P ⊙ dP − P · rowsum(P ⊙ dP)) · scale`, `dQ = dS·K`, `dK = dSᵀ·Q` (multi-query: the
 * products over all heads of a batch at once, which sums `dK` and `dV` over the heads).
 * Not differentiable in `bias` (the model's biases are constant masks).
 *
 * @module
 */
import * as tf from "../../deps/tf.ts";
import { cpuFloat32, cpuOutput, cpuValues } from "../cpu_data.ts";
import { blasOfBackend } from "./matmul.ts";
import type { OpenBlas } from "./openblas.ts";
import { allocFloat32, allocFloat32Zeroed } from "./buffer_pool.ts";
import { activeNativeKernels } from "./native.ts";
import {
  ATTENTION_GRAD_KERNEL,
  ATTENTION_KERNEL,
  type AttentionAttrs,
  type AttentionDims,
  attentionDims,
  biasStrides,
  MASK_VALUE,
} from "../fused_contract.ts";

/** A scratch array of at least `n` floats, reused across calls (kernels run one at a time). */
const scratch: Float32Array[] = [new Float32Array(0), new Float32Array(0), new Float32Array(0)];
function scratchOf(slot: number, n: number): Float32Array {
  if (scratch[slot].length < n) scratch[slot] = new Float32Array(Math.max(n, 1024));
  return scratch[slot].subarray(0, n);
}

const f32 = Math.fround;

/** A bias as the forward reads it: values and strides over `(b, h, L, M)`. */
interface Bias {
  values: Float32Array | Int32Array;
  strides: number[];
}

/**
 * Scale, mask and softmax row `i` of head `hh` of batch `bb`, in place in `p[o .. o+M)` (holding
 * the products `q·k`).
 */
function softmaxRow(
  p: Float32Array,
  o: number,
  M: number,
  scale: number,
  visible: number,
  bias: Bias | undefined,
  biasBase: number,
): void {
  let m = -Infinity;
  const sj = bias ? bias.strides[3] : 0, bv = bias?.values;
  for (let j = 0; j < M; j++) {
    let s = p[o + j];
    if (scale !== 1) s = f32(s * scale);
    if (j >= visible) s = f32(s + MASK_VALUE);
    if (bv) s = f32(s + bv[biasBase + j * sj]);
    p[o + j] = s;
    if (s > m || Number.isNaN(s)) m = s;
  }
  let sum = 0;
  for (let j = 0; j < M; j++) {
    const e = Math.exp(p[o + j] - m);
    p[o + j] = e;
    sum += e;
  }
  const inv = 1 / sum;
  for (let j = 0; j < M; j++) p[o + j] *= inv;
}

/**
 * The forward on host arrays: `out (b, L, h·dv)` and `probs (b, h, L, M)` (see the module);
 * with `attrs.saveProbs === false`, `probs` is a view of a scratch array that the next call
 * overwrites.
 *
 * @example
 * ```ts
 * import { loadOpenBlas } from "./openblas.ts";
 * import { attentionDims } from "../fused_contract.ts";
 * import { attentionForward } from "./attention_kernel.ts";
 * const r = loadOpenBlas();
 * if (r.ok) {
 *   const dims = attentionDims([1, 1, 1, 2], [1, 2, 2], [1, 2, 2]);
 *   const q = Float32Array.of(1, 0), k = Float32Array.of(1, 0, 0, 1), v = Float32Array.of(1, 2, 3, 4);
 *   const { out, probs } = attentionForward(r.blas, dims, q, k, v, { scale: 1, causal: false });
 *   console.log(out, probs); // softmax([1, 0]) mixes the two value rows
 * }
 * ```
 */
export function attentionForward(
  blas: OpenBlas,
  dims: AttentionDims,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  attrs: AttentionAttrs,
  bias?: Bias,
): { out: Float32Array; probs: Float32Array } {
  const { b, h, L, M, dk, dv, shared } = dims;
  const probs = attrs.saveProbs === false
    ? scratchOf(2, b * h * L * M)
    : dk > 0
    ? allocFloat32(b * h * L * M)
    : allocFloat32Zeroed(b * h * L * M);
  const out = allocFloat32(b * L * h * dv);
  if (probs.length === 0 || out.length === 0) return { out, probs };
  // One product per batch (multi-query: all heads' queries against the shared keys) or per head.
  const groups = shared ? 1 : h, rows = shared ? h * L : L;
  const qSize = rows * dk, kSize = M * dk, vSize = M * dv, pSize = rows * M, oSize = rows * dv;
  const pv = scratchOf(0, h * L * dv);
  const native = activeNativeKernels();
  const [sb, sh, si] = bias ? bias.strides : [0, 0, 0];
  for (let bb = 0; bb < b; bb++) {
    for (let g = 0; g < groups; g++) {
      const n = bb * groups + g;
      const pn = probs.subarray(n * pSize, (n + 1) * pSize);
      if (dk > 0) {
        blas.sgemm(
          false,
          true,
          rows,
          M,
          dk,
          q.subarray(n * qSize, (n + 1) * qSize),
          k.subarray(n * kSize, (n + 1) * kSize),
          pn,
        );
      }
    }
    for (let hh = 0; hh < h; hh++) {
      const base = bb * sb + hh * sh;
      if (native && (!bias || bias.values instanceof Float32Array)) {
        const o = (bb * h + hh) * L * M;
        native.attentionSoftmax(
          probs.subarray(o, o + L * M),
          L,
          M,
          attrs.scale,
          attrs.causal,
          M - L,
          bias ? (bias.values as Float32Array).subarray(base) : null,
          si,
          bias ? bias.strides[3] : 0,
        );
        continue;
      }
      for (let i = 0; i < L; i++) {
        const o = ((bb * h + hh) * L + i) * M;
        const visible = attrs.causal ? M - L + i + 1 : M;
        softmaxRow(probs, o, M, attrs.scale, visible, bias, base + i * si);
      }
    }
    for (let g = 0; g < groups; g++) {
      const n = bb * groups + g;
      blas.sgemm(
        false,
        false,
        rows,
        dv,
        M,
        probs.subarray(n * pSize, (n + 1) * pSize),
        v.subarray(n * vSize, (n + 1) * vSize),
        pv.subarray(g * oSize, (g + 1) * oSize),
      );
    }
    // (h, L, dv) -> out[bb] (L, h, dv): merge the heads.
    for (let hh = 0; hh < h; hh++) {
      for (let i = 0; i < L; i++) {
        const from = (hh * L + i) * dv, to = ((bb * L + i) * h + hh) * dv;
        out.set(pv.subarray(from, from + dv), to);
      }
    }
  }
  return { out, probs };
}

/**
 * The gradient on host arrays: `dq`, `dk`, `dv` shaped as `q`, `k`, `v` (see the module).
 *
 * @example
 * ```ts
 * import { loadOpenBlas } from "./openblas.ts";
 * import { attentionDims } from "../fused_contract.ts";
 * import { attentionForward, attentionGrad } from "./attention_kernel.ts";
 * const r = loadOpenBlas();
 * if (r.ok) {
 *   const dims = attentionDims([1, 1, 1, 2], [1, 2, 2], [1, 2, 2]);
 *   const q = Float32Array.of(1, 0), k = Float32Array.of(1, 0, 0, 1), v = Float32Array.of(1, 2, 3, 4);
 *   const { probs } = attentionForward(r.blas, dims, q, k, v, { scale: 1, causal: false });
 *   const g = attentionGrad(r.blas, dims, q, k, v, probs, Float32Array.of(1, 1), 1);
 *   console.log(g.dq, g.dk, g.dv);
 * }
 * ```
 */
export function attentionGrad(
  blas: OpenBlas,
  dims: AttentionDims,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  probs: Float32Array,
  dy: Float32Array,
  scale: number,
): { dq: Float32Array; dk: Float32Array; dv: Float32Array } {
  const { b, h, L, M, dk: dkw, dv: dvw, shared } = dims;
  // Every product below writes its whole block (beta = 0); only the cases without products
  // (no queries or no keys, or zero-width heads) need zeros.
  const empty = probs.length === 0 || dims.dk === 0 || dims.dv === 0;
  const alloc = empty ? allocFloat32Zeroed : allocFloat32;
  const dq = alloc(q.length), dk = alloc(k.length), dv = alloc(v.length);
  if (probs.length === 0) return { dq, dk, dv };
  const groups = shared ? 1 : h, rows = shared ? h * L : L;
  const qSize = rows * dkw, kSize = M * dkw, vSize = M * dvw, pSize = rows * M;
  const oSize = rows * dvw;
  const dO = scratchOf(0, h * L * dvw), dP = scratchOf(1, pSize);
  const native = activeNativeKernels();
  for (let bb = 0; bb < b; bb++) {
    // dy[bb] (L, h, dv) -> dO (h, L, dv): split the heads.
    for (let hh = 0; hh < h; hh++) {
      for (let i = 0; i < L; i++) {
        const to = (hh * L + i) * dvw, from = ((bb * L + i) * h + hh) * dvw;
        dO.set(dy.subarray(from, from + dvw), to);
      }
    }
    for (let g = 0; g < groups; g++) {
      const n = bb * groups + g;
      const pn = probs.subarray(n * pSize, (n + 1) * pSize);
      const dOg = dO.subarray(g * oSize, (g + 1) * oSize);
      const vn = v.subarray(n * vSize, (n + 1) * vSize);
      if (dvw > 0) {
        blas.sgemm(true, false, M, dvw, rows, pn, dOg, dv.subarray(n * vSize, (n + 1) * vSize));
        blas.sgemm(false, true, rows, M, dvw, dOg, vn, dP);
      } else dP.fill(0);
      // dS = P ⊙ dP − P · rowsum(P ⊙ dP) (the softmax gradient), times the scale, in dP.
      if (native) native.attentionSoftmaxGrad(dP, pn, rows, M, scale);
      else {
        for (let r = 0; r < rows; r++) {
          const o = r * M;
          let sum = 0;
          for (let j = 0; j < M; j++) sum += f32(dP[o + j] * pn[o + j]);
          const rowSum = f32(sum);
          for (let j = 0; j < M; j++) {
            const p = pn[o + j];
            let s = f32(f32(dP[o + j] * p) - f32(rowSum * p));
            if (scale !== 1) s = f32(s * scale);
            dP[o + j] = s;
          }
        }
      }
      if (dkw > 0) {
        const qn = q.subarray(n * qSize, (n + 1) * qSize);
        const kn = k.subarray(n * kSize, (n + 1) * kSize);
        blas.sgemm(false, false, rows, dkw, M, dP, kn, dq.subarray(n * qSize, (n + 1) * qSize));
        blas.sgemm(true, false, M, dkw, rows, dP, qn, dk.subarray(n * kSize, (n + 1) * kSize));
      }
    }
  }
  return { dq, dk, dv };
}

/**
 * Register `CocaAttention` and `CocaAttentionGrad` for a backend whose `BatchMatMul` runs
 * OpenBLAS (blas), using that library (idempotent). Throws a RangeError for any other backend.
 *
 * @example
 * ```ts
 * import { registerBlasBackend } from "./backend.ts";
 * import { registerAttentionKernels } from "./attention_kernel.ts";
 * if (registerBlasBackend().ok) registerAttentionKernels("blas");
 * ```
 */
export function registerAttentionKernels(backendName: string): void {
  if (tf.getKernel(ATTENTION_KERNEL, backendName)) return;
  const blas = blasOfBackend(backendName);
  if (!blas) {
    throw new RangeError(
      `expected a backend whose BatchMatMul runs OpenBLAS for ${ATTENTION_KERNEL}, found ` +
        `"${backendName}"`,
    );
  }
  tf.registerKernel({
    kernelName: ATTENTION_KERNEL,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { q, k, v, bias } = inputs as Record<"q" | "k" | "v", tf.TensorInfo> & {
        bias?: tf.TensorInfo;
      };
      const { scale, causal, saveProbs } = attrs as unknown as AttentionAttrs;
      const dims = attentionDims(q.shape, k.shape, v.shape);
      const { b, h, L, M, dv } = dims;
      const biasInput = bias
        ? { values: cpuValues(backend, bias), strides: biasStrides(bias.shape, [b, h, L, M]) }
        : undefined;
      if (bias && bias.dtype !== "float32") {
        throw new TypeError(`${ATTENTION_KERNEL} expected a float32 bias, found ${bias.dtype}`);
      }
      const { out, probs } = attentionForward(
        blas,
        dims,
        cpuFloat32(backend, q, ATTENTION_KERNEL, "q"),
        cpuFloat32(backend, k, ATTENTION_KERNEL, "k"),
        cpuFloat32(backend, v, ATTENTION_KERNEL, "v"),
        { scale: scale ?? 1, causal: causal ?? false, saveProbs: saveProbs ?? true },
        biasInput,
      );
      const value = cpuOutput(backend, [b, L, h * dv], out);
      return saveProbs === false ? [value] : [value, cpuOutput(backend, [b, h, L, M], probs)];
    },
  });
  tf.registerKernel({
    kernelName: ATTENTION_GRAD_KERNEL,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { q, k, v, probs, dy } = inputs as Record<
        "q" | "k" | "v" | "probs" | "dy",
        tf.TensorInfo
      >;
      const { scale } = attrs as unknown as Pick<AttentionAttrs, "scale">;
      const dims = attentionDims(q.shape, k.shape, v.shape);
      const g = attentionGrad(
        blas,
        dims,
        cpuFloat32(backend, q, ATTENTION_KERNEL, "q"),
        cpuFloat32(backend, k, ATTENTION_KERNEL, "k"),
        cpuFloat32(backend, v, ATTENTION_KERNEL, "v"),
        cpuFloat32(backend, probs, ATTENTION_KERNEL, "probs"),
        cpuFloat32(backend, dy, ATTENTION_KERNEL, "dy"),
        scale ?? 1,
      );
      return [
        cpuOutput(backend, [...q.shape], g.dq),
        cpuOutput(backend, [...k.shape], g.dk),
        cpuOutput(backend, [...v.shape], g.dv),
      ];
    },
  });
}
