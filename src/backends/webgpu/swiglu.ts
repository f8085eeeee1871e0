/**
 * Fused SwiGLU for the webgpu backend, under the blas kernels' names, so `src/ops/swiglu.ts`
 * picks it up unchanged: one dispatch each way, one thread per output element.
 *
 * `CocaSwiGLU`: input `t (..., 2F)` = `[x, g]` halves → `x · g · σ(g)` `(..., F)`.
 * `CocaSwiGLUGrad`: inputs `t`, `dy (..., F)` → `dt (..., 2F)` with `dx = dy · g σ(g)`,
 * `dg = dy · x · σ(g) (1 + g (1 - σ(g)))`.
 *
 * @module
 */
import * as tf from "../../deps/tf.ts";
import { elementwiseProgram, runProgram } from "./program.ts";

// σ(g) as tfjs-webgpu's Sigmoid computes it; the products in the plain op's order
// (`gate.mul(sigmoid(gate)).mul(x)`).
const FORWARD = `
  fn main(index : i32) {
    if (index < uniforms.size) {
      let f = uniforms.half;
      let row = index / f;
      let j = index - row * f;
      let xv = t[row * 2 * f + j];
      let g = t[row * 2 * f + f + j];
      let s = 1.0 / (1.0 + exp(-1.0 * g));
      result[index] = g * s * xv;
    }
  }
`;

const GRAD = `
  fn main(index : i32) {
    if (index < uniforms.size) {
      let f = uniforms.half;
      let row = index / (2 * f);
      let c = index - row * 2 * f;
      let j = select(c, c - f, c >= f);
      let xv = t[row * 2 * f + j];
      let g = t[row * 2 * f + f + j];
      let d = dy[row * f + j];
      let s = 1.0 / (1.0 + exp(-1.0 * g));
      if (c < f) {
        result[index] = d * g * s;
      } else {
        result[index] = d * xv * s * (1.0 + g * (1.0 - s));
      }
    }
  }
`;

/**
 * Register `CocaSwiGLU` and `CocaSwiGLUGrad` for webgpu (idempotent).
 *
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-webgpu";
 * import { registerWebGPUSwiGLU } from "./swiglu.ts";
 * registerWebGPUSwiGLU();
 * ```
 */
export function registerWebGPUSwiGLU(): void {
  if (tf.getKernel("CocaSwiGLU", "webgpu")) return;
  tf.registerKernel({
    kernelName: "CocaSwiGLU",
    backendName: "webgpu",
    kernelFunc: ({ inputs, backend }) => {
      const { t } = inputs as { t: tf.TensorInfo };
      const half = t.shape[t.shape.length - 1] / 2;
      const program = elementwiseProgram(
        "cocaSwiGLU",
        ["t"],
        [...t.shape.slice(0, -1), half],
        "half : i32,",
        FORWARD,
      );
      return runProgram(backend, program, [t], "float32", [{ type: "int32", data: [half] }]);
    },
  });
  tf.registerKernel({
    kernelName: "CocaSwiGLUGrad",
    backendName: "webgpu",
    kernelFunc: ({ inputs, backend }) => {
      const { t, dy } = inputs as { t: tf.TensorInfo; dy: tf.TensorInfo };
      const half = t.shape[t.shape.length - 1] / 2;
      const program = elementwiseProgram(
        "cocaSwiGLUGrad",
        ["t", "dy"],
        [...t.shape],
        "half : i32,",
        GRAD,
      );
      return runProgram(backend, program, [t, dy], "float32", [{ type: "int32", data: [half] }]);
    },
  });
}
