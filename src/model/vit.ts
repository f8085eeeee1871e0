/**
 * SimpleViT with patch dropout (vit-pytorch >= 1.4.0): patch embedding with
 * layer norms, fixed 2-D sin-cos positions, patch dropout in training,
 * pre-norm transformer, final norm. As CoCa's image encoder it returns the
 * token sequence `(b, m, dim)` (the reference's Extractor role).
 *
 * @module
 */
import * as tf from "../deps/tf.ts";
import { type ResolvedViTConfig, resolveViTConfig, type ViTConfig } from "./config.ts";
import { ParamStore } from "../nn/params.ts";
import { LayerNorm, Linear } from "../nn/layers.ts";
import { multiHeadAttention, splitHeads } from "../nn/attention.ts";
import { gelu } from "../nn/feedforward.ts";
import { Rng } from "../util/rng.ts";

/** Anything that turns images `(b, c, H, W)` into tokens `(b, m, imageDim)`. */
export type ImageEncoderFn = (images: tf.Tensor4D, training: boolean) => tf.Tensor3D;

interface ViTLayer {
  attnNorm: LayerNorm;
  toQKV: Linear;
  toOut: Linear;
  ffNorm: LayerNorm;
  ff1: Linear;
  ff2: Linear;
}

const posCache = new Map<string, tf.Tensor2D>();

/**
 * The fixed `(gh*gw, dim)` 2-D sin-cos table: for the patch at row `y`, column `x`,
 * `[sin(x·ω), cos(x·ω), sin(y·ω), cos(y·ω)]` with `ω_i = 10000^(-i/(dim/4-1))`.
 *
 * @example
 * ```ts
 * import { posEmb2d } from "./vit.ts";
 * console.log(posEmb2d(4, 4, 64).shape); // [16, 64]
 * ```
 */
export function posEmb2d(gh: number, gw: number, dim: number): tf.Tensor2D {
  const key = `${tf.getBackend()}:${gh}:${gw}:${dim}`;
  const found = posCache.get(key);
  if (found && !found.isDisposed) return found;
  const k = dim / 4;
  const omega = new Float32Array(k);
  for (let i = 0; i < k; i++) omega[i] = 1 / Math.pow(10000, Math.fround(i / (k - 1)));
  const pe = new Float32Array(gh * gw * dim);
  for (let y = 0; y < gh; y++) {
    for (let x = 0; x < gw; x++) {
      const row = (y * gw + x) * dim;
      for (let i = 0; i < k; i++) {
        const ax = Math.fround(x * omega[i]), ay = Math.fround(y * omega[i]);
        pe[row + i] = Math.sin(ax);
        pe[row + k + i] = Math.cos(ax);
        pe[row + 2 * k + i] = Math.sin(ay);
        pe[row + 3 * k + i] = Math.cos(ay);
      }
    }
  }
  const t = tf.keep(tf.tensor2d(pe, [gh * gw, dim]));
  posCache.set(key, t);
  return t;
}

/**
 * SimpleViT with patch dropout. Parameter names are the reference's
 * (`to_patch_embedding.1.weight`, `transformer.layers.0.0.to_qkv.weight`, ...).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { SimpleViT } from "./vit.ts";
 * const vit = new SimpleViT({ imageSize: 32, patchSize: 8, dim: 64, depth: 1, heads: 2, mlpDim: 128 });
 * console.log(vit.encode(tf.zeros([2, 3, 32, 32])).shape); // [2, 16, 64]
 * ```
 */
export class SimpleViT {
  readonly config: ResolvedViTConfig;
  readonly store: ParamStore;
  /** Patch dropout is active only while `training` is true. */
  training = false;
  /** Source of patch-dropout choices (seeded; its state can be saved and restored). */
  readonly rng: Rng;
  readonly numPatches: number;
  readonly #patchNorm: LayerNorm;
  readonly #patchProj: Linear;
  readonly #embedNorm: LayerNorm;
  readonly #layers: ViTLayer[] = [];
  readonly #finalNorm: LayerNorm;
  readonly #head?: Linear;

  constructor(config: ViTConfig, opts: { seed?: number; store?: ParamStore } = {}) {
    this.config = resolveViTConfig(config);
    const c = this.config;
    if (c.dim < 8) {
      throw new RangeError(
        `expected ViT dim >= 8 (dim/4 - 1 divides the sin-cos frequencies), found ${c.dim}`,
      );
    }
    this.store = opts.store ?? new ParamStore(opts.seed ?? 0);
    this.rng = new Rng((opts.seed ?? 0) ^ 0x9e3779b9);
    const s = this.store;
    const [ph, pw] = c.patchSize;
    const patchDim = c.channels * ph * pw, inner = c.heads * c.dimHead;
    this.numPatches = (c.imageSize[0] / ph) * (c.imageSize[1] / pw);
    this.#patchNorm = new LayerNorm(s, "to_patch_embedding.1", patchDim, "torch");
    this.#patchProj = new Linear(s, "to_patch_embedding.2", patchDim, c.dim, { bias: true });
    this.#embedNorm = new LayerNorm(s, "to_patch_embedding.3", c.dim, "torch");
    for (let i = 0; i < c.depth; i++) {
      const p = `transformer.layers.${i}`;
      this.#layers.push({
        attnNorm: new LayerNorm(s, `${p}.0.norm`, c.dim, "torch"),
        toQKV: new Linear(s, `${p}.0.to_qkv`, c.dim, 3 * inner),
        toOut: new Linear(s, `${p}.0.to_out`, inner, c.dim),
        ffNorm: new LayerNorm(s, `${p}.1.net.0`, c.dim, "torch"),
        ff1: new Linear(s, `${p}.1.net.1`, c.dim, c.mlpDim, { bias: true }),
        ff2: new Linear(s, `${p}.1.net.3`, c.mlpDim, c.dim, { bias: true }),
      });
    }
    this.#finalNorm = new LayerNorm(s, "transformer.norm", c.dim, "torch");
    if (c.numClasses !== undefined) {
      this.#head = new Linear(s, "linear_head", c.dim, c.numClasses, { bias: true });
    }
  }

  /** How many patches reach the transformer: all in eval, `max(1, floor(n(1-p)))` in training. */
  keptPatches(training = this.training): number {
    const p = this.config.patchDropout;
    if (!training || p === 0) return this.numPatches;
    return Math.max(1, Math.floor(this.numPatches * (1 - p)));
  }

  /** Check an image batch's rank, channels and size. */
  checkImages(images: tf.Tensor): void {
    const c = this.config;
    const want = `(b, ${c.channels}, ${c.imageSize[0]}, ${c.imageSize[1]})`;
    if (images.rank !== 4) {
      throw new RangeError(
        `expected images of shape ${want}, found rank ${images.rank} [${images.shape}]`,
      );
    }
    const [, ch, h, w] = images.shape;
    if (ch !== c.channels || h !== c.imageSize[0] || w !== c.imageSize[1]) {
      throw new RangeError(`expected images of shape ${want}, found [${images.shape}]`);
    }
    if (images.dtype !== "float32") {
      throw new TypeError(`expected float32 images, found ${images.dtype}`);
    }
  }

  /** Images `(b, c, H, W)` -> patches `(b, gh*gw, ph*pw*c)` (channel fastest, then column, row). */
  patchify(images: tf.Tensor4D): tf.Tensor3D {
    const [b, c, H, W] = images.shape;
    const [ph, pw] = this.config.patchSize;
    const gh = H / ph, gw = W / pw;
    return images.reshape([b, c, gh, ph, gw, pw]).transpose([0, 2, 4, 3, 5, 1])
      .reshape([b, gh * gw, ph * pw * c]);
  }

  /** Images `(b, c, H, W)` -> final-normed tokens `(b, m, dim)`; patch dropout in training. */
  encode(images: tf.Tensor4D): tf.Tensor3D {
    this.checkImages(images);
    const c = this.config;
    const choice = this.training && c.patchDropout > 0
      ? this.#dropoutIndices(images.shape[0])
      : null;
    return tf.tidy(() => {
      const gh = c.imageSize[0] / c.patchSize[0], gw = c.imageSize[1] / c.patchSize[1];
      let x = this.#embedNorm.apply(
        this.#patchProj.apply(this.#patchNorm.apply(this.patchify(images))),
      );
      x = x.add(posEmb2d(gh, gw, c.dim));
      if (choice) x = this.#keep(x, choice);
      for (const l of this.#layers) {
        const [q, k, v] = tf.split(l.toQKV.apply(l.attnNorm.apply(x)), 3, -1)
          .map((t) => splitHeads(t, c.heads));
        x = l.toOut.apply(multiHeadAttention(q, k, v, c.dimHead ** -0.5)).add(x);
        x = l.ff2.apply(gelu(l.ff1.apply(l.ffNorm.apply(x)))).add(x);
      }
      return this.#finalNorm.apply(x) as tf.Tensor3D;
    });
  }

  /** Class logits `(b, numClasses)` from mean-pooled tokens (needs `numClasses`). */
  classify(images: tf.Tensor4D): tf.Tensor2D {
    const head = this.#head;
    if (!head) throw new Error("this SimpleViT has no classification head: set numClasses");
    return tf.tidy(() => head.apply(this.encode(images).mean(1)) as tf.Tensor2D);
  }

  /** Parameters that get a gradient when the ViT serves as CoCa's encoder (no head). */
  encoderParams(): tf.Variable[] {
    return [...this.store.params.entries()].filter(([k]) => !k.startsWith("linear_head."))
      .map(([, v]) => v);
  }

  #dropoutIndices(b: number): Int32Array {
    const n = this.numPatches, k = this.keptPatches(true);
    const out = new Int32Array(b * k);
    for (let i = 0; i < b; i++) {
      const pick = this.rng.sample(n, k);
      for (let j = 0; j < k; j++) out[i * k + j] = i * n + pick[j];
    }
    return out;
  }

  #keep(x: tf.Tensor, flatIndices: Int32Array): tf.Tensor {
    const [b, n, d] = x.shape;
    const k = flatIndices.length / b;
    return tf.gather(x.reshape([b * n, d]), tf.tensor1d(flatIndices, "int32")).reshape([b, k, d]);
  }
}
