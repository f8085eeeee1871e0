/**
 * Fused WGSL kernels for the webgpu backend, registered under the names of the blas backend's
 * fused kernels (`CocaLayerNorm`/`CocaLayerNormGrad`, `CocaSwiGLU`/`CocaSwiGLUGrad`,
 * `CocaNll`/`CocaNllGrad`, `CocaAdamW`), so the ops of `src/ops/` use them on webgpu unchanged;
 * and a fused multi-query attention forward (`CocaAttention`, {@linkcode fusedAttention}), which
 * no op calls yet.
 *
 * @module
 */
import { registerWebGPULayerNorm } from "./layernorm.ts";
import { registerWebGPUSwiGLU } from "./swiglu.ts";
import { registerWebGPUXent } from "./xent.ts";
import { registerWebGPUAdamW } from "./adamw.ts";
import { registerWebGPUAttention } from "./attention.ts";

export { registerWebGPUAdamW, registerWebGPULayerNorm, registerWebGPUSwiGLU, registerWebGPUXent };
export { ATTENTION_KERNEL, fusedAttention, registerWebGPUAttention } from "./attention.ts";

/** The kernel names {@linkcode registerWebGPUFusedKernels} registers for webgpu by default. */
export const WEBGPU_FUSED_KERNELS: readonly string[] = [
  "CocaLayerNorm",
  "CocaLayerNormGrad",
  "CocaSwiGLU",
  "CocaSwiGLUGrad",
  "CocaNll",
  "CocaNllGrad",
];

/**
 * Register the fused webgpu kernels (idempotent): layer norm, SwiGLU and token cross-entropy;
 * with `{ adamw: true }` the AdamW update, with `{ attention: true }` the attention forward.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import "@tensorflow/tfjs-backend-webgpu";
 * import { registerWebGPUFusedKernels } from "./mod.ts";
 * registerWebGPUFusedKernels();
 * console.log(tf.getKernel("CocaSwiGLU", "webgpu") !== undefined); // true
 * ```
 */
export function registerWebGPUFusedKernels(
  opts: { adamw?: boolean; attention?: boolean } = {},
): void {
  registerWebGPULayerNorm();
  registerWebGPUSwiGLU();
  registerWebGPUXent();
  if (opts.adamw) registerWebGPUAdamW();
  if (opts.attention) registerWebGPUAttention();
}
