/**
 * float32 reductions (Sum, Mean, Max, Min) over any set of axes without a transpose.
 *
 * The tfjs cpu backend transposes the reduced axes to the end before reducing (a slow generic
 * transpose), and `Mean` also divides the whole input first. Here the shape is coalesced into
 * alternating kept/reduced blocks and walked once in memory order: an innermost reduced block
 * accumulates into a scalar, an innermost kept block accumulates a row into the output.
 *
 * @module
 */
import type * as tf from "../../deps/tf.ts";

/** Reductions implemented here. */
export type ReduceOp = "sum" | "mean" | "max" | "min";

/** Normalises an axis attribute (number, array, negative, undefined = all) for a given rank. */
function normaliseAxes(axis: number | number[] | undefined | null, rank: number): boolean[] {
  const flags = new Array<boolean>(rank).fill(axis === undefined || axis === null);
  if (axis === undefined || axis === null) return flags;
  for (const a0 of Array.isArray(axis) ? axis : [axis]) {
    const a = a0 < 0 ? a0 + rank : a0;
    if (!Number.isInteger(a) || a < 0 || a >= rank) {
      throw new Error(`expected reduction axes in [-${rank}, ${rank}), found ${a0}`);
    }
    flags[a] = true;
  }
  return flags;
}

/**
 * Reduces `x` over `axis` (all axes when undefined).
 *
 * @example
 * ```ts
 * import { reduce } from "./fast_reduce.ts";
 * const r = reduce("sum", new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3], 0, false);
 * console.log(r.values, r.shape); // Float32Array [5, 7, 9] [3]
 * ```
 */
export function reduce(
  op: ReduceOp,
  x: Float32Array,
  shape: readonly number[],
  axis: number | number[] | undefined | null,
  keepDims: boolean,
): { values: Float32Array; shape: number[] } {
  const rank = shape.length;
  const red = normaliseAxes(axis, rank);
  const outShape: number[] = [];
  let outSize = 1, count = 1;
  for (let i = 0; i < rank; i++) {
    if (red[i]) {
      count *= shape[i];
      if (keepDims) outShape.push(1);
    } else {
      outShape.push(shape[i]);
      outSize *= shape[i];
    }
  }
  const init = op === "max" ? -Infinity : op === "min" ? Infinity : 0;
  const acc = new Float64Array(outSize).fill(init);
  if (x.length > 0 && outSize > 0) {
    // Coalesce into blocks (size-1 dims dropped); kept blocks carry output strides.
    const dims: number[] = [], isRed: boolean[] = [];
    for (let i = 0; i < rank; i++) {
      if (shape[i] === 1) continue;
      const last = dims.length - 1;
      if (last >= 0 && isRed[last] === red[i]) dims[last] *= shape[i];
      else {
        dims.push(shape[i]);
        isRed.push(red[i]);
      }
    }
    if (dims.length === 0) {
      dims.push(1);
      isRed.push(true);
    }
    const k = dims.length;
    const oStr = new Array<number>(k);
    for (let i = k - 1, s = 1; i >= 0; i--) {
      oStr[i] = isRed[i] ? 0 : s;
      if (!isRed[i]) s *= dims[i];
    }
    const inner = dims[k - 1], innerRed = isRed[k - 1];
    const idx = new Array<number>(k).fill(0);
    let o = 0;
    for (let p = 0; p < x.length; p += inner) {
      if (innerRed) {
        let s = acc[o];
        if (op === "sum" || op === "mean") { for (let j = 0; j < inner; j++) s += x[p + j]; }
        else if (op === "max") {
          for (let j = 0; j < inner; j++) {
            const v = x[p + j];
            if (v > s || Number.isNaN(v)) s = v;
          }
        } else {
          for (let j = 0; j < inner; j++) {
            const v = x[p + j];
            if (v < s || Number.isNaN(v)) s = v;
          }
        }
        acc[o] = s;
      } else if (op === "sum" || op === "mean") {
        for (let j = 0; j < inner; j++) acc[o + j] += x[p + j];
      } else if (op === "max") {
        for (let j = 0; j < inner; j++) {
          const v = x[p + j];
          if (v > acc[o + j] || Number.isNaN(v)) acc[o + j] = v;
        }
      } else {
        for (let j = 0; j < inner; j++) {
          const v = x[p + j];
          if (v < acc[o + j] || Number.isNaN(v)) acc[o + j] = v;
        }
      }
      for (let d = k - 2; d >= 0; d--) {
        idx[d]++;
        o += oStr[d];
        if (idx[d] < dims[d]) break;
        o -= oStr[d] * dims[d];
        idx[d] = 0;
      }
    }
  }
  const values = new Float32Array(outSize);
  if (op === "mean") { for (let i = 0; i < outSize; i++) values[i] = acc[i] / count; }
  else values.set(acc);
  if (x.length === 0 && op === "mean") values.fill(NaN);
  return { values, shape: outShape };
}

/**
 * Wraps {@linkcode reduce} as a tfjs kernel function (attributes `axis` or `reductionIndices`,
 * `keepDims`); non-float32 inputs go to `fallback`.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { makeReduceKernel } from "./fast_reduce.ts";
 * const sum = makeReduceKernel("sum", tf.getKernel("Sum", "cpu")!.kernelFunc);
 * ```
 */
export function makeReduceKernel(op: ReduceOp, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x } = args.inputs as unknown as { x: tf.TensorInfo };
    if (x.dtype !== "float32") return fallback(args);
    const backend = args.backend as tf.MathBackendCPU;
    const xv = backend.data.get(x.dataId).values;
    if (!(xv instanceof Float32Array)) return fallback(args);
    const attrs = args.attrs as unknown as {
      axis?: number | number[];
      reductionIndices?: number | number[];
      keepDims?: boolean;
    };
    const axis = op === "max" || op === "min" ? attrs.reductionIndices : attrs.axis;
    const r = reduce(op, xv, x.shape, axis, attrs.keepDims ?? false);
    return backend.makeTensorInfo(r.shape, "float32", r.values);
  };
}
