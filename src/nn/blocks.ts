/**
 * CoCa's two transformer blocks: the PaLM-style parallel block (multi-query
 * causal self-attention with rotary + SwiGLU from one fused projection) and
 * cross-attention (multi-query, optional parallel SwiGLU, optional context norm).
 *
 * @module
 */
import * as tf from "../deps/tf.ts";
import type { ParamStore } from "./params.ts";
import { LayerNorm, Linear } from "./layers.ts";
import { multiQueryAttention, splitHeads } from "./attention.ts";
import { attention } from "../ops/attention.ts";
import { applyRotary, rotaryInvFreq } from "./rotary.ts";
import { swiglu } from "../ops/swiglu.ts";

/** Keys and values of earlier positions, for incremental decoding: each `(b, P, dimHead)`. */
export interface KeyValue {
  k: tf.Tensor;
  v: tf.Tensor;
}

/**
 * PaLM's parallel block: `attn(LN(x)) + ff(LN(x))` from one fused projection
 * (q, shared k, shared v, SwiGLU input), causal, rotary on q and k.
 * The residual is added by the caller.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { ParamStore } from "./params.ts";
 * import { ParallelTransformerBlock } from "./blocks.ts";
 * const block = new ParallelTransformerBlock(new ParamStore(), "layer", 16, 8, 2, 4);
 * console.log(block.apply(tf.ones([2, 5, 16])).shape); // [2, 5, 16]
 * ```
 */
export class ParallelTransformerBlock {
  readonly norm: LayerNorm;
  readonly fusedAttnFFProj: Linear;
  readonly attnOut: Linear;
  readonly ffOut: Linear;
  readonly #splits: number[];

  constructor(
    store: ParamStore,
    prefix: string,
    readonly dim: number,
    readonly dimHead: number,
    readonly heads: number,
    ffMult: number,
  ) {
    const inner = heads * dimHead, ff = ffMult * dim;
    this.#splits = [inner, dimHead, dimHead, 2 * ff];
    this.norm = new LayerNorm(store, `${prefix}.norm`, dim, "coca");
    store.buffer(`${prefix}.rotary_emb.inv_freq`, tf.tensor1d(rotaryInvFreq(dimHead)));
    this.fusedAttnFFProj = new Linear(
      store,
      `${prefix}.fused_attn_ff_proj`,
      dim,
      inner + 2 * dimHead + 2 * ff,
    );
    this.attnOut = new Linear(store, `${prefix}.attn_out`, inner, dim);
    this.ffOut = new Linear(store, `${prefix}.ff_out.1`, ff, dim);
  }

  /**
   * `x (b, L, dim)` -> `(b, L, dim)`. `mask` is an additive bias broadcastable to
   * `(b, heads, L, L)`, combined with the causal mask.
   */
  apply(x: tf.Tensor, mask?: tf.Tensor): tf.Tensor {
    return this.step(x, undefined, mask).out;
  }

  /**
   * Incremental form: `x (b, L, dim)` holds positions `P..P+L-1` after `past`
   * (`P` earlier positions). Returns the output and the keys/values of all `P+L`.
   */
  step(x: tf.Tensor, past?: KeyValue, mask?: tf.Tensor): { out: tf.Tensor; kv: KeyValue } {
    const P = past ? past.k.shape[1] as number : 0;
    const u = this.norm.apply(x);
    const [q0, k0, v0, ff] = tf.split(this.fusedAttnFFProj.apply(u), this.#splits, -1);
    const q = applyRotary(splitHeads(q0, this.heads), P).mul(this.dimHead ** -0.5);
    let k = applyRotary(k0, P), v = v0;
    if (past) {
      k = tf.concat([past.k, k], 1);
      v = tf.concat([past.v, v], 1);
    }
    // The causal mask as the kernel's flag, the pad mask as its bias: no (b, 1, L, P+L) sum of
    // the two is made. Same scores: the kernel adds the causal mask, then the bias.
    const attn = this.attnOut.apply(attention(q, k, v, { causal: true, bias: mask }));
    return { out: attn.add(this.ffOut.apply(swiglu(ff))), kv: { k, v } };
  }
}

/** Options of {@linkcode CrossAttention}. */
export interface CrossAttentionOptions {
  contextDim?: number;
  dimHead: number;
  heads: number;
  parallelFF?: boolean;
  ffMult?: number;
  normContext?: boolean;
}

/**
 * Multi-query cross-attention from `x` to a context, no mask, no rotary, with an
 * optional SwiGLU feed-forward on the same normed `x` added in parallel.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { ParamStore } from "./params.ts";
 * import { CrossAttention } from "./blocks.ts";
 * const xattn = new CrossAttention(new ParamStore(), "x", 16, { dimHead: 8, heads: 2 });
 * console.log(xattn.apply(tf.ones([2, 5, 16]), tf.ones([2, 7, 16])).shape); // [2, 5, 16]
 * ```
 */
export class CrossAttention {
  readonly norm: LayerNorm;
  readonly contextNorm?: LayerNorm;
  readonly toQ: Linear;
  readonly toKV: Linear;
  readonly toOut: Linear;
  readonly ff?: [Linear, Linear];
  readonly dimHead: number;
  readonly heads: number;

  constructor(store: ParamStore, prefix: string, dim: number, opts: CrossAttentionOptions) {
    const contextDim = opts.contextDim ?? dim;
    this.dimHead = opts.dimHead;
    this.heads = opts.heads;
    const inner = opts.heads * opts.dimHead;
    this.norm = new LayerNorm(store, `${prefix}.norm`, dim, "coca");
    if (opts.normContext) {
      this.contextNorm = new LayerNorm(store, `${prefix}.context_norm`, contextDim, "coca");
    }
    this.toQ = new Linear(store, `${prefix}.to_q`, dim, inner);
    this.toKV = new Linear(store, `${prefix}.to_kv`, contextDim, 2 * opts.dimHead);
    this.toOut = new Linear(store, `${prefix}.to_out`, inner, dim);
    if (opts.parallelFF) {
      const ff = (opts.ffMult ?? 4) * dim;
      this.ff = [
        new Linear(store, `${prefix}.ff.0`, dim, 2 * ff),
        new Linear(store, `${prefix}.ff.2`, ff, dim),
      ];
    }
  }

  /** The context's keys and values `(b, m, dimHead)` each (computable once per image). */
  keyValues(context: tf.Tensor): KeyValue {
    const c = this.contextNorm ? this.contextNorm.apply(context) : context;
    const [k, v] = tf.split(this.toKV.apply(c), 2, -1);
    return { k, v };
  }

  /** `x (b, L, dim)`, `context (b, m, contextDim)` or its precomputed key/values -> `(b, L, dim)`. */
  apply(x: tf.Tensor, context: tf.Tensor | KeyValue): tf.Tensor {
    const { k, v } = context instanceof tf.Tensor ? this.keyValues(context) : context;
    const u = this.norm.apply(x);
    const q = splitHeads(this.toQ.apply(u), this.heads).mul(this.dimHead ** -0.5);
    let out = this.toOut.apply(multiQueryAttention(q, k, v));
    if (this.ff) out = out.add(this.ff[1].apply(swiglu(this.ff[0].apply(u))));
    return out;
  }
}
