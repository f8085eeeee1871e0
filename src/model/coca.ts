/**
 * CoCa (Contrastive Captioners, Yu et al. 2022) as in lucidrains/CoCa-pytorch:
 * a unimodal text decoder with a CLS token at the end, attentional pooling of
 * image tokens, a multimodal decoder with cross-attention, tied logits, and
 * caption + contrastive losses.
 *
 * @module
 */
import * as tf from "../deps/tf.ts";
import { type CoCaConfig, resolveCoCaConfig, type ResolvedCoCaConfig } from "./config.ts";
import { ParamStore } from "../nn/params.ts";
import { LayerNorm, Linear } from "../nn/layers.ts";
import { CrossAttention, type KeyValue, ParallelTransformerBlock } from "../nn/blocks.ts";
import { MASK_VALUE } from "../nn/attention.ts";
import { captionLoss, contrastiveLoss, l2Normalize } from "./losses.ts";
import { type ImageEncoderFn, SimpleViT } from "./vit.ts";
import { hostIds, shiftIds } from "./host_ids.ts";

/** CoCa's options: the config plus the image encoder (a SimpleViT or any function). */
export interface CoCaOptions extends CoCaConfig {
  /** Images `(b, c, H, W)` -> tokens `(b, m, imageDim)`. Optional if only `imageTokens` are used. */
  imgEncoder?: SimpleViT | ImageEncoderFn;
}

/** The three numbers of the training objective. */
export interface CoCaLoss {
  /** `captionLossWeight · captionLoss + contrastiveLossWeight · contrastiveLoss`. */
  loss: tf.Scalar;
  /** Unweighted caption cross-entropy. */
  captionLoss: tf.Scalar;
  /** Unweighted contrastive loss. */
  contrastiveLoss: tf.Scalar;
}

/** Images, or the image encoder's tokens `(b, m, imageDim)` instead. */
export type ImageInput = tf.Tensor4D | { imageTokens: tf.Tensor3D };

/** What {@linkcode CoCa.loadStateDict} found wrong (empty lists when all is well). */
export interface LoadReport {
  missing: string[];
  unexpected: string[];
  mismatched: string[];
}

const VIT_PREFIX = "img_encoder.vit.";
const TIED = "to_logits.1.weight";

/**
 * The CoCa model. Parameter names are the reference's `state_dict` keys.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { CoCa, SimpleViT } from "../../mod.ts";
 * const vit = new SimpleViT({ imageSize: 32, patchSize: 8, dim: 64, depth: 1, heads: 2, mlpDim: 128 });
 * const coca = new CoCa({ dim: 64, numTokens: 100, unimodalDepth: 1, multimodalDepth: 1, imgEncoder: vit,
 *   imageDim: 64, numImgQueries: 8, dimHead: 16, heads: 4 });
 * const text = tf.tensor2d([[5, 6, 7, 0]], [1, 4], "int32");
 * const { loss } = coca.loss(text, tf.zeros([1, 3, 32, 32]));
 * loss.print();
 * ```
 */
export class CoCa {
  readonly config: ResolvedCoCaConfig;
  readonly store: ParamStore;
  readonly imgEncoder?: SimpleViT | ImageEncoderFn;
  #training = false;
  readonly tokenEmb: tf.Variable;
  readonly textClsToken: tf.Variable;
  readonly imgQueries: tf.Variable;
  readonly temperature: tf.Variable;
  readonly unimodalLayers: ParallelTransformerBlock[] = [];
  readonly multimodalLayers: [ParallelTransformerBlock, CrossAttention][] = [];
  readonly imgAttnPool: CrossAttention;
  readonly imgAttnPoolNorm: LayerNorm;
  readonly textClsNorm: LayerNorm;
  readonly imgToLatents: Linear;
  readonly textToLatents: Linear;
  readonly logitsNorm: LayerNorm;

  constructor(options: CoCaOptions, opts: { seed?: number } = {}) {
    const { imgEncoder, ...config } = options;
    this.config = resolveCoCaConfig(config);
    this.imgEncoder = imgEncoder;
    const c = this.config;
    if (imgEncoder instanceof SimpleViT && imgEncoder.config.dim !== c.imageDim) {
      throw new RangeError(
        `expected imageDim to equal the ViT's dim ${imgEncoder.config.dim}, found ${c.imageDim}`,
      );
    }
    const s = this.store = new ParamStore(opts.seed ?? 0);
    const block = { dimHead: c.dimHead, heads: c.heads };
    this.tokenEmb = s.param("token_emb.weight", [c.numTokens, c.dim], { normal: 0.02 });
    this.textClsToken = s.param("text_cls_token", [c.dim], { normal: 1 });
    this.imgQueries = s.param("img_queries", [c.numImgQueries + 1, c.dim], { normal: 1 });
    this.temperature = s.param("temperature", [1], "ones");
    this.imgAttnPool = new CrossAttention(s, "img_attn_pool", c.dim, {
      ...block,
      contextDim: c.imageDim,
      normContext: true,
    });
    this.imgAttnPoolNorm = new LayerNorm(s, "img_attn_pool_norm", c.dim, "coca");
    this.textClsNorm = new LayerNorm(s, "text_cls_norm", c.dim, "coca");
    this.imgToLatents = new Linear(s, "img_to_latents.to_latents", c.dim, c.dimLatents);
    this.textToLatents = new Linear(s, "text_to_latents.to_latents", c.dim, c.dimLatents);
    for (let i = 0; i < c.unimodalDepth; i++) {
      this.unimodalLayers.push(
        new ParallelTransformerBlock(
          s,
          `unimodal_layers.${i}.fn`,
          c.dim,
          c.dimHead,
          c.heads,
          c.ffMult,
        ),
      );
    }
    for (let i = 0; i < c.multimodalDepth; i++) {
      this.multimodalLayers.push([
        new ParallelTransformerBlock(
          s,
          `multimodal_layers.${i}.0.fn`,
          c.dim,
          c.dimHead,
          c.heads,
          c.ffMult,
        ),
        new CrossAttention(s, `multimodal_layers.${i}.1.fn`, c.dim, {
          ...block,
          parallelFF: true,
          ffMult: c.ffMult,
        }),
      ]);
    }
    this.logitsNorm = new LayerNorm(s, "to_logits.0", c.dim, "coca");
  }

  /** Whether patch dropout is active. */
  get training(): boolean {
    return this.#training;
  }

  /** Training mode: patch dropout on. Returns `this`. */
  train(): this {
    this.#training = true;
    if (this.imgEncoder instanceof SimpleViT) this.imgEncoder.training = true;
    return this;
  }

  /** Evaluation mode: patch dropout off. Returns `this`. */
  eval(): this {
    this.#training = false;
    if (this.imgEncoder instanceof SimpleViT) this.imgEncoder.training = false;
    return this;
  }

  /**
   * Text `(b, n)` int32 -> `textEmbeds (b, dim)` (normed CLS) and `textTokens (b, n, dim)`.
   * The CLS token is appended at the end and sees every non-pad token.
   */
  embedText(text: tf.Tensor2D): { textEmbeds: tf.Tensor2D; textTokens: tf.Tensor3D } {
    const ids = this.#checkText(text);
    return tf.tidy(() => {
      const [b, n] = text.shape;
      const cls = this.textClsToken.reshape([1, 1, -1]).tile([b, 1, 1]);
      let x = tf.concat([tf.gather(this.tokenEmb, text), cls], 1);
      const mask = this.#clsPadBias(ids, b, n);
      for (const layer of this.unimodalLayers) x = x.add(layer.apply(x, mask));
      return {
        textTokens: x.slice([0, 0, 0], [b, n, -1]) as tf.Tensor3D,
        textEmbeds: this.textClsNorm.apply(
          x.slice([0, n, 0], [b, 1, -1]).squeeze([1]),
        ) as tf.Tensor2D,
      };
    });
  }

  /** Images (or encoder tokens) -> `imageEmbeds (b, dim)` (query 0) and `imageTokens (b, Q, dim)`. */
  embedImage(input: ImageInput): { imageEmbeds: tf.Tensor2D; imageTokens: tf.Tensor3D } {
    const tokens = this.#imageTokens(input);
    return tf.tidy(() => {
      const b = tokens.shape[0], Q = this.config.numImgQueries;
      const queries = this.imgQueries.expandDims(0).tile([b, 1, 1]);
      const z = this.imgAttnPoolNorm.apply(this.imgAttnPool.apply(queries, tokens));
      if (input instanceof tf.Tensor) tokens.dispose();
      return {
        imageEmbeds: z.slice([0, 0, 0], [b, 1, -1]).squeeze([1]) as tf.Tensor2D,
        imageTokens: z.slice([0, 1, 0], [b, Q, -1]) as tf.Tensor3D,
      };
    });
  }

  /** Multimodal decoder: text tokens `(b, n, dim)` + image tokens `(b, Q, dim)` -> logits `(b, n, V)`. */
  decode(textTokens: tf.Tensor3D, imageTokens: tf.Tensor3D | KeyValue[]): tf.Tensor3D {
    return tf.tidy(() => {
      let x: tf.Tensor = textTokens;
      this.multimodalLayers.forEach(([selfAttn, crossAttn], i) => {
        x = x.add(selfAttn.apply(x));
        x = x.add(crossAttn.apply(x, Array.isArray(imageTokens) ? imageTokens[i] : imageTokens));
      });
      return this.toLogits(x) as tf.Tensor3D;
    });
  }

  /** `LN(x) W_embᵀ`: logits tied to the token embedding. */
  toLogits(x: tf.Tensor): tf.Tensor {
    const y = this.logitsNorm.apply(x);
    const [b, n, d] = y.shape;
    return tf.matMul(y.reshape([b * n, d]), this.tokenEmb, false, true).reshape([
      b,
      n,
      this.config.numTokens,
    ]);
  }

  /**
   * Caption logits `(b, n, numTokens)` for text `(b, n)` and images.
   *
   * @throws {RangeError} on bad shapes, token ids or differing batch sizes, before any compute.
   */
  forward(text: tf.Tensor2D, images: ImageInput): tf.Tensor3D {
    this.#checkBatch(text, images);
    return tf.tidy(() => {
      const { textTokens } = this.embedText(text);
      const { imageTokens } = this.embedImage(images);
      return this.decode(textTokens, imageTokens);
    });
  }

  /** The reference's `return_embeddings=True`: normed CLS vectors before the latent projections. */
  embeddings(
    text: tf.Tensor2D,
    images: ImageInput,
  ): { textEmbeds: tf.Tensor2D; imageEmbeds: tf.Tensor2D } {
    this.#checkBatch(text, images);
    return tf.tidy(() => ({
      textEmbeds: this.embedText(text).textEmbeds,
      imageEmbeds: this.embedImage(images).imageEmbeds,
    }));
  }

  /** L2-normalised text latents `(b, dimLatents)`: what the contrastive loss and retrieval use. */
  encodeText(text: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() =>
      l2Normalize(this.textToLatents.apply(this.embedText(text).textEmbeds)) as tf.Tensor2D
    );
  }

  /** L2-normalised image latents `(b, dimLatents)`. */
  encodeImage(images: ImageInput): tf.Tensor2D {
    return tf.tidy(() =>
      l2Normalize(this.imgToLatents.apply(this.embedImage(images).imageEmbeds)) as tf.Tensor2D
    );
  }

  /**
   * The training objective. Without `labels`, text is shifted as in the reference
   * (inputs `text[:, :-1]`, labels `text[:, 1:]`); with `labels`, nothing is shifted.
   */
  loss(text: tf.Tensor2D, images: ImageInput, opts: { labels?: tf.Tensor2D } = {}): CoCaLoss {
    this.#checkBatch(text, images);
    const c = this.config;
    if (!opts.labels && text.shape[1] < 2) {
      throw new RangeError(
        `expected text of length >= 2 for the loss (inputs text[:, :-1], labels text[:, 1:]), found ${
          text.shape[1]
        }`,
      );
    }
    if (opts.labels) {
      const labelIds = this.#checkText(opts.labels, "labels");
      if (opts.labels.shape[0] !== text.shape[0] || opts.labels.shape[1] !== text.shape[1]) {
        throw new RangeError(
          `expected labels of shape [${text.shape}], found [${opts.labels.shape}]`,
        );
      }
      if (labelIds.every((t) => t === c.padId)) throw allPad();
    } else {
      const ids = hostIds(text);
      const n = text.shape[1];
      if (!ids.some((t, i) => i % n !== 0 && t !== c.padId)) throw allPad();
    }
    return tf.tidy(() => {
      const [b, n] = text.shape;
      const input = opts.labels ? text : shiftIds(hostIds(text), b, n, 0);
      const labels = opts.labels ?? shiftIds(hostIds(text), b, n, 1);
      const { textEmbeds, textTokens } = this.embedText(input);
      const { imageEmbeds, imageTokens } = this.embedImage(images);
      const logits = this.decode(textTokens, imageTokens);
      const cap = captionLoss(logits, labels, c.padId);
      const con = contrastiveLoss(
        l2Normalize(this.textToLatents.apply(textEmbeds)),
        l2Normalize(this.imgToLatents.apply(imageEmbeds)),
        this.temperature,
      );
      const loss = cap.mul(c.captionLossWeight).add(con.mul(c.contrastiveLossWeight)) as tf.Scalar;
      return { loss, captionLoss: cap, contrastiveLoss: con };
    });
  }

  /** Every trainable parameter that receives a gradient (the ViT's unused head excluded). */
  trainableVariables(): tf.Variable[] {
    const own = [...this.store.params.values()];
    return this.imgEncoder instanceof SimpleViT
      ? [...own, ...this.imgEncoder.encoderParams()]
      : own;
  }

  /** The reference's `state_dict()`: PyTorch key names, buffers and the tied key included. */
  stateDict(): Map<string, tf.Tensor> {
    const out = new Map<string, tf.Tensor>();
    for (const [k, v] of [...this.store.params, ...this.store.buffers]) out.set(k, v);
    out.set(TIED, this.tokenEmb);
    if (this.imgEncoder instanceof SimpleViT) {
      const s = this.imgEncoder.store;
      for (const [k, v] of [...s.params, ...s.buffers]) out.set(VIT_PREFIX + k, v);
    }
    return out;
  }

  /**
   * Copy weights in from a state dict with the reference's key names. Strict by
   * default: missing keys, unexpected keys and shape mismatches are reported
   * together in one error. The tied `to_logits.1.weight` may be present or not.
   *
   * @returns what was missing, unexpected or mismatched (non-strict mode).
   */
  loadStateDict(
    dict: Map<string, tf.Tensor> | Record<string, tf.Tensor>,
    opts: { strict?: boolean } = {},
  ): LoadReport {
    const given = dict instanceof Map ? dict : new Map(Object.entries(dict));
    const targets = this.stateDict();
    const report: LoadReport = { missing: [], unexpected: [], mismatched: [] };
    const source = new Map(given);
    if (!source.has("token_emb.weight") && source.has(TIED)) {
      source.set("token_emb.weight", source.get(TIED)!);
    }
    source.delete(TIED);
    targets.delete(TIED);
    for (const k of targets.keys()) if (!source.has(k)) report.missing.push(k);
    for (const [k, t] of source) {
      const target = targets.get(k);
      if (!target) report.unexpected.push(k);
      else if (!sameShape(target.shape, t.shape)) {
        report.mismatched.push(`${k}: expected [${target.shape}], found [${t.shape}]`);
      }
    }
    const problems = report.missing.length + report.unexpected.length + report.mismatched.length;
    if (problems && opts.strict !== false) {
      const parts = [
        report.missing.length &&
        `missing keys (${report.missing.length}): ${report.missing.join(", ")}`,
        report.unexpected.length &&
        `unexpected keys (${report.unexpected.length}): ${report.unexpected.join(", ")}`,
        report.mismatched.length && `shape mismatches: ${report.mismatched.join("; ")}`,
      ].filter(Boolean);
      throw new Error(`state dict does not fit this CoCa: ${parts.join(". ")}`);
    }
    for (const [k, t] of source) {
      const target = targets.get(k) as tf.Variable | undefined;
      // The cast's tensor would hold the loaded values alive after the next update (a variable
      // shares the data it is assigned): tidy frees it once the variable holds the data.
      if (target && sameShape(target.shape, t.shape)) tf.tidy(() => target.assign(t.toFloat()));
    }
    return report;
  }

  /** Free every tensor the model (and its SimpleViT) owns. */
  dispose(): void {
    this.store.dispose();
    if (this.imgEncoder instanceof SimpleViT) this.imgEncoder.store.dispose();
  }

  #imageTokens(input: ImageInput): tf.Tensor3D {
    if (!(input instanceof tf.Tensor)) {
      const t = input?.imageTokens;
      if (!(t instanceof tf.Tensor) || t.rank !== 3 || t.shape[2] !== this.config.imageDim) {
        throw new RangeError(
          `expected imageTokens of shape (b, m, ${this.config.imageDim}), found ${
            t instanceof tf.Tensor ? `[${t.shape}]` : String(t)
          }`,
        );
      }
      return t;
    }
    const enc = this.imgEncoder;
    if (!enc) {
      throw new Error("this CoCa has no imgEncoder: pass { imageTokens } instead of images");
    }
    if (enc instanceof SimpleViT) return enc.encode(input);
    const tokens = enc(input, this.#training);
    if (tokens.rank !== 3 || tokens.shape[2] !== this.config.imageDim) {
      throw new RangeError(
        `expected the image encoder to return (b, m, ${this.config.imageDim}), found [${tokens.shape}]`,
      );
    }
    return tokens;
  }

  #checkText(text: tf.Tensor, name = "text"): Int32Array {
    if (!(text instanceof tf.Tensor)) {
      throw new TypeError(`expected ${name} to be a tf.Tensor, found ${text}`);
    }
    if (text.rank !== 2) {
      throw new RangeError(
        `expected ${name} of shape (b, n), found rank ${text.rank} [${text.shape}]`,
      );
    }
    if (text.dtype !== "int32") {
      throw new TypeError(`expected int32 ${name} token ids, found ${text.dtype}`);
    }
    const n = text.shape[1] as number;
    if (n < 1) throw new RangeError(`expected ${name} length >= 1, found 0`);
    const ids = hostIds(text);
    const V = this.config.numTokens;
    const bad = ids.findIndex((t) => t < 0 || t >= V);
    if (bad >= 0) {
      throw new RangeError(
        `expected ${name} token ids in [0, ${V}), found ${ids[bad]} at [${Math.floor(bad / n)}, ${
          bad % n
        }]`,
      );
    }
    return ids;
  }

  #checkBatch(text: tf.Tensor2D, images: ImageInput): void {
    this.#checkText(text);
    const imgBatch = images instanceof tf.Tensor
      ? images.shape[0]
      : images?.imageTokens?.shape?.[0];
    if (images instanceof tf.Tensor && this.imgEncoder instanceof SimpleViT) {
      this.imgEncoder.checkImages(images);
    }
    if (imgBatch !== text.shape[0]) {
      throw new RangeError(
        `expected text and images to have the same batch size, found ${
          text.shape[0]
        } texts and ${imgBatch} images`,
      );
    }
  }

  /** `(b, 1, n+1, n+1)` additive bias: only the CLS row (last) masks pad tokens. */
  #clsPadBias(ids: Int32Array, b: number, n: number): tf.Tensor {
    const L = n + 1;
    const data = new Float32Array(b * L * L);
    const pad = this.config.padId;
    for (let i = 0; i < b; i++) {
      for (let j = 0; j < n; j++) {
        if (ids[i * n + j] === pad) data[i * L * L + n * L + j] = MASK_VALUE;
      }
    }
    return tf.tensor4d(data, [b, 1, L, L]);
  }
}

function allPad(): RangeError {
  return new RangeError(
    "expected at least one non-pad label for the caption loss, found only pad tokens (the loss would be NaN)",
  );
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
