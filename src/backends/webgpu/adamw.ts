/**
 * The AdamW update for the webgpu backend, under the blas kernel's name (`CocaAdamW`), so
 * `src/ops/adamw.ts` picks it up unchanged: one dispatch per parameter, one thread per element,
 * writing `p'`, `m'` and `v'` (new tensors).
 *
 * Inputs `p, g, m, v` (float32, same shape), attrs `lr, beta1, beta2, eps, weightDecay, bc1,
 * bc2, gradScale` → `[p', m', v']` with `gs = gradScale · g` (the multiply skipped at 1),
 * `m' = β1 m + (1-β1) gs`, `v' = β2 v + gs² (1-β2)`, `p' = p - (m'/bc1) / (sqrt(v'/bc2) + eps) · lr`
 * and, only where `weightDecay > 0`, `- p · (lr · wd)`: the plain op path's formula, operation for
 * operation, with its float32 constants (`1 - β1`, `lr · wd`, ... rounded once on the host).
 *
 * @module
 */
import * as tf from "../../deps/tf.ts";
import type { AdamWAttrs } from "../fused_contract.ts";
import { ADAMW_KERNEL } from "../fused_contract.ts";
import type { Uniform } from "./program.ts";
import { bindingsWgsl, MULTI_HEADER, runMultiOutput } from "./multi_output.ts";

const WG = 64;

const CODE = `
  ${
  bindingsWgsl(
    ["outP", "outM", "outV"],
    [["p", "f32"], ["g", "f32"], ["m", "f32"], ["v", "f32"]],
    "size : i32, lr : f32, beta1 : f32, oneMinusBeta1 : f32, beta2 : f32, oneMinusBeta2 : f32, " +
      "eps : f32, bc1 : f32, bc2 : f32, decay : f32, gradScale : f32",
  )
}
  @compute @workgroup_size(${WG})
  fn main(${MULTI_HEADER}) {
    let index = i32((wid.y * nwg.x + wid.x) * ${WG}u + lid.x);
    if (index < uniforms.size) {
      var gs = g[index];
      if (uniforms.gradScale != 1.0) {
        gs = gs * uniforms.gradScale;
      }
      let m2 = m[index] * uniforms.beta1 + gs * uniforms.oneMinusBeta1;
      let v2 = v[index] * uniforms.beta2 + (gs * gs) * uniforms.oneMinusBeta2;
      let update = (m2 / uniforms.bc1) / (sqrt(v2 / uniforms.bc2) + uniforms.eps);
      var next = p[index] - update * uniforms.lr;
      if (uniforms.decay > 0.0) {
        next = next - p[index] * uniforms.decay;
      }
      outP[index] = next;
      outM[index] = m2;
      outV[index] = v2;
    }
  }
`;

/**
 * Register `CocaAdamW` for webgpu (idempotent).
 *
 * Not part of {@linkcode registerWebGPUFusedKernels}'s default: `trainStep` takes a backend
 * with a fused AdamW for a cpu-family one and reads the gradients' norm on the host.
 *
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-webgpu";
 * import { registerWebGPUAdamW } from "./adamw.ts";
 * registerWebGPUAdamW();
 * ```
 */
export function registerWebGPUAdamW(): void {
  if (tf.getKernel(ADAMW_KERNEL, "webgpu")) return;
  tf.registerKernel({
    kernelName: ADAMW_KERNEL,
    backendName: "webgpu",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { p, g, m, v } = inputs as Record<"p" | "g" | "m" | "v", tf.TensorInfo>;
      const a = attrs as unknown as AdamWAttrs;
      const size = p.shape.reduce((x, y) => x * y, 1);
      const f = (x: number): Uniform => ({ type: "float32", data: [x] });
      const uniforms: Uniform[] = [
        { type: "int32", data: [size] },
        f(a.lr),
        f(a.beta1),
        f(1 - a.beta1),
        f(a.beta2),
        f(1 - a.beta2),
        f(a.eps),
        f(a.bc1),
        f(a.bc2),
        f(a.weightDecay > 0 ? a.lr * a.weightDecay : 0),
        f(a.gradScale),
      ];
      const program = { key: "cocaAdamW", code: CODE, workgroups: Math.ceil(size / WG) };
      const shape = [...p.shape];
      return runMultiOutput(backend, program, [p, g, m, v], [shape, shape, shape], uniforms);
    },
  });
}
