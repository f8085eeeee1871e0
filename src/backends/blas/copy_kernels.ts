/**
 * Copy kernels (`PadV2`, `GatherV2`) for cpu-derived backends.
 *
 * The tfjs cpu backend's `PadV2` and `GatherV2` compute every output element's index with
 * `indexToLoc` / `locToIndex` (arrays allocated per element: 38 ms to pad a 4 MiB
 * `[16, 256, 256]` by one row), into freshly allocated memory whose first touch costs a page
 * fault per 4 KiB (20-30 µs each in these VMs). Here whole rows move with
 * `TypedArray.prototype.set` (short rows with a plain loop, which is faster below
 * `SET_MIN_RUN` elements), and float32 outputs come from the buffer pool
 * (`buffer_pool.ts`).
 *
 * The row copies ({@linkcode copyRows}) live in `host_kernels.ts`, which the browser entry
 * reaches; this module (through the pool) is Deno-only.
 *
 * @module
 */
import * as tf from "../../deps/tf.ts";
import { allocFloat32 } from "./buffer_pool.ts";
import { copyRows, SET_MIN_RUN } from "../host_kernels.ts";

/** The typed arrays the copy kernels handle. */
export type CopyValues = Float32Array | Int32Array | Uint8Array;

/**
 * An output array of `n` elements of the same type as `like`; a Float32Array comes from the
 * buffer pool, so its contents are arbitrary: the caller writes every element.
 *
 * @example
 * ```ts
 * import { allocLike } from "./copy_kernels.ts";
 * console.log(allocLike(new Int32Array(1), 3)); // Int32Array [0, 0, 0]
 * ```
 */
export function allocLike<T extends CopyValues>(like: T, n: number): T {
  if (like instanceof Float32Array) return allocFloat32(n) as T;
  return new (like.constructor as { new (n: number): T })(n);
}

/**
 * `x` of shape `shape` padded with `value`: `paddings[i] = [before, after]` elements on axis `i`
 * (non-negative). Float32 outputs come from the buffer pool.
 *
 * @example
 * ```ts
 * import { padValues } from "./copy_kernels.ts";
 * const r = padValues(new Float32Array([1, 2, 3, 4]), [2, 2], [[1, 0], [0, 1]], 0);
 * console.log(r.values, r.shape); // Float32Array [0, 0, 0, 1, 2, 0, 3, 4, 0] [3, 3]
 * ```
 */
export function padValues<T extends CopyValues>(
  x: T,
  shape: readonly number[],
  paddings: readonly (readonly number[])[],
  value: number,
): { values: T; shape: number[] } {
  const rank = shape.length;
  if (paddings.length !== rank) {
    throw new Error(`expected ${rank} [before, after] paddings, found ${paddings.length}`);
  }
  for (const p of paddings) {
    if (p.length !== 2 || !(p[0] >= 0) || !(p[1] >= 0)) {
      throw new Error(`expected paddings of two non-negative numbers, found [${p}]`);
    }
  }
  const outShape = shape.map((d, i) => paddings[i][0] + d + paddings[i][1]);
  const size = outShape.reduce((a, c) => a * c, 1);
  const out = allocLike(x, size);
  if (size === 0) return { values: out, shape: outShape };
  if (x.length === 0) {
    out.fill(value);
    return { values: out, shape: outShape };
  }
  // Trailing axes without padding fold into the rows of the last padded axis `k`.
  let k = rank - 1;
  while (k > 0 && paddings[k][0] === 0 && paddings[k][1] === 0) k--;
  const inner = shape.slice(k + 1).reduce((a, c) => a * c, 1);
  const outStride = new Array<number>(rank), inStride = new Array<number>(rank);
  for (let i = rank - 1, o = 1, s = 1; i >= 0; i--) {
    outStride[i] = o;
    inStride[i] = s;
    o *= outShape[i];
    s *= shape[i];
  }
  const fill = (d: number, inAt: number, outAt: number): void => {
    const before = paddings[d][0] * outStride[d], n = shape[d];
    if (before) out.fill(value, outAt, outAt + before);
    outAt += before;
    if (d === k) {
      copyRows(x, inAt, 0, out, outAt, 0, 1, n * inner);
      outAt += n * inner;
    } else {
      for (let i = 0; i < n; i++, inAt += inStride[d], outAt += outStride[d]) {
        fill(d + 1, inAt, outAt);
      }
    }
    const after = paddings[d][1] * outStride[d];
    if (after) out.fill(value, outAt, outAt + after);
  };
  fill(0, 0, 0);
  return { values: out, shape: outShape };
}

/**
 * Wraps {@linkcode padValues} as the `PadV2` kernel for float32 and int32 tensors; other dtypes
 * and negative paddings (which the stock kernel does not reject) go to `fallback`.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { makePadKernel } from "./copy_kernels.ts";
 * const pad = makePadKernel(tf.getKernel("PadV2", "cpu")!.kernelFunc);
 * ```
 */
export function makePadKernel(fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x } = args.inputs as unknown as { x: tf.TensorInfo };
    const { paddings, constantValue } = args.attrs as unknown as {
      paddings: [number, number][];
      constantValue: number;
    };
    const backend = args.backend as tf.MathBackendCPU;
    const xv = backend.data.get(x.dataId).values;
    if (
      !(x.dtype === "float32" && xv instanceof Float32Array ||
        x.dtype === "int32" && xv instanceof Int32Array) ||
      x.shape.length === 0 || paddings.length !== x.shape.length ||
      paddings.some((p) => !(p[0] >= 0 && p[1] >= 0))
    ) {
      return fallback(args);
    }
    const r = padValues(xv, x.shape, paddings, constantValue);
    return backend.makeTensorInfo(r.shape, x.dtype, r.values);
  };
}

/**
 * `gather`: with `x` viewed as `[batch, outer, dim, slice]` and `indices` as `[batch, n]`, the
 * result `[batch, outer, n, slice]` holds `x[b, o, indices[b, i], :]` at `[b, o, i, :]`. Every
 * index must lie in `[0, dim)` (checked by the caller). Float32 outputs come from the buffer
 * pool.
 *
 * @example
 * ```ts
 * import { gatherRows } from "./copy_kernels.ts";
 * const x = new Float32Array([1, 2, 3, 4, 5, 6]); // [3, 2]
 * console.log(gatherRows(x, new Int32Array([2, 0]), 1, 1, 3, 2)); // Float32Array [5, 6, 1, 2]
 * ```
 */
export function gatherRows<T extends CopyValues>(
  x: T,
  indices: ArrayLike<number>,
  batch: number,
  outer: number,
  dim: number,
  slice: number,
): T {
  const n = batch === 0 ? 0 : indices.length / batch;
  const out = allocLike(x, batch * outer * n * slice);
  let at = 0;
  for (let b = 0; b < batch; b++) {
    for (let o = 0; o < outer; o++) {
      const base = (b * outer + o) * dim * slice;
      for (let i = 0; i < n; i++, at += slice) {
        const from = base + indices[b * n + i] * slice;
        if (slice >= SET_MIN_RUN) out.set(x.subarray(from, from + slice), at);
        else for (let j = 0; j < slice; j++) out[at + j] = x[from + j];
      }
    }
  }
  return out;
}

/**
 * Wraps {@linkcode gatherRows} as the `GatherV2` kernel for float32 and int32 tensors; other
 * dtypes, and indices outside `[0, x.shape[axis])` (the stock kernel throws on them), go to
 * `fallback`.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { makeGatherKernel } from "./copy_kernels.ts";
 * const gather = makeGatherKernel(tf.getKernel("GatherV2", "cpu")!.kernelFunc);
 * ```
 */
export function makeGatherKernel(fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x, indices } = args.inputs as unknown as { x: tf.TensorInfo; indices: tf.TensorInfo };
    const { axis, batchDims } = args.attrs as unknown as { axis: number; batchDims?: number };
    const backend = args.backend as tf.MathBackendCPU;
    const xv = backend.data.get(x.dataId).values;
    const iv = backend.data.get(indices.dataId).values;
    if (
      !(x.dtype === "float32" && xv instanceof Float32Array ||
        x.dtype === "int32" && xv instanceof Int32Array) ||
      !(iv instanceof Int32Array || iv instanceof Float32Array)
    ) {
      return fallback(args);
    }
    const ax = tf.util.parseAxisParam(axis, x.shape)[0];
    const dim = x.shape[ax];
    for (let i = 0; i < iv.length; i++) {
      const v = iv[i];
      if (!(v >= 0 && v < dim && v === Math.floor(v))) return fallback(args);
    }
    const info = tf.backend_util.segment_util.collectGatherOpShapeInfo(
      x as tf.Tensor,
      indices as tf.Tensor,
      ax,
      batchDims ?? 0,
    );
    const values = gatherRows(
      xv,
      iv,
      info.batchSize,
      info.outerSize,
      info.dimSize,
      info.sliceSize,
    );
    return backend.makeTensorInfo(info.outputShape, x.dtype, values);
  };
}

/** The kernel functions {@linkcode registerCopyKernels} registered. */
const registered = new WeakSet<tf.KernelFunc>();

/**
 * Registers the `PadV2` and `GatherV2` kernels of this module for a cpu-derived backend,
 * replacing its own and falling back to the tfjs cpu backend's for what they do not handle.
 * Idempotent.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { registerCopyKernels } from "./copy_kernels.ts";
 * tf.registerBackend("cpu-copy-example", () => new tf.MathBackendCPU());
 * registerCopyKernels("cpu-copy-example");
 * ```
 */
export function registerCopyKernels(backendName: string): void {
  const make: [string, (fallback: tf.KernelFunc) => tf.KernelFunc][] = [
    [tf.PadV2, makePadKernel],
    [tf.GatherV2, makeGatherKernel],
  ];
  for (const [kernelName, wrap] of make) {
    const stock = tf.getKernel(kernelName, "cpu");
    if (!stock) {
      throw new Error(`expected the tfjs cpu backend to register ${kernelName}, found none`);
    }
    const current = tf.getKernel(kernelName, backendName);
    if (current && registered.has(current.kernelFunc)) continue;
    if (current) tf.unregisterKernel(kernelName, backendName);
    const kernelFunc = wrap(stock.kernelFunc);
    registered.add(kernelFunc);
    tf.registerKernel({ kernelName, backendName, kernelFunc });
  }
}
