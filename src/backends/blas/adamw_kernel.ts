/**
 * A fused AdamW update for cpu-family backends: one pass over each parameter
 * instead of about a dozen elementwise ops (on the small config the unfused
 * update was about a third of a `blas` train step).
 *
 * Kernel `CocaAdamW`: inputs `p, g, m, v` (float32, same shape), attrs
 * `lr, beta1, beta2, eps, weightDecay, bc1, bc2` (bias corrections) and
 * `gradScale` (gradient clipping: `g` is used as `gradScale · g`);
 * outputs `[p', m', v']` with
 * `m' = β1 m + (1-β1) g`, `v' = β2 v + (1-β2) g²`,
 * `p' = p - lr (m'/bc1) / (sqrt(v'/bc2) + eps) - lr wd p`.
 *
 * @module
 */
import * as tf from "../../deps/tf.ts";
import { cpuOutput, cpuValues } from "../cpu_data.ts";
import { allocFloat32, exclusiveArray } from "./buffer_pool.ts";
import { activeNativeKernels } from "./native.ts";
import { ADAMW_KERNEL, type AdamWAttrs } from "../fused_contract.ts";

/**
 * Register `CocaAdamW` for a cpu-family backend (idempotent).
 *
 * @example
 * ```ts
 * import { registerAdamWKernel } from "./adamw_kernel.ts";
 * registerAdamWKernel("cpu");
 * ```
 */
export function registerAdamWKernel(backendName: string): void {
  if (tf.getKernel(ADAMW_KERNEL, backendName)) return;
  tf.registerKernel({
    kernelName: ADAMW_KERNEL,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { p, g, m, v } = inputs as Record<"p" | "g" | "m" | "v", tf.TensorInfo>;
      const a = attrs as unknown as AdamWAttrs;
      const gv = cpuValues(backend, g);
      // p, m and v are updated in place where no one else can see them (see inPlace); else in
      // copies.
      const [np, nm, nv] = [p, m, v].map((t) => writable(backend, t));
      const { lr, beta1, beta2, eps, weightDecay, bc1, bc2, gradScale } = a;
      const decay = lr * weightDecay;
      const native = activeNativeKernels();
      if (native && gv instanceof Float32Array) {
        native.adamw(np.values, gv, nm.values, nv.values, {
          lr,
          beta1,
          beta2,
          eps,
          decay,
          bc1,
          bc2,
          gradScale,
        });
      } else {
        const pv = np.values, mv = nm.values, vv = nv.values, n = pv.length;
        for (let i = 0; i < n; i++) {
          const gi = gv[i] * gradScale;
          const mi = beta1 * mv[i] + (1 - beta1) * gi;
          const vi = beta2 * vv[i] + (1 - beta2) * gi * gi;
          mv[i] = mi;
          vv[i] = vi;
          pv[i] = pv[i] - lr * (mi / bc1) / (Math.sqrt(vi / bc2) + eps) - decay * pv[i];
        }
      }
      return [np.output(), nm.output(), nv.output()];
    },
  });
}

/** The backend's record of a tensor's data (tfjs's MathBackendCPU). */
interface CpuData {
  data: { get(id: unknown): { values: unknown; refCount: number } };
  incRef(id: unknown): void;
}

/**
 * The array an update of input `t` writes, and how to return it: `t`'s own array when no one else
 * can see it (one tensor holds its data entry, and {@linkcode exclusiveArray}), returned as `t`'s
 * data again (like `Reshape`: one more reference to the same entry); else a copy in a new array.
 * In place, AdamW neither allocates nor writes to fresh memory (three model-sized arrays a step).
 */
function writable(
  backend: unknown,
  t: tf.TensorInfo,
): { values: Float32Array; output: () => tf.TensorInfo } {
  const b = backend as CpuData;
  const entry = b.data.get(t.dataId);
  const values = entry.values;
  if (!(values instanceof Float32Array)) {
    throw new TypeError(`${ADAMW_KERNEL} expected float32 inputs, found ${t.dtype}`);
  }
  if (entry.refCount === 1 && exclusiveArray(values)) {
    return {
      values,
      output: () => {
        b.incRef(t.dataId);
        return { dataId: t.dataId, shape: [...t.shape], dtype: "float32" };
      },
    };
  }
  const copy = allocFloat32(values.length);
  copy.set(values);
  return { values: copy, output: () => cpuOutput(backend, [...t.shape], copy) };
}
