/**
 * A strided Transpose kernel for cpu-derived backends.
 *
 * The tfjs cpu backend allocates two location arrays per element. Here size-1 dimensions are
 * dropped and dimensions that stay adjacent under the permutation merge, then the output is
 * written in order with an odometer over the input strides; when the innermost dimension stays
 * innermost (e.g. the `[B,S,H,d] → [B,H,S,d]` head split) each run is a contiguous copy.
 *
 * @module
 */
import type * as tf from "../../deps/tf.ts";
import { allocFloat32 } from "./buffer_pool.ts";

type Typed = Float32Array | Int32Array | Uint8Array;

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
export function transposeValues<T extends Typed>(
  x: T,
  shape: readonly number[],
  perm: readonly number[],
): { values: T; shape: number[] } {
  const rank = shape.length;
  if (perm.length !== rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    throw new Error(`expected a permutation of 0..${rank - 1}, found [${perm}]`);
  }
  const outShape = perm.map((p) => shape[p]);
  const out = x instanceof Float32Array
    ? allocFloat32(x.length) as T
    : new (x.constructor as { new (n: number): T })(x.length);
  if (x.length === 0) return { values: out, shape: outShape };
  // Input strides, then the output-ordered list of (size, input stride) with merging.
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
  const k = dims.length;
  if (k <= 1) {
    out.set(x);
    return { values: out, shape: outShape };
  }
  const inner = dims[k - 1], is = strides[k - 1];
  const idx = new Array<number>(k).fill(0);
  let p = 0;
  for (let o = 0; o < out.length; o += inner) {
    if (is === 1 && inner >= 256) out.set(x.subarray(p, p + inner), o);
    else for (let j = 0, q = p; j < inner; j++, q += is) out[o + j] = x[q];
    for (let d = k - 2; d >= 0; d--) {
      idx[d]++;
      p += strides[d];
      if (idx[d] < dims[d]) break;
      p -= strides[d] * dims[d];
      idx[d] = 0;
    }
  }
  return { values: out, shape: outShape };
}

/**
 * Wraps {@linkcode transposeValues} as the `Transpose` kernel; strings and complex numbers go
 * to `fallback`.
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
    const r = transposeValues(xv, x.shape, perm);
    return backend.makeTensorInfo(r.shape, x.dtype, r.values);
  };
}
