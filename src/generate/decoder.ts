/**
 * Step-by-step caption decoding state: feed token ids, get next-token logits.
 *
 * Two implementations of one interface:
 * - {@linkcode CachedCaptionDecoder} keeps the self-attention keys/values of both text
 *   stacks (unimodal and multimodal) and the cross-attention keys/values of the image, so a
 *   step costs one position per row;
 * - {@linkcode NaiveCaptionDecoder} re-runs `embedText` + `decode` on the whole prefix every
 *   step (the reference's forward pass), as the ground truth for the cache.
 *
 * The reference appends its CLS token after the text and both stacks are causal, so the
 * caption path never depends on the CLS: the cached decoder runs the unimodal stack on the
 * text tokens only, without a pad mask (a generated prefix contains no padding).
 *
 * @module
 */
import * as tf from "../deps/tf.ts";
import type { CoCa } from "../model/coca.ts";
import type { KeyValue } from "../nn/blocks.ts";
import { idsTensor } from "../model/host_ids.ts";
import { positiveInt } from "../util/validate.ts";

/** The interface shared by the cached and the naive decoder. */
export interface CaptionDecoder {
  /** Number of sequences decoded in parallel. */
  readonly rows: number;
  /** Number of tokens fed so far (per row). */
  readonly length: number;
  /**
   * Feed `width` more tokens per row (`ids` row-major, `rows * width` host ids) and get the
   * logits `(rows, numTokens)` of the token after the last one fed. The caller owns them.
   */
  next(ids: Int32Array, width?: number): tf.Tensor2D;
  /** Keep row `parents[i]` as new row `i` (beam search); `parents.length` becomes `rows`. */
  reorder(parents: Int32Array): void;
  /** Free every tensor this decoder holds. */
  dispose(): void;
}

/** Options of {@linkcode createCaptionDecoder}. */
export interface CaptionDecoderOptions {
  /** Use the key/value cache (default true). */
  cache?: boolean;
  /** Copies of each image's row, side by side (beam search; default 1). */
  repeat?: number;
}

/**
 * A decoder over image tokens `(b, Q, dim)` from `model.embedImage`. Rows are image-major:
 * row `i * repeat + j` is copy `j` of image `i`. The image tokens are not taken over (the
 * caller still owns them).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { CoCa } from "../model/coca.ts";
 * import { createCaptionDecoder } from "./decoder.ts";
 * const coca = new CoCa({ dim: 16, numTokens: 10, unimodalDepth: 1, multimodalDepth: 1,
 *   dimHead: 8, heads: 2, numImgQueries: 2 });
 * const { imageTokens } = coca.embedImage({ imageTokens: tf.zeros([1, 3, 16]) });
 * const dec = createCaptionDecoder(coca, imageTokens);
 * const logits = dec.next(new Int32Array([1])); // after BOS
 * console.log(logits.shape); // [1, 10]
 * dec.dispose();
 * ```
 */
export function createCaptionDecoder(
  model: CoCa,
  imageTokens: tf.Tensor3D,
  options: CaptionDecoderOptions = {},
): CaptionDecoder {
  const repeat = options.repeat ?? 1;
  positiveInt("repeat", repeat);
  return options.cache ?? true
    ? new CachedCaptionDecoder(model, imageTokens, repeat)
    : new NaiveCaptionDecoder(model, imageTokens, repeat);
}

/** Row indices `[0 x r, 1 x r, ...]` for `b` images repeated `r` times. */
function repeatRows(b: number, r: number): Int32Array {
  const out = new Int32Array(b * r);
  for (let i = 0; i < out.length; i++) out[i] = Math.floor(i / r);
  return out;
}

/** `tf.tidy` for results that hold {@linkcode KeyValue} objects (not typed as tensor containers). */
function tidy<T>(fn: () => T): T {
  return tf.tidy(fn as unknown as () => tf.TensorContainer) as unknown as T;
}

/** `tf.keep` every tensor of `kvs`, so that no enclosing `tf.tidy` frees the decoder's state. */
function keepAll(kvs: KeyValue[]): KeyValue[] {
  for (const { k, v } of kvs) tf.keep(k) && tf.keep(v);
  return kvs;
}

function checkFeed(ids: Int32Array, rows: number, width: number, vocab: number): void {
  if (!Number.isInteger(width) || width < 1 || ids.length !== rows * width) {
    throw new RangeError(
      `expected ${rows} rows x ${width} ids (${rows * width}), found ${ids.length} ids`,
    );
  }
  const bad = ids.findIndex((t) => t < 0 || t >= vocab);
  if (bad >= 0) throw new RangeError(`expected token ids in [0, ${vocab}), found ${ids[bad]}`);
}

function checkParents(parents: Int32Array, rows: number): void {
  const bad = parents.findIndex((p) => !(p >= 0 && p < rows));
  if (bad >= 0) {
    throw new RangeError(`expected parent rows in [0, ${rows}), found ${parents[bad]}`);
  }
}

/**
 * Incremental decoding with key/value caches: the cross-attention keys/values are computed
 * once per image and multimodal layer; the self-attention keys/values of every unimodal and
 * multimodal block grow by one position per step (`ParallelTransformerBlock.step`).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { CoCa } from "../model/coca.ts";
 * import { CachedCaptionDecoder } from "./decoder.ts";
 * const coca = new CoCa({ dim: 16, numTokens: 10, unimodalDepth: 1, multimodalDepth: 1,
 *   dimHead: 8, heads: 2, numImgQueries: 2 });
 * const dec = new CachedCaptionDecoder(coca, tf.zeros([2, 2, 16]));
 * dec.next(new Int32Array([1, 1])).dispose();
 * console.log(dec.length); // 1
 * dec.dispose();
 * ```
 */
export class CachedCaptionDecoder implements CaptionDecoder {
  readonly model: CoCa;
  rows: number;
  length: number = 0;
  #cross: KeyValue[];
  #self: KeyValue[] = [];

  constructor(model: CoCa, imageTokens: tf.Tensor3D, repeat = 1) {
    this.model = model;
    const b = imageTokens.shape[0];
    this.rows = b * repeat;
    this.#cross = keepAll(tidy(() => {
      const kvs = model.multimodalLayers.map(([, cross]) => cross.keyValues(imageTokens));
      if (repeat === 1) return kvs;
      const idx = tf.tensor1d(repeatRows(b, repeat), "int32");
      return kvs.map(({ k, v }) => ({ k: tf.gather(k, idx), v: tf.gather(v, idx) }));
    }));
  }

  next(ids: Int32Array, width = 1): tf.Tensor2D {
    const m = this.model;
    checkFeed(ids, this.rows, width, m.config.numTokens);
    const past = this.#self;
    const { logits, kv } = tidy(() => {
      const kv: KeyValue[] = [];
      let x: tf.Tensor = tf.gather(m.tokenEmb, idsTensor(ids, this.rows, width));
      m.unimodalLayers.forEach((layer) => {
        const r = layer.step(x, past[kv.length]);
        kv.push(r.kv);
        x = x.add(r.out);
      });
      m.multimodalLayers.forEach(([selfAttn, crossAttn], i) => {
        const r = selfAttn.step(x, past[kv.length]);
        kv.push(r.kv);
        x = x.add(r.out);
        x = x.add(crossAttn.apply(x, this.#cross[i]));
      });
      const last = x.slice([0, width - 1, 0], [this.rows, 1, -1]);
      const logits = m.toLogits(last).reshape([this.rows, m.config.numTokens]) as tf.Tensor2D;
      return { logits, kv };
    });
    for (const { k, v } of past) tf.dispose([k, v]);
    this.#self = keepAll(kv);
    this.length += width;
    return logits;
  }

  reorder(parents: Int32Array): void {
    checkParents(parents, this.rows);
    const old = this.#self;
    this.#self = keepAll(tidy(() => {
      const idx = tf.tensor1d(parents, "int32");
      return old.map(({ k, v }) => ({ k: tf.gather(k, idx), v: tf.gather(v, idx) }));
    }));
    for (const { k, v } of old) tf.dispose([k, v]);
    const cross = this.#cross;
    this.#cross = keepAll(tidy(() => {
      const idx = tf.tensor1d(parents, "int32");
      return cross.map(({ k, v }) => ({ k: tf.gather(k, idx), v: tf.gather(v, idx) }));
    }));
    for (const { k, v } of cross) tf.dispose([k, v]);
    this.rows = parents.length;
  }

  dispose(): void {
    for (const { k, v } of [...this.#self, ...this.#cross]) tf.dispose([k, v]);
    this.#self = [];
    this.#cross = [];
  }
}

/**
 * No cache: every step re-runs `model.embedText` (CLS included) and `model.decode` on the
 * whole prefix and reads the logits of the last text position, as the reference's forward
 * pass would. The ground truth that {@linkcode CachedCaptionDecoder} is tested against.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { CoCa } from "../model/coca.ts";
 * import { NaiveCaptionDecoder } from "./decoder.ts";
 * const coca = new CoCa({ dim: 16, numTokens: 10, unimodalDepth: 1, multimodalDepth: 1,
 *   dimHead: 8, heads: 2, numImgQueries: 2 });
 * const dec = new NaiveCaptionDecoder(coca, tf.zeros([1, 2, 16]));
 * console.log(dec.next(new Int32Array([1])).shape); // [1, 10]
 * dec.dispose();
 * ```
 */
export class NaiveCaptionDecoder implements CaptionDecoder {
  readonly model: CoCa;
  rows: number;
  #image: tf.Tensor3D;
  #history: number[][];

  constructor(model: CoCa, imageTokens: tf.Tensor3D, repeat = 1) {
    this.model = model;
    const b = imageTokens.shape[0];
    this.rows = b * repeat;
    this.#image = tf.keep(
      tf.tidy(() =>
        repeat === 1
          ? imageTokens.clone()
          : tf.gather(imageTokens, tf.tensor1d(repeatRows(b, repeat), "int32"))
      ),
    );
    this.#history = Array.from({ length: this.rows }, () => []);
  }

  get length(): number {
    return this.#history[0]?.length ?? 0;
  }

  next(ids: Int32Array, width = 1): tf.Tensor2D {
    const m = this.model;
    checkFeed(ids, this.rows, width, m.config.numTokens);
    this.#history.forEach((h, r) => h.push(...ids.subarray(r * width, (r + 1) * width)));
    const n = this.length;
    const flat = Int32Array.from(this.#history.flat());
    return tf.tidy(() => {
      const { textTokens } = m.embedText(idsTensor(flat, this.rows, n));
      const logits = m.decode(textTokens, this.#image);
      return logits.slice([0, n - 1, 0], [this.rows, 1, -1])
        .reshape([this.rows, m.config.numTokens]) as tf.Tensor2D;
    });
  }

  reorder(parents: Int32Array): void {
    checkParents(parents, this.rows);
    const old = this.#image;
    this.#image = tf.keep(tf.tidy(() => tf.gather(old, tf.tensor1d(parents, "int32"))));
    old.dispose();
    this.#history = Array.from(parents, (p) => [...this.#history[p]]);
    this.rows = parents.length;
  }

  dispose(): void {
    this.#image.dispose();
  }
}
