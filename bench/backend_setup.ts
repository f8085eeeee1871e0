/**
 * Bench-local helper that activates a tfjs backend by name: `cpu`, `wasm`, `webgpu` or `blas`.
 * Meant to be replaced by `src/backend.ts` once that covers `blas` too.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { blasInfo, registerBlasBackend } from "../src/backends/blas.ts";

/** Backends the benches try, in order. */
export const BENCH_BACKENDS = ["cpu", "wasm", "webgpu", "blas"] as const;

/** Outcome of {@linkcode setBenchBackend}. */
export type BenchBackendResult =
  | { ok: true; name: string; detail: string }
  | { ok: false; name: string; reason: string };

let prepared = false;
let webgpuDescription = "";

/** tfjs-backend-wasm's dist/ folder in node_modules, as a file URL string ending in "/". */
function wasmDistUrl(): string {
  return new URL("../node_modules/@tensorflow/tfjs-backend-wasm/dist/", import.meta.url).href;
}

async function makeWebGpu(): Promise<WebGPUBackend> {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) throw new Error("expected navigator.gpu, found none");
  const adapter = await gpu.requestAdapter();
  if (!adapter) throw new Error("expected a WebGPU adapter, requestAdapter() gave null");
  // Deno invalidates the adapter once a device exists: copy its info first.
  const info = adapter.info;
  webgpuDescription = info.description || info.vendor || "unknown adapter";
  const device = await adapter.requestDevice({
    requiredLimits: {
      maxBufferSize: adapter.limits.maxBufferSize,
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize,
    },
  });
  return new WebGPUBackend(device, {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
  } as unknown as GPUAdapterInfo);
}

function prepare(): void {
  if (prepared) return;
  prepared = true;
  setWasmPaths(wasmDistUrl());
  tf.removeBackend("webgpu");
  tf.registerBackend("webgpu", makeWebGpu, 0);
}

/**
 * Makes `name` the active tfjs backend and runs a smoke op; never throws.
 *
 * @example
 * ```ts
 * import { setBenchBackend } from "./backend_setup.ts";
 * const r = await setBenchBackend("blas");
 * console.log(r.ok ? r.detail : r.reason);
 * ```
 */
export async function setBenchBackend(name: string): Promise<BenchBackendResult> {
  prepare();
  try {
    if (name === "blas") {
      const r = registerBlasBackend();
      if (!r.ok) return { ok: false, name, reason: r.reason };
    }
    if (!(await tf.setBackend(name))) {
      return { ok: false, name, reason: `tf.setBackend("${name}") returned false` };
    }
    await tf.ready();
    const b = tf.backend() as unknown as { firstUse?: boolean };
    if ("firstUse" in b) b.firstUse = false;
    const v = (await tf.tidy(() => tf.tensor1d([1, 2, 3]).square().sum()).data())[0];
    if (v !== 14) return { ok: false, name, reason: `smoke test expected 14, found ${v}` };
    return { ok: true, name, detail: backendDetail(name) };
  } catch (e) {
    return { ok: false, name, reason: e instanceof Error ? e.message : String(e) };
  }
}

function backendDetail(name: string): string {
  if (name === "webgpu") return webgpuDescription;
  if (name === "blas") {
    const i = blasInfo();
    return i ? `${i.config ?? i.library}, threads=${i.threads ?? "?"}` : "";
  }
  if (name === "wasm") {
    const wasm = tf.backend() as unknown as { wasm?: { _getThreadsCount?: () => number } };
    const n = wasm.wasm?._getThreadsCount?.();
    return n === undefined ? "wasm" : `wasm threads=${n}`;
  }
  return name;
}

/**
 * The WebGPU adapter description seen by the last webgpu start ("" if it never started).
 *
 * @example
 * ```ts
 * import { webgpuAdapterDescription } from "./backend_setup.ts";
 * console.log(webgpuAdapterDescription());
 * ```
 */
export function webgpuAdapterDescription(): string {
  return webgpuDescription;
}
