/**
 * The portable core of backend setup: `webgpu`, `webgl`, `wasm` (with a configurable location
 * of its `.wasm` files) and `cpu`, using only what a web browser also has (`navigator.gpu`,
 * WebGL, WebAssembly). `setup.ts` builds the Deno setup on it (the `blas` backend, the
 * `COCA_BACKEND` environment variable, the `.wasm` files from `node_modules`).
 *
 * Creating the WebGPU backend guards the known tfjs-webgpu problems: the adapter's info is read
 * before the device is created (Deno invalidates the adapter afterwards) and only features the
 * runtime accepts are requested.
 *
 * @module
 */
import * as tf from "../deps/tf.ts";
import { WebGPUBackend } from "../deps/tfjs_webgpu.ts";
import { setWasmPaths } from "../deps/tfjs_wasm.ts";
import { registerHostKernels } from "./host_kernels.ts";
import { registerKernelFixes } from "./kernel_fixes.ts";
import { registerWebGPUFusedKernels } from "./webgpu/mod.ts";

/** A backend that {@linkcode setupPortableBackend} starts: the ones a web browser offers. */
export type PortableBackend = "webgpu" | "webgl" | "wasm" | "cpu";

/** The portable backends, in the order `auto` tries them. */
export const PORTABLE_BACKENDS: readonly PortableBackend[] = ["webgpu", "webgl", "wasm", "cpu"];

/** What the WebGPU adapter in use says about itself (read before its device was created). */
export interface WebGPUAdapterSummary {
  /** The adapter's description, vendor and architecture (e.g. "SwiftShader Device"). */
  description: string;
  /** Whether the adapter is a software fallback. */
  isFallbackAdapter: boolean;
}

/** What {@linkcode setupPortableBackend} started. */
export interface PortableBackendInfo {
  /** The tfjs backend now active. */
  name: PortableBackend;
  /** For webgpu: the adapter's description. */
  adapter?: string;
  /** For webgpu: whether the adapter is a software fallback. */
  fallbackAdapter?: boolean;
  /** Backends that failed to start on the way (auto), with their errors. */
  failures: Record<string, string>;
}

/** Features that tfjs-webgpu may use and that Deno's WebGPU accepts by name. */
const WANTED_FEATURES = ["timestamp-query"] as const;

const lastFactoryError: Record<string, string> = {};
let adapterSummary: WebGPUAdapterSummary | undefined;
let coreRegistered = false;

/**
 * The device descriptor for tfjs-webgpu: the adapter's own limits and only the
 * features that tfjs uses and Deno accepts (tfjs 4.22 itself passes
 * `["bgra8unorm-storage"]` as a nested array, which Deno rejects).
 *
 * @example
 * ```ts
 * import { webgpuDeviceDescriptor } from "./portable.ts";
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

async function createWebGPUBackend(): Promise<WebGPUBackend> {
  try {
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
    adapterSummary = {
      description: infoCopy.description ||
        [infoCopy.vendor, infoCopy.architecture, infoCopy.device].filter(Boolean).join(" "),
      isFallbackAdapter: infoCopy.isFallbackAdapter,
    };
    return new WebGPUBackend(device, infoCopy as unknown as GPUAdapterInfo);
  } catch (e) {
    // tfjs swallows factory errors (setBackend just returns false): keep the cause.
    lastFactoryError.webgpu = e instanceof Error ? e.message : String(e);
    throw e;
  }
}

/**
 * Replace tfjs-webgpu's own backend factory with the guarded one (idempotent per call).
 *
 * @example
 * ```ts
 * import { registerGuardedWebGPU } from "./portable.ts";
 * registerGuardedWebGPU();
 * ```
 */
export function registerGuardedWebGPU(): void {
  if (tf.findBackendFactory("webgpu")) tf.removeBackend("webgpu");
  tf.registerBackend("webgpu", createWebGPUBackend, 3);
}

/**
 * The adapter of the last WebGPU backend created here, if any.
 *
 * @example
 * ```ts
 * import { webgpuAdapterSummary } from "./portable.ts";
 * console.log(webgpuAdapterSummary()?.description ?? "no webgpu backend yet");
 * ```
 */
export function webgpuAdapterSummary(): WebGPUAdapterSummary | undefined {
  return adapterSummary;
}

/**
 * Register the portable kernels once: the guarded WebGPU factory, the corrections of stock tfjs
 * kernels, the fused WGSL kernels and the host kernels of the wasm backend.
 *
 * @example
 * ```ts
 * import { registerPortableKernels } from "./portable.ts";
 * registerPortableKernels();
 * ```
 */
export function registerPortableKernels(): void {
  if (coreRegistered) return;
  coreRegistered = true;
  registerGuardedWebGPU();
  registerKernelFixes();
  registerWebGPUFusedKernels();
  registerHostKernels("wasm", "wasm");
}

/**
 * Where the wasm backend loads its `.wasm` files from: a URL of the folder (ending in "/"),
 * e.g. the page's own `"/wasm/"`. Takes effect when the wasm backend first starts.
 *
 * @example
 * ```ts
 * import { setWasmFilesLocation } from "./portable.ts";
 * setWasmFilesLocation("https://example.org/tfjs-wasm/");
 * ```
 */
export function setWasmFilesLocation(url: string): void {
  if (!url.endsWith("/")) {
    throw new RangeError(`expected the .wasm folder URL to end in "/", found "${url}"`);
  }
  setWasmPaths(url);
}

function silenceNodeBanner(): void {
  // The cpu backend prints a "you are running in Node.js" banner on first use.
  const b = tf.backend() as unknown as { firstUse?: boolean };
  if ("firstUse" in b) b.firstUse = false;
}

/**
 * Make `name` the active tfjs backend and prove it computes (a small smoke op).
 *
 * @returns `undefined` when it started, else why not.
 * @example
 * ```ts
 * import { startBackend } from "./portable.ts";
 * console.log(await startBackend("cpu")); // undefined
 * ```
 */
export async function startBackend(name: string): Promise<string | undefined> {
  try {
    delete lastFactoryError[name];
    const ok = await tf.setBackend(name);
    if (!ok) return lastFactoryError[name] ?? "tfjs refused to initialise it";
    await tf.ready();
    silenceNodeBanner();
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

/** Options of {@linkcode setupPortableBackend}. */
export interface PortableSetupOptions {
  /** The folder URL of tfjs-backend-wasm's `.wasm` files (see {@linkcode setWasmFilesLocation}). */
  wasmPaths?: string;
  /** Called before each backend is tried (for a progress line). */
  onTry?: (name: PortableBackend) => void;
}

/**
 * Start a portable backend: one by name, or `auto` (webgpu, then webgl, then wasm, then cpu).
 *
 * @throws {Error} naming each backend tried and its error.
 * @example
 * ```ts
 * import { setupPortableBackend } from "./portable.ts";
 * const info = await setupPortableBackend("cpu");
 * console.log(info.name); // "cpu"
 * ```
 */
export async function setupPortableBackend(
  name: PortableBackend | "auto" = "auto",
  opts: PortableSetupOptions = {},
): Promise<PortableBackendInfo> {
  if (name !== "auto" && !PORTABLE_BACKENDS.includes(name)) {
    throw new RangeError(
      `expected backend to be one of auto, ${PORTABLE_BACKENDS.join(", ")}, found "${name}"`,
    );
  }
  registerPortableKernels();
  if (opts.wasmPaths !== undefined) setWasmFilesLocation(opts.wasmPaths);
  const order = name === "auto" ? PORTABLE_BACKENDS : [name];
  const failures: Record<string, string> = {};
  for (const candidate of order) {
    opts.onTry?.(candidate);
    const err = await startBackend(candidate);
    if (err === undefined) {
      const info: PortableBackendInfo = { name: candidate, failures };
      if (candidate === "webgpu" && adapterSummary) {
        info.adapter = adapterSummary.description;
        info.fallbackAdapter = adapterSummary.isFallbackAdapter;
      }
      return info;
    }
    failures[candidate] = err;
  }
  throw new Error(
    `backend "${name}" could not start: ${
      Object.entries(failures).map(([k, v]) => `${k}: ${v}`).join("; ")
    }`,
  );
}
