// The blas backend's copy kernels (PadV2, GatherV2 in src/backends/blas/copy_kernels.ts;
// Transpose in fast_transpose.ts; Concat, SplitV, Slice, Tile, UnsortedSegmentSum in
// host_kernels.ts) give exactly the tfjs cpu backend's values, gradients and errors, on awkward
// shapes, with their float32 outputs taken from a buffer pool full of stale NaNs.
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { setupBackend } from "../mod.ts";
import { POOL_MIN_LENGTH } from "../src/backends/blas/buffer_pool.ts";
import { backendTest } from "./helpers.ts";

type Result = { shape: number[]; dtype: string; values: number[] } | { error: string };

/** Each output's shape, dtype and values, or the error `f` threw. */
async function run(f: () => tf.Tensor | tf.Tensor[]): Promise<Result[]> {
  let out: tf.Tensor | tf.Tensor[];
  try {
    out = tf.tidy(f);
  } catch (e) {
    return [{ error: e instanceof Error ? e.message : String(e) }];
  }
  const list = Array.isArray(out) ? out : [out];
  const r = await Promise.all(list.map(async (t) => ({
    shape: [...t.shape],
    dtype: t.dtype,
    values: [...await t.data()],
  })));
  tf.dispose(list);
  return r;
}

/**
 * Leaves a NaN-filled buffer of each of these lengths (those the pool takes) in the blas pool, so
 * that a kernel whose output comes from it and misses an element shows a NaN there.
 */
function dirtyPool(lengths: number[]): void {
  for (const n of lengths) {
    if (n < POOL_MIN_LENGTH) continue;
    // Neg's output comes from the pool; disposed unread, it goes back there with its NaNs.
    tf.tidy(() => {
      tf.neg(tf.fill([n], NaN));
    });
  }
}

/** Checks `f` on blas against cpu; `f` must be deterministic. */
async function sameAsCpu(f: () => tf.Tensor | tf.Tensor[]): Promise<void> {
  await setupBackend("cpu");
  const want = await run(f);
  await setupBackend("blas");
  dirtyPool(want.flatMap((r) => "values" in r && r.dtype === "float32" ? [r.values.length] : []));
  const got = await run(f);
  assertSame(got, want);
}

/** Like `assert.deepEqual`, with a short message on big arrays (the first differing value). */
function assertSame(got: Result[], want: Result[]): void {
  const strip = (rs: Result[]) =>
    rs.map((r) => "values" in r ? { ...r, values: r.values.length } : r);
  assert.deepEqual(strip(got), strip(want));
  got.forEach((g, i) => {
    if (!("values" in g)) return;
    const w = (want[i] as { values: number[] }).values;
    const at = g.values.findIndex((v, j) => !Object.is(v, w[j]));
    assert.equal(at, -1, `output ${i}: element ${at} is ${g.values[at]}, expected ${w[at]}`);
  });
}

function seq(shape: number[], dtype: "float32" | "int32" = "float32", from = 1): tf.Tensor {
  const n = shape.reduce((a, c) => a * c, 1);
  const v = Array.from({ length: n }, (_, i) => dtype === "int32" ? i + from : (i + from) * 0.25);
  return tf.tensor(v, shape, dtype);
}

/** `sum(f(x) * w)`'s gradient with respect to x, for a fixed pseudo-random `w`. */
function gradOf(f: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor): tf.Tensor {
  return tf.grad((v: tf.Tensor) => {
    const y = f(v);
    const w = tf.randomUniform(y.shape, -1, 1, "float32", 5);
    return y.mul(w).sum();
  })(x);
}

const cases: [string, () => tf.Tensor | tf.Tensor[]][] = [
  // PadV2
  [
    "pad one row in front (the text's CLS slot)",
    () => tf.pad(seq([4, 9, 40]), [[0, 0], [1, 0], [0, 0]]),
  ],
  ["pad big, every axis", () => tf.pad(seq([6, 50, 70]), [[1, 2], [3, 0], [5, 7]], -1.5)],
  ["pad last axis only", () => tf.pad(seq([3, 4, 5]), [[0, 0], [0, 0], [2, 1]], 9)],
  ["pad nothing", () => tf.pad(seq([3, 4]), [[0, 0], [0, 0]])],
  ["pad rank 1", () => tf.pad(seq([5]), [[3, 4]], 2)],
  ["pad size-1 axes", () => tf.pad(seq([1, 3, 1]), [[2, 0], [0, 0], [1, 1]])],
  ["pad an empty tensor", () => tf.pad(tf.zeros([0, 3]), [[1, 2], [0, 1]], 4)],
  ["pad to an empty tensor", () => tf.pad(tf.zeros([2, 0, 3]), [[0, 1], [0, 0], [0, 1]])],
  ["pad rank 5", () => tf.pad(seq([2, 1, 3, 2, 2]), [[0, 1], [1, 0], [0, 0], [1, 1], [0, 0]], 3)],
  ["pad int32", () => tf.pad(seq([3, 4], "int32"), [[1, 0], [0, 2]], 7)],
  ["pad int32 with a fractional value", () => tf.pad(seq([2, 2], "int32"), [[1, 1], [0, 0]], 2.7)],
  ["pad bool (stock kernel)", () => tf.pad(tf.tensor([true, false], [2], "bool"), [[1, 0]])],
  ["pad negative (stock kernel)", () => tf.pad(seq([6]), [[-1, 2]])],
  ["pad gradient", () => gradOf((x) => tf.pad(x, [[1, 0], [0, 3], [2, 2]]), seq([5, 30, 20]))],
  // GatherV2
  [
    "gather rows (embedding)",
    () => tf.gather(seq([50, 300]), tf.tensor2d([[3, 0, 49], [7, 7, 1]], undefined, "int32")),
  ],
  ["gather short rows", () => tf.gather(seq([10, 5]), tf.tensor1d([9, 0, 4, 4], "int32"))],
  ["gather axis 1", () => tf.gather(seq([3, 6, 4]), tf.tensor1d([5, 0, 2], "int32"), 1)],
  ["gather last axis", () => tf.gather(seq([3, 4, 6]), tf.tensor1d([5, 1], "int32"), -1)],
  [
    "gather big (pooled)",
    () => tf.gather(seq([40, 2000]), tf.tensor1d([39, 0, 5, 5, 12, 20, 30, 1, 2, 3], "int32")),
  ],
  [
    "gather batchDims 1",
    () => tf.gather(seq([2, 5, 3]), tf.tensor2d([[4, 0, 1], [2, 2, 3]], undefined, "int32"), 1, 1),
  ],
  [
    "gather batchDims 2",
    () => tf.gather(seq([2, 3, 4, 2]), seq([2, 3, 2], "int32", 0).mod(4), 2, 2),
  ],
  ["gather int32", () => tf.gather(seq([4, 3], "int32"), tf.tensor1d([3, 1], "int32"))],
  ["gather size-1 axes", () => tf.gather(seq([1, 4, 1]), tf.tensor1d([0, 0], "int32"), 0)],
  ["gather no indices", () => tf.gather(seq([4, 3]), tf.tensor1d([], "int32"))],
  ["gather from an empty slice", () => tf.gather(tf.zeros([3, 0]), tf.tensor1d([2, 1], "int32"))],
  ["gather index too big (throws)", () => tf.gather(seq([4, 3]), tf.tensor1d([1, 4], "int32"))],
  ["gather negative index (throws)", () => tf.gather(seq([4, 3]), tf.tensor1d([-1], "int32"))],
  [
    "gather bool (stock kernel)",
    () => tf.gather(tf.tensor([true, false], [2], "bool"), tf.tensor1d([1, 1, 0], "int32")),
  ],
  [
    "gather gradient",
    () => gradOf((x) => tf.gather(x, tf.tensor1d([2, 0, 2, 9], "int32")), seq([10, 130])),
  ],
  [
    "gather gradient, axis 1",
    () => gradOf((x) => tf.gather(x, tf.tensor1d([2, 0, 2], "int32"), 1), seq([3, 4, 5])),
  ],
  [
    "gather gradient, batchDims 1",
    () =>
      gradOf(
        (x) => tf.gather(x, tf.tensor2d([[1, 1], [0, 2]], undefined, "int32"), 1, 1),
        seq([2, 3, 4]),
      ),
  ],
  // Transpose
  ["transpose heads, short runs", () => tf.transpose(seq([2, 7, 3, 5]), [0, 2, 1, 3])],
  ["transpose heads, long runs (pooled)", () => tf.transpose(seq([2, 9, 4, 130]), [0, 2, 1, 3])],
  ["transpose a matrix across tile edges", () => tf.transpose(seq([70, 333]), [1, 0])],
  ["transpose the ViT's patches", () => tf.transpose(seq([2, 3, 4, 8, 4, 8]), [0, 2, 4, 3, 5, 1])],
  [
    "transpose rank 3 rotations",
    () => [tf.transpose(seq([5, 6, 7]), [2, 0, 1]), tf.transpose(seq([5, 6, 7]), [1, 2, 0])],
  ],
  ["transpose identity (shares data)", () => tf.transpose(seq([300, 70]), [0, 1])],
  ["transpose moving only size-1 axes", () => tf.transpose(seq([1, 3, 1, 4]), [2, 1, 0, 3])],
  ["transpose int32", () => tf.transpose(seq([3, 40, 5], "int32"), [2, 1, 0])],
  ["transpose bool", () => tf.transpose(tf.tensor([1, 0, 0, 1, 1, 0], [2, 3], "bool"), [1, 0])],
  ["transpose empty", () => tf.transpose(tf.zeros([0, 3, 2]), [2, 0, 1])],
  ["transpose gradient", () => gradOf((x) => tf.transpose(x, [1, 3, 0, 2]), seq([2, 3, 4, 5]))],
  // Concat, SplitV, Slice, Tile
  ["concat short rows", () => tf.concat([seq([3, 4, 5]), seq([3, 4, 2], "float32", 7)], -1)],
  [
    "concat long rows (pooled)",
    () => tf.concat([seq([6, 40, 300]), seq([6, 2, 300]), seq([6, 1, 300])], 1),
  ],
  ["concat with an empty part", () => tf.concat([seq([2, 3]), tf.zeros([2, 0]), seq([2, 1])], 1)],
  ["concat int32", () => tf.concat([seq([2, 3], "int32"), seq([2, 2], "int32")], 1)],
  ["concat gradient", () => gradOf((x) => tf.concat([x, x.mul(2)], 1), seq([3, 4, 5]))],
  ["split short rows", () => tf.split(seq([4, 6, 32]), 2, -1)],
  ["split long rows (pooled)", () => tf.split(seq([8, 10, 2368]), [256, 32, 32, 2048], -1)],
  ["split with size-1 axes", () => tf.split(seq([1, 5, 1]), [2, 3], 1)],
  ["split int32", () => tf.split(seq([3, 4], "int32"), [1, 3], 1)],
  [
    "split gradient",
    () => gradOf((x) => tf.concat(tf.split(x, [1, 2], 1).reverse(), 1), seq([2, 3, 4])),
  ],
  ["slice short rows", () => tf.slice(seq([4, 5, 6]), [1, 2, 1], [2, 3, 4])],
  ["slice long rows (pooled)", () => tf.slice(seq([10, 20, 300]), [1, 0, 10], [8, 19, 290])],
  ["slice empty", () => tf.slice(seq([4, 5]), [1, 2], [0, 3])],
  ["slice gradient", () => gradOf((x) => tf.slice(x, [0, 1], [2, 3]), seq([3, 5]))],
  ["slice a whole empty axis", () => tf.slice(tf.zeros([3, 0, 2]), [1, 0, 0], [2, 0, 2])],
  ["tile (pooled)", () => tf.tile(seq([1, 70, 256]), [2, 1, 1])],
  ["tile zero times", () => tf.tile(seq([2, 3]), [1, 0])],
  ["tile an empty tensor", () => tf.tile(tf.zeros([2, 0]), [2, 3])],
  ["tile gradient", () => gradOf((x) => tf.tile(x, [2, 1, 3]), seq([2, 3, 4]))],
  // UnsortedSegmentSum (gather's gradient) with empty segments in a pooled output
  [
    "unsortedSegmentSum leaves empty segments 0",
    () => tf.unsortedSegmentSum(seq([3, 8000]), tf.tensor1d([0, 3, 3], "int32"), 4),
  ],
  [
    "unsortedSegmentSum of no rows",
    () => tf.unsortedSegmentSum(tf.zeros([0, 5]), tf.tensor1d([], "int32"), 3),
  ],
];

for (const [name, f] of cases) {
  await backendTest(`copy kernels match tfjs cpu: ${name}`, ["blas"], () => sameAsCpu(f));
}

// The stock cpu kernel multiplies by a float32 mask, so its sum of int32 rows is float32; the host
// kernel keeps int32, as TensorFlow does (and as it did before the kernels used the pool).
await backendTest("unsortedSegmentSum of int32 stays int32, out-of-range ids dropped", [
  "blas",
], async () => {
  const f = () =>
    tf.unsortedSegmentSum(seq([4, 2], "int32"), tf.tensor1d([1, -1, 1, 5], "int32"), 3);
  await setupBackend("cpu");
  const [want] = await run(f);
  await setupBackend("blas");
  const [got] = await run(f);
  assertSame([got], [{ ...want, dtype: "int32" }]);
});

await backendTest("transpose sharing the input's data outlives the input", ["blas"], async () => {
  const x = seq([40, 500]);
  const y = tf.transpose(x, [0, 1]);
  x.dispose();
  const z = tf.transpose(tf.reshape(y, [1, 40, 500]), [1, 0, 2]);
  y.dispose();
  assert.deepEqual([...await z.data()].slice(0, 3), [0.25, 0.5, 0.75]);
  assert.equal(z.size, 20000);
  z.dispose();
});

await backendTest("blas really uses the copy kernels", ["blas"], () => {
  for (const k of ["PadV2", "GatherV2", "Transpose"]) {
    assert.notEqual(tf.getKernel(k, "blas")?.kernelFunc, tf.getKernel(k, "cpu")?.kernelFunc, k);
  }
});
