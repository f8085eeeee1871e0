// The fused rotary embedding (CocaRotary / CocaRotaryGrad on blas, native or JavaScript) against
// the op form (split, neg, concat, mul, add) on cpu, value and gradient, exactly: both round each
// product and sum to float32 the same way.
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { setupBackend } from "../src/backends/setup.ts";
import { registerRotaryKernels } from "../src/backends/blas/rotary_kernel.ts";
import { traceKernelsSync } from "../src/backends/kernel_trace.ts";
import { hasFusedRotary, rotary, rotateHalf } from "../src/ops/rotary.ts";
import { rotaryTables } from "../src/nn/rotary.ts";
import { backendAvailable, withNativeAndJs } from "./helpers.ts";

const blasOk = await backendAvailable("blas");

function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    out[i] = (s / 2147483648) * 6 - 3;
  }
  return out;
}

/** Value and gradient (with a fixed upstream gradient) of the rotary embedding on `backend`. */
async function run(backend: string, shape: number[], offset: number) {
  await setupBackend(backend);
  return tf.tidy(() => {
    const L = shape.at(-2)!, D = shape.at(-1)!;
    const n = shape.reduce((a, b) => a * b, 1);
    const { cos, sin } = rotaryTables(offset + L, D);
    const c = cos.slice([offset, 0], [L, D]), s = sin.slice([offset, 0], [L, D]);
    const t = tf.tensor(values(n, 3), shape), dy = tf.tensor(values(n, 4), shape);
    const value = rotary(t, c, s);
    const grad = tf.grad((x: tf.Tensor) => rotary(x, c, s).mul(dy).sum())(t);
    return { value: value.dataSync(), grad: grad.dataSync(), fused: hasFusedRotary() };
  });
}

const SHAPES: [number[], number][] = [
  [[2, 4, 6, 8], 0], // queries (b, h, L, dk)
  [[3, 5, 16], 0], // shared keys (b, L, dk)
  [[1, 1, 1, 64], 37], // one decoded token at position 37
  [[2, 0, 4], 0], // no rows
  [[4, 64, 128], 3], // many rows (several threads)
];

Deno.test({
  name: "fused rotary on blas equals the op form on cpu exactly, native and JavaScript",
  ignore: !blasOk,
  fn: async () => {
    await setupBackend("blas");
    registerRotaryKernels("blas");
    await withNativeAndJs(async (mode) => {
      for (const [shape, offset] of SHAPES) {
        const want = await run("cpu", shape, offset);
        const got = await run("blas", shape, offset);
        assert.equal(want.fused, false);
        assert.equal(got.fused, true);
        assert.deepEqual(got.value, want.value, `${mode} value ${shape}`);
        assert.deepEqual(got.grad, want.grad, `${mode} gradient ${shape}`);
      }
    });
  },
});

Deno.test({
  name: "fused rotary runs one kernel each way and checks its shapes",
  ignore: !blasOk,
  fn: async () => {
    await setupBackend("blas");
    registerRotaryKernels("blas");
    const { kernels } = traceKernelsSync(() =>
      tf.tidy(() => {
        const t = tf.ones([2, 3, 4]);
        tf.grad((x: tf.Tensor) => rotary(x, tf.ones([3, 4]), tf.ones([3, 4])).sum())(t);
      })
    );
    const names = [...kernels];
    assert.ok(kernels.has("CocaRotary") && kernels.has("CocaRotaryGrad"), `${names}`);
    assert.ok(!kernels.has("Concat") && !kernels.has("SplitV"), `${names}`);
    assert.throws(
      () => tf.tidy(() => rotary(tf.ones([2, 3, 5]), tf.ones([3, 5]), tf.ones([3, 5]))),
      /CocaRotary expected t \(\.\.\., L, D\) with D even .*found t \[2,3,5\]/,
    );
    assert.deepEqual(
      Array.from(rotateHalf(tf.tensor1d([1, 2, 3, 4])).dataSync()),
      [-3, -4, 1, 2],
    );
  },
});
