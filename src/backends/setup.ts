/**
 * Choose and start a tfjs backend: `webgpu`, `wasm`, `cpu`, `blas` (the cpu backend with OpenBLAS
 * matmuls and fused host kernels) or `auto`.
 *
 * `auto` tries webgpu, then blas (the cpu backend with OpenBLAS matmuls), then
 * wasm, then cpu; a software WebGPU adapter (Mesa's llvmpipe, `isFallbackAdapter`)
 * is slower than the CPU backends, so auto then tries it after wasm. The choice
 * can also come from the `COCA_BACKEND` environment variable. Setup guards the known tfjs-webgpu-on-Deno
 * problems: the adapter's info is read before the device is created (Deno
 * invalidates the adapter afterwards) and only features Deno accepts are requested.
 *
 * @module
 */
import * as tf from "../deps/tf.ts";
import { WebGPUBackend } from "../deps/tfjs_webgpu.ts";
import { npmPackageUrl } from "../deps/npm_files.ts";
import { setWasmPaths } from "../deps/tfjs_wasm.ts";
import { registerHostKernels } from "./host_kernels.ts";
import { registerBlasBackend } from "./blas/backend.ts";
import { registerAdamWKernel } from "./blas/adamw_kernel.ts";
import { registerSwiGLUKernels } from "./blas/swiglu_kernel.ts";
import { registerXentKernels } from "./blas/xent_kernel.ts";
import { registerLayerNormKernels } from "./blas/layernorm_kernel.ts";
import { registerAttentionKernels } from "./blas/attention_kernel.ts";
import { registerKernelFixes } from "./kernel_fixes.ts";
import { registerWebGPUFusedKernels } from "./webgpu/mod.ts";

/**
 * A backend name that {@linkcode setupBackend} accepts. `blas` is the tfjs cpu
 * backend with OpenBLAS matmuls (through Deno FFI) and faster JS kernels.
 */
export type BackendName = "webgpu" | "wasm" | "cpu" | "blas" | "auto";

/** The backends that can be asked for by name. */
export const BACKENDS: readonly Exclude<BackendName, "auto">[] = ["webgpu", "wasm", "cpu", "blas"];

/** `auto` and {@linkcode BACKENDS} as a usage line's choices: `auto|webgpu|wasm|cpu|blas`. */
export const BACKEND_CHOICES: string = ["auto", ...BACKENDS].join("|");

/** What {@linkcode setupBackend} started. */
export interface BackendInfo {
  /** The tfjs backend now active. */
  name: Exclude<BackendName, "auto">;
  /** For webgpu: the adapter's description (e.g. "llvmpipe (LLVM 15.0.6, 256 bits)"). */
  adapter?: string;
  /** For webgpu: whether the adapter is a software fallback. */
  fallbackAdapter?: boolean;
  /** Backends that failed to start on the way (auto), with their errors. */
  failures: Record<string, string>;
}

let registered = false;
let blasUnavailable: string | undefined;
let current: BackendInfo | undefined;

/** Features that tfjs-webgpu may use and that Deno's WebGPU accepts by name. */
const WANTED_FEATURES = ["timestamp-query"] as const;

/**
 * Create a WebGPU backend robustly: read adapter info first, request only
 * features that the adapter has and Deno knows, and the adapter's own limits.
 */
async function createWebGPUBackend(): Promise<WebGPUBackend> {
  try {
    return await createWebGPUBackendUnguarded();
  } catch (e) {
    // tfjs swallows factory errors (setBackend just returns false): keep the cause.
    lastFactoryError.webgpu = e instanceof Error ? e.message : String(e);
    throw e;
  }
}

const lastFactoryError: Record<string, string> = {};

async function createWebGPUBackendUnguarded(): Promise<WebGPUBackend> {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) throw new Error("navigator.gpu is not available in this runtime");
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) throw new Error("navigator.gpu.requestAdapter() returned null (no adapter)");
  // Read everything we need from the adapter before requestDevice(): Deno
  // invalidates ("consumes") the adapter once a device exists.
  const info = adapter.info;
  const infoCopy = {
    vendor: info?.vendor ?? "",
    architecture: info?.architecture ?? "",
    device: info?.device ?? "",
    description: info?.description ?? "",
    isFallbackAdapter: (info as GPUAdapterInfo & { isFallbackAdapter?: boolean })
      ?.isFallbackAdapter ?? false,
  };
  const device = await adapter.requestDevice(webgpuDeviceDescriptor(adapter));
  webgpuAdapter = infoCopy;
  return new WebGPUBackend(device, infoCopy as unknown as GPUAdapterInfo);
}

let webgpuAdapter: { description: string; isFallbackAdapter: boolean } | undefined;

/**
 * The device descriptor for tfjs-webgpu: the adapter's own limits and only the
 * features that tfjs uses and Deno accepts (tfjs 4.22 itself passes
 * `["bgra8unorm-storage"]` as a nested array, which Deno rejects).
 *
 * @example
 * ```ts
 * import { webgpuDeviceDescriptor } from "./setup.ts";
 * const adapter = await navigator.gpu.requestAdapter();
 * if (adapter) console.log(webgpuDeviceDescriptor(adapter).requiredFeatures);
 * ```
 */
export function webgpuDeviceDescriptor(adapter: GPUAdapter): GPUDeviceDescriptor {
  const l = adapter.limits;
  return {
    requiredFeatures: WANTED_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[],
    requiredLimits: {
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    },
  };
}

/**
 * Replace tfjs-webgpu's own backend factory with the guarded one (idempotent per call).
 *
 * @example
 * ```ts
 * import { registerGuardedWebGPU } from "./setup.ts";
 * registerGuardedWebGPU();
 * ```
 */
export function registerGuardedWebGPU(): void {
  if (tf.findBackendFactory("webgpu")) tf.removeBackend("webgpu");
  tf.registerBackend("webgpu", createWebGPUBackend, 3);
}

/** The folder of tfjs-backend-wasm's `.wasm` files (its `dist/`), as a URL ending in "/". */
export function wasmFilesUrl(): string {
  return new URL("dist/", npmPackageUrl("@tensorflow/tfjs-backend-wasm")).href;
}

function register(): void {
  if (registered) return;
  registered = true;
  registerGuardedWebGPU();
  registerKernelFixes();
  registerWebGPUFusedKernels();
  setWasmPaths(wasmFilesUrl());
  registerHostKernels("wasm", "wasm");
  const blas = registerBlasBackend();
  if (blas.ok) {
    registerHostKernels("blas", "cpu");
    registerAdamWKernel("blas");
    registerSwiGLUKernels("blas");
    registerXentKernels("blas");
    registerLayerNormKernels("blas");
    registerAttentionKernels("blas");
  } else blasUnavailable = blas.reason;
}

function silenceNodeBanner(): void {
  // The cpu backend prints a "you are running in Node.js" banner on first use.
  const b = tf.backend() as unknown as { firstUse?: boolean };
  if ("firstUse" in b) b.firstUse = false;
}

/**
 * Start a tfjs backend and make it active.
 *
 * @param name the backend to start; default: `$COCA_BACKEND`, else `auto`.
 * @returns what was started (name, GPU adapter description).
 * @throws {Error} naming the backend, its error and the backends that can start.
 *
 * @example
 * ```ts
 * import { setupBackend } from "./setup.ts";
 * const info = await setupBackend("cpu");
 * console.log(info.name); // "cpu"
 * ```
 */
export async function setupBackend(name?: BackendName | string): Promise<BackendInfo> {
  register();
  const fromEnv = name === undefined ? Deno.env.get("COCA_BACKEND") || undefined : undefined;
  const wanted = (name ?? fromEnv ?? "auto").toLowerCase();
  if (wanted !== "auto" && !(BACKENDS as readonly string[]).includes(wanted)) {
    throw new RangeError(
      `expected ${fromEnv === undefined ? "backend" : "COCA_BACKEND"} to be one of auto, ${
        BACKENDS.join(", ")
      }, found "${fromEnv ?? wanted}"`,
    );
  }
  const order = wanted === "auto" ? await autoOrder() : [wanted as Exclude<BackendName, "auto">];
  const failures: Record<string, string> = {};
  for (const candidate of order) {
    const err = await trySetBackend(candidate);
    if (err === undefined) {
      current = { name: candidate, failures };
      if (candidate === "webgpu" && webgpuAdapter) {
        current.adapter = webgpuAdapter.description;
        current.fallbackAdapter = webgpuAdapter.isFallbackAdapter;
      }
      return current;
    }
    failures[candidate] = err;
  }
  const available = await availableBackends();
  throw new Error(
    `backend "${wanted}" could not start: ${
      Object.entries(failures).map(([k, v]) => `${k}: ${v}`).join("; ")
    }. Available here: ${available.length ? available.join(", ") : "none"}`,
  );
}

/**
 * `auto`: webgpu on a hardware adapter, then blas (OpenBLAS), then wasm, then
 * webgpu on a software (fallback) adapter such as llvmpipe, then cpu.
 */
async function autoOrder(): Promise<Exclude<BackendName, "auto">[]> {
  let software = false;
  try {
    const adapter = await (navigator as Navigator & { gpu?: GPU }).gpu?.requestAdapter();
    software = (adapter?.info as (GPUAdapterInfo & { isFallbackAdapter?: boolean }) | undefined)
      ?.isFallbackAdapter ?? false;
  } catch {
    // No adapter: webgpu will fail on its own and report why.
  }
  return software ? ["blas", "wasm", "webgpu", "cpu"] : ["webgpu", "blas", "wasm", "cpu"];
}

async function trySetBackend(name: string): Promise<string | undefined> {
  try {
    if (name === "blas" && blasUnavailable) return `OpenBLAS unavailable (${blasUnavailable})`;
    delete lastFactoryError[name];
    const ok = await tf.setBackend(name);
    if (!ok) return lastFactoryError[name] ?? "tfjs refused to initialise it";
    await tf.ready();
    silenceNodeBanner();
    // A smoke op proves the backend computes.
    const x = tf.tensor1d([1, 2, 3]);
    const y = x.square().sum();
    const v = (await y.data())[0];
    tf.dispose([x, y]);
    if (v !== 14) return `smoke test gave ${v}, expected 14`;
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

/**
 * The backends that start on this machine (each is tried; the active backend is restored).
 *
 * @example
 * ```ts
 * import { availableBackends } from "./setup.ts";
 * console.log(await availableBackends()); // e.g. ["webgpu", "wasm", "cpu", "blas"]
 * ```
 */
export async function availableBackends(): Promise<string[]> {
  register();
  const before = tf.getBackend();
  const ok: string[] = [];
  for (const b of BACKENDS) {
    if ((await trySetBackend(b)) === undefined) ok.push(b);
  }
  if (before) await tf.setBackend(before);
  return ok;
}

/**
 * What the last {@linkcode setupBackend} call started, if any.
 *
 * @example
 * ```ts
 * import { backendInfo } from "./setup.ts";
 * console.log(backendInfo()?.name);
 * ```
 */
export function backendInfo(): BackendInfo | undefined {
  return current;
}

/**
 * Wait until queued GPU work has finished (a no-op on CPU backends), by reading back a tensor.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { sync } from "./setup.ts";
 * const y = tf.ones([2, 2]).matMul(tf.ones([2, 2]));
 * await sync(y);
 * ```
 */
export async function sync(t: tf.Tensor): Promise<void> {
  await t.data();
}
