/**
 * Fused WGSL kernels for the webgpu backend, registered under the names of the blas backend's
 * fused kernels (`CocaLayerNorm`/`CocaLayerNormGrad`, `CocaSwiGLU`/`CocaSwiGLUGrad`,
 * `CocaNll`/`CocaNllGrad`, `CocaAttention`/`CocaAttentionGrad`, `CocaAdamW`), so the ops of
 * `src/ops/` use them on webgpu unchanged.
 *
 * @module
 */
import { registerWebGPULayerNorm } from "./layernorm.ts";
import { registerWebGPUSwiGLU } from "./swiglu.ts";
import { registerWebGPUXent } from "./xent.ts";
import { registerWebGPUAdamW } from "./adamw.ts";
import { registerWebGPUAttention } from "./attention.ts";

export {
  registerWebGPUAdamW,
  registerWebGPUAttention,
  registerWebGPULayerNorm,
  registerWebGPUSwiGLU,
  registerWebGPUXent,
};

/** The kernel names {@linkcode registerWebGPUFusedKernels} registers for webgpu by default. */
export const WEBGPU_FUSED_KERNELS: readonly string[] = [
  "CocaLayerNorm",
  "CocaLayerNormGrad",
  "CocaSwiGLU",
  "CocaSwiGLUGrad",
  "CocaNll",
  "CocaNllGrad",
  "CocaAttention",
  "CocaAttentionGrad",
];

/**
 * Register the fused webgpu kernels (idempotent): layer norm, SwiGLU, token cross-entropy,
 * attention and (unless `{ adamw: false }`) the AdamW update.
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
export function registerWebGPUFusedKernels(opts: { adamw?: boolean } = {}): void {
  registerWebGPULayerNorm();
  registerWebGPUSwiGLU();
  registerWebGPUXent();
  registerWebGPUAttention();
  if (opts.adamw ?? true) registerWebGPUAdamW();
}
