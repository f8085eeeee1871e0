/**
 * Exact (erf) GELU in one pass for the blas backend, forward and gradient (the op form runs a
 * multiply, `Erf`, an add and two multiplies, and about twice as many kernels for its gradient).
 *
 * `CocaGelu`: input `x` → `x/2 · (1 + erf(x/√2))`. `CocaGeluGrad`: inputs `x`, `dy` →
 * `dy · ((1 + erf(x/√2))/2 + x · φ(x))`, `φ` the standard normal density. `1 + erf(z)` is computed
 * as `erfc(−z)` or `2 − erfc(z)` (never as a difference near 0), with `erfc` from the Chebyshev
 * fit of Numerical Recipes (fractional error below 1.2e-7), natively in float32 when the native
 * kernels are loaded, else in float64 here.
 *
 * @module
 */
import * as tf from "../../deps/tf.ts";
import { cpuFloat32, cpuOutput } from "../cpu_data.ts";
import { allocFloat32 } from "./buffer_pool.ts";
import { activeNativeKernels } from "./native.ts";

const f32 = Math.fround;
const SQRT1_2 = f32(Math.SQRT1_2);

/** The forward kernel's name. */
export const GELU_KERNEL = "CocaGelu";
/** The gradient kernel's name. */
export const GELU_GRAD_KERNEL = "CocaGeluGrad";

/**
 * `1 + erf(z)` in float64, accurate relative to itself for every `z` (see the module).
 *
 * @example
 * ```ts
 * import { onePlusErf } from "./gelu_kernel.ts";
 * console.log(onePlusErf(0)); // 1 (to 1e-7)
 * ```
 */
export function onePlusErf(z: number): number {
  const a = Math.abs(z), t = 1 / (1 + 0.5 * a);
  const p = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
                    t *
                      (0.27886807 +
                        t *
                          (-1.13520398 +
                            t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  const erfc = t * Math.exp(-a * a + p);
  return z < 0 ? erfc : 2 - erfc;
}

/**
 * GELU (`dy` null) or `dy · GELU'` of `x` into `out`, natively when the native kernels are loaded.
 *
 * @example
 * ```ts
 * import { geluValues } from "./gelu_kernel.ts";
 * const out = new Float32Array(3);
 * geluValues(Float32Array.of(-1, 0, 1), null, out);
 * console.log(out); // about [-0.1587, 0, 0.8413]
 * ```
 */
export function geluValues(x: Float32Array, dy: Float32Array | null, out: Float32Array): void {
  const native = activeNativeKernels();
  if (native) return native.gelu(x, dy, out);
  const n = out.length;
  // z = x/√2 as a float32 product (as the op form, the native kernel and PyTorch round it).
  if (!dy) {
    for (let i = 0; i < n; i++) out[i] = 0.5 * x[i] * onePlusErf(f32(x[i] * SQRT1_2));
    return;
  }
  const c = 1 / Math.sqrt(2 * Math.PI);
  for (let i = 0; i < n; i++) {
    const v = x[i], z = f32(v * SQRT1_2);
    out[i] = dy[i] * (0.5 * onePlusErf(z) + v * c * Math.exp(-z * z));
  }
}

/**
 * Register `CocaGelu` and `CocaGeluGrad` for a cpu-family backend (idempotent).
 *
 * @example
 * ```ts
 * import { registerGeluKernels } from "./gelu_kernel.ts";
 * registerGeluKernels("cpu");
 * ```
 */
export function registerGeluKernels(backendName: string): void {
  if (tf.getKernel(GELU_KERNEL, backendName)) return;
  tf.registerKernel({
    kernelName: GELU_KERNEL,
    backendName,
    kernelFunc: ({ inputs, backend }) => {
      const { x } = inputs as { x: tf.TensorInfo };
      const xv = cpuFloat32(backend, x, GELU_KERNEL, "x");
      const out = allocFloat32(xv.length);
      geluValues(xv, null, out);
      return cpuOutput(backend, [...x.shape], out);
    },
  });
  tf.registerKernel({
    kernelName: GELU_GRAD_KERNEL,
    backendName,
    kernelFunc: ({ inputs, backend }) => {
      const { x, dy } = inputs as Record<"x" | "dy", tf.TensorInfo>;
      const xv = cpuFloat32(backend, x, GELU_GRAD_KERNEL, "x");
      const dv = cpuFloat32(backend, dy, GELU_GRAD_KERNEL, "dy");
      if (dv.length !== xv.length) {
        throw new RangeError(
          `${GELU_GRAD_KERNEL} expected dy shaped as x [${x.shape}], found [${dy.shape}]`,
        );
      }
      const out = allocFloat32(xv.length);
      geluValues(xv, dv, out);
      return cpuOutput(backend, [...x.shape], out);
    },
  });
}
