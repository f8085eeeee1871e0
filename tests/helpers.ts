// Shared test helpers: tiny models and batches; the one rule for tests on a backend that
// cannot start here.
import * as tf from "@tensorflow/tfjs";
import {
  availableBackends,
  type BackendName,
  checkModelConfig,
  CoCa,
  type CoCaConfig,
  setupBackend,
  SimpleViT,
  type ViTConfig,
} from "../mod.ts";
import tinyModelFile from "../configs/test-tiny.model.json" with { type: "json" };
import {
  activeNativeKernels,
  type NativeKernels,
  setActiveNativeKernels,
} from "../src/backends/blas/native.ts";

/** The tests' tiny model (`configs/test-tiny.model.json`). */
const TINY_MODEL = checkModelConfig(tinyModelFile, "configs/test-tiny.model.json");
export const TINY_VIT: ViTConfig = TINY_MODEL.vit;
export const TINY_COCA: CoCaConfig = TINY_MODEL.coca;

export function tinyModel(
  seed = 0,
  vit: Partial<ViTConfig> = {},
  coca: Partial<CoCaConfig> = {},
): CoCa {
  const encoder = new SimpleViT({ ...TINY_VIT, ...vit }, { seed });
  return new CoCa({ ...TINY_COCA, ...coca, imgEncoder: encoder }, { seed });
}

export function ids(rows: number[][]): tf.Tensor2D {
  return tf.tensor2d(rows, [rows.length, rows[0].length], "int32");
}

export function images(b: number, seed = 1, size = 16): tf.Tensor4D {
  return tf.randomNormal([b, 3, size, size], 0, 1, "float32", seed) as tf.Tensor4D;
}

/** A concrete backend a test can run on. */
export type TestBackend = Exclude<BackendName, "auto">;

let available: Promise<string[]> | undefined;
const reported = new Set<string>();

/**
 * Whether `backend` starts on this machine. The first call probes every backend once
 * ({@linkcode availableBackends}, which restores the active backend); a missing backend is
 * reported once per test file, by name.
 */
export async function backendAvailable(backend: TestBackend): Promise<boolean> {
  const here = await (available ??= availableBackends());
  if (here.includes(backend)) return true;
  if (!reported.has(backend)) {
    reported.add(backend);
    const before = tf.getBackend();
    const why = await setupBackend(backend).then(
      () => "it started on a second try",
      (e) => e instanceof Error ? e.message : String(e),
    );
    if (before) await tf.setBackend(before);
    console.warn(`backend "${backend}" is not available here, its tests are ignored: ${why}`);
  }
  return false;
}

/**
 * The test suite's one rule for backends: register `[backend] name` for each of `backends`,
 * run after `setupBackend(backend)`. A backend that does not start here is skipped, not failed:
 * its test is registered as ignored (the backend is in the test's name) and the skip is
 * reported with the backend named. Only `tests/backend_test.ts` asserts that every backend
 * starts. Call it with top-level `await`, before the file's other tests if their order matters.
 *
 * @example
 * ```ts ignore
 * await backendTest("adds", ["cpu", "wasm", "blas", "webgpu"], async (backend) => {
 *   assert.deepEqual(await tf.add(1, 2).data(), Float32Array.of(3), backend);
 * });
 * ```
 */
export async function backendTest(
  name: string,
  backends: readonly TestBackend[],
  fn: (backend: TestBackend) => void | Promise<void>,
): Promise<void> {
  for (const backend of backends) {
    const ignore = !(await backendAvailable(backend));
    Deno.test({
      name: `[${backend}] ${name}`,
      ignore,
      async fn() {
        await setupBackend(backend);
        await fn(backend);
      },
    });
  }
}

/** The fuzz tests' memory bound on the test process's RSS (checked every 100 cases). */
export const FUZZ_MAX_RSS = 1.5 * 2 ** 30;

/** Every 100th fuzz case, assert the process's RSS is under {@linkcode FUZZ_MAX_RSS}. */
export function assertRssBound(i: number, what: string, max = FUZZ_MAX_RSS): void {
  if (i % 100 !== 0) return;
  const rss = Deno.memoryUsage().rss;
  if (rss >= max) {
    throw new Error(
      `${what}, case ${i}: expected RSS under ${max / 2 ** 20} MiB, found ${
        (rss / 2 ** 20).toFixed(0)
      } MiB`,
    );
  }
}

/**
 * Runs `fn` with the blas backend's native kernels (when they are loaded), then with its
 * JavaScript kernels, and restores what was active.
 */
export async function withNativeAndJs(
  fn: (mode: "native" | "JavaScript") => void | Promise<void>,
): Promise<void> {
  const native = activeNativeKernels();
  const modes: ["native" | "JavaScript", NativeKernels | undefined][] = [["JavaScript", undefined]];
  if (native) modes.unshift(["native", native]);
  try {
    for (const [mode, kernels] of modes) {
      setActiveNativeKernels(kernels, "test: JavaScript kernels");
      await fn(mode);
    }
  } finally {
    setActiveNativeKernels(native, "not loaded");
  }
}
