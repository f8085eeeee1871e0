/**
 * A registry of named tensors: trainable parameters and non-trainable buffers,
 * keyed by the reference's PyTorch `state_dict` names.
 *
 * @module
 */
import * as tf from "../deps/tf.ts";

/** How a parameter starts. */
export type Init =
  | "ones"
  | "zeros"
  | { normal: number }
  | { uniform: number };

/**
 * Named parameters (trainable `tf.Variable`s) and buffers (non-trainable ones),
 * initialised deterministically from a seed.
 *
 * @example
 * ```ts
 * import { ParamStore } from "./params.ts";
 * const store = new ParamStore(0);
 * const w = store.param("proj.weight", [4, 8], { uniform: 1 / Math.sqrt(8) });
 * console.log(w.shape); // [4, 8]
 * ```
 */
export class ParamStore {
  /** Trainable parameters by name. */
  readonly params: Map<string, tf.Variable> = new Map();
  /** Non-trainable buffers by name (kept in the state dict). */
  readonly buffers: Map<string, tf.Variable> = new Map();
  #seed: number;
  #count = 0;

  /** @param seed base seed; every parameter gets its own seed derived from it. */
  constructor(seed = 0) {
    this.#seed = seed;
  }

  /** Create (or return, if already made) a trainable parameter. */
  param(name: string, shape: number[], init: Init): tf.Variable {
    const found = this.params.get(name);
    if (found) return found;
    // The variable shares the initial tensor's buffer: dispose the tensor, or it would hold that
    // buffer alive after the first update replaces the variable's (a second copy of the model).
    const initial = this.#init(shape, init);
    const v = tf.variable(initial, true, this.#unique(name));
    initial.dispose();
    this.params.set(name, v);
    return v;
  }

  /** Create a non-trainable buffer from values. */
  buffer(name: string, value: tf.Tensor): tf.Variable {
    const found = this.buffers.get(name);
    if (found) {
      value.dispose();
      return found;
    }
    const v = tf.variable(value, false, this.#unique(name));
    value.dispose();
    this.buffers.set(name, v);
    return v;
  }

  /** Free every tensor this store owns. */
  dispose(): void {
    for (const v of this.params.values()) v.dispose();
    for (const v of this.buffers.values()) v.dispose();
    this.params.clear();
    this.buffers.clear();
  }

  #unique(name: string): string {
    // tfjs variable names must be unique per engine; keep the key readable.
    return `${name}#${ParamStore.#instances++}`;
  }

  static #instances = 0;

  #init(shape: number[], init: Init): tf.Tensor {
    const seed = this.#seed * 1_000_003 + ++this.#count;
    if (init === "ones") return tf.ones(shape);
    if (init === "zeros") return tf.zeros(shape);
    if ("normal" in init) return tf.randomNormal(shape, 0, init.normal, "float32", seed);
    return tf.randomUniform(shape, -init.uniform, init.uniform, "float32", seed);
  }
}
