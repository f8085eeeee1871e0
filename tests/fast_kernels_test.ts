import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import {
  BINARY_KERNELS,
  broadcastBinary,
  broadcastShapes,
} from "../src/backends/blas/fast_binary.ts";
import { reduce, type ReduceOp } from "../src/backends/blas/fast_reduce.ts";
import { softmaxRows } from "../src/backends/blas/fast_softmax.ts";
import { transposeValues } from "../src/backends/blas/fast_transpose.ts";
import { UNARY_KERNELS, unaryValues } from "../src/backends/blas/fast_unary.ts";
import { setupBackend } from "../src/backends/setup.ts";

// These pin the pure-JS kernels against the tfjs cpu backend; no OpenBLAS needed.
await setupBackend("cpu"); // silences the cpu backend banner
(tf.backend() as unknown as { firstUse: boolean }).firstUse = false;

function rand(shape: number[], seed: number): Float32Array {
  let s = seed >>> 0;
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    v[i] = (s / 2 ** 31 - 1) * 3;
  }
  return v;
}

function assertClose(got: Float32Array, want: Float32Array | Int32Array, what: string, tol = 1e-6) {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const g = got[i], w = want[i];
    if (g === w || (Number.isNaN(w) && Number.isNaN(g))) continue;
    if (!(Math.abs(g - w) <= tol * Math.max(1, Math.abs(w)))) {
      assert.fail(`${what}[${i}]: expected ${w}, found ${g}`);
    }
  }
}

const BROADCAST_PAIRS: [number[], number[]][] = [
  [[4, 5], [4, 5]],
  [[4, 5], []],
  [[], [4, 5]],
  [[4, 5], [5]],
  [[4, 5], [4, 1]],
  [[2, 3, 4], [3, 1]],
  [[2, 1, 4], [1, 3, 1]],
  [[2, 3, 1, 5], [3, 4, 5]],
  [[1, 1, 6], [2, 3, 1]],
  [[2, 1, 3, 1], [2, 4, 1, 5]],
];

Deno.test("broadcastShapes follows NumPy and names the shapes when they clash", () => {
  assert.deepEqual(broadcastShapes([2, 1, 4], [3, 1]), [2, 3, 4]);
  assert.throws(() => broadcastShapes([2, 3], [4]), /\[2,3\] and \[4\]/);
});

Deno.test("broadcastBinary matches the cpu kernels for every op and broadcast pattern", () => {
  const ops: Record<string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor> = {
    Add: tf.add,
    Sub: tf.sub,
    Multiply: tf.mul,
    RealDiv: tf.div,
    Maximum: tf.maximum,
    Minimum: tf.minimum,
    SquaredDifference: tf.squaredDifference,
  };
  for (const [name, op] of Object.entries(BINARY_KERNELS)) {
    BROADCAST_PAIRS.forEach(([as, bs], i) => {
      const a = rand(as, 2 * i + 1), b = rand(bs, 2 * i + 2);
      const want = tf.tidy(() => ops[name](tf.tensor(a, as), tf.tensor(b, bs)));
      const got = broadcastBinary(op, a, as, b, bs);
      assert.deepEqual(got.shape, want.shape, `${name} [${as}]·[${bs}] shape`);
      assertClose(got.values, want.dataSync() as Float32Array, `${name} [${as}]·[${bs}]`);
      want.dispose();
    });
  }
});

Deno.test("reduce matches cpu Sum/Mean/Max/Min for all axis sets, with and without keepDims", () => {
  const shape = [3, 1, 4, 5];
  const x = rand(shape, 7);
  const axisSets: (number | number[] | undefined)[] = [
    undefined,
    0,
    -1,
    2,
    [0, 2],
    [1, 3],
    [0, 3],
    [0, 1, 2, 3],
    [2, 3],
  ];
  const ops: Record<ReduceOp, (t: tf.Tensor, a?: number | number[], k?: boolean) => tf.Tensor> = {
    sum: tf.sum,
    mean: tf.mean,
    max: tf.max,
    min: tf.min,
  };
  for (const [op, f] of Object.entries(ops) as [ReduceOp, typeof ops.sum][]) {
    for (const axis of axisSets) {
      for (const keepDims of [false, true]) {
        const want = tf.tidy(() => f(tf.tensor(x, shape), axis, keepDims));
        const got = reduce(op, x, shape, axis, keepDims);
        assert.deepEqual(got.shape, want.shape, `${op} axis=${axis} keepDims=${keepDims} shape`);
        assertClose(got.values, want.dataSync() as Float32Array, `${op} axis=${axis}`, 1e-5);
        want.dispose();
      }
    }
  }
  assert.throws(() => reduce("sum", x, shape, 4, false), /axes in \[-4, 4\), found 4/);
});

Deno.test("transposeValues matches cpu Transpose for assorted permutations and dtypes", () => {
  const cases: [number[], number[]][] = [
    [[3, 4], [1, 0]],
    [[2, 3, 4], [0, 2, 1]],
    [[2, 3, 4], [2, 0, 1]],
    [[2, 5, 3, 4], [0, 2, 1, 3]],
    [[2, 5, 3, 1, 4], [3, 0, 2, 1, 4]],
    [[2, 3, 4, 5], [3, 2, 1, 0]],
    [[1, 6, 1], [2, 1, 0]],
    [[2, 300], [1, 0]],
    [[2, 3, 300], [1, 0, 2]],
  ];
  for (const [shape, perm] of cases) {
    const x = rand(shape, shape.length);
    const want = tf.tidy(() => tf.transpose(tf.tensor(x, shape), perm));
    const got = transposeValues(x, shape, perm);
    assert.deepEqual(got.shape, want.shape);
    assertClose(got.values, want.dataSync() as Float32Array, `transpose [${shape}] [${perm}]`, 0);
    want.dispose();
    const xi = Int32Array.from(x, (v) => Math.round(v * 100));
    const gotI = transposeValues(xi, shape, perm);
    assert.ok(gotI.values instanceof Int32Array);
  }
  assert.throws(() => transposeValues(new Float32Array(6), [2, 3], [0, 0]), /permutation/);
});

Deno.test("softmaxRows matches cpu softmax, including large logits", () => {
  const x = rand([6, 7], 3);
  x[3] = 80;
  x[10] = -1e4;
  const want = tf.tidy(() => tf.softmax(tf.tensor(x, [6, 7])));
  assertClose(softmaxRows(x, 7), want.dataSync() as Float32Array, "softmax", 1e-6);
  want.dispose();
});

Deno.test("unaryValues matches the cpu kernels for every op", () => {
  const x = rand([257], 9);
  x[0] = 0;
  x[1] = -0;
  const fs: Record<string, (t: tf.Tensor) => tf.Tensor> = {
    Neg: tf.neg,
    Exp: tf.exp,
    Erf: tf.erf,
    Tanh: tf.tanh,
    Sigmoid: tf.sigmoid,
    Relu: tf.relu,
    Sqrt: tf.sqrt,
    Rsqrt: tf.rsqrt,
    Log: tf.log,
    Abs: tf.abs,
  };
  for (const [name, op] of Object.entries(UNARY_KERNELS)) {
    const want = tf.tidy(() => fs[name](tf.tensor(x)));
    assertClose(unaryValues(op, x), want.dataSync() as Float32Array, name, 1e-6);
    want.dispose();
  }
});
