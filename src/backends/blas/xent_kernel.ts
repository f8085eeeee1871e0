/**
 * Fused token cross-entropy for cpu-family backends: per-row negative
 * log-likelihood of `logits (N, V)` at integer `labels (N)` in one pass, and
 * its gradient `(softmax(logits) - onehot(labels)) · dy` in another; no
 * `(N, V)` one-hot or log-softmax tensors (for the README config those were
 * 164 MB each per step).
 *
 * @module
 */
import * as tf from "../../deps/tf.ts";
import { cpuOutput, cpuValues } from "../cpu_data.ts";
import { allocFloat32, allocFloat32Zeroed } from "./buffer_pool.ts";
import { activeNativeKernels } from "./native.ts";

/**
 * Register `CocaNll` and `CocaNllGrad` for a cpu-family backend (idempotent).
 *
 * @example
 * ```ts
 * import { registerXentKernels } from "./xent_kernel.ts";
 * registerXentKernels("cpu");
 * ```
 */
export function registerXentKernels(backendName: string): void {
  if (tf.getKernel("CocaNll", backendName)) return;
  tf.registerKernel({
    kernelName: "CocaNll",
    backendName,
    kernelFunc: ({ inputs, backend }) => {
      const { logits, labels } = inputs as { logits: tf.TensorInfo; labels: tf.TensorInfo };
      const x = cpuValues(backend, logits), y = cpuValues(backend, labels);
      const [N, V] = logits.shape;
      const out = new Float32Array(N);
      const native = activeNativeKernels();
      if (native && x instanceof Float32Array && y instanceof Int32Array) {
        native.nll(x, y, out, N, V);
        return cpuOutput(backend, [N], out);
      }
      for (let r = 0; r < N; r++) {
        const o = r * V;
        // A label outside [0, V) has an all-zero one-hot row in the plain path: loss 0.
        if (!(y[r] >= 0 && y[r] < V)) continue;
        let max = -Infinity;
        for (let j = 0; j < V; j++) if (x[o + j] > max) max = x[o + j];
        let sum = 0;
        for (let j = 0; j < V; j++) sum += Math.exp(x[o + j] - max);
        out[r] = Math.log(sum) + max - x[o + y[r]];
      }
      return cpuOutput(backend, [N], out);
    },
  });
  tf.registerKernel({
    kernelName: "CocaNllGrad",
    backendName,
    kernelFunc: ({ inputs, backend }) => {
      const { logits, labels, dy } = inputs as Record<"logits" | "labels" | "dy", tf.TensorInfo>;
      const x = cpuValues(backend, logits), y = cpuValues(backend, labels);
      const d = cpuValues(backend, dy);
      const [N, V] = logits.shape;
      const native = activeNativeKernels();
      if (
        native && x instanceof Float32Array && y instanceof Int32Array && d instanceof Float32Array
      ) {
        const out = allocFloat32(N * V);
        native.nllGrad(x, y, d, out, N, V);
        return cpuOutput(backend, [N, V], out);
      }
      const out = allocFloat32Zeroed(N * V);
      for (let r = 0; r < N; r++) {
        const o = r * V, g = d[r];
        // dy 0, or a label outside [0, V) (all-zero one-hot row in the plain path): a zero row.
        if (g === 0 || !(y[r] >= 0 && y[r] < V)) continue;
        let max = -Infinity;
        for (let j = 0; j < V; j++) if (x[o + j] > max) max = x[o + j];
        let sum = 0;
        for (let j = 0; j < V; j++) {
          const e = Math.exp(x[o + j] - max);
          out[o + j] = e;
          sum += e;
        }
        const scale = g / sum;
        for (let j = 0; j < V; j++) out[o + j] *= scale;
        out[o + y[r]] -= g;
      }
      return cpuOutput(backend, [N, V], out);
    },
  });
}
