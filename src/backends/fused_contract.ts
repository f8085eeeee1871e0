/**
 * The fused kernels' contract, shared by the backends that implement them (`blas/`, `webgpu/`) and
 * the ops that call them (`src/ops/`): kernel names, attributes and the shape rules of attention.
 * Plain data and pure functions only, so the browser build (`web.ts`) can import it without
 * reaching the Deno-only blas backend.
 *
 * @module
 */

/** The attention forward kernel's name. */
export const ATTENTION_KERNEL = "CocaAttention";
/** The attention gradient kernel's name. */
export const ATTENTION_GRAD_KERNEL = "CocaAttentionGrad";
/** The fused AdamW update's kernel name. */
export const ADAMW_KERNEL = "CocaAdamW";

/**
 * The most negative finite float32: what the reference writes into masked scores, and what the
 * kernel adds where `causal` masks a score.
 */
export const MASK_VALUE = -3.4028234663852886e38;

/** Attributes of `CocaAttention` (and, `scale` only, of `CocaAttentionGrad`). */
export interface AttentionAttrs {
  /** Multiplies the scores `q·k` (1: no multiply). */
  scale: number;
  /** Mask key `j` from query `i` where `j > M - L + i` (queries are the last `L` of `M` positions). */
  causal: boolean;
  /**
   * Return the probabilities for the gradient (default true); false: compute them in a reused
   * scratch array and return only the output.
   */
  saveProbs?: boolean;
}

/** The dimensions of one attention call, from its input shapes. */
export interface AttentionDims {
  /** Batch. */
  b: number;
  /** Query heads. */
  h: number;
  /** Queries per head. */
  L: number;
  /** Keys. */
  M: number;
  /** Width of queries and keys. */
  dk: number;
  /** Width of values. */
  dv: number;
  /** One key/value head shared by all query heads (`k`, `v` of rank 3). */
  shared: boolean;
}

/**
 * Checks the shapes of `q`, `k`, `v` (see the module) and returns the dimensions, or throws a
 * RangeError naming the shapes.
 *
 * @example
 * ```ts
 * import { attentionDims } from "./fused_contract.ts";
 * console.log(attentionDims([2, 4, 3, 8], [2, 5, 8], [2, 5, 6])); // b 2, h 4, L 3, M 5, dk 8, dv 6, shared
 * ```
 */
export function attentionDims(
  q: readonly number[],
  k: readonly number[],
  v: readonly number[],
): AttentionDims {
  const bad = (why: string) =>
    new RangeError(
      `attention expected q (b, h, L, dk) with k (b, M, dk), v (b, M, dv) or k (b, h, M, dk), ` +
        `v (b, h, M, dv); ${why}, found q [${q}], k [${k}], v [${v}]`,
    );
  if (q.length !== 4) throw bad("q of rank 4");
  const [b, h, L, dk] = q;
  if ((k.length !== 3 && k.length !== 4) || v.length !== k.length) {
    throw bad("k and v of the same rank, 3 or 4");
  }
  const shared = k.length === 3;
  const lead = shared ? [b] : [b, h];
  const M = k[k.length - 2];
  if (
    k.slice(0, -2).some((d, i) => d !== lead[i]) || v.slice(0, -2).some((d, i) => d !== lead[i])
  ) {
    throw bad(`k and v with leading dims [${lead}] as q`);
  }
  if (k[k.length - 1] !== dk) throw bad("k as wide as q");
  if (v[v.length - 2] !== M) throw bad("as many values as keys");
  return { b, h, L, M, dk, dv: v[v.length - 1], shared };
}

/**
 * The strides of a bias of shape `shape` read as a `(b, h, L, M)` tensor `to`, 0 along the axes
 * it broadcasts; throws a RangeError when it does not broadcast.
 *
 * @example
 * ```ts
 * import { biasStrides } from "./fused_contract.ts";
 * console.log(biasStrides([2, 1, 5, 7], [2, 3, 5, 7])); // [35, 0, 7, 1]
 * ```
 */
export function biasStrides(shape: readonly number[], to: readonly number[]): number[] {
  if (shape.length > to.length) {
    throw new RangeError(`expected a bias of rank <= ${to.length}, found shape [${shape}]`);
  }
  const full = [...new Array<number>(to.length - shape.length).fill(1), ...shape];
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

/** Attributes of the fused update. */
export interface AdamWAttrs {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  bc1: number;
  bc2: number;
  /** Multiplies the gradient first (1 = none). */
  gradScale: number;
}
