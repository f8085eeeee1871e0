/**
 * `BatchMatMul` and `_FusedMatMul` kernels for the tfjs cpu backend that run `cblas_sgemm`.
 *
 * Batch dimensions broadcast NumPy-style (a size-1 dimension repeats). When `b` has no batch (or
 * batch 1) and `a` is not transposed, all of `a`'s batches collapse into one GEMM with
 * `M = batch·m`; otherwise there is one FFI call per output batch on `subarray` views (no copies).
 * Non-float32 inputs fall back to the cpu backend's kernel.
 *
 * @module
 */
import * as tf from "../../deps/tf.ts";
import type { OpenBlas } from "./openblas.ts";
import { allocFloat32, allocFloat32Zeroed } from "./buffer_pool.ts";

type CpuBackend = tf.MathBackendCPU;
type TensorInfo = tf.TensorInfo;

/** Inputs of `BatchMatMul` / `_FusedMatMul` as the engine passes them. */
interface MatMulInputs {
  a: TensorInfo;
  b: TensorInfo;
  bias?: TensorInfo;
  preluActivationWeights?: TensorInfo;
}

/** Attributes of `BatchMatMul` / `_FusedMatMul`. */
interface MatMulAttrs {
  transposeA: boolean;
  transposeB: boolean;
  activation?: string;
  leakyreluAlpha?: number;
}

/** Shapes of one matmul after resolving transposes and batch broadcasting. */
export interface MatMulPlan {
  /** Rows of `op(a)`. */
  m: number;
  /** Columns of `op(b)`. */
  n: number;
  /** Shared dimension. */
  k: number;
  /** Broadcast batch shape of the output (may be empty). */
  batchShape: number[];
  /** For each flat output batch, the flat batch index into `a`. */
  aIndex: Int32Array;
  /** For each flat output batch, the flat batch index into `b`. */
  bIndex: Int32Array;
  /** Full output shape: `[...batchShape, m, n]`. */
  outShape: number[];
}

/**
 * Resolves shapes for `op(a) · op(b)` with NumPy-style batch broadcasting, or throws an error that
 * names both shapes.
 *
 * @example
 * ```ts
 * import { planMatMul } from "./matmul.ts";
 * const p = planMatMul([2, 1, 3, 4], [5, 4, 6], false, false);
 * console.log(p.outShape); // [2, 5, 3, 6]
 * ```
 */
export function planMatMul(
  aShape: readonly number[],
  bShape: readonly number[],
  transposeA: boolean,
  transposeB: boolean,
): MatMulPlan {
  if (aShape.length < 2 || bShape.length < 2) {
    throw new Error(
      `matMul expected inputs of rank >= 2, found shapes [${aShape}] and [${bShape}]`,
    );
  }
  const ra = aShape.length, rb = bShape.length;
  const m = transposeA ? aShape[ra - 1] : aShape[ra - 2];
  const ka = transposeA ? aShape[ra - 2] : aShape[ra - 1];
  const kb = transposeB ? bShape[rb - 1] : bShape[rb - 2];
  const n = transposeB ? bShape[rb - 2] : bShape[rb - 1];
  if (ka !== kb) {
    throw new Error(
      `matMul expected equal inner dimensions, found ${ka} and ${kb} for shapes [${aShape}] and ` +
        `[${bShape}] with transposeA=${transposeA}, transposeB=${transposeB}`,
    );
  }
  const aBatch = aShape.slice(0, -2), bBatch = bShape.slice(0, -2);
  const rank = Math.max(aBatch.length, bBatch.length);
  const batchShape: number[] = new Array(rank);
  const aDims: number[] = new Array(rank), bDims: number[] = new Array(rank);
  for (let i = 0; i < rank; i++) {
    const da = aBatch[i - (rank - aBatch.length)] ?? 1;
    const db = bBatch[i - (rank - bBatch.length)] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(
        `matMul expected broadcastable batch dimensions, found [${aBatch}] and [${bBatch}] ` +
          `(shapes [${aShape}] and [${bShape}])`,
      );
    }
    aDims[i] = da;
    bDims[i] = db;
    batchShape[i] = Math.max(da, db);
  }
  let total = 1;
  for (const d of batchShape) total *= d;
  const aIndex = new Int32Array(total), bIndex = new Int32Array(total);
  // Row-major strides of a and b over the padded batch shape; 0 where the dimension broadcasts.
  const aStr: number[] = new Array(rank), bStr: number[] = new Array(rank);
  let sa = 1, sb = 1;
  for (let i = rank - 1; i >= 0; i--) {
    aStr[i] = aDims[i] === 1 ? 0 : sa;
    bStr[i] = bDims[i] === 1 ? 0 : sb;
    sa *= aDims[i];
    sb *= bDims[i];
  }
  for (let flat = 0; flat < total; flat++) {
    let rem = flat, ia = 0, ib = 0;
    for (let i = rank - 1; i >= 0; i--) {
      const d = batchShape[i];
      const c = rem % d;
      rem = (rem - c) / d;
      ia += c * aStr[i];
      ib += c * bStr[i];
    }
    aIndex[flat] = ia;
    bIndex[flat] = ib;
  }
  return { m, n, k: ka, batchShape, aIndex, bIndex, outShape: [...batchShape, m, n] };
}

function float32Values(backend: CpuBackend, t: TensorInfo): Float32Array {
  const v = backend.data.get(t.dataId).values;
  if (v instanceof Float32Array) return v;
  return Float32Array.from(v as ArrayLike<number>);
}

/**
 * Computes `op(a) · op(b)` into a Float32Array with OpenBLAS. The array comes from the blas buffer
 * pool (`buffer_pool.ts`): it is this caller's own until a tensor that holds it is disposed.
 *
 * @example
 * ```ts
 * import { loadOpenBlas } from "./openblas.ts";
 * import { blasMatMulValues } from "./matmul.ts";
 * const r = loadOpenBlas();
 * if (r.ok) {
 *   const { values, shape } = blasMatMulValues(
 *     r.blas, new Float32Array([1, 2]), [1, 2], new Float32Array([3, 4]), [2, 1], false, false);
 *   console.log(values, shape); // Float32Array [11] [1, 1]
 * }
 * ```
 */
export function blasMatMulValues(
  blas: OpenBlas,
  aVals: Float32Array,
  aShape: readonly number[],
  bVals: Float32Array,
  bShape: readonly number[],
  transposeA: boolean,
  transposeB: boolean,
): { values: Float32Array; shape: number[] } {
  const p = planMatMul(aShape, bShape, transposeA, transposeB);
  const { m, n, k } = p;
  const batches = p.aIndex.length;
  if (batches * m * n === 0 || k === 0) {
    return { values: allocFloat32Zeroed(batches * m * n), shape: p.outShape };
  }
  // sgemm with beta = 0 writes every element: a pooled buffer's old contents do not matter.
  const out = allocFloat32(batches * m * n);
  const aSize = m * k, bSize = k * n, cSize = m * n;
  const bBatches = bVals.length / bSize;
  const aBatches = aVals.length / aSize;
  if (bBatches === 1 && !transposeA && aBatches === batches) {
    // a's batches are contiguous rows of one (batches·m)×k matrix.
    blas.sgemm(false, transposeB, batches * m, n, k, aVals, bVals, out);
    return { values: out, shape: p.outShape };
  }
  const { aIndex, bIndex } = p;
  for (let i = 0; i < batches; i++) {
    const ao = aIndex[i] * aSize, bo = bIndex[i] * bSize;
    blas.sgemm(
      transposeA,
      transposeB,
      m,
      n,
      k,
      aBatches === 1 ? aVals : aVals.subarray(ao, ao + aSize),
      bBatches === 1 ? bVals : bVals.subarray(bo, bo + bSize),
      batches === 1 ? out : out.subarray(i * cSize, (i + 1) * cSize),
    );
  }
  return { values: out, shape: p.outShape };
}

function cpuKernel(name: string): tf.KernelFunc {
  const k = tf.getKernel(name, "cpu");
  if (!k) {
    throw new Error(`expected the tfjs cpu backend to register kernel ${name}, found none`);
  }
  return k.kernelFunc;
}

/** `a · b` (with the attrs' transposes) of two float32 kernel inputs, through OpenBLAS. */
function product(
  blas: OpenBlas,
  backend: CpuBackend,
  a: TensorInfo,
  b: TensorInfo,
  attrs: MatMulAttrs,
): { values: Float32Array; shape: number[] } {
  return blasMatMulValues(
    blas,
    float32Values(backend, a),
    a.shape,
    float32Values(backend, b),
    b.shape,
    attrs.transposeA,
    attrs.transposeB,
  );
}

/**
 * Builds the `BatchMatMul` kernel function for a cpu-derived backend.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { loadOpenBlas } from "./openblas.ts";
 * import { makeBatchMatMul } from "./matmul.ts";
 * const r = loadOpenBlas();
 * if (r.ok) tf.registerKernel({ kernelName: "BatchMatMul", backendName: "blas", kernelFunc: makeBatchMatMul(r.blas) });
 * ```
 */
export function makeBatchMatMul(blas: OpenBlas): tf.KernelFunc {
  const fallback = cpuKernel(tf.BatchMatMul);
  const kernelFunc: tf.KernelFunc = (args) => {
    const { a, b } = args.inputs as unknown as MatMulInputs;
    const attrs = args.attrs as unknown as MatMulAttrs;
    if (a.dtype !== "float32" || b.dtype !== "float32") return fallback(args);
    const backend = args.backend as CpuBackend;
    const r = product(blas, backend, a, b, attrs);
    return backend.makeTensorInfo(r.shape, "float32", r.values);
  };
  libraryOfKernel.set(kernelFunc, blas);
  return kernelFunc;
}

/** The OpenBLAS library behind each `BatchMatMul` kernel function {@linkcode makeBatchMatMul} made. */
const libraryOfKernel = new WeakMap<tf.KernelFunc, OpenBlas>();

/**
 * The OpenBLAS library that `backendName`'s `BatchMatMul` kernel runs (one made by
 * {@linkcode makeBatchMatMul}), or `undefined` when that backend's matmul is not OpenBLAS. Fused
 * host kernels call it for their own products, so they use the very library (build, threads) the
 * backend's matmuls use.
 *
 * @example
 * ```ts
 * import { registerBlasBackend } from "./backend.ts";
 * import { blasOfBackend } from "./matmul.ts";
 * if (registerBlasBackend().ok) console.log(blasOfBackend("blas")?.library);
 * console.log(blasOfBackend("cpu")); // undefined
 * ```
 */
export function blasOfBackend(backendName: string): OpenBlas | undefined {
  const kernel = tf.getKernel(tf.BatchMatMul, backendName);
  return kernel ? libraryOfKernel.get(kernel.kernelFunc) : undefined;
}

/** Applies an activation in place; returns false when it is not one handled here. */
function activateInPlace(v: Float32Array, activation: string, alpha: number): boolean {
  const len = v.length;
  switch (activation) {
    case "linear":
      return true;
    case "relu":
      for (let i = 0; i < len; i++) if (v[i] < 0) v[i] = 0;
      return true;
    case "relu6":
      for (let i = 0; i < len; i++) v[i] = v[i] < 0 ? 0 : v[i] > 6 ? 6 : v[i];
      return true;
    case "leakyrelu":
      for (let i = 0; i < len; i++) if (v[i] < 0) v[i] *= alpha;
      return true;
    case "elu":
      for (let i = 0; i < len; i++) if (v[i] < 0) v[i] = Math.exp(v[i]) - 1;
      return true;
    case "sigmoid":
      for (let i = 0; i < len; i++) v[i] = 1 / (1 + Math.exp(-v[i]));
      return true;
    default:
      return false;
  }
}

/**
 * Builds the `_FusedMatMul` kernel function (matmul + optional bias + activation). A bias that is
 * a scalar or a vector over the last output dimension and the activations linear, relu, relu6,
 * leakyrelu, elu and sigmoid are applied in one pass over the result; anything else (prelu, other
 * bias shapes) is delegated to the cpu backend's `Add` / activation kernels.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { loadOpenBlas } from "./openblas.ts";
 * import { makeFusedMatMul } from "./matmul.ts";
 * const r = loadOpenBlas();
 * if (r.ok) tf.registerKernel({ kernelName: "_FusedMatMul", backendName: "blas", kernelFunc: makeFusedMatMul(r.blas) });
 * ```
 */
export function makeFusedMatMul(blas: OpenBlas): tf.KernelFunc {
  const fallback = cpuKernel(tf._FusedMatMul);
  const add = cpuKernel(tf.Add);
  return (args) => {
    const { a, b, bias, preluActivationWeights } = args.inputs as unknown as MatMulInputs;
    const attrs = args.attrs as unknown as MatMulAttrs;
    if (a.dtype !== "float32" || b.dtype !== "float32") return fallback(args);
    const backend = args.backend as CpuBackend;
    const r = product(blas, backend, a, b, attrs);
    const v = r.values;
    const n = r.shape[r.shape.length - 1];
    let biasDone = bias === undefined;
    if (bias !== undefined && bias.dtype === "float32") {
      const bv = float32Values(backend, bias);
      const size = bv.length;
      const vectorOverLast = bias.shape.length <= 1 ||
        bias.shape.slice(0, -1).every((d: number) => d === 1);
      if (size === 1) {
        const c = bv[0];
        for (let i = 0; i < v.length; i++) v[i] += c;
        biasDone = true;
      } else if (vectorOverLast && size === n && bias.shape.length <= r.shape.length) {
        for (let o = 0; o < v.length; o += n) {
          for (let j = 0; j < n; j++) v[o + j] += bv[j];
        }
        biasDone = true;
      }
    }
    const activation = attrs.activation ?? "linear";
    let current = backend.makeTensorInfo(r.shape, "float32", v);
    if (!biasDone) {
      const added = add({ inputs: { a: current, b: bias! }, backend }) as TensorInfo;
      backend.disposeIntermediateTensorInfo(current);
      current = added;
    }
    const cv = backend.data.get(current.dataId).values as Float32Array;
    if (activateInPlace(cv, activation, attrs.leakyreluAlpha ?? 0.2)) return current;
    if (activation !== "prelu") {
      backend.disposeIntermediateTensorInfo(current);
      throw new Error(
        `_FusedMatMul expected activation linear, relu, relu6, leakyrelu, elu, sigmoid or prelu, ` +
          `found ${activation}`,
      );
    }
    const out = cpuKernel(tf.Prelu)({
      inputs: { x: current, alpha: preluActivationWeights! },
      backend,
      attrs: {},
    }) as TensorInfo;
    backend.disposeIntermediateTensorInfo(current);
    return out;
  };
}
