// The fused GELU (CocaGelu / CocaGeluGrad on blas, native and JavaScript) against a float64
// reference with an accurate erf, and against the op form (mul, erf, add, mul) on cpu, value and
// gradient, over the whole float range including the tails where 1 + erf(x/√2) underflows.
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { setupBackend } from "../src/backends/setup.ts";
import { registerGeluKernels } from "../src/backends/blas/gelu_kernel.ts";
import { traceKernelsSync } from "../src/backends/kernel_trace.ts";
import { gelu, hasFusedGelu } from "../src/ops/gelu.ts";
import { backendAvailable, withNativeAndJs } from "./helpers.ts";

const blasOk = await backendAvailable("blas");

/** erfc(a) for a ≥ 0 in float64: Taylor series of erf below 2.5, Lentz's continued fraction above. */
function erfcPos(a: number): number {
  if (a < 2.5) {
    let term = a, sum = a;
    for (let n = 1; n < 80; n++) {
      term *= -a * a / n;
      sum += term / (2 * n + 1);
    }
    return 1 - 2 / Math.sqrt(Math.PI) * sum;
  }
  // erfc(a) = e^{-a²}/√π · 1/(a + 1/2/(a + 1/(a + 3/2/(a + ...))))
  let f = a, c = a, d = 0;
  for (let n = 1; n < 200; n++) {
    const an = n / 2;
    d = a + an * d;
    d = 1 / d;
    c = a + an / c;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-a * a) / Math.sqrt(Math.PI) / f;
}
const onePlusErf = (z: number) => z < 0 ? erfcPos(-z) : 2 - erfcPos(z);
// x/√2 as the kernels (and the op form, and PyTorch) compute it: a float32 product with 1/√2
// rounded to float32. In the tails erfc(z) is so steep (d ln erfc/dz ≈ −2z) that these roundings
// move it by up to 2e-5 relative at |x| = 12.
const z32 = (x: number) => Math.fround(x * Math.fround(Math.SQRT1_2));
const geluRef = (x: number) => 0.5 * x * onePlusErf(z32(x));
const geluGradTerms = (
  x: number,
) => [0.5 * onePlusErf(z32(x)), x * Math.exp(-z32(x) * z32(x)) / Math.sqrt(2 * Math.PI)];
const geluGradRef = (x: number) => geluGradTerms(x)[0] + geluGradTerms(x)[1];
/** For x < 0 the two terms of GELU' cancel: float32 evaluation is accurate to their size. */
const geluGradScale = (x: number) => Math.abs(geluGradTerms(x)[0]) + Math.abs(geluGradTerms(x)[1]);

const N = 20001;
const xs = Float32Array.from({ length: N }, (_, i) => Math.fround(-14 + 28 * i / (N - 1)));
xs[0] = -60; // deep tail: GELU underflows to -0
xs[1] = 0;
xs[2] = 1e-30;

function run(): { value: Float32Array; grad: Float32Array; fused: boolean } {
  return tf.tidy(() => {
    const x = tf.tensor1d(xs);
    const dy = tf.onesLike(x);
    const value = gelu(x).dataSync() as Float32Array;
    const grad = tf.grad((t: tf.Tensor) => gelu(t).mul(dy).sum())(x).dataSync() as Float32Array;
    return { value, grad, fused: hasFusedGelu() };
  });
}

/** Largest error relative to max(scale (default |reference|), floor). */
function worst(
  got: Float32Array,
  ref: (x: number) => number,
  floor: number,
  scale: (x: number) => number = (x) => Math.abs(ref(x)),
): number {
  let w = 0;
  for (let i = 0; i < N; i++) {
    w = Math.max(w, Math.abs(got[i] - ref(xs[i])) / Math.max(scale(xs[i]), floor));
  }
  return w;
}

Deno.test({
  name: "fused GELU on blas is within 1e-6 of float64 GELU and its derivative, native and JS",
  ignore: !blasOk,
  fn: async () => {
    await setupBackend("blas");
    registerGeluKernels("blas");
    await withNativeAndJs((mode) => {
      const got = run();
      assert.equal(got.fused, true);
      // Relative to the value itself down to float32's smallest normal numbers (subnormal
      // results in the far tails carry fewer significant bits).
      const ev = worst(got.value, geluRef, 1e-36);
      const eg = worst(got.grad, geluGradRef, 1e-36, geluGradScale);
      assert.ok(ev <= 1e-6, `${mode} value: relative error ${ev}`);
      assert.ok(eg <= 1e-6, `${mode} gradient: relative error ${eg}`);
      assert.ok(Object.is(got.value[0], -0) || got.value[0] === 0, `${got.value[0]}`);
    });
  },
});

Deno.test({
  name: "fused GELU agrees with the op form on cpu (whose erf is an approximation)",
  ignore: !blasOk,
  fn: async () => {
    await setupBackend("cpu");
    const plain = run();
    assert.equal(plain.fused, false);
    await setupBackend("blas");
    registerGeluKernels("blas");
    const fused = run();
    // tfjs's Erf is Abramowitz–Stegun 7.1.26 (absolute error 1.5e-7): compare on that scale.
    for (let i = 0; i < N; i++) {
      const tol = 5e-7 * Math.max(1, Math.abs(xs[i]));
      assert.ok(Math.abs(fused.value[i] - plain.value[i]) <= tol, `GELU(${xs[i]})`);
      assert.ok(Math.abs(fused.grad[i] - plain.grad[i]) <= tol, `GELU'(${xs[i]})`);
    }
    const { kernels } = traceKernelsSync(() =>
      tf.tidy(() => {
        tf.grad((t: tf.Tensor) => gelu(t).sum())(tf.ones([4]));
      })
    );
    assert.ok(kernels.has("CocaGelu") && kernels.has("CocaGeluGrad") && !kernels.has("Erf"));
  },
});
