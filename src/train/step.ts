/**
 * One training step: forward, backward, optional clipping, AdamW update.
 *
 * @module
 */
import * as tf from "../deps/tf.ts";
import type { CoCa, ImageInput } from "../model/coca.ts";
import { type AdamW, clipByGlobalNorm } from "./optimizer.ts";
import { hasFusedAdamW, hostGlobalNorm } from "../ops/adamw.ts";

/** The losses of a step, as numbers. */
export interface StepResult {
  loss: number;
  captionLoss: number;
  contrastiveLoss: number;
  /** Global gradient norm before clipping (when clipping was asked for). */
  gradNorm?: number;
}

/** Backends whose tensors live in JS typed arrays (their values are read without a copy). */
const HOST_BACKENDS = new Set(["cpu", "blas"]);

/** The global L2 norm of the gradients, reduced on the active backend and read back. */
async function deviceGlobalNorm(grads: readonly tf.Tensor[]): Promise<number> {
  const norm = tf.tidy(() => tf.sqrt(tf.addN(grads.map((g) => tf.sum(tf.square(g))))));
  const [value] = await norm.data();
  norm.dispose();
  return value;
}

/**
 * Forward + backward + AdamW on the total loss (patch dropout active if the
 * model is in `train()` mode; the temperature is learned like any parameter).
 * Leaves no tensors behind.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { CoCa } from "../model/coca.ts";
 * import { AdamW } from "./optimizer.ts";
 * import { trainStep } from "./step.ts";
 * const coca = new CoCa({ dim: 16, numTokens: 10, unimodalDepth: 1, multimodalDepth: 1, dimHead: 8, heads: 2, numImgQueries: 2 });
 * const opt = new AdamW(coca.trainableVariables());
 * const text = tf.tensor2d([[1, 2, 3]], [1, 3], "int32");
 * console.log(await trainStep(coca, opt, text, { imageTokens: tf.ones([1, 4, 16]) }));
 * ```
 */
export async function trainStep(
  model: CoCa,
  optimizer: AdamW,
  text: tf.Tensor2D,
  images: ImageInput,
  opts: { lr?: number; clipNorm?: number; labels?: tf.Tensor2D } = {},
): Promise<StepResult> {
  const vars = optimizer.vars;
  let parts: tf.Tensor[] = [];
  const { value, grads } = tf.variableGrads(() => {
    const l = model.loss(text, images, { labels: opts.labels });
    parts = [tf.keep(l.captionLoss), tf.keep(l.contrastiveLoss)];
    return l.loss;
  }, vars);
  let list: (tf.Tensor | undefined)[] = vars.map((v) => grads[v.name]);
  let norm: tf.Scalar | undefined;
  if (hasFusedAdamW()) {
    // The clip scale is applied inside the fused update. On a cpu-family backend the norm is one
    // host pass over the gradients; elsewhere (webgpu) it is reduced on the device and read back.
    const present = list.filter((g): g is tf.Tensor => !!g);
    const n = opts.clipNorm === undefined
      ? undefined
      : HOST_BACKENDS.has(tf.getBackend())
      ? hostGlobalNorm(present)
      : await deviceGlobalNorm(present);
    const scale = n === undefined ? 1 : Math.min(1, opts.clipNorm! / (n + 1e-6));
    optimizer.apply(list, opts.lr, scale);
    const packed = tf.tidy(() => tf.stack([value, ...parts].map((t) => t.reshape([]))));
    const values = await packed.data();
    tf.dispose([packed, value, ...parts, ...present]);
    return {
      loss: values[0],
      captionLoss: values[1],
      contrastiveLoss: values[2],
      ...(n !== undefined ? { gradNorm: n } : {}),
    };
  }
  if (opts.clipNorm !== undefined) {
    const clipped = clipByGlobalNorm(list, opts.clipNorm);
    tf.dispose(Object.values(grads));
    list = clipped.grads;
    norm = clipped.norm;
  }
  optimizer.apply(list, opts.lr);
  const packed = tf.tidy(() =>
    tf.stack([value, ...parts, norm ?? tf.scalar(NaN)].map((t) => t.reshape([])))
  );
  const values = await packed.data();
  tf.dispose([
    packed,
    value,
    ...parts,
    ...list.filter((g): g is tf.Tensor => !!g),
    ...(norm ? [norm] : []),
  ]);
  if (opts.clipNorm === undefined) tf.dispose(Object.values(grads));
  return {
    loss: values[0],
    captionLoss: values[1],
    contrastiveLoss: values[2],
    ...(norm ? { gradNorm: values[3] } : {}),
  };
}
