/**
 * The AdamW update for the webgpu backend, under the blas kernel's name (`CocaAdamW`), so
 * `src/ops/adamw.ts` picks it up unchanged.
 *
 * Inputs `p, g, m, v` (float32, same shape), attrs `lr, beta1, beta2, eps, weightDecay, bc1,
 * bc2, gradScale` → `[p', m', v']` with `gs = gradScale · g` (the multiply skipped at 1),
 * `m' = β1 m + (1-β1) gs`, `v' = β2 v + gs² (1-β2)`, `p' = p - (m'/bc1) / (sqrt(v'/bc2) + eps) · lr`
 * and, only where `weightDecay > 0`, `- p · (lr · wd)`: the plain op path's formula, operation for
 * operation. `runWebGPUProgram` writes one output per dispatch, so the update is three
 * elementwise dispatches per parameter (one shader, its output picked by the shader key), each
 * recomputing `m'` and `v'` from the inputs, where the plain path runs about fifteen.
 *
 * @module
 */
import * as tf from "../../deps/tf.ts";
import type { AdamWAttrs } from "../blas/adamw_kernel.ts";
import { ADAMW_KERNEL } from "../blas/adamw_kernel.ts";
import { elementwiseProgram, runProgram, type Uniform } from "./program.ts";

const OUTPUTS = ["p", "m", "v"] as const;

const body = (out: (typeof OUTPUTS)[number]) => `
  fn main(index : i32) {
    if (index < uniforms.size) {
      var gs = g[index];
      if (uniforms.gradScale != 1.0) {
        gs = gs * uniforms.gradScale;
      }
      let m2 = m[index] * uniforms.beta1 + gs * uniforms.oneMinusBeta1;
      let v2 = v[index] * uniforms.beta2 + (gs * gs) * uniforms.oneMinusBeta2;
      ${
  out === "m" ? "result[index] = m2;" : out === "v" ? "result[index] = v2;" : `
      let update = (m2 / uniforms.bc1) / (sqrt(v2 / uniforms.bc2) + uniforms.eps);
      var next = p[index] - update * uniforms.lr;
      if (uniforms.decay > 0.0) {
        next = next - p[index] * uniforms.decay;
      }
      result[index] = next;`
}
    }
  }
`;

const UNIFORMS = "lr : f32, beta1 : f32, oneMinusBeta1 : f32, beta2 : f32, oneMinusBeta2 : f32, " +
  "eps : f32, bc1 : f32, bc2 : f32, decay : f32, gradScale : f32,";

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
      const f = (x: number): Uniform => ({ type: "float32", data: [x] });
      const uniforms = [
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
      return OUTPUTS.map((out) => {
        const names = out === "p" ? ["p", "g", "m", "v"] : ["g", "m", "v"];
        const program = elementwiseProgram(
          `cocaAdamW_${out}`,
          names,
          [...p.shape],
          UNIFORMS,
          body(out),
        );
        const ins = out === "p" ? [p, g, m, v] : [g, m, v];
        return runProgram(backend, program, ins, "float32", uniforms);
      });
    },
  });
}
