// The native kernels of the blas backend (src/backends/blas/native/coca_kernels.c) against the
// JavaScript kernels they replace, through the same tfjs ops and gradients, on awkward and on
// large (multi-threaded) shapes, at 1, 2 and 3 threads; exp against float64; the loader's
// refusals (stale build, COCA_NATIVE=off, no library) and the build itself.
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { setupBackend } from "../src/backends/setup.ts";
import { blasInfo } from "../src/backends/blas/backend.ts";
import {
  activeNativeKernels,
  defaultNativeLibraryPath,
  loadNativeKernels,
  type NativeKernels,
  setActiveNativeKernels,
} from "../src/backends/blas/native.ts";
import { buildNativeKernels, findCCompiler } from "../src/backends/blas/native_build.ts";
import { fusedSwiGLU } from "../src/ops/swiglu.ts";
import { fusedLayerNorm } from "../src/ops/layer_norm.ts";
import { fusedNll } from "../src/ops/nll.ts";
import { fusedAdamW } from "../src/ops/adamw.ts";
import { causalBias, fusedAttention, MASK_VALUE } from "../src/ops/attention.ts";
import { backendAvailable } from "./helpers.ts";

const blasOk = await backendAvailable("blas");

const ccOk = await findCCompiler() !== undefined;

/** The library under test: the built default, else one built into a temporary folder. */
let library: NativeKernels | undefined;
let tempDir: string | undefined;
async function nativeLibrary(): Promise<NativeKernels> {
  if (library) return library;
  const def = loadNativeKernels();
  if (def.ok) return library = def.kernels;
  tempDir = await Deno.makeTempDir({ prefix: "coca-native-" });
  const built = await buildNativeKernels({ out: `${tempDir}/libcoca_kernels.so` });
  const r = loadNativeKernels({ path: built.library });
  if (!r.ok) throw new Error(r.reason);
  return library = r.kernels;
}

/** Seeded values in [-a, a). */
function values(n: number, seed: number, a = 3): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 2 ** 32 * 2 - 1) * a;
  }
  return out;
}

/** Runs `fn` with the native kernels at `threads`, and again with the JavaScript kernels. */
function nativeAndJs(
  kernels: NativeKernels,
  threads: number,
  fn: () => tf.Tensor | tf.Tensor[],
): { native: Float32Array[]; js: Float32Array[] } {
  const run = () =>
    tf.tidy(() => {
      const r = fn();
      return (Array.isArray(r) ? r : [r]).map((t) => t.dataSync() as Float32Array);
    });
  const original = activeNativeKernels();
  kernels.setThreads(threads);
  setActiveNativeKernels(kernels);
  try {
    const native = run();
    setActiveNativeKernels(undefined, "test: JavaScript kernels");
    const js = run();
    return { native, js };
  } finally {
    // Back to what the blas registration set up (one library: the thread pool is shared).
    setActiveNativeKernels(original ?? kernels);
    kernels.setThreads(blasInfo()?.threads ?? 1);
  }
}

/**
 * Largest |a − b| / (|b| + 1e-2 · max |b|) over all arrays (each output's own scale: float
 * rounding of sums and of cancelling terms is relative to the output's size, not to each
 * element); NaN and ±Inf must agree exactly.
 */
function maxRelErr(a: Float32Array[], b: Float32Array[]): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let t = 0; t < a.length; t++) {
    assert.equal(a[t].length, b[t].length, `output ${t}: lengths differ`);
    let big = 0;
    for (const y of b[t]) if (Number.isFinite(y)) big = Math.max(big, Math.abs(y));
    const floor = Math.max(1e-2 * big, 1e-30);
    for (let i = 0; i < a[t].length; i++) {
      const x = a[t][i], y = b[t][i];
      if (!Number.isFinite(y) || !Number.isFinite(x)) {
        assert.ok(
          Object.is(x, y) || (Number.isNaN(x) && Number.isNaN(y)),
          `output ${t}[${i}]: ${x} vs ${y}`,
        );
        continue;
      }
      worst = Math.max(worst, Math.abs(x - y) / (Math.abs(y) + floor));
    }
  }
  return worst;
}

/**
 * The native kernels compute in float32 where the JavaScript ones compute in float64 and round
 * once, so they differ in the last bits (a few 1e-6 of an output's scale, more where terms
 * cancel); a wrong formula or index is off by the output's own size.
 */
function check(name: string, fn: () => tf.Tensor | tf.Tensor[], tol = 2e-5) {
  return async () => {
    const k = await nativeLibrary();
    for (const threads of [1, 2, 3]) {
      const { native, js } = nativeAndJs(k, threads, fn);
      const err = maxRelErr(native, js);
      assert.ok(err <= tol, `${name} at ${threads} threads: max relative error ${err} > ${tol}`);
    }
  };
}

const opts = { ignore: !blasOk || !ccOk, sanitizeResources: false, sanitizeOps: false };

Deno.test({
  name: "native exp is within 2 ulp of e^x over the float range, exact at the edges",
  ...opts,
  fn: async () => {
    const k = await nativeLibrary();
    const n = 400_000;
    const x = new Float32Array(n), y = new Float32Array(n);
    for (let i = 0; i < n; i++) x[i] = Math.fround(-110 + 200 * i / n);
    k.exp(x, y);
    let worst = 0;
    for (let i = 0; i < n; i++) {
      const ref = Math.fround(Math.exp(x[i]));
      const ulp = ref < 1.1754943508222875e-38 ? 1.401298464324817e-45 : ref * 2 ** -23;
      if (Number.isFinite(ref)) worst = Math.max(worst, Math.abs(y[i] - ref) / ulp);
      else assert.equal(y[i], ref, `e^${x[i]}`);
    }
    assert.ok(worst <= 2, `max error ${worst} ulp`);
    const edge = Float32Array.of(NaN, Infinity, -Infinity, -104.5, 88.8, 0, -0, MASK_VALUE);
    const out = new Float32Array(edge.length);
    k.exp(edge, out);
    assert.deepEqual([...out], [NaN, Infinity, 0, 0, Infinity, 1, 1, 0]);
  },
});

Deno.test({
  name: "native SwiGLU matches the JavaScript kernel in value and gradient",
  ...opts,
  fn: async () => {
    await setupBackend("blas");
    for (const shape of [[3, 5, 14], [1, 2], [0, 6], [96, 1024]]) {
      const n = shape.reduce((a, b) => a * b, 1);
      const big = values(n, 7, 30); // saturates the sigmoid both ways
      await check(`swiglu ${shape}`, () => {
        const t = tf.tensor(big, shape);
        const dy = tf.tensor(values(n / 2, 8), [...shape.slice(0, -1), shape.at(-1)! / 2]);
        const value = fusedSwiGLU(t);
        const grad = tf.grad((x: tf.Tensor) => fusedSwiGLU(x).mul(dy).sum())(t);
        return [value, grad];
      })();
    }
  },
});

Deno.test({
  name: "native layer norm matches the JavaScript kernel in value and all three gradients",
  ...opts,
  fn: async () => {
    await setupBackend("blas");
    for (const [rows, d] of [[5, 1], [7, 3], [0, 4], [300, 512]] as const) {
      await check(`layer norm ${rows}x${d}`, () => {
        const x = tf.tensor(values(rows * d, 3, 5), [rows, d]).add(2);
        const g = tf.tensor(values(d, 4), [d]), b = tf.tensor(values(d, 5), [d]);
        const dy = tf.tensor(values(rows * d, 6), [rows, d]);
        const value = fusedLayerNorm(x, g, b, 1e-5);
        const grads = tf.grads((xi: tf.Tensor, gi: tf.Tensor, bi: tf.Tensor) =>
          fusedLayerNorm(xi, gi, bi, 1e-5).mul(dy).sum()
        )([x, g, b]);
        return [value, ...grads];
      }, 5e-5)();
    }
  },
});

Deno.test({
  name: "native cross-entropy matches the JavaScript kernel, labels outside [0, V) included",
  ...opts,
  fn: async () => {
    await setupBackend("blas");
    for (const [N, V] of [[6, 7], [1, 1], [0, 5], [200, 1000]] as const) {
      const labels = Int32Array.from(
        { length: N },
        (_, i) => i % 5 === 4 ? (i % 2 ? V : -1) : i % V,
      );
      await check(`nll ${N}x${V}`, () => {
        const logits = tf.tensor2d(values(N * V, 9, 20), [N, V]);
        const y = tf.tensor1d(labels, "int32");
        const w = tf.tensor1d(values(N, 10));
        const value = fusedNll(logits, y);
        const grad = tf.grad((x: tf.Tensor) => fusedNll(x as tf.Tensor2D, y).mul(w).sum())(logits);
        return [value, grad];
      })();
    }
  },
});

Deno.test({
  name: "native AdamW matches the JavaScript kernel",
  ...opts,
  fn: async () => {
    await setupBackend("blas");
    for (const n of [1, 100, 200_003]) {
      await check(`adamw ${n}`, () => {
        const p = tf.tensor1d(values(n, 11)), g = tf.tensor1d(values(n, 12));
        const m = tf.tensor1d(values(n, 13, 0.1)), v = tf.tensor1d(values(n, 14, 0.1)).abs();
        return fusedAdamW(p, g, m, v, {
          lr: 3e-3,
          beta1: 0.9,
          beta2: 0.95,
          eps: 1e-8,
          weightDecay: 0.1,
          bc1: 0.271,
          bc2: 0.0975,
          gradScale: 0.37,
        });
      })();
    }
  },
});

Deno.test({
  name: "native attention softmax matches the JavaScript kernel (causal, bias, scale, gradients)",
  ...opts,
  fn: async () => {
    await setupBackend("blas");
    const cases = [
      { q: [2, 4, 6, 8], k: [2, 6, 8], causal: true, bias: false },
      { q: [3, 2, 5, 4], k: [3, 2, 7, 4], causal: true, bias: true },
      { q: [1, 1, 1, 8], k: [1, 3, 8], causal: false, bias: true },
      { q: [2, 4, 64, 32], k: [2, 96, 32], causal: true, bias: true },
    ];
    for (const c of cases) {
      const n = (s: number[]) => s.reduce((a, b) => a * b, 1);
      const [b, h, L] = c.q, M = c.k.at(-2)!;
      await check(`attention ${c.q} ${c.k}`, () => {
        const q = tf.tensor(values(n(c.q), 21), c.q), k = tf.tensor(values(n(c.k), 22), c.k);
        const v = tf.tensor(values(n(c.k), 23), c.k);
        const bias = c.bias
          ? tf.tensor(values(b * L * M, 24), [b, 1, L, M]).add(causalBias(L, M).mul(0))
          : undefined;
        const dy = tf.tensor(values(b * L * h * c.k.at(-1)!, 25), [b, L, h * c.k.at(-1)!]);
        const o = { scale: 0.35, causal: c.causal, bias };
        const value = fusedAttention(q, k, v, o);
        const grads = tf.grads((qi: tf.Tensor, ki: tf.Tensor, vi: tf.Tensor) =>
          fusedAttention(qi, ki, vi, o).mul(dy).sum()
        )([q, k, v]);
        return [value, ...grads];
      }, 5e-5)();
    }
  },
});

Deno.test({
  name: "native binary ops match the JavaScript kernels over broadcast patterns",
  ...opts,
  fn: async () => {
    await setupBackend("blas");
    const pairs: [number[], number[]][] = [
      [[1000], [1000]],
      [[70000], [1]],
      [[1], [300]],
      [[64, 128], [128]],
      [[64, 1], [64, 128]],
      [[2, 3, 40, 100], [3, 1, 100]],
      [[300, 200], [300, 200]],
    ];
    const ops: [string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor][] = [
      ["add", tf.add],
      ["sub", tf.sub],
      ["mul", tf.mul],
      ["div", tf.div],
      ["max", tf.maximum],
      ["min", tf.minimum],
      ["sqdiff", tf.squaredDifference],
    ];
    for (const [as, bs] of pairs) {
      for (const [name, op] of ops) {
        await check(`${name} [${as}] [${bs}]`, () => {
          const a = values(as.reduce((x, y) => x * y, 1), 31);
          a[0] = NaN;
          return op(tf.tensor(a, as), tf.tensor(values(bs.reduce((x, y) => x * y, 1), 32), bs));
        }, name === "sqdiff" ? 3e-7 : 0)();
      }
    }
  },
});

Deno.test({
  name: "blas uses the built native kernels, on as many threads as OpenBLAS",
  ignore: !blasOk || loadNativeKernels().ok === false,
  fn: async () => {
    await setupBackend("blas");
    const info = blasInfo()!;
    assert.ok("library" in info.native, JSON.stringify(info.native));
    assert.equal(info.native.library, defaultNativeLibraryPath());
    assert.equal(info.native.threads, info.threads);
    assert.ok(activeNativeKernels());
  },
});

Deno.test({
  name: "the loader refuses a stale build, COCA_NATIVE=off and a missing library, with reasons",
  ignore: !ccOk,
  sanitizeResources: false,
  fn: async () => {
    const k = await nativeLibrary();
    const stale = loadNativeKernels({ path: k.library, sourceId: "0123456789abcdef" });
    assert.equal(stale.ok, false);
    assert.match((stale as { reason: string }).reason, /another version.*deno task native/);
    const missing = loadNativeKernels({ path: "/nonexistent/libcoca_kernels.so" });
    assert.match((missing as { reason: string }).reason, /no native library at .*deno task native/);
    const before = Deno.env.get("COCA_NATIVE");
    Deno.env.set("COCA_NATIVE", "off");
    try {
      assert.deepEqual(loadNativeKernels(), { ok: false, reason: "COCA_NATIVE=off" });
    } finally {
      if (before === undefined) Deno.env.delete("COCA_NATIVE");
      else Deno.env.set("COCA_NATIVE", before);
    }
  },
});

Deno.test({
  name: "deno task native's build writes a library that loads with the source's id",
  ignore: !ccOk,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "coca-native-build-" });
    try {
      const b = await buildNativeKernels({ out: `${dir}/lib.so` });
      const r = loadNativeKernels({ path: b.library, sourceId: b.sourceId });
      assert.ok(r.ok, r.ok ? "" : r.reason);
      await assert.rejects(
        buildNativeKernels({ out: `${dir}/x.so`, cc: "no-such-compiler-here" }),
        /could not run the C compiler no-such-compiler-here/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
      if (tempDir) await Deno.remove(tempDir, { recursive: true }).catch(() => {});
    }
  },
});
