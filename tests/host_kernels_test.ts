import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { setupBackend } from "../mod.ts";
import { backendTest } from "./helpers.ts";

// The host kernels (blas: UnsortedSegmentSum, SplitV, Slice; wasm: UnsortedSegmentSum)
// must agree exactly with tfjs's cpu kernels.
async function onBackend<T>(name: string, f: () => tf.Tensor | tf.Tensor[]): Promise<number[][]> {
  await setupBackend(name);
  const out = tf.tidy(f);
  const list = Array.isArray(out) ? out : [out];
  const values = await Promise.all(list.map(async (t) => [...t.shape, -1, ...(await t.data())]));
  tf.dispose(list);
  return values as number[][];
}

const x = () =>
  tf.tensor(Array.from({ length: 2 * 3 * 4 * 5 }, (_, i) => i * 0.5 - 7), [2, 3, 4, 5]);

const cases: [string, () => tf.Tensor | tf.Tensor[]][] = [
  ["split last axis, sizes", () => tf.split(x(), [1, 3, 1], -1)],
  ["split axis 1, equal", () => tf.split(x(), 3, 1)],
  ["split axis 0", () => tf.split(x(), [1, 1], 0)],
  ["split with -1", () => tf.split(x(), [2, -1], 2)],
  ["slice inner", () => tf.slice(x(), [1, 0, 1, 2], [1, 3, 2, 3])],
  ["slice whole trailing dims", () => tf.slice(x(), [0, 1, 0, 0], [2, 2, 4, 5])],
  ["slice rank 1", () => tf.slice(tf.range(0, 10), [3], [4])],
  ["slice size -1", () => tf.slice(x(), [0, 2], [-1, -1])],
  [
    "concat last axis, unequal parts",
    () => tf.concat([x(), tf.ones([2, 3, 4, 2]), tf.zeros([2, 3, 4, 1])], -1),
  ],
  ["concat axis 1", () => tf.concat([x(), x().mul(2)], 1)],
  ["concat axis 0, rank 1", () => tf.concat([tf.tensor1d([1, 2]), tf.tensor1d([3])], 0)],
  ["split gradient (Concat)", () => {
    const t = x();
    return tf.grad((v: tf.Tensor) => {
      const [a, b] = tf.split(v, [2, 3], -1);
      return a.square().sum().add(b.mul(3).sum());
    })(t);
  }],
  ["tile every axis", () => tf.tile(x(), [2, 1, 3, 2])],
  [
    "tile leading axis (broadcast queries)",
    () => tf.tile(tf.range(0, 12).reshape([1, 3, 4]), [5, 1, 1]),
  ],
  ["tile rank 1", () => tf.tile(tf.tensor1d([1, 2, 3]), [3])],
  ["gather gradient (UnsortedSegmentSum)", () => {
    const table = tf.randomNormal([7, 3], 0, 1, "float32", 1);
    const idx = tf.tensor2d([[1, 4, 1], [6, 0, 1]], [2, 3], "int32");
    return tf.grad((t: tf.Tensor) => tf.gather(t, idx).square().sum())(table);
  }],
  [
    "unsortedSegmentSum with out-of-range ids dropped",
    () =>
      tf.unsortedSegmentSum(
        tf.tensor2d([[1, 2], [3, 4], [5, 6]]),
        tf.tensor1d([2, 0, 2], "int32"),
        3,
      ),
  ],
];

for (const [name, f] of cases) {
  await backendTest(`host kernels match tfjs cpu: ${name}`, ["blas", "wasm"], async (backend) => {
    const want = await onBackend("cpu", f);
    assert.deepEqual(await onBackend(backend, f), want, backend);
  });
}

await backendTest("blas and wasm really use the host kernels", ["blas"], () => {
  for (const k of ["UnsortedSegmentSum", "SplitV", "Slice", "Tile", "Concat"]) {
    assert.notEqual(tf.getKernel(k, "blas")?.kernelFunc, tf.getKernel(k, "cpu")?.kernelFunc, k);
  }
  assert.ok(tf.getKernel("UnsortedSegmentSum", "wasm"));
});

await backendTest(
  "fused SwiGLU (blas) matches the op form (cpu) in value and gradient",
  ["blas"],
  async () => {
    const { swiglu } = await import("../src/ops/swiglu.ts");
    const f = () => {
      const t = tf.randomNormal([2, 5, 12], 0, 2, "float32", 7);
      const w = tf.randomNormal([2, 5, 6], 0, 1, "float32", 8);
      const g = tf.grad((v: tf.Tensor) => swiglu(v).mul(w).sum())(t);
      return [swiglu(t), g];
    };
    const want = await onBackend("cpu", f);
    const got = await onBackend("blas", f);
    const { hasFusedSwiGLU } = await import("../src/ops/swiglu.ts");
    assert.ok(hasFusedSwiGLU(), "blas has the fused kernel");
    for (let i = 0; i < want.length; i++) {
      const d = Math.max(...want[i].map((v, j) => Math.abs(v - got[i][j])));
      assert.ok(d < 1e-5, `output ${i} differs by ${d}`);
    }
  },
);

await backendTest(
  "fused cross-entropy (blas) matches the log-softmax form (cpu) in value and gradient",
  ["blas"],
  async () => {
    const { captionLoss } = await import("../src/model/losses.ts");
    const f = () => {
      const logits = tf.randomNormal([2, 4, 9], 0, 3, "float32", 11);
      const labels = tf.tensor2d([[1, 8, 0, 3], [0, 0, 5, 2]], [2, 4], "int32");
      const g = tf.grad((x: tf.Tensor) => captionLoss(x, labels, 0))(logits);
      return [captionLoss(logits, labels, 0), g];
    };
    const want = await onBackend("cpu", f);
    const got = await onBackend("blas", f);
    const { hasFusedNll } = await import("../src/ops/nll.ts");
    assert.ok(hasFusedNll(), "blas has the fused kernel");
    for (let i = 0; i < want.length; i++) {
      const d = Math.max(...want[i].map((v, j) => Math.abs(v - got[i][j])));
      assert.ok(d < 1e-5, `output ${i} differs by ${d}`);
    }
  },
);

await backendTest(
  "fused cross-entropy (blas): a label outside [0, V) gives loss 0 and a zero gradient row, as the plain op",
  ["blas"],
  async () => {
    const { tokenNll } = await import("../src/ops/nll.ts");
    const f = () => {
      const logits = tf.randomNormal([4, 9], 0, 3, "float32", 12) as tf.Tensor2D;
      const labels = tf.tensor1d([-1, 3, 9, 8], "int32");
      const dy = tf.tensor1d([0.5, -1, 2, 1]);
      const g = tf.grad((x: tf.Tensor) => tokenNll(x as tf.Tensor2D, labels).mul(dy).sum())(logits);
      return [tokenNll(logits, labels), g];
    };
    const want = await onBackend("cpu", f);
    const got = await onBackend("blas", f);
    assert.deepEqual([want[0][2], want[0][4]].map(Math.abs), [0, 0]); // [4, -1, loss...]: rows 0, 2
    for (let i = 0; i < want.length; i++) {
      const d = Math.max(...want[i].map((v, j) => Math.abs(v - got[i][j])));
      assert.ok(d < 1e-5, `output ${i} differs by ${d}`);
    }
  },
);

await backendTest(
  "fused layer norm (blas) matches the moments form (cpu) in value and all three gradients",
  ["blas"],
  async () => {
    const { layerNorm } = await import("../src/ops/layer_norm.ts");
    const f = () => {
      const x = tf.randomNormal([3, 5, 16], 1, 2, "float32", 21);
      const g = tf.randomNormal([16], 1, 0.5, "float32", 22);
      const b = tf.randomNormal([16], 0, 0.5, "float32", 23);
      const w = tf.randomNormal([3, 5, 16], 0, 1, "float32", 24);
      const grads = tf.grads((xi: tf.Tensor, gi: tf.Tensor, bi: tf.Tensor) =>
        layerNorm(xi, gi, bi).mul(w).sum()
      )([x, g, b]);
      return [layerNorm(x, g, b), ...grads];
    };
    const want = await onBackend("cpu", f);
    const got = await onBackend("blas", f);
    const { hasFusedLayerNorm } = await import("../src/ops/layer_norm.ts");
    assert.ok(hasFusedLayerNorm(), "blas has the fused kernel");
    for (let i = 0; i < want.length; i++) {
      const d = Math.max(...want[i].map((v, j) => Math.abs(v - got[i][j])));
      assert.ok(d < 1e-4, `output ${i} differs by ${d}`);
    }
  },
);
