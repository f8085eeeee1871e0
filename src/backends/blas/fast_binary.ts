/**
 * Broadcasting float32 binary kernels (Add, Sub, Multiply, RealDiv, Maximum, Minimum,
 * SquaredDifference) for cpu-derived backends.
 *
 * The tfjs cpu backend computes a broadcast element by converting its flat index to a location
 * array and back (`indexToLoc` / `locToIndex`) — tens of nanoseconds per element. Here the shapes
 * are first coalesced (adjacent dimensions with the same broadcast pattern merge), then the
 * innermost dimension runs as a tight strided loop, so `x[1024,768] + bias[768]` is 1024 runs of
 * 768 and `x[1024,256] - mean[1024,1]` is 1024 runs with a scalar.
 *
 * @module
 */
import type * as tf from "../../deps/tf.ts";
import { allocFloat32 } from "./buffer_pool.ts";
import { activeNativeKernels } from "./native.ts";

/** Rows shorter than this run in JavaScript (a native call costs about as much as 64 adds). */
const NATIVE_MIN_INNER = 64;

/** Binary operations implemented here. */
export type BinaryOp = "add" | "sub" | "mul" | "div" | "max" | "min" | "sqdiff";

/** Maps tfjs kernel names to the operations of {@linkcode broadcastBinary}. */
export const BINARY_KERNELS: Readonly<Record<string, BinaryOp>> = {
  Add: "add",
  Sub: "sub",
  Multiply: "mul",
  RealDiv: "div",
  Maximum: "max",
  Minimum: "min",
  SquaredDifference: "sqdiff",
};

/**
 * NumPy broadcast of two shapes, or an error naming both shapes.
 *
 * @example
 * ```ts
 * import { broadcastShapes } from "./fast_binary.ts";
 * console.log(broadcastShapes([4, 1, 3], [2, 1])); // [4, 2, 3]
 * ```
 */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = new Array(r);
  for (let i = 0; i < r; i++) {
    const da = a[i - (r - a.length)] ?? 1, db = b[i - (r - b.length)] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(
        `expected broadcastable shapes, found [${a}] and [${b}] (dimension ${i}: ${da} vs ${db})`,
      );
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** `out[o + i] = a[ai + i·as] op b[bi + i·bs]` for `i < n`. */
function run(
  op: BinaryOp,
  out: Float32Array,
  o: number,
  a: Float32Array,
  ai: number,
  as: number,
  b: Float32Array,
  bi: number,
  bs: number,
  n: number,
): void {
  switch (op) {
    case "add":
      for (let i = 0; i < n; i++, ai += as, bi += bs) out[o + i] = a[ai] + b[bi];
      return;
    case "sub":
      for (let i = 0; i < n; i++, ai += as, bi += bs) out[o + i] = a[ai] - b[bi];
      return;
    case "mul":
      for (let i = 0; i < n; i++, ai += as, bi += bs) out[o + i] = a[ai] * b[bi];
      return;
    case "div":
      for (let i = 0; i < n; i++, ai += as, bi += bs) out[o + i] = a[ai] / b[bi];
      return;
    case "max":
      for (let i = 0; i < n; i++, ai += as, bi += bs) out[o + i] = Math.max(a[ai], b[bi]);
      return;
    case "min":
      for (let i = 0; i < n; i++, ai += as, bi += bs) out[o + i] = Math.min(a[ai], b[bi]);
      return;
    case "sqdiff":
      for (let i = 0; i < n; i++, ai += as, bi += bs) {
        const d = a[ai] - b[bi];
        out[o + i] = d * d;
      }
      return;
  }
}

/**
 * Computes `a op b` with NumPy broadcasting into a new Float32Array.
 *
 * @example
 * ```ts
 * import { broadcastBinary } from "./fast_binary.ts";
 * const r = broadcastBinary("add", new Float32Array([1, 2, 3, 4]), [2, 2], new Float32Array([10, 20]), [2]);
 * console.log(r.values, r.shape); // Float32Array [11, 22, 13, 24] [2, 2]
 * ```
 */
export function broadcastBinary(
  op: BinaryOp,
  a: Float32Array,
  aShape: readonly number[],
  b: Float32Array,
  bShape: readonly number[],
): { values: Float32Array; shape: number[] } {
  const shape = broadcastShapes(aShape, bShape);
  let size = 1;
  for (const d of shape) size *= d;
  const out = allocFloat32(size);
  if (size === 0) return { values: out, shape };
  const native = activeNativeKernels();
  const flat = (as: number, bs: number) => {
    if (native && size >= NATIVE_MIN_INNER) native.binary(op, a, 0, as, b, 0, bs, out, 1, size);
    else run(op, out, 0, a, 0, as, b, 0, bs, size);
    return { values: out, shape };
  };
  if (a.length === size && b.length === size) return flat(1, 1);
  if (b.length === 1) return flat(1, 0);
  if (a.length === 1) return flat(0, 1);
  // Coalesce: drop size-1 output dims; merge neighbours whose a/b broadcast flags agree.
  const r = shape.length;
  const dims: number[] = [], aB: boolean[] = [], bB: boolean[] = [];
  for (let i = 0; i < r; i++) {
    const d = shape[i];
    if (d === 1) continue;
    const ab = (aShape[i - (r - aShape.length)] ?? 1) === 1;
    const bb = (bShape[i - (r - bShape.length)] ?? 1) === 1;
    const last = dims.length - 1;
    if (last >= 0 && aB[last] === ab && bB[last] === bb) dims[last] *= d;
    else {
      dims.push(d);
      aB.push(ab);
      bB.push(bb);
    }
  }
  const k = dims.length;
  const aStr = new Array<number>(k), bStr = new Array<number>(k);
  for (let i = k - 1, sa = 1, sb = 1; i >= 0; i--) {
    aStr[i] = aB[i] ? 0 : sa;
    bStr[i] = bB[i] ? 0 : sb;
    if (!aB[i]) sa *= dims[i];
    if (!bB[i]) sb *= dims[i];
  }
  const inner = dims[k - 1], ias = aStr[k - 1], ibs = bStr[k - 1];
  if (native && k === 2 && inner >= NATIVE_MIN_INNER / 4) {
    // One call for (rows, inner), e.g. a bias added to every row.
    native.binary(op, a, aStr[0], ias, b, bStr[0], ibs, out, dims[0], inner);
    return { values: out, shape };
  }
  const rowRun = native && inner >= NATIVE_MIN_INNER
    ? (o: number, ai: number, bi: number) =>
      native.binary(op, a.subarray(ai), 0, ias, b.subarray(bi), 0, ibs, out.subarray(o), 1, inner)
    : (o: number, ai: number, bi: number) => run(op, out, o, a, ai, ias, b, bi, ibs, inner);
  const idx = new Array<number>(k).fill(0);
  let ai = 0, bi = 0;
  for (let o = 0; o < size; o += inner) {
    rowRun(o, ai, bi);
    // Odometer over the outer dimensions.
    for (let d = k - 2; d >= 0; d--) {
      idx[d]++;
      ai += aStr[d];
      bi += bStr[d];
      if (idx[d] < dims[d]) break;
      ai -= aStr[d] * dims[d];
      bi -= bStr[d] * dims[d];
      idx[d] = 0;
    }
  }
  return { values: out, shape };
}

type CpuBackend = tf.MathBackendCPU;

/**
 * Wraps {@linkcode broadcastBinary} as a kernel function; non-float32 inputs go to `fallback`.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { makeBinaryKernel } from "./fast_binary.ts";
 * const add = makeBinaryKernel("add", tf.getKernel("Add", "cpu")!.kernelFunc);
 * ```
 */
export function makeBinaryKernel(op: BinaryOp, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { a, b } = args.inputs as unknown as { a: tf.TensorInfo; b: tf.TensorInfo };
    if (a.dtype !== "float32" || b.dtype !== "float32") return fallback(args);
    const backend = args.backend as CpuBackend;
    const av = backend.data.get(a.dataId).values, bv = backend.data.get(b.dataId).values;
    if (!(av instanceof Float32Array) || !(bv instanceof Float32Array)) return fallback(args);
    const r = broadcastBinary(op, av, a.shape, bv, b.shape);
    return backend.makeTensorInfo(r.shape, "float32", r.values);
  };
}
