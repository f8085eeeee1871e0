import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { availableBackends, backendInfo, BACKENDS, setupBackend } from "../mod.ts";

Deno.test("every backend starts here and reports itself", async () => {
  for (const name of BACKENDS) {
    const info = await setupBackend(name);
    assert.equal(info.name, name);
    assert.equal(tf.getBackend(), name);
    if (name === "webgpu") {
      assert.ok(info.adapter && info.adapter.length > 0, "adapter description");
    }
  }
  assert.deepEqual((await availableBackends()).sort(), [...BACKENDS].sort());
});

Deno.test("auto prefers webgpu on a hardware adapter, blas over a software one; COCA_BACKEND picks the default", async () => {
  const adapter = await navigator.gpu.requestAdapter();
  const software =
    (adapter?.info as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter;
  assert.equal((await setupBackend("auto")).name, software ? "blas" : "webgpu");
  Deno.env.set("COCA_BACKEND", "wasm");
  try {
    assert.equal((await setupBackend()).name, "wasm");
    assert.equal(backendInfo()?.name, "wasm");
  } finally {
    Deno.env.delete("COCA_BACKEND");
  }
});

Deno.test("an unknown backend is a clear error listing the choices", async () => {
  await assert.rejects(
    () => setupBackend("cuda"),
    /expected backend to be one of auto, webgpu, wasm, cpu, blas, found "cuda"/,
  );
});

Deno.test("a backend that cannot start fails with its error and what is available", async () => {
  // Simulate a machine without WebGPU: the guarded factory reports the cause.
  const gpu = Object.getOwnPropertyDescriptor(Navigator.prototype, "gpu");
  Object.defineProperty(Navigator.prototype, "gpu", { get: () => undefined, configurable: true });
  try {
    tf.removeBackend("webgpu");
    const { registerGuardedWebGPU } = await import("../src/backends/setup.ts");
    registerGuardedWebGPU();
    await assert.rejects(
      () => setupBackend("webgpu"),
      /backend "webgpu" could not start: webgpu: navigator.gpu is not available.*Available here: .*cpu/,
    );
  } finally {
    if (gpu) Object.defineProperty(Navigator.prototype, "gpu", gpu);
  }
});

Deno.test("the guarded webgpu factory requests only features Deno accepts and reads adapter info first", async () => {
  const { webgpuDeviceDescriptor } = await import("../src/backends/setup.ts");
  const fakeAdapter = {
    features: new Set(["timestamp-query", "bgra8unorm-storage", "chromium-experimental-foo"]),
    limits: {
      maxBufferSize: 1,
      maxStorageBufferBindingSize: 1,
      maxComputeWorkgroupStorageSize: 1,
      maxComputeWorkgroupsPerDimension: 1,
      maxComputeWorkgroupSizeX: 1,
      maxComputeInvocationsPerWorkgroup: 1,
    },
  } as unknown as GPUAdapter;
  const desc = webgpuDeviceDescriptor(fakeAdapter);
  // tfjs 4.22 would push ['bgra8unorm-storage'] (an array), which Deno rejects.
  assert.deepEqual([...(desc.requiredFeatures ?? [])], ["timestamp-query"]);
});
