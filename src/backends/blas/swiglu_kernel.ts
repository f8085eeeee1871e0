/**
 * Fused SwiGLU for cpu-family backends: the forward `x · g · σ(g)` and its
 * gradient each in one pass (the op-by-op form allocated about ten
 * activation-sized arrays per block and was the largest cost of the README
 * config's train step).
 *
 * `CocaSwiGLU`: input `t (..., 2F)` = `[x, g]` halves → `(..., F)`.
 * `CocaSwiGLUGrad`: inputs `t`, `dy (..., F)` → `dt (..., 2F)` with
 * `dx = dy · g σ(g)`, `dg = dy · x · σ(g) (1 + g (1 - σ(g)))`.
 *
 * @module
 */
import * as tf from "../../deps/tf.ts";
import { cpuOutput, cpuValues } from "../cpu_data.ts";
import { allocFloat32 } from "./buffer_pool.ts";
import { activeNativeKernels } from "./native.ts";

/**
 * Register the two kernels for a cpu-family backend (idempotent).
 *
 * @example
 * ```ts
 * import { registerSwiGLUKernels } from "./swiglu_kernel.ts";
 * registerSwiGLUKernels("cpu");
 * ```
 */
export function registerSwiGLUKernels(backendName: string): void {
  if (tf.getKernel("CocaSwiGLU", backendName)) return;
  tf.registerKernel({
    kernelName: "CocaSwiGLU",
    backendName,
    kernelFunc: ({ inputs, backend }) => {
      const { t } = inputs as { t: tf.TensorInfo };
      const tv = cpuValues(backend, t);
      const two = t.shape[t.shape.length - 1], F = two / 2, rows = tv.length / two;
      const out = allocFloat32(rows * F);
      const native = activeNativeKernels();
      if (native && tv instanceof Float32Array) {
        native.swiglu(tv, out, rows, F);
        return cpuOutput(backend, [...t.shape.slice(0, -1), F], out);
      }
      for (let r = 0; r < rows; r++) {
        const base = r * two, o = r * F;
        for (let j = 0; j < F; j++) {
          const g = tv[base + F + j];
          out[o + j] = tv[base + j] * g / (1 + Math.exp(-g));
        }
      }
      return cpuOutput(backend, [...t.shape.slice(0, -1), F], out);
    },
  });
  tf.registerKernel({
    kernelName: "CocaSwiGLUGrad",
    backendName,
    kernelFunc: ({ inputs, backend }) => {
      const { t, dy } = inputs as { t: tf.TensorInfo; dy: tf.TensorInfo };
      const tv = cpuValues(backend, t), dv = cpuValues(backend, dy);
      const two = t.shape[t.shape.length - 1], F = two / 2, rows = tv.length / two;
      const dt = allocFloat32(tv.length);
      const native = activeNativeKernels();
      if (native && tv instanceof Float32Array && dv instanceof Float32Array) {
        native.swigluGrad(tv, dv, dt, rows, F);
        return cpuOutput(backend, [...t.shape], dt);
      }
      for (let r = 0; r < rows; r++) {
        const base = r * two, o = r * F;
        for (let j = 0; j < F; j++) {
          const x = tv[base + j], g = tv[base + F + j], d = dv[o + j];
          const s = 1 / (1 + Math.exp(-g));
          dt[base + j] = d * g * s;
          dt[base + F + j] = d * x * s * (1 + g * (1 - s));
        }
      }
      return cpuOutput(backend, [...t.shape], dt);
    },
  });
}
