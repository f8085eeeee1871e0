/**
 * The pure-JS kernel replacements the `"blas"` backend registers over the cpu backend's versions.
 *
 * @module
 */
import * as tf from "../../deps/tf.ts";
import { BINARY_KERNELS, makeBinaryKernel } from "./fast_binary.ts";
import { makeReduceKernel, type ReduceOp } from "./fast_reduce.ts";
import { makeSoftmaxKernel } from "./fast_softmax.ts";
import { makeTransposeKernel } from "./fast_transpose.ts";
import { makeUnaryKernel, UNARY_KERNELS } from "./fast_unary.ts";

const REDUCE_KERNELS: Readonly<Record<string, ReduceOp>> = {
  Sum: "sum",
  Mean: "mean",
  Max: "max",
  Min: "min",
};

/**
 * `[kernelName, kernelFunc]` pairs for the fast kernels; each falls back to the cpu backend's
 * kernel for dtypes or attributes it does not handle.
 *
 * @example
 * ```ts
 * import { fastKernels } from "./fast_kernels.ts";
 * console.log(fastKernels().map(([name]) => name));
 * ```
 */
export function fastKernels(): [string, tf.KernelFunc][] {
  const cpu = (name: string): tf.KernelFunc => {
    const k = tf.getKernel(name, "cpu");
    if (!k) throw new Error(`expected the tfjs cpu backend to register ${name}, found none`);
    return k.kernelFunc;
  };
  const out: [string, tf.KernelFunc][] = [];
  for (const [name, op] of Object.entries(BINARY_KERNELS)) {
    out.push([name, makeBinaryKernel(op, cpu(name))]);
  }
  for (const [name, op] of Object.entries(REDUCE_KERNELS)) {
    out.push([name, makeReduceKernel(op, cpu(name))]);
  }
  for (const [name, op] of Object.entries(UNARY_KERNELS)) {
    out.push([name, makeUnaryKernel(op, cpu(name))]);
  }
  out.push([tf.Transpose, makeTransposeKernel(cpu(tf.Transpose))]);
  out.push([tf.Softmax, makeSoftmaxKernel(cpu(tf.Softmax))]);
  return out;
}
