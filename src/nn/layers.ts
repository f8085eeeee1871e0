/**
 * Linear and layer-norm layers with the reference's parameter names and
 * PyTorch's default initialisation.
 *
 * @module
 */
import * as tf from "../deps/tf.ts";
import type { ParamStore } from "./params.ts";
import { layerNorm } from "../ops/layer_norm.ts";

/**
 * `y = x Wᵀ (+ b)` with `W` stored `(out, in)` as in PyTorch's `nn.Linear`.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { ParamStore } from "./params.ts";
 * import { Linear } from "./layers.ts";
 * const proj = new Linear(new ParamStore(), "proj", 8, 4, { bias: true });
 * console.log(proj.apply(tf.ones([2, 3, 8])).shape); // [2, 3, 4]
 * ```
 */
export class Linear {
  /** `(out, in)`. */
  readonly weight: tf.Variable;
  /** `(out,)` when the layer has a bias. */
  readonly bias?: tf.Variable;

  constructor(
    store: ParamStore,
    prefix: string,
    inFeatures: number,
    outFeatures: number,
    opts: { bias?: boolean } = {},
  ) {
    const bound = 1 / Math.sqrt(inFeatures);
    this.weight = store.param(`${prefix}.weight`, [outFeatures, inFeatures], { uniform: bound });
    if (opts.bias) this.bias = store.param(`${prefix}.bias`, [outFeatures], { uniform: bound });
  }

  /** Apply to `x (..., in)`, giving `(..., out)`. */
  apply(x: tf.Tensor): tf.Tensor {
    const inF = x.shape[x.rank - 1];
    const x2 = x.rank === 2 ? x : x.reshape([-1, inF]);
    let y = tf.matMul(x2, this.weight, false, true);
    if (this.bias) y = y.add(this.bias);
    return x.rank === 2 ? y : y.reshape([...x.shape.slice(0, -1), this.weight.shape[0]]);
  }
}

/**
 * Layer norm over the last axis (biased variance, eps 1e-5).
 *
 * `kind: "coca"` is CoCa's own norm: learnable `gamma`, a zero `beta` buffer.
 * `kind: "torch"` is `nn.LayerNorm`: learnable `weight` and `bias`.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { ParamStore } from "./params.ts";
 * import { LayerNorm } from "./layers.ts";
 * const norm = new LayerNorm(new ParamStore(), "norm", 8, "coca");
 * console.log(norm.apply(tf.randomNormal([2, 8])).shape); // [2, 8]
 * ```
 */
export class LayerNorm {
  readonly scale: tf.Variable;
  readonly shift: tf.Variable;

  constructor(store: ParamStore, prefix: string, dim: number, kind: "coca" | "torch") {
    if (kind === "coca") {
      this.scale = store.param(`${prefix}.gamma`, [dim], "ones");
      this.shift = store.buffer(`${prefix}.beta`, tf.zeros([dim]));
    } else {
      this.scale = store.param(`${prefix}.weight`, [dim], "ones");
      this.shift = store.param(`${prefix}.bias`, [dim], "zeros");
    }
  }

  /** Normalise `x (..., dim)`. */
  apply(x: tf.Tensor): tf.Tensor {
    return layerNorm(x, this.scale, this.shift);
  }
}
