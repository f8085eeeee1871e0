/**
 * Corrections for stock tfjs 4.22 kernels that compute wrong results on some backend, found by
 * the op-consistency suite (`tests/op_suite_test.ts`). Each fix replaces the kernel for that
 * backend only, at the kernel level, so every op and gradient that reaches it is corrected.
 *
 * - **webgpu `AddN`**: the stock kernel binds every input as a storage buffer of one shader.
 *   WebGPU allows `maxStorageBuffersPerShaderStage` (8 by default) of them, one taken by the
 *   output, so with 8 or more inputs the shader cannot be built and the result is the sum of the
 *   first 7 inputs only (`tf.addN` of 1²..k² gave 140 for every k >= 7). `clipByGlobalNorm` sums
 *   one square-sum per parameter through `AddN`, so the global gradient norm, the clipping and
 *   every training step after the first were wrong on webgpu. The fix sums the inputs in chunks
 *   that fit the limit, then sums the partial sums the same way.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** The `kernel/backend` pairs already fixed. */
const fixed = new Set<string>();

/**
 * Register every kernel fix for the backends whose kernels are registered (idempotent; a backend
 * that is not imported is skipped).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import "@tensorflow/tfjs-backend-webgpu";
 * import { registerKernelFixes } from "./kernel_fixes.ts";
 * registerKernelFixes();
 * console.log(tf.getKernel("AddN", "webgpu") !== undefined); // true
 * ```
 */
export function registerKernelFixes(): void {
  replaceKernel("AddN", "webgpu", chunkedAddN);
}

/** The storage-buffer limit of a WebGPU backend's device (8 when it cannot be read). */
function maxStorageBuffers(backend: unknown): number {
  const device = (backend as { device?: { limits?: { maxStorageBuffersPerShaderStage?: number } } })
    .device;
  return device?.limits?.maxStorageBuffersPerShaderStage ?? 8;
}

/** AddN over at most `maxStorageBuffers - 1` inputs per shader, partial sums summed again. */
function chunkedAddN(original: tf.KernelFunc): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const perShader = Math.max(2, maxStorageBuffers(backend) - 1);
    const dispose = (t: tf.TensorInfo) => (backend as tf.KernelBackend).disposeData(t.dataId);
    const sum = (xs: tf.TensorInfo[]): tf.TensorInfo => {
      if (xs.length <= perShader) {
        return original({
          inputs: xs as unknown as tf.NamedTensorInfoMap,
          backend,
          attrs,
        }) as tf.TensorInfo;
      }
      const partials: tf.TensorInfo[] = [];
      for (let i = 0; i < xs.length; i += perShader) partials.push(sum(xs.slice(i, i + perShader)));
      const out = sum(partials);
      partials.forEach(dispose);
      return out;
    };
    return sum(inputs as unknown as tf.TensorInfo[]);
  };
}

function replaceKernel(
  kernelName: string,
  backendName: string,
  fix: (original: tf.KernelFunc) => tf.KernelFunc,
): void {
  const key = `${kernelName}/${backendName}`;
  const config = tf.getKernel(kernelName, backendName);
  if (fixed.has(key) || !config) return;
  fixed.add(key);
  tf.unregisterKernel(kernelName, backendName);
  tf.registerKernel({ ...config, kernelFunc: fix(config.kernelFunc) });
}
