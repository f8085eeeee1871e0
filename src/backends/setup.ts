/**
 * Choose and start a tfjs backend: `webgpu`, `wasm`, `cpu`, `blas` (the cpu backend with OpenBLAS
 * matmuls and fused host kernels) or `auto`.
 *
 * `auto` tries webgpu, then blas (the cpu backend with OpenBLAS matmuls), then
 * wasm, then cpu; a software WebGPU adapter (Mesa's llvmpipe, `isFallbackAdapter`)
 * is slower than the CPU backends, so auto then tries it after wasm. The choice
 * can also come from the `COCA_BACKEND` environment variable.
 *
 * This is the Deno setup (blas through FFI, the environment variable, tfjs-backend-wasm's `.wasm`
 * files from `node_modules`), built on the portable core in `portable.ts` (webgpu with its
 * guards, webgl, wasm, cpu), which a web browser uses alone.
 *
 * @module
 */
import * as tf from "../deps/tf.ts";
import { npmPackageUrl } from "../deps/npm_files.ts";
import { registerHostKernels } from "./host_kernels.ts";
import { registerBlasBackend } from "./blas/backend.ts";
import { registerAdamWKernel } from "./blas/adamw_kernel.ts";
import { tuneMalloc } from "./blas/malloc.ts";
import { registerSwiGLUKernels } from "./blas/swiglu_kernel.ts";
import { registerXentKernels } from "./blas/xent_kernel.ts";
import { registerLayerNormKernels } from "./blas/layernorm_kernel.ts";
import { registerAttentionKernels } from "./blas/attention_kernel.ts";
import { registerRotaryKernels } from "./blas/rotary_kernel.ts";
import { registerGeluKernels } from "./blas/gelu_kernel.ts";
import { registerCopyKernels } from "./blas/copy_kernels.ts";
import { allocFloat32, allocFloat32Zeroed } from "./blas/buffer_pool.ts";
import {
  registerGuardedWebGPU,
  registerPortableKernels,
  setWasmFilesLocation,
  startBackend,
  webgpuAdapterSummary,
  webgpuDeviceDescriptor,
} from "./portable.ts";

export { registerGuardedWebGPU, webgpuDeviceDescriptor };

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

/** The folder of tfjs-backend-wasm's `.wasm` files (its `dist/`), as a URL ending in "/". */
export function wasmFilesUrl(): string {
  return new URL("dist/", npmPackageUrl("@tensorflow/tfjs-backend-wasm")).href;
}

function register(): void {
  if (registered) return;
  registered = true;
  // The guarded webgpu factory, the kernel fixes, the fused webgpu kernels, wasm's host kernels.
  registerPortableKernels();
  setWasmFilesLocation(wasmFilesUrl());
  const blas = registerBlasBackend();
  if (blas.ok) {
    tuneMalloc(); // freed tensor buffers stay in malloc's heap instead of being unmapped
    registerHostKernels("blas", "cpu", { alloc: allocFloat32, allocZeroed: allocFloat32Zeroed });
    registerCopyKernels("blas");
    registerAdamWKernel("blas");
    registerSwiGLUKernels("blas");
    registerXentKernels("blas");
    registerLayerNormKernels("blas");
    registerAttentionKernels("blas");
    registerRotaryKernels("blas");
    registerGeluKernels("blas");
  } else blasUnavailable = blas.reason;
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
      const adapter = webgpuAdapterSummary();
      if (candidate === "webgpu" && adapter) {
        current.adapter = adapter.description;
        current.fallbackAdapter = adapter.isFallbackAdapter;
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

function trySetBackend(name: string): Promise<string | undefined> {
  if (name === "blas" && blasUnavailable) {
    return Promise.resolve(`OpenBLAS unavailable (${blasUnavailable})`);
  }
  return startBackend(name);
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
