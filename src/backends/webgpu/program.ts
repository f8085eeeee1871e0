/**
 * What the fused WebGPU kernels share: running a program through the backend's
 * `runWebGPUProgram` (the program API tfjs-webgpu's own kernels use), the WGSL of a workgroup
 * sum and max, and the workgroup size of a row kernel.
 *
 * Shapes never go into the WGSL: tfjs caches a compiled shader by its `shaderKey` plus the
 * ranks and dtypes of its tensors, not their sizes (the stock reverse `Cumsum` baked a length
 * into its code and reused it for every later length, see `kernel_fixes.ts`), so every size is a
 * uniform and only the workgroup size and a kernel's variant are in the key.
 *
 * @module
 */
import type * as tf from "../../deps/tf.ts";
import type { WebGPUBackend, WebGPUProgram } from "../../deps/tfjs_webgpu.ts";

/** A program-defined uniform value (`int32` or `float32`), in the order of `uniforms`. */
export interface Uniform {
  type: "int32" | "float32";
  data: number[];
}

/** A fused kernel's program: tfjs's {@linkcode WebGPUProgram}. */
export type FusedProgram = WebGPUProgram;

/**
 * Run `program` on `inputs` through the backend's `runWebGPUProgram`: one compute dispatch.
 *
 * @example
 * ```ts ignore
 * const y = runProgram(backend, program, [x], "float32", [{ type: "int32", data: [cols] }]);
 * ```
 */
export function runProgram(
  backend: unknown,
  program: FusedProgram,
  inputs: tf.TensorInfo[],
  dtype: tf.DataType,
  uniforms: Uniform[],
): tf.TensorInfo {
  return (backend as WebGPUBackend).runWebGPUProgram(program, inputs, dtype, uniforms);
}

/**
 * The workgroup size of a kernel that gives one workgroup to each row of `cols` values: 64
 * threads, 256 from 2048 columns on (a vocabulary row).
 *
 * @example
 * ```ts
 * import { rowWorkgroupSize } from "./program.ts";
 * console.log(rowWorkgroupSize(512), rowWorkgroupSize(20000)); // 64 256
 * ```
 */
export function rowWorkgroupSize(cols: number): number {
  return cols >= 2048 ? 256 : 64;
}

/**
 * WGSL for a row kernel with `wg` threads: a workgroup array and `wgSum(tid, v)` / `wgMax(tid,
 * v)`, which every thread of the workgroup calls with its partial value and which return the
 * total (a tree over the threads' partials, so a row's sum is a serial sum of `cols / wg`
 * values per thread, then pairwise). Call them from uniform control flow only (all threads).
 *
 * @example
 * ```ts
 * import { workgroupReduceWgsl } from "./program.ts";
 * console.log(workgroupReduceWgsl(64).includes("fn wgSum")); // true
 * ```
 */
export function workgroupReduceWgsl(wg: number): string {
  return `
    const WG : i32 = ${wg};
    var<workgroup> wgBuf : array<f32, ${wg}>;
    fn wgSum(tid : i32, v : f32) -> f32 {
      wgBuf[tid] = v;
      workgroupBarrier();
      for (var s = WG / 2; s > 0; s = s / 2) {
        if (tid < s) {
          wgBuf[tid] = wgBuf[tid] + wgBuf[tid + s];
        }
        workgroupBarrier();
      }
      let total = wgBuf[0];
      workgroupBarrier();
      return total;
    }
    fn wgMax(tid : i32, v : f32) -> f32 {
      wgBuf[tid] = v;
      workgroupBarrier();
      for (var s = WG / 2; s > 0; s = s / 2) {
        if (tid < s) {
          wgBuf[tid] = max(wgBuf[tid], wgBuf[tid + s]);
        }
        workgroupBarrier();
      }
      let total = wgBuf[0];
      workgroupBarrier();
      return total;
    }
  `;
}

/**
 * A program that gives one workgroup of `wg` threads to each of `rows` rows; its `main(index)`
 * gets the global invocation index (`row = index / WG`, `tid = i32(localId.x)`).
 *
 * @example
 * ```ts ignore
 * const program = rowProgram("cocaLayerNorm", ["x", "scale", "shift"], x.shape, rows, 64, body);
 * ```
 */
export function rowProgram(
  key: string,
  variableNames: string[],
  outputShape: number[],
  rows: number,
  wg: number,
  uniforms: string,
  body: string,
): FusedProgram {
  return {
    variableNames,
    outputShape,
    shaderKey: key,
    dispatchLayout: { x: outputShape.map((_, i) => i) },
    dispatch: [rows, 1, 1],
    workgroupSize: [wg, 1, 1],
    uniforms,
    getUserCode: () => `${workgroupReduceWgsl(wg)}\n${body}`,
  };
}

/**
 * A program with one thread per element of a flat output of `size` elements; its
 * `main(index)` gets the element index and must skip `index >= uniforms.size`.
 *
 * @example
 * ```ts ignore
 * const program = elementwiseProgram("cocaSwiGLU", ["t"], [rows, F], uniforms, body);
 * ```
 */
export function elementwiseProgram(
  key: string,
  variableNames: string[],
  outputShape: number[],
  uniforms: string,
  body: string,
): FusedProgram {
  const size = outputShape.reduce((a, b) => a * b, 1);
  const wg = 64;
  return {
    variableNames,
    outputShape,
    shaderKey: key,
    dispatchLayout: { x: outputShape.map((_, i) => i) },
    dispatch: [Math.ceil(size / wg), 1, 1],
    workgroupSize: [wg, 1, 1],
    size: true,
    uniforms,
    getUserCode: () => body,
  };
}
