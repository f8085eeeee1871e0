/**
 * Floor 1: starting a tfjs backend (webgpu, wasm, cpu, blas, auto), the blas backend (OpenBLAS
 * through Deno FFI and host kernels), fused WGSL kernels for webgpu, corrections of stock tfjs kernels, and a kernel tracer.
 *
 * @module
 */
export * from "./setup.ts";
export { blasInfo } from "./blas/backend.ts";
export { MALLOC_TUNING, mallocTuning, type MallocTuningResult } from "./blas/malloc.ts";
export { registerWebGPUFusedKernels, WEBGPU_FUSED_KERNELS } from "./webgpu/mod.ts";
export {
  type KernelCall,
  recordKernelCalls,
  traceKernels,
  traceKernelsSync,
} from "./kernel_trace.ts";
