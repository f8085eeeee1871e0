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
 * - **webgpu `Cumsum` with `reverse`**: the shader bakes the length of the scanned axis into its
 *   code (`end + pow2 < length`) but its cache key (`cum_+_false_true`) omits it, so every reverse
 *   cumsum after the first reuses the first one's length: after a reverse cumsum over 7 elements,
 *   one over 1000 gave -0.528 where the sum is 33.54 (every element but the last past index 7
 *   wrong); the gradient of every cumsum is a reverse cumsum. The fix flips the axis, runs the
 *   forward scan (whose shader has no baked length) and flips back.
 *
 * - **wasm `GatherV2` with `batchDims > 0`**: the C++ kernel reads the indices of batch `b` from
 *   the wrong offset: `gather([[0, 1], [2, 3]], [[0, 1, 1, 1], [1, 0, 0, 1]], 1, 1)` gave
 *   `[0, 1, 1, 1, 3, 3, 3, 2]` where the answer is `[0, 1, 1, 1, 3, 2, 2, 3]` (batch 0 is right). The
 *   fix gathers on the host for `batchDims > 0` (the model's gathers have `batchDims = 0` and keep
 *   the stock kernel).
 *
 * Gradients (tfjs-core's, the same on every backend; replaced with `tf.registerGradient`):
 *
 * - **`Maximum`, `Minimum`**: the gradient of a broadcast input was not summed over the broadcast
 *   axes (`maximum(a [3,1,5], b [4,5])` threw "gradient of input 'a' has shape 3,4,5").
 * - **`BatchMatMul`**: likewise for a broadcast batch (`[1,5,7] × [4,7,3]` threw).
 * - **`Cumsum`** over an axis that is not the last: the gradient was transposed afterwards
 *   (`[5,3]` along axis 0 threw; a square `[3,3]` along axis 0 got the transposed gradient).
 * - **`GatherV2` with `batchDims >= 2`**: the gradient reshaped to a wrong size and threw
 *   (`batchDims = 1` was right but split the batch into one gather per row). The fix is one
 *   `UnsortedSegmentSum` over (batch, index) pairs for `batchDims >= 1`; `batchDims = 0` (the
 *   model's gathers) keeps tfjs's gradient.
 * - **`SplitV`** into one piece: the gradient passed a single tensor to `concat` ("Pass at least
 *   one tensor to concat").
 *
 * @module
 */
import * as tf from "../deps/tf.ts";

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
  replaceKernel("Cumsum", "webgpu", reverseCumsumByFlipping);
  replaceKernel("GatherV2", "wasm", batchedGatherOnHost);
  registerGradientFixes();
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

/** Reverse cumsum as flip → forward cumsum → flip (the stock reverse shader is cached wrongly). */
function reverseCumsumByFlipping(original: tf.KernelFunc): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { axis, reverse } = attrs as unknown as { axis: number; reverse: boolean };
    if (!reverse) return original({ inputs, backend, attrs });
    const flip = tf.getKernel("Reverse", "webgpu")?.kernelFunc;
    if (!flip) throw new Error("expected tfjs-webgpu to register Reverse, found none");
    const { x } = inputs as { x: tf.TensorInfo };
    const dims = [axis < 0 ? axis + x.shape.length : axis];
    const flipped = flip({ inputs: { x }, backend, attrs: { dims } }) as tf.TensorInfo;
    const scanned = original({
      inputs: { x: flipped },
      backend,
      attrs: { ...attrs, reverse: false },
    }) as tf.TensorInfo;
    const out = flip({ inputs: { x: scanned }, backend, attrs: { dims } }) as tf.TensorInfo;
    const kb = backend as tf.KernelBackend;
    kb.disposeData(flipped.dataId);
    kb.disposeData(scanned.dataId);
    return out;
  };
}

type WasmBackend = {
  readSync(dataId: unknown): Float32Array | Int32Array | Uint8Array;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
};

/** wasm GatherV2: the stock kernel for `batchDims = 0`, a host gather otherwise. */
function batchedGatherOnHost(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { inputs, backend, attrs } = args;
    const { axis, batchDims } = attrs as unknown as { axis: number; batchDims: number };
    if (!batchDims) return original(args);
    const { x, indices } = inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
    const ax = tf.util.parseAxisParam(axis, x.shape)[0];
    const info = tf.backend_util.segment_util.collectGatherOpShapeInfo(
      x as tf.TensorInfo as tf.Tensor,
      indices as tf.TensorInfo as tf.Tensor,
      ax,
      batchDims,
    );
    const wasm = backend as unknown as WasmBackend;
    const xv = wasm.readSync(x.dataId), iv = wasm.readSync(indices.dataId);
    const { batchSize, outerSize, dimSize, sliceSize } = info;
    const n = iv.length / batchSize;
    for (const i of iv) {
      if (i < 0 || i >= dimSize) {
        throw new Error(`GatherV2: the index value ${i} is not in [0, ${dimSize - 1}]`);
      }
    }
    const out = wasm.makeOutput(info.outputShape, x.dtype);
    const ov = wasm.typedArrayFromHeap(out);
    let o = 0;
    for (let b = 0; b < batchSize; b++) {
      for (let r = 0; r < outerSize; r++) {
        const base = (b * outerSize + r) * dimSize;
        for (let j = 0; j < n; j++) {
          const from = (base + iv[b * n + j]) * sliceSize;
          ov.set(xv.subarray(from, from + sliceSize), o);
          o += sliceSize;
        }
      }
    }
    return out;
  };
}

/** `g` summed over the axes along which `shape` was broadcast to `g.shape`, as `shape`. */
function unbroadcast(g: tf.Tensor, shape: number[]): tf.Tensor {
  const axes = tf.backend_util.getReductionAxes(shape, g.shape);
  return (axes.length > 0 ? g.sum(axes) : g).reshape(shape);
}

let gradientsFixed = false;

function registerGradientFixes(): void {
  if (gradientsFixed) return;
  gradientsFixed = true;
  const pick = (
    name: string,
    aWins: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor,
    bWins: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor,
  ) =>
    tf.registerGradient({
      kernelName: name,
      inputsToSave: ["a", "b"],
      gradFunc: (dy, saved) => {
        const [a, b] = saved;
        const d = dy as tf.Tensor;
        return {
          a: () => unbroadcast(d.mul(aWins(a, b).cast("float32")), a.shape),
          b: () => unbroadcast(d.mul(bWins(a, b).cast("float32")), b.shape),
        };
      },
    });
  // The same rules as tfjs (ties go to a), summed over broadcast axes.
  pick("Maximum", tf.greaterEqual, tf.less);
  pick("Minimum", tf.lessEqual, tf.greater);
  tf.registerGradient({
    kernelName: "BatchMatMul",
    inputsToSave: ["a", "b"],
    gradFunc: (dy, saved, attrs) => {
      const [a, b] = saved;
      const d = dy as tf.Tensor;
      const { transposeA: ta, transposeB: tb } = attrs as unknown as {
        transposeA: boolean;
        transposeB: boolean;
      };
      const [ga, gb] = !ta && !tb
        ? [() => tf.matMul(d, b, false, true), () => tf.matMul(a, d, true, false)]
        : !ta && tb
        ? [() => tf.matMul(d, b, false, false), () => tf.matMul(d, a, true, false)]
        : ta && !tb
        ? [() => tf.matMul(b, d, false, true), () => tf.matMul(a, d, false, false)]
        : [() => tf.matMul(b, d, true, true), () => tf.matMul(d, a, true, true)];
      return { a: () => unbroadcast(ga(), a.shape), b: () => unbroadcast(gb(), b.shape) };
    },
  });
  tf.registerGradient({
    kernelName: "Cumsum",
    gradFunc: (dy, _saved, attrs) => {
      const { axis, exclusive, reverse } = attrs as unknown as {
        axis: number;
        exclusive: boolean;
        reverse: boolean;
      };
      return { x: () => tf.cumsum(dy as tf.Tensor, axis, exclusive, !reverse) };
    },
  });
  const stockGather = tf.getGradient("GatherV2");
  tf.registerGradient({
    kernelName: "GatherV2",
    inputsToSave: ["x", "indices"],
    gradFunc: (dy, saved, attrs) => {
      const { batchDims } = attrs as unknown as { batchDims: number };
      if (!batchDims && stockGather) return stockGather.gradFunc(dy, saved, attrs);
      const [x, indices] = saved;
      const axis = tf.util.parseAxisParam((attrs as unknown as { axis: number }).axis, x.shape)[0];
      return {
        x: () => batchedGatherGrad(dy as tf.Tensor, x.shape, indices, axis, batchDims),
        indices: () => indices,
      };
    },
  });
  tf.registerGradient({
    kernelName: "SplitV",
    gradFunc: (dy, _saved, attrs) => {
      const { axis } = attrs as unknown as { axis: number };
      return { x: () => tf.concat(Array.isArray(dy) ? dy : [dy], axis) };
    },
  });
}

/**
 * The gradient of `gather(x, indices, axis, batchDims)` with respect to `x`: with
 * `G = prod(batch dims)`, `O` the dims between the batch and `axis`, `D = x.shape[axis]`, `S` the
 * dims after it and `n` indices per batch, `dy [G, O, n, S]` is summed into `dx [G, O, D, S]` at
 * `dx[g, o, indices[g, j], s]`: one segment sum over the segment ids `g · D + indices[g, j]`.
 */
function batchedGatherGrad(
  dy: tf.Tensor,
  xShape: number[],
  indices: tf.Tensor,
  axis: number,
  batchDims: number,
): tf.Tensor {
  const prod = (s: number[]) => s.reduce((a, b) => a * b, 1);
  const G = prod(xShape.slice(0, batchDims)), O = prod(xShape.slice(batchDims, axis));
  const D = xShape[axis], S = prod(xShape.slice(axis + 1)), n = indices.size / G;
  const rows = dy.reshape([G, O, n, S]).transpose([0, 2, 1, 3]).reshape([G * n, O * S]);
  const ids = indices.reshape([G, n]).add(tf.range(0, G * D, D, "int32").reshape([G, 1]));
  return tf.unsortedSegmentSum(rows, ids.reshape([G * n]) as tf.Tensor1D, G * D)
    .reshape([G, D, O, S]).transpose([0, 2, 1, 3]).reshape(xShape);
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
