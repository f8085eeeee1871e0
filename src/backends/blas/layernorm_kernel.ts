/**
 * Fused layer norm for cpu-family backends: forward and gradient each in one
 * pass over the rows (the op form — moments, subtract, rsqrt, two multiplies,
 * add, and their gradients — was 5× slower on `blas` than on wasm).
 *
 * `CocaLayerNorm`: inputs `x (..., d)`, `scale (d)`, `shift (d)`, attr `eps` →
 * `y = (x - mean) / sqrt(var + eps) · scale + shift` (biased variance).
 * `CocaLayerNormGrad`: inputs `x`, `scale`, `dy` → `[dx, dscale, dshift]`.
 *
 * @module
 */
import * as tf from "../../deps/tf.ts";
import { cpuOutput, cpuValues } from "../cpu_data.ts";
import { allocFloat32 } from "./buffer_pool.ts";
import { activeNativeKernels } from "./native.ts";

/** Mean and `1 / sqrt(biased variance + eps)` of `xv[o .. o+d)`. */
function rowStats(xv: ArrayLike<number>, o: number, d: number, eps: number): [number, number] {
  let mean = 0;
  for (let j = 0; j < d; j++) mean += xv[o + j];
  mean /= d;
  let v = 0;
  for (let j = 0; j < d; j++) {
    const c = xv[o + j] - mean;
    v += c * c;
  }
  return [mean, 1 / Math.sqrt(v / d + eps)];
}

/**
 * Register the two kernels for a cpu-family backend (idempotent).
 *
 * @example
 * ```ts
 * import { registerLayerNormKernels } from "./layernorm_kernel.ts";
 * registerLayerNormKernels("cpu");
 * ```
 */
export function registerLayerNormKernels(backendName: string): void {
  if (tf.getKernel("CocaLayerNorm", backendName)) return;
  tf.registerKernel({
    kernelName: "CocaLayerNorm",
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, scale, shift } = inputs as Record<"x" | "scale" | "shift", tf.TensorInfo>;
      const { eps } = attrs as unknown as { eps: number };
      const xv = cpuValues(backend, x), g = cpuValues(backend, scale);
      const be = cpuValues(backend, shift);
      const d = x.shape[x.shape.length - 1], rows = xv.length / d;
      const y = allocFloat32(xv.length);
      const native = activeNativeKernels();
      if (
        native && xv instanceof Float32Array && g instanceof Float32Array &&
        be instanceof Float32Array
      ) {
        native.layerNorm(xv, g, be, y, rows, d, eps);
        return cpuOutput(backend, [...x.shape], y);
      }
      for (let r = 0; r < rows; r++) {
        const o = r * d;
        const [mean, rstd] = rowStats(xv, o, d, eps);
        for (let j = 0; j < d; j++) y[o + j] = (xv[o + j] - mean) * rstd * g[j] + be[j];
      }
      return cpuOutput(backend, [...x.shape], y);
    },
  });
  tf.registerKernel({
    kernelName: "CocaLayerNormGrad",
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, scale, dy } = inputs as Record<"x" | "scale" | "dy", tf.TensorInfo>;
      const { eps } = attrs as unknown as { eps: number };
      const xv = cpuValues(backend, x), g = cpuValues(backend, scale);
      const dv = cpuValues(backend, dy);
      const d = x.shape[x.shape.length - 1], rows = xv.length / d;
      const dx = allocFloat32(xv.length), dg = new Float32Array(d), db = new Float32Array(d);
      const native = activeNativeKernels();
      if (
        native && xv instanceof Float32Array && g instanceof Float32Array &&
        dv instanceof Float32Array
      ) {
        native.layerNormGrad(xv, g, dv, dx, dg, db, rows, d, eps);
        return [
          cpuOutput(backend, [...x.shape], dx),
          cpuOutput(backend, [d], dg),
          cpuOutput(backend, [d], db),
        ];
      }
      const xhat = new Float32Array(d);
      for (let r = 0; r < rows; r++) {
        const o = r * d;
        const [mean, rstd] = rowStats(xv, o, d, eps);
        let sumG = 0, sumGX = 0;
        for (let j = 0; j < d; j++) {
          const xh = (xv[o + j] - mean) * rstd;
          xhat[j] = xh;
          const gy = dv[o + j] * g[j];
          sumG += gy;
          sumGX += gy * xh;
          dg[j] += dv[o + j] * xh;
          db[j] += dv[o + j];
        }
        sumG /= d;
        sumGX /= d;
        for (let j = 0; j < d; j++) dx[o + j] = rstd * (dv[o + j] * g[j] - sumG - xhat[j] * sumGX);
      }
      return [
        cpuOutput(backend, [...x.shape], dx),
        cpuOutput(backend, [d], dg),
        cpuOutput(backend, [d], db),
      ];
    },
  });
}
