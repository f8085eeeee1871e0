/**
 * Reading inputs and making outputs of custom kernels on cpu-family backends
 * (`cpu`, `blas`), whose tensors live in JS typed arrays.
 *
 * @module
 */
import type * as tf from "../deps/tf.ts";

/** The part of tfjs's MathBackendCPU that custom kernels use. */
export interface CpuBackend {
  data: { get(id: unknown): { values: Float32Array | Int32Array } };
  makeTensorInfo(
    shape: number[],
    dtype: tf.DataType,
    values: Float32Array | Int32Array,
  ): tf.TensorInfo;
}

/**
 * A kernel input's values (no copy).
 *
 * @example
 * ```ts ignore
 * const x = cpuValues(backend, inputs.x) as Float32Array;
 * ```
 */
export function cpuValues(backend: unknown, t: tf.TensorInfo): Float32Array | Int32Array {
  return (backend as CpuBackend).data.get(t.dataId).values;
}

/**
 * A kernel output holding `values` (adopted, not copied).
 *
 * @example
 * ```ts ignore
 * return cpuOutput(backend, [n], new Float32Array(n));
 * ```
 */
export function cpuOutput(
  backend: unknown,
  shape: number[],
  values: Float32Array | Int32Array,
  dtype: tf.DataType = values instanceof Int32Array ? "int32" : "float32",
): tf.TensorInfo {
  return (backend as CpuBackend).makeTensorInfo(shape, dtype, values);
}

/**
 * A kernel input's float32 values (no copy), or a TypeError naming the kernel, the input and the
 * dtype found.
 *
 * @example
 * ```ts ignore
 * const x = cpuFloat32(backend, inputs.x, "CocaGelu", "x");
 * ```
 */
export function cpuFloat32(
  backend: unknown,
  t: tf.TensorInfo,
  kernel: string,
  name: string,
): Float32Array {
  const v = cpuValues(backend, t);
  if (t.dtype !== "float32" || !(v instanceof Float32Array)) {
    throw new TypeError(`${kernel} expected float32 ${name}, found ${t.dtype}`);
  }
  return v;
}
