/**
 * Activates a tfjs backend for the benches by name (`cpu`, `wasm`, `webgpu`,
 * `blas`) through the library's own `setupBackend`, never throwing.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { setupBackend } from "../src/backends/setup.ts";
import { blasInfo } from "../src/backends/blas/backend.ts";

/** Backends the benches try, in order. */
export const BENCH_BACKENDS = ["cpu", "wasm", "webgpu", "blas"] as const;

/** Outcome of {@linkcode setBenchBackend}. */
export type BenchBackendResult =
  | { ok: true; name: string; detail: string }
  | { ok: false; name: string; reason: string };

let webgpuDescription = "";

/**
 * Makes `name` the active tfjs backend; never throws.
 *
 * @example
 * ```ts
 * import { setBenchBackend } from "./backend_setup.ts";
 * const r = await setBenchBackend("blas");
 * console.log(r.ok ? r.detail : r.reason);
 * ```
 */
export async function setBenchBackend(name: string): Promise<BenchBackendResult> {
  if (tf.getBackend() === name) return { ok: true, name, detail: backendDetail(name) };
  try {
    const info = await setupBackend(name);
    if (info.adapter) webgpuDescription = info.adapter;
    return { ok: true, name, detail: backendDetail(name) };
  } catch (e) {
    return { ok: false, name, reason: e instanceof Error ? e.message : String(e) };
  }
}

function backendDetail(name: string): string {
  if (name === "webgpu") return webgpuDescription;
  if (name === "blas") {
    const i = blasInfo();
    return i ? `${i.config ?? i.library} (${i.build} build), threads=${i.threads ?? "?"}` : "";
  }
  if (name === "wasm") {
    const wasm = tf.backend() as unknown as { wasm?: { _getThreadsCount?: () => number } };
    const n = wasm.wasm?._getThreadsCount?.();
    return n === undefined ? "wasm" : `wasm threads=${n}`;
  }
  return name;
}
