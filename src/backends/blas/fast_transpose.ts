/**
 * A Transpose kernel for cpu-derived backends.
 *
 * The tfjs cpu backend allocates two location arrays per element. Here size-1 dimensions are
 * dropped and dimensions that stay adjacent under the permutation merge; then
 *
 * - a permutation that moves no data (only size-1 axes move, e.g. `[0, 1]` in `gather`'s
 *   gradient) copies nothing in the kernel: the output shares the input's data, as `Reshape` does;
 * - when the innermost dimension stays innermost (the `[B, S, H, d] → [B, H, S, d]` head split),
 *   each run of `d` is one copy (a loop for short runs, `set` for long ones);
 * - otherwise (a matrix transpose, the ViT's patch extraction) the input's and the output's
 *   innermost dimensions are copied in {@linkcode TRANSPOSE_TILE}² tiles, so that both the reads
 *   and the writes of a tile stay in the cache.
 *
 * Float32 outputs come from the buffer pool (`buffer_pool.ts`).
 *
 * @module
 */
import type * as tf from "../../deps/tf.ts";
import { allocLike, type CopyValues } from "./copy_kernels.ts";
import { copyRows } from "../host_kernels.ts";

/** Edge of the square tiles of the cache-blocked path (elements). */
export const TRANSPOSE_TILE = 32;

/** The permutation as output-ordered merged dimensions and their input strides. */
function mergeAxes(
  shape: readonly number[],
  perm: readonly number[],
): { dims: number[]; strides: number[] } {
  const rank = shape.length;
  const inStr = new Array<number>(rank);
  for (let i = rank - 1, s = 1; i >= 0; i--) {
    inStr[i] = s;
    s *= shape[i];
  }
  const dims: number[] = [], strides: number[] = [];
  for (let i = 0; i < rank; i++) {
    const d = shape[perm[i]];
    if (d === 1) continue;
    const st = inStr[perm[i]];
    const last = dims.length - 1;
    // Output-adjacent dims merge when the outer one's stride is the inner one's stride × size.
    if (last >= 0 && strides[last] === st * d) {
      dims[last] *= d;
      strides[last] = st;
    } else {
      dims.push(d);
      strides.push(st);
    }
  }
  return { dims, strides };
}

function checkPerm(shape: readonly number[], perm: readonly number[]): void {
  const rank = shape.length;
  if (perm.length !== rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    throw new Error(`expected a permutation of 0..${rank - 1}, found [${perm}]`);
  }
}

/**
 * Permutes the axes of `x` (`out.shape[i] = shape[perm[i]]`) into a new array of the same type.
 *
 * @example
 * ```ts
 * import { transposeValues } from "./fast_transpose.ts";
 * const r = transposeValues(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3], [1, 0]);
 * console.log(r.values, r.shape); // Float32Array [1, 4, 2, 5, 3, 6] [3, 2]
 * ```
 */
export function transposeValues<T extends CopyValues>(
  x: T,
  shape: readonly number[],
  perm: readonly number[],
): { values: T; shape: number[] } {
  checkPerm(shape, perm);
  const outShape = perm.map((p) => shape[p]);
  const out = allocLike(x, x.length);
  if (x.length === 0) return { values: out, shape: outShape };
  const { dims, strides } = mergeAxes(shape, perm);
  const k = dims.length;
  if (k <= 1) out.set(x);
  else if (strides[k - 1] === 1) copyRuns(x, out, dims, strides);
  else copyTiles(x, out, dims, strides);
  return { values: out, shape: outShape };
}

/** The innermost dimension stays innermost: rows of `dims[k-1]` contiguous elements. */
function copyRuns(x: CopyValues, out: CopyValues, dims: number[], strides: number[]): void {
  const k = dims.length;
  const run = dims[k - 1], rows = dims[k - 2], rowStride = strides[k - 2];
  const block = rows * run;
  const idx = new Array<number>(k - 2).fill(0);
  let p = 0;
  for (let o = 0; o < out.length; o += block) {
    copyRows(x, p, rowStride, out, o, run, rows, run);
    for (let d = k - 3; d >= 0; d--) {
      idx[d]++;
      p += strides[d];
      if (idx[d] < dims[d]) break;
      p -= strides[d] * dims[d];
      idx[d] = 0;
    }
  }
}

/**
 * The innermost dimension moves: tiles over the input's innermost dimension `j` (stride 1) and
 * the output's (`k - 1`), for every index of the other dimensions (in output order).
 */
function copyTiles(x: CopyValues, out: CopyValues, dims: number[], strides: number[]): void {
  const k = dims.length;
  const j = strides.indexOf(1);
  const outStr = new Array<number>(k);
  for (let i = k - 1, s = 1; i >= 0; i--) {
    outStr[i] = s;
    s *= dims[i];
  }
  const A = dims[j], aOut = outStr[j];
  const B = dims[k - 1], bIn = strides[k - 1];
  const rest: number[] = [];
  for (let i = 0; i < k - 1; i++) if (i !== j) rest.push(i);
  const r = rest.length;
  const idx = new Array<number>(r).fill(0);
  const T = TRANSPOSE_TILE;
  let p = 0, o = 0;
  for (;;) {
    for (let a0 = 0; a0 < A; a0 += T) {
      const a1 = Math.min(a0 + T, A);
      for (let b0 = 0; b0 < B; b0 += T) {
        const b1 = Math.min(b0 + T, B);
        for (let a = a0; a < a1; a++) {
          let q = p + a + b0 * bIn;
          const w = o + a * aOut;
          for (let b = b0; b < b1; b++, q += bIn) out[w + b] = x[q];
        }
      }
    }
    let d = r - 1;
    for (; d >= 0; d--) {
      const i = rest[d];
      idx[d]++;
      p += strides[i];
      o += outStr[i];
      if (idx[d] < dims[i]) break;
      p -= strides[i] * dims[i];
      o -= outStr[i] * dims[i];
      idx[d] = 0;
    }
    if (d < 0) break;
  }
}

/**
 * Wraps {@linkcode transposeValues} as the `Transpose` kernel; strings and complex numbers go
 * to `fallback`. A permutation that moves no data returns the input's data (no copy).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { makeTransposeKernel } from "./fast_transpose.ts";
 * const transpose = makeTransposeKernel(tf.getKernel("Transpose", "cpu")!.kernelFunc);
 * ```
 */
export function makeTransposeKernel(fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x } = args.inputs as unknown as { x: tf.TensorInfo };
    const { perm } = args.attrs as unknown as { perm: number[] };
    const backend = args.backend as tf.MathBackendCPU;
    const xv = backend.data.get(x.dataId).values;
    if (
      !(xv instanceof Float32Array || xv instanceof Int32Array || xv instanceof Uint8Array) ||
      x.dtype === "complex64" || x.dtype === "string"
    ) {
      return fallback(args);
    }
    checkPerm(x.shape, perm);
    if (mergeAxes(x.shape, perm).dims.length <= 1) {
      backend.incRef(x.dataId);
      return { dataId: x.dataId, shape: perm.map((p) => x.shape[p]), dtype: x.dtype };
    }
    const r = transposeValues(xv, x.shape, perm);
    return backend.makeTensorInfo(r.shape, x.dtype, r.values);
  };
}
