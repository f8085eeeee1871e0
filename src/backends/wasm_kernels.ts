/**
 * Kernels that tfjs-backend-wasm 4.22 lacks but CoCa's gradients need,
 * computed on the host over the wasm heap.
 *
 * `UnsortedSegmentSum` is the gradient of `gather` (token embedding lookup,
 * patch dropout).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

interface WasmLike {
  readSync(dataId: unknown): ArrayLike<number>;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array;
}

let done = false;

/**
 * Register the missing wasm kernels (idempotent).
 *
 * @example
 * ```ts
 * import { registerWasmKernels } from "./wasm_kernels.ts";
 * registerWasmKernels();
 * ```
 */
export function registerWasmKernels(): void {
  if (done) return;
  done = true;
  if (tf.getKernel("UnsortedSegmentSum", "wasm")) return;
  tf.registerKernel({
    kernelName: "UnsortedSegmentSum",
    backendName: "wasm",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
      const { numSegments } = attrs as unknown as { numSegments: number };
      const b = backend as unknown as WasmLike;
      const xv = b.readSync(x.dataId), ids = b.readSync(segmentIds.dataId);
      const rows = ids.length;
      const inner = rows === 0 ? 0 : xv.length / rows;
      const outShape = [numSegments, ...x.shape.slice(segmentIds.shape.length)];
      const out = b.makeOutput(outShape, x.dtype);
      const ov = b.typedArrayFromHeap(out);
      ov.fill(0);
      for (let r = 0; r < rows; r++) {
        const s = ids[r];
        if (s < 0 || s >= numSegments) continue;
        const src = r * inner, dst = s * inner;
        for (let j = 0; j < inner; j++) ov[dst + j] += xv[src + j];
      }
      return out;
    },
  });
}
