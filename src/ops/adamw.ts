/**
 * The AdamW update as the optimizer calls it: through the fused `CocaAdamW` kernel where the
 * active backend has it (blas: one pass per parameter), plain tfjs ops otherwise; and the global
 * gradient norm read on the host where the gradients live in host memory.
 *
 * @module
 */
import * as tf from "../deps/tf.ts";
import { ADAMW_KERNEL, type AdamWAttrs } from "../backends/fused_contract.ts";
import { cpuValues } from "../backends/cpu_data.ts";

export type { AdamWAttrs };

/**
 * One AdamW update of parameter `p` with gradient `g` (used as `gradScale · g`) and moments `m`,
 * `v`: returns `[p', m', v']` with `m' = β1 m + (1-β1) g`, `v' = β2 v + (1-β2) g²`,
 * `p' = p - lr (m'/bc1) / (sqrt(v'/bc2) + eps) - lr wd p`.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { adamwUpdate } from "./adamw.ts";
 * const [p] = adamwUpdate(tf.ones([2]), tf.ones([2]), tf.zeros([2]), tf.zeros([2]), {
 *   lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, bc1: 0.1, bc2: 0.001, gradScale: 1,
 * });
 * p.print(); // [0.9, 0.9]
 * ```
 */
export function adamwUpdate(
  p: tf.Tensor,
  g: tf.Tensor,
  m: tf.Tensor,
  v: tf.Tensor,
  attrs: AdamWAttrs,
): [tf.Tensor, tf.Tensor, tf.Tensor] {
  if (hasFusedAdamW()) return fusedAdamW(p, g, m, v, attrs) as [tf.Tensor, tf.Tensor, tf.Tensor];
  const { lr, beta1, beta2, eps, weightDecay, bc1, bc2, gradScale } = attrs;
  return tf.tidy(() => {
    const gs = gradScale === 1 ? g : g.mul(gradScale);
    const m2 = m.mul(beta1).add(gs.mul(1 - beta1));
    const v2 = v.mul(beta2).add(gs.square().mul(1 - beta2));
    const update = m2.div(bc1).div(v2.div(bc2).sqrt().add(eps));
    let next = p.sub(update.mul(lr));
    if (weightDecay > 0) next = next.sub(p.mul(lr * weightDecay));
    return [next, m2, v2];
  });
}

/**
 * Whether the active backend has the fused update.
 *
 * @example
 * ```ts
 * import { hasFusedAdamW } from "./adamw.ts";
 * console.log(hasFusedAdamW());
 * ```
 */
export function hasFusedAdamW(): boolean {
  return tf.getKernel(ADAMW_KERNEL, tf.getBackend()) !== undefined;
}

/**
 * The global L2 norm of tensors that live in a cpu-family backend's memory,
 * summed on the host in one pass (no kernels, no allocations).
 *
 * @example
 * ```ts ignore
 * const norm = hostGlobalNorm(grads);
 * ```
 */
export function hostGlobalNorm(tensors: readonly tf.Tensor[]): number {
  let sum = 0;
  for (const t of tensors) {
    const v = cpuValues(tf.backend(), t);
    for (let i = 0; i < v.length; i++) sum += v[i] * v[i];
  }
  return Math.sqrt(sum);
}

/**
 * Run the fused update on the active backend: returns `[p', m', v']`.
 *
 * @example
 * ```ts ignore
 * const [p2, m2, v2] = fusedAdamW(p, g, m, v, attrs);
 * ```
 */
export function fusedAdamW(
  p: tf.Tensor,
  g: tf.Tensor,
  m: tf.Tensor,
  v: tf.Tensor,
  attrs: AdamWAttrs,
): tf.Tensor[] {
  return tf.engine().runKernel(
    ADAMW_KERNEL,
    { p, g, m, v } as unknown as tf.NamedTensorMap,
    attrs as unknown as tf.NamedAttrMap,
  ) as unknown as tf.Tensor[];
}
