/**
 * AdamW (decoupled weight decay, Loshchilov & Hutter) with state that can be
 * saved and restored exactly, and global-norm gradient clipping.
 *
 * @module
 */
import * as tf from "../deps/tf.ts";
import { adamwUpdate } from "../ops/adamw.ts";

/** AdamW hyper-parameters. */
export interface AdamWOptions {
  /** Learning rate (can be overridden per step by a schedule). Default 1e-3. */
  lr?: number;
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.999. */
  beta2?: number;
  /** Default 1e-8. */
  eps?: number;
  /** Decoupled weight decay. Default 0.01. */
  weightDecay?: number;
  /** Which parameters decay; default: matrices (rank >= 2), not norms, biases or the temperature. */
  decay?: (v: tf.Variable) => boolean;
}

/** Optimizer state as plain data (moments in parameter order). */
export interface AdamWState {
  step: number;
  m: Float32Array[];
  v: Float32Array[];
}

/**
 * AdamW over a fixed list of variables.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { AdamW } from "./optimizer.ts";
 * const w = tf.variable(tf.ones([2, 2]));
 * const opt = new AdamW([w], { lr: 0.1 });
 * const { grads } = tf.variableGrads(() => w.square().sum() as tf.Scalar, [w]);
 * opt.apply([grads[w.name]]);
 * ```
 */
export class AdamW {
  readonly vars: tf.Variable[];
  readonly options: Required<Omit<AdamWOptions, "decay">>;
  /** Steps taken so far. */
  step = 0;
  readonly #m: tf.Variable[];
  readonly #v: tf.Variable[];
  readonly #decays: boolean[];

  constructor(vars: tf.Variable[], opts: AdamWOptions = {}) {
    this.vars = vars;
    this.options = {
      lr: opts.lr ?? 1e-3,
      beta1: opts.beta1 ?? 0.9,
      beta2: opts.beta2 ?? 0.999,
      eps: opts.eps ?? 1e-8,
      weightDecay: opts.weightDecay ?? 0.01,
    };
    for (const [k, v] of Object.entries(this.options)) {
      if (!Number.isFinite(v) || v < 0) {
        throw new RangeError(`expected AdamW ${k} >= 0, found ${v}`);
      }
    }
    const decay = opts.decay ?? ((v: tf.Variable) => v.rank >= 2);
    this.#decays = vars.map(decay);
    this.#m = vars.map(zerosVariable);
    this.#v = vars.map(zerosVariable);
  }

  /**
   * One update from gradients given in the order of `vars` (undefined = no
   * gradient), each multiplied by `gradScale` first (gradient clipping).
   *
   * Variable by variable: a parameter's old value and moments are released as soon as its new
   * ones are assigned, so at most one variable's worth of new state exists beside the old.
   * With `disposeGrads`, each gradient is disposed right after its variable's update (the caller
   * gives them up), so the gradients leave memory one by one instead of after the whole update.
   */
  apply(
    grads: (tf.Tensor | undefined)[],
    lr = this.options.lr,
    gradScale = 1,
    opts: { disposeGrads?: boolean } = {},
  ): void {
    if (grads.length !== this.vars.length) {
      throw new RangeError(`expected ${this.vars.length} gradients, found ${grads.length}`);
    }
    this.step++;
    const { beta1, beta2, eps, weightDecay } = this.options;
    const bc1 = 1 - beta1 ** this.step, bc2 = 1 - beta2 ** this.step;
    this.vars.forEach((p, i) => {
      const g = grads[i];
      if (!g) return;
      tf.tidy(() => {
        const [np, nm, nv] = adamwUpdate(p, g, this.#m[i], this.#v[i], {
          lr,
          beta1,
          beta2,
          eps,
          weightDecay: this.#decays[i] ? weightDecay : 0,
          bc1,
          bc2,
          gradScale,
        });
        this.#m[i].assign(nm);
        this.#v[i].assign(nv);
        p.assign(np);
      });
      if (opts.disposeGrads) g.dispose();
    });
  }

  /** The state as plain data (for checkpoints). */
  async getState(): Promise<AdamWState> {
    const read = (vs: tf.Variable[]) =>
      Promise.all(vs.map(async (v) => new Float32Array(await v.data())));
    return { step: this.step, m: await read(this.#m), v: await read(this.#v) };
  }

  /** Restore a state from {@linkcode getState}. */
  setState(state: AdamWState): void {
    if (state.m.length !== this.vars.length || state.v.length !== this.vars.length) {
      throw new RangeError(
        `expected optimizer state for ${this.vars.length} parameters, found ${state.m.length}`,
      );
    }
    this.step = state.step;
    this.vars.forEach((p, i) => {
      for (const [mine, data] of [[this.#m[i], state.m[i]], [this.#v[i], state.v[i]]] as const) {
        if (data.length !== p.size) {
          throw new RangeError(
            `expected ${p.size} optimizer values for ${p.name}, found ${data.length}`,
          );
        }
        const t = tf.tensor(data, p.shape);
        mine.assign(t);
        t.dispose(); // the variable holds the buffer now; the tensor would keep an old one alive
      }
    });
  }

  /** Free the moment buffers. */
  dispose(): void {
    tf.dispose([...this.#m, ...this.#v]);
  }
}

/** A non-trainable zero variable shaped like `v`, holding the only reference to its buffer. */
function zerosVariable(v: tf.Variable): tf.Variable {
  const zeros = tf.zerosLike(v);
  const m = tf.variable(zeros, false);
  zeros.dispose(); // the variable shares the buffer; a live `zeros` would outlive its updates
  return m;
}

/**
 * Scale gradients so their global L2 norm is at most `maxNorm`; returns the
 * clipped gradients (new tensors) and the norm before clipping (a scalar tensor).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { clipByGlobalNorm } from "./optimizer.ts";
 * const { grads, norm } = clipByGlobalNorm([tf.tensor1d([3, 4])], 1);
 * norm.print(); // 5
 * grads[0]!.print(); // [0.6, 0.8]
 * ```
 */
export function clipByGlobalNorm(
  grads: (tf.Tensor | undefined)[],
  maxNorm: number,
): { grads: (tf.Tensor | undefined)[]; norm: tf.Scalar } {
  return tf.tidy(() => {
    const present = grads.filter((g): g is tf.Tensor => !!g);
    const norm = tf.addN(present.map((g) => g.square().sum())).sqrt() as tf.Scalar;
    const scale = tf.minimum(1, tf.div(maxNorm, norm.add(1e-6)));
    return { grads: grads.map((g) => g?.mul(scale)), norm };
  });
}
