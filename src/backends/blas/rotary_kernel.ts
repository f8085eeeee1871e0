/**
 * The rotary embedding in one pass for the blas backend, forward and gradient (the op form runs
 * a split, a negation, a concat, two multiplies and an add, and about as many kernels again for
 * its gradient, each writing a tensor of the input's size).
 *
 * `CocaRotary`: inputs `t (..., L, D)`, `cos (L, D)`, `sin (L, D)` →
 * `t · cos + rotateHalf(t) · sin`, `rotateHalf(t) = [−t[h:], t[:h]]` (`h = D/2`).
 * `CocaRotaryGrad`: inputs `dy (..., L, D)`, `cos`, `sin` → `dt = dy · cos + rotateHalfᵀ(dy · sin)`,
 * `rotateHalfᵀ(u) = [u[h:], −u[:h]]`. Each product and sum rounds to float32 as the op form's
 * kernels do, so both agree exactly.
 *
 * @module
 */
import * as tf from "../../deps/tf.ts";
import { cpuFloat32, cpuOutput } from "../cpu_data.ts";
import { allocFloat32 } from "./buffer_pool.ts";
import { activeNativeKernels } from "./native.ts";

/** The forward kernel's name. */
export const ROTARY_KERNEL = "CocaRotary";
/** The gradient kernel's name. */
export const ROTARY_GRAD_KERNEL = "CocaRotaryGrad";

const f32 = Math.fround;

/**
 * The forward (`grad` false) or the gradient (`grad` true, `t` is then `dy`) on host arrays:
 * `rows` rows of `D`, row `r` at table position `r mod L`.
 *
 * @example
 * ```ts
 * import { rotaryValues } from "./rotary_kernel.ts";
 * const out = new Float32Array(2);
 * rotaryValues(Float32Array.of(1, 2), Float32Array.of(0, 0), Float32Array.of(1, 1), out, 1, 1, 2, false);
 * console.log(out); // [-2, 1]: rotated by 90 degrees
 * ```
 */
export function rotaryValues(
  t: Float32Array,
  cos: Float32Array,
  sin: Float32Array,
  out: Float32Array,
  rows: number,
  L: number,
  D: number,
  grad: boolean,
): void {
  const native = activeNativeKernels();
  if (native) return native.rotary(t, cos, sin, out, rows, L, D, grad);
  const h = D / 2;
  for (let r = 0; r < rows; r++) {
    const o = r * D, p = (r % L) * D;
    for (let i = 0; i < D; i++) {
      const a = f32(t[o + i] * cos[p + i]);
      const b = grad
        ? (i < h ? f32(t[o + i + h] * sin[p + i + h]) : -f32(t[o + i - h] * sin[p + i - h]))
        : (i < h ? f32(-t[o + i + h] * sin[p + i]) : f32(t[o + i - h] * sin[p + i]));
      out[o + i] = a + b;
    }
  }
}

/**
 * Register `CocaRotary` and `CocaRotaryGrad` for a cpu-family backend (idempotent).
 *
 * @example
 * ```ts
 * import { registerRotaryKernels } from "./rotary_kernel.ts";
 * registerRotaryKernels("cpu");
 * ```
 */
export function registerRotaryKernels(backendName: string): void {
  if (tf.getKernel(ROTARY_KERNEL, backendName)) return;
  for (
    const [kernelName, input, grad] of [
      [ROTARY_KERNEL, "t", false],
      [ROTARY_GRAD_KERNEL, "dy", true],
    ] as const
  ) {
    tf.registerKernel({
      kernelName,
      backendName,
      kernelFunc: ({ inputs, backend }) => {
        const named = inputs as Record<"t" | "dy" | "cos" | "sin", tf.TensorInfo>;
        const x = named[input], cos = named.cos, sin = named.sin;
        const D = x.shape[x.shape.length - 1], L = x.shape[x.shape.length - 2];
        if (
          x.shape.length < 2 || D % 2 !== 0 || cos.shape.length !== 2 || cos.shape[0] !== L ||
          cos.shape[1] !== D || sin.shape.join() !== cos.shape.join()
        ) {
          throw new RangeError(
            `${kernelName} expected ${input} (..., L, D) with D even and cos, sin (L, D), found ` +
              `${input} [${x.shape}], cos [${cos.shape}], sin [${sin.shape}]`,
          );
        }
        const xv = cpuFloat32(backend, x, kernelName, input);
        const out = allocFloat32(xv.length);
        const rows = L === 0 ? 0 : xv.length / D;
        rotaryValues(
          xv,
          cpuFloat32(backend, cos, kernelName, "cos"),
          cpuFloat32(backend, sin, kernelName, "sin"),
          out,
          rows,
          L,
          D,
          grad,
        );
        return cpuOutput(backend, [...x.shape], out);
      },
    });
  }
}
