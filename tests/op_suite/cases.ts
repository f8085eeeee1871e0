/**
 * Case definitions of the op-consistency suite (`tests/op_suite_test.ts`), in the spirit of
 * PyTorch's OpInfo tests: for every tfjs kernel the model runs (`kernels.json`), cases on awkward
 * inputs — one and many inputs for list kernels, sizes 1, odd and not a multiple of 4, a few
 * thousand elements, broadcasting, negative, large and tied values, int32 where the model uses it.
 * The suite runs each case on every backend, compares outputs and gradients with the cpu backend,
 * and checks with the kernel recorder that the case really ran the kernels it declares.
 *
 * Inputs are host data made here from a fixed seed, so every backend sees the same numbers.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { layerNorm } from "../../src/ops/layer_norm.ts";
import { swiglu } from "../../src/ops/swiglu.ts";
import { rotary } from "../../src/ops/rotary.ts";
import { gelu } from "../../src/ops/gelu.ts";
import { rotaryTables } from "../../src/nn/rotary.ts";
import { attention, MASK_VALUE } from "../../src/ops/attention.ts";
import { captionLoss } from "../../src/model/losses.ts";
import { AdamW } from "../../src/train/optimizer.ts";

/** One input of a case, as host data. */
export interface Input {
  shape: number[];
  dtype: "float32" | "int32" | "bool";
  values: Float32Array | Int32Array | Uint8Array;
}

/**
 * Tolerance: an element passes when `|got - want| <= atol + rtol |want| + scale max|want|`
 * (`scale`: relative to the largest magnitude of that output, for long sums and products).
 */
export interface Tol {
  rtol: number;
  atol: number;
  scale: number;
}

/** One case: an op on fixed inputs, compared across backends, value and gradient. */
export interface OpCase {
  /** Unique name: kernel, what is awkward about it. */
  name: string;
  /** The kernels the case is for; each must run on every backend that registers it. */
  kernels: string[];
  inputs: Input[];
  /** The op; synchronous, called inside `tf.tidy`. Several outputs may be returned. */
  fn: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[];
  /**
   * Inputs (indices) to differentiate `sum(fn(x) · w)` (random fixed `w`) with respect to;
   * default every float32 input; `false`: no gradient.
   */
  grad?: number[] | false;
  /**
   * Also check the gradient on cpu against a central finite difference along a random direction
   * (default true; false where the op is not smooth at the inputs, e.g. ties).
   */
  fd?: boolean;
  tol?: Partial<Tol>;
  gradTol?: Partial<Tol>;
}

/** Default tolerance of values: elementwise float32. */
export const TOL: Tol = { rtol: 1e-5, atol: 1e-6, scale: 0 };
/** Default tolerance of gradients (broadcast gradients are sums). */
export const GRAD_TOL: Tol = { rtol: 1e-5, atol: 1e-6, scale: 1e-6 };
/** Reductions and products over many terms: relative to the output's magnitude. */
const LONG: Partial<Tol> = { rtol: 1e-5, scale: 1e-5 };

// ------------------------------------------------------------------ deterministic host data

let state = 0x2545f491;
function rand(): number {
  // mulberry32
  state = (state + 0x6d2b79f5) | 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

function randn(shape: number[], scale = 1, mean = 0): Input {
  const values = new Float32Array(size(shape));
  for (let i = 0; i < values.length; i++) {
    const u = Math.max(rand(), 1e-12), v = rand();
    values[i] = mean + scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  return { shape, dtype: "float32", values };
}

function unif(shape: number[], lo: number, hi: number): Input {
  return {
    shape,
    dtype: "float32",
    values: Float32Array.from({ length: size(shape) }, () => lo + (hi - lo) * rand()),
  };
}

/** Integers in [lo, hi], as int32 or (`dtype` float32) as small whole floats: ties. */
function ints(
  shape: number[],
  lo: number,
  hi: number,
  dtype: "int32" | "float32" = "int32",
): Input {
  const n = size(shape);
  const v = Array.from({ length: n }, () => lo + Math.floor(rand() * (hi - lo + 1)));
  return {
    shape,
    dtype,
    values: dtype === "int32" ? Int32Array.from(v) : Float32Array.from(v),
  };
}

function vals(shape: number[], v: number[], dtype: Input["dtype"] = "float32"): Input {
  const values = dtype === "float32"
    ? Float32Array.from(v)
    : dtype === "int32"
    ? Int32Array.from(v)
    : Uint8Array.from(v);
  if (values.length !== size(shape)) throw new Error(`${v.length} values for [${shape}]`);
  return { shape, dtype, values };
}

function bools(shape: number[]): Input {
  return {
    shape,
    dtype: "bool",
    values: Uint8Array.from({ length: size(shape) }, () => (rand() < 0.5 ? 1 : 0)),
  };
}

/** The given values repeated / cut to fill `shape`. */
function fill(shape: number[], v: number[]): Input {
  return vals(shape, Array.from({ length: size(shape) }, (_, i) => v[i % v.length]));
}

const str = (s: number[]) => `[${s.join(",")}]`;

// ------------------------------------------------------------------ the cases

const cases: OpCase[] = [];
const add = (c: OpCase) => cases.push(c);

/** Odd, size-1, non-multiple-of-4 and a few-thousand-element shapes. */
const SHAPES: number[][] = [[1], [7], [3, 5], [2, 3, 7], [4099]];

// Unary elementwise: random inputs with gradients, then extreme values (value only).
const UNARY: {
  kernel: string;
  fn: (x: tf.Tensor) => tf.Tensor;
  domain: (shape: number[]) => Input;
  extremes: number[];
  tol?: Partial<Tol>;
}[] = [
  {
    kernel: "Exp",
    fn: tf.exp,
    domain: (s) => unif(s, -10, 10),
    extremes: [-100, -88, -20, 0, 1e-7, 20, 80, 88, 88.7, 89, 200],
  },
  {
    kernel: "Log",
    fn: tf.log,
    domain: (s) => unif(s, 0.01, 100),
    extremes: [0, 1e-38, 1e-30, 1e-7, 1, 1 + 1e-6, 1e30, 3e38, -1],
  },
  { kernel: "Neg", fn: tf.neg, domain: (s) => randn(s, 3), extremes: [0, -0, 3e38, -1e-38] },
  {
    kernel: "Sqrt",
    fn: tf.sqrt,
    domain: (s) => unif(s, 0.01, 100),
    extremes: [0, 1e-38, 1e-30, 1, 3e38],
  },
  {
    kernel: "Rsqrt",
    fn: tf.rsqrt,
    domain: (s) => unif(s, 0.01, 100),
    extremes: [1e-30, 1e-10, 1, 1e10, 1e30, 0],
  },
  {
    kernel: "Square",
    fn: tf.square,
    domain: (s) => randn(s, 10),
    extremes: [0, -1e-20, 1e19, -1.8e19, 2e19, -3e38],
  },
  {
    kernel: "Sigmoid",
    fn: tf.sigmoid,
    domain: (s) => randn(s, 5),
    extremes: [-1000, -100, -88, -30, -1e-7, 0, 1e-7, 17, 30, 88, 100, 1000],
  },
  {
    kernel: "Erf",
    fn: tf.erf,
    domain: (s) => unif(s, -4, 4),
    extremes: [-1e4, -10, -3, -0.5, -1e-8, 0, 1e-8, 0.5, 3, 10, 1e4],
  },
];
for (const u of UNARY) {
  for (const shape of SHAPES) {
    add({
      name: `${u.kernel} ${str(shape)}`,
      kernels: [u.kernel],
      inputs: [u.domain(shape)],
      fn: u.fn,
    });
  }
  add({
    name: `${u.kernel} extremes`,
    kernels: [u.kernel],
    inputs: [vals([u.extremes.length], u.extremes)],
    fn: u.fn,
    grad: false,
  });
}

// Binary elementwise with broadcasting.
const PAIRS: [number[], number[]][] = [
  [[1], [1]],
  [[7], [7]],
  [[3, 5], [3, 5]],
  [[4099], [4099]],
  [[3, 1, 5], [4, 5]],
  [[4, 5], [3, 1, 5]],
  [[2, 3, 4, 5], []],
  [[], [7]],
  [[5, 1], [1, 6]],
  [[2, 1, 7], [2, 9, 1]],
];
const BINARY: {
  kernel: string;
  fn: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;
  a: (s: number[]) => Input;
  b: (s: number[]) => Input;
  grad?: false;
}[] = [
  { kernel: "Add", fn: tf.add, a: (s) => randn(s, 3), b: (s) => randn(s, 3) },
  { kernel: "Sub", fn: tf.sub, a: (s) => randn(s, 3), b: (s) => randn(s, 3) },
  { kernel: "Multiply", fn: tf.mul, a: (s) => randn(s, 3), b: (s) => randn(s, 3) },
  {
    kernel: "RealDiv",
    fn: tf.div,
    a: (s) => randn(s, 3),
    b: (s) => {
      const x = unif(s, 0.5, 4);
      x.values.forEach((v, i) => (x.values[i] = rand() < 0.5 ? -v : v));
      return x;
    },
  },
  { kernel: "Maximum", fn: tf.maximum, a: (s) => randn(s), b: (s) => randn(s) },
  { kernel: "Minimum", fn: tf.minimum, a: (s) => randn(s), b: (s) => randn(s) },
  { kernel: "Pow", fn: tf.pow, a: (s) => unif(s, 0.2, 3), b: (s) => unif(s, -2, 3) },
  // Comparisons on small whole numbers, so that ties are common.
  {
    kernel: "Less",
    fn: tf.less,
    a: (s) => ints(s, -2, 2, "float32"),
    b: (s) => ints(s, -2, 2, "float32"),
    grad: false,
  },
  {
    kernel: "LessEqual",
    fn: tf.lessEqual,
    a: (s) => ints(s, -2, 2, "float32"),
    b: (s) => ints(s, -2, 2, "float32"),
    grad: false,
  },
  {
    kernel: "GreaterEqual",
    fn: tf.greaterEqual,
    a: (s) => ints(s, -2, 2, "float32"),
    b: (s) => ints(s, -2, 2, "float32"),
    grad: false,
  },
  {
    kernel: "NotEqual",
    fn: tf.notEqual,
    a: (s) => ints(s, -2, 2, "float32"),
    b: (s) => ints(s, -2, 2, "float32"),
    grad: false,
  },
];
for (const op of BINARY) {
  for (const [sa, sb] of PAIRS) {
    add({
      name: `${op.kernel} ${str(sa)} ${str(sb)}`,
      kernels: [op.kernel],
      inputs: [op.a(sa), op.b(sb)],
      fn: op.fn,
      ...(op.grad === false ? { grad: false as const } : {}),
    });
  }
}
// Ties for Maximum/Minimum (the gradient goes to one side, by rule), int32 arithmetic and
// comparisons, negative bases of Pow with whole exponents, huge and tiny quotients.
for (const [kernel, fn] of [["Maximum", tf.maximum], ["Minimum", tf.minimum]] as const) {
  add({
    name: `${kernel} ties [3,5] [5]`,
    kernels: [kernel],
    inputs: [ints([3, 5], -2, 2, "float32"), ints([5], -2, 2, "float32")],
    fn,
    fd: false, // not differentiable at ties
  });
}
for (const [kernel, fn] of [["Add", tf.add], ["Sub", tf.sub], ["Multiply", tf.mul]] as const) {
  add({
    name: `${kernel} int32 [3,1,5] [4,5]`,
    kernels: [kernel],
    inputs: [ints([3, 1, 5], -1000, 1000), ints([4, 5], -1000, 1000)],
    fn,
  });
}
for (const [kernel, fn] of [["Less", tf.less], ["NotEqual", tf.notEqual]] as const) {
  add({
    name: `${kernel} int32 [2,9] []`,
    kernels: [kernel],
    inputs: [ints([2, 9], 0, 3), vals([], [0], "int32")],
    fn,
  });
}
add({
  name: "Pow negative bases, whole exponents",
  kernels: ["Pow"],
  inputs: [vals([7], [-2, -2, -3, -0.5, -1, 0, 2]), vals([7], [2, 3, 3, 2, 7, 2, -1])],
  fn: tf.pow,
  grad: [0],
});
add({
  name: "Pow edge values",
  kernels: ["Pow"],
  inputs: [
    vals([7], [0, 0, -2, 1, -1, -1, 4]),
    vals([7], [0, 3, 0, 1e10, 1e6, 1000001, 0.5]),
  ],
  fn: tf.pow,
  grad: false,
});
add({
  name: "RealDiv huge and tiny",
  kernels: ["RealDiv"],
  inputs: [vals([6], [1e30, -1e30, 1e-30, 3e38, 1, -1]), vals([6], [1e-8, 3, 1e10, 0.5, 3e38, 0])],
  fn: tf.div,
  grad: false,
});

// Reductions.
const REDUCE: [string, (x: tf.Tensor, axis?: number | number[], keep?: boolean) => tf.Tensor][] = [
  ["Sum", tf.sum],
  ["Mean", tf.mean],
  ["Max", tf.max],
];
const REDUCE_SHAPES: [number[], number | number[] | undefined, boolean][] = [
  [[1], 0, false],
  [[7], undefined, false],
  [[3, 5], 0, false],
  [[3, 5], 1, true],
  [[2, 3, 7], 1, false],
  [[2, 3, 7], [0, 2], true],
  [[13, 257], -1, false],
  [[13, 257], 0, false],
  [[4099], undefined, false],
];
for (const [kernel, fn] of REDUCE) {
  for (const [shape, axis, keep] of REDUCE_SHAPES) {
    const axes = axis === undefined ? shape.map((_, i) => i) : [axis].flat();
    const reduced = axes.reduce((n, a) => n * shape[a < 0 ? a + shape.length : a], 1);
    add({
      name: `${kernel} ${str(shape)} axis ${axis ?? "all"}${keep ? " keepDims" : ""}`,
      kernels: [kernel],
      inputs: [randn(shape, 2, kernel === "Max" ? 0 : 0.5)],
      fn: (x) => fn(x, axis, keep),
      tol: LONG,
      gradTol: LONG,
      // The largest of many random values is near a tie: a finite step may pass the runner-up.
      ...(kernel === "Max" && reduced > 50 ? { fd: false } : {}),
    });
  }
}
add({
  name: "Max all negative [3,257] axis -1",
  kernels: ["Max"],
  inputs: [randn([3, 257], 1, -100)],
  fn: (x) => tf.max(x, -1),
  fd: false, // a step of 1e-3 |x| = 0.1 reorders values 1 apart
});
add({
  name: "Max with -Infinity [2,7] axis -1",
  kernels: ["Max"],
  inputs: [
    vals([2, 7], [-Infinity, -1e30, -5, -Infinity, -3, -4, -1e9, ...new Array(7).fill(-Infinity)]),
  ],
  fn: (x) => tf.max(x, -1),
  grad: false,
});
for (const [shape, axis] of [[[7], 0], [[3, 5], 1], [[4099], undefined], [[2, 3, 7], 1]] as const) {
  add({
    name: `Sum int32 ${str([...shape])} axis ${axis ?? "all"}`,
    kernels: ["Sum"],
    inputs: [ints([...shape], -50, 50)],
    fn: (x) => tf.sum(x, axis),
  });
}
add({
  name: "Sum of bool-cast-to-int32 (sampling's inverse CDF) [3,97] axis 1",
  kernels: ["Sum", "Cast", "LessEqual"],
  inputs: [unif([3, 97], 0, 1), unif([3, 1], 0, 1)],
  fn: (x, u) => x.lessEqual(u).toInt().sum(1),
  grad: false,
});

// Softmax along the last axis.
for (const shape of [[1, 1], [3, 7], [2, 3, 97], [2, 1000], [1, 4099]]) {
  add({
    name: `Softmax ${str(shape)}`,
    kernels: ["Softmax"],
    inputs: [randn(shape, 4)],
    fn: (x) => tf.softmax(x),
    gradTol: LONG,
  });
}
add({
  name: "Softmax large logits and masked entries [3,9]",
  kernels: ["Softmax"],
  inputs: [
    vals([3, 9], [
      ...[80, 79, -80, 0, 1, 2, 3, 4, 5],
      ...[-1e9, -1e9, 3, -1e9, 2, -1e9, -1e9, 1, 0],
      ...[1e4, -1e4, 1e4, 0, 0, 0, 0, 0, -1e30],
    ]),
  ],
  fn: (x) => tf.softmax(x),
  fd: false, // steps of 1e-3 |x| on logits of 1e4 are not small
});

// Cumsum, with its attributes (the gradient is a reversed cumsum).
for (
  const [shape, axis, exclusive, reverse] of [
    [[1, 1], 1, false, false],
    [[3, 7], 1, false, false],
    [[2, 1000], 1, false, false],
    [[4099], 0, false, false],
    [[5, 3], 0, false, false],
    [[3, 3], 0, false, false],
    [[3, 7], 1, true, false],
    [[3, 7], 1, false, true],
    [[3, 97], 1, true, true],
    [[2, 3, 5], 1, false, false],
  ] as [number[], number, boolean, boolean][]
) {
  add({
    name: `Cumsum ${str(shape)} axis ${axis}${exclusive ? " exclusive" : ""}${
      reverse ? " reverse" : ""
    }`,
    kernels: ["Cumsum"],
    inputs: [unif(shape, 0, 1)],
    fn: (x) => tf.cumsum(x, axis, exclusive, reverse),
    tol: LONG,
    gradTol: LONG,
  });
}

// TopK: values and indices; ties must come out lower index first (tf.topk's contract).
for (
  const [name, input, k] of [
    ["[1,1] k 1", randn([1, 1]), 1],
    ["[7] k 3", randn([7]), 3],
    ["[3,7] k 1", randn([3, 7]), 1],
    ["[3,7] k 7", randn([3, 7]), 7],
    ["[2,97] k 5", randn([2, 97]), 5],
    ["[2,1000] k 10", randn([2, 1000]), 10],
    ["[3,270] k 1 (greedy)", randn([3, 270], 3), 1],
    ["[4,40] k 40", randn([4, 40]), 40],
    ["ties [3,20] k 5", ints([3, 20], 0, 3, "float32"), 5],
    ["ties [2,20] k 20", ints([2, 20], -1, 1, "float32"), 20],
    ["all equal [2,33] k 4", fill([2, 33], [0.5]), 4],
    ["negative [2,13] k 6", randn([2, 13], 1, -50), 6],
  ] as [string, Input, number][]
) {
  add({
    name: `TopK ${name}`,
    kernels: ["TopK"],
    inputs: [input],
    fn: (x) => {
      const { values, indices } = tf.topk(x, k);
      return [values, indices];
    },
    grad: false,
  });
}

// OneHot: out-of-range indices give a zero row.
for (
  const [name, idx, depth, on, off] of [
    ["[7] depth 5 with -1 and 5", vals([7], [0, 4, -1, 5, 2, 2, 1], "int32"), 5, 1, 0],
    ["[1] depth 2", vals([1], [1], "int32"), 2, 1, 0],
    ["[2,3] depth 97", ints([2, 3], 0, 96), 97, 1, 0],
    ["[3,10] depth 270", ints([3, 10], 0, 269), 270, 1, 0],
    ["[5] depth 7 on 3 off -1", ints([5], 0, 6), 7, 3, -1],
  ] as [string, Input, number, number, number][]
) {
  add({
    name: `OneHot ${name}`,
    kernels: ["OneHot"],
    inputs: [idx],
    fn: (i) => tf.oneHot(i, depth, on, off),
  });
}

// GatherV2 (its gradient is an UnsortedSegmentSum over repeated indices).
for (
  const [name, params, idx, axis, batchDims] of [
    ["[7] by [3]", randn([7]), vals([3], [6, 0, 6], "int32"), 0, 0],
    ["embedding [40,32] by [3,10], repeats", randn([40, 32]), ints([3, 10], 0, 39), 0, 0],
    ["[97,64] by [30]", randn([97, 64]), ints([30], 0, 96), 0, 0],
    ["[3,5,4] axis 1", randn([3, 5, 4]), vals([6], [4, 0, 0, 2, 1, 4], "int32"), 1, 0],
    ["[2,5,3] batchDims 1", randn([2, 5, 3]), ints([2, 4], 0, 4), 1, 1],
    ["[2,3,5,2] axis 2 batchDims 2", randn([2, 3, 5, 2]), ints([2, 3, 4], 0, 4), 2, 2],
    ["[3,2,4] axis 2 batchDims 1", randn([3, 2, 4]), ints([3, 5], 0, 3), 2, 1],
    ["[1] by [1]", randn([1]), vals([1], [0], "int32"), 0, 0],
  ] as [string, Input, Input, number, number][]
) {
  add({
    name: `GatherV2 ${name}`,
    kernels: ["GatherV2", "UnsortedSegmentSum"],
    inputs: [params, idx],
    fn: (p, i) => tf.gather(p, i, axis, batchDims),
  });
}
for (
  const [name, data, ids, n] of [
    ["[7,3] 6 segments, some empty", randn([7, 3]), vals([7], [0, 2, 2, 5, 0, 2, 5], "int32"), 6],
    ["[4099] into 100", randn([4099]), ints([4099], 0, 96), 100],
    ["[1] into 1", randn([1]), vals([1], [0], "int32"), 1],
    ["[30,64] into 97", randn([30, 64]), ints([30], 0, 96), 97],
  ] as [string, Input, Input, number][]
) {
  add({
    name: `UnsortedSegmentSum ${name}`,
    kernels: ["UnsortedSegmentSum"],
    inputs: [data, ids],
    fn: (d, i) => tf.unsortedSegmentSum(d, i as tf.Tensor1D, n),
    tol: LONG,
  });
}

// List kernels: 1 and many inputs.
for (const k of [1, 2, 7, 8, 9, 17, 64]) {
  add({
    name: `AddN ${k} x [3,5]`,
    kernels: ["AddN"],
    inputs: Array.from({ length: k }, () => randn([3, 5])),
    fn: (...xs) => tf.addN(xs),
    tol: LONG,
  });
}
add({
  name: "AddN 64 x [4099]",
  kernels: ["AddN"],
  inputs: Array.from({ length: 64 }, () => randn([4099])),
  fn: (...xs) => tf.addN(xs),
  tol: LONG,
});
add({
  name: "AddN 9 x [1]",
  kernels: ["AddN"],
  inputs: Array.from({ length: 9 }, () => randn([1])),
  fn: (...xs) => tf.addN(xs),
  tol: LONG,
});
add({
  name: "AddN 46 scalars (clipping's square sums)",
  kernels: ["AddN"],
  inputs: Array.from({ length: 46 }, () => unif([], 0, 100)),
  fn: (...xs) => tf.addN(xs),
  tol: LONG,
});

add({
  name: "Concat of 1 input (a copy: Identity)",
  kernels: ["Identity"],
  inputs: [randn([3, 5])],
  fn: (x) => tf.concat([x], 0),
});
for (
  const [name, shapes, axis] of [
    ["2 along 0", [[1, 5], [3, 5]], 0],
    ["2 along -1", [[3, 1], [3, 7]], -1],
    ["3 along middle", [[2, 1, 3], [2, 4, 3], [2, 2, 3]], 1],
    ["9 along -1", Array.from({ length: 9 }, (_, i) => [2, 1 + (i % 4)]), -1],
    ["17 along 0", Array.from({ length: 17 }, (_, i) => [1 + (i % 3), 5]), 0],
    ["40 along 1", Array.from({ length: 40 }, (_, i) => [3, 1 + (i % 5), 2]), 1],
    ["2 x [4099] along 0", [[4099], [3]], 0],
  ] as [string, number[][], number][]
) {
  add({
    name: `Concat ${name}`,
    kernels: ["Concat"],
    inputs: shapes.map((s) => randn(s)),
    fn: (...xs) => tf.concat(xs, axis),
  });
}
add({
  name: "Concat int32 9 along -1",
  kernels: ["Concat"],
  inputs: Array.from({ length: 9 }, (_, i) => ints([2, 1 + (i % 3)], -100, 100)),
  fn: (...xs) => tf.concat(xs, -1),
});

for (
  const [name, shapes, axis] of [
    ["1 input", [[3, 5]], 0],
    ["3 along 0", [[7], [7], [7]], 0],
    ["9 along 1", Array.from({ length: 9 }, () => [3, 5]), 1],
    ["40 scalars", Array.from({ length: 40 }, () => []), 0],
    ["4 scalars (the step's losses)", Array.from({ length: 4 }, () => []), 0],
  ] as [string, number[][], number][]
) {
  add({
    name: `Pack ${name}`,
    kernels: ["Pack"],
    inputs: shapes.map((s) => randn(s)),
    fn: (...xs) => tf.stack(xs, axis),
  });
}
add({
  name: "Pack int32 3 along 1",
  kernels: ["Pack"],
  inputs: [ints([2, 3], 0, 9), ints([2, 3], 0, 9), ints([2, 3], 0, 9)],
  fn: (...xs) => tf.stack(xs, 1),
});

for (
  const [name, shape, sizes, axis] of [
    ["[7] into 1,4,2", [7], [1, 4, 2], 0],
    ["[3,10] in 2 along 1", [3, 10], 2, 1],
    ["[2,3,97] into 1,32,64", [2, 3, 97], [1, 32, 64], -1],
    ["[13,5] into 13 along 0", [13, 5], 13, 0],
    ["[4099] into 4096,3", [4099], [4096, 3], 0],
    ["[3,5] in 1", [3, 5], 1, 1],
  ] as [string, number[], number | number[], number][]
) {
  add({
    name: `SplitV ${name}`,
    kernels: ["SplitV"],
    inputs: [randn(shape)],
    fn: (x) => tf.split(x, sizes, axis),
  });
}

for (
  const [name, input, begin, sz] of [
    ["[7] 2+3", randn([7]), [2], [3]],
    ["[3,5] rows 1.. all columns", randn([3, 5]), [1, 0], [2, -1]],
    ["[2,3,7] odd window", randn([2, 3, 7]), [0, 1, 3], [2, 2, 4]],
    ["[2,3,4,5] odd window", randn([2, 3, 4, 5]), [1, 0, 1, 2], [1, 3, 2, 3]],
    ["[4099] 1+4097", randn([4099]), [1], [4097]],
    ["[1] whole", randn([1]), [0], [1]],
    ["int32 [3,5]", ints([3, 5], -9, 9), [1, 2], [2, 3]],
  ] as [string, Input, number[], number[]][]
) {
  add({
    name: `Slice ${name}`,
    kernels: ["Slice"],
    inputs: [input],
    fn: (x) => tf.slice(x, begin, sz),
  });
}

for (
  const [name, shape, pads, value] of [
    ["[7] 1,2", [7], [[1, 2]], 0],
    ["[3,5] asymmetric, value 1.5", [3, 5], [[0, 1], [2, 3]], 1.5],
    ["[2,3,4,5]", [2, 3, 4, 5], [[0, 0], [1, 0], [0, 2], [3, 1]], 0],
    ["[1] none", [1], [[0, 0]], 0],
    ["[4099] 3,0 value -2", [4099], [[3, 0]], -2],
  ] as [string, number[], [number, number][], number][]
) {
  add({
    name: `PadV2 ${name}`,
    kernels: ["PadV2"],
    inputs: [randn(shape)],
    fn: (x) => tf.pad(x, pads, value),
  });
}

for (
  const [name, input, reps] of [
    ["[7] x3", randn([7]), [3]],
    ["[3,5] x1,1", randn([3, 5]), [1, 1]],
    ["[3,1,5] x2,3,1", randn([3, 1, 5]), [2, 3, 1]],
    ["[2,3,4,5] x1,2,1,3", randn([2, 3, 4, 5]), [1, 2, 1, 3]],
    ["[1] x4099", randn([1]), [4099]],
    ["int32 [3,5] x2,2", ints([3, 5], -9, 9), [2, 2]],
  ] as [string, Input, number[]][]
) {
  add({
    name: `Tile ${name}`,
    kernels: ["Tile"],
    inputs: [input],
    fn: (x) => tf.tile(x, reps),
  });
}

for (
  const [name, input, perm] of [
    ["[1,1]", randn([1, 1]), [1, 0]],
    ["[3,5]", randn([3, 5]), [1, 0]],
    ["[2,3,7] 0,2,1", randn([2, 3, 7]), [0, 2, 1]],
    ["[2,3,7] 2,0,1", randn([2, 3, 7]), [2, 0, 1]],
    ["[2,3,7] 1,0,2", randn([2, 3, 7]), [1, 0, 2]],
    ["[2,3,4,5] 0,2,1,3 (heads)", randn([2, 3, 4, 5]), [0, 2, 1, 3]],
    ["[2,3,4,5] 3,1,2,0", randn([2, 3, 4, 5]), [3, 1, 2, 0]],
    ["[7,13,45] 2,0,1", randn([7, 13, 45]), [2, 0, 1]],
    ["int32 [3,5]", ints([3, 5], -9, 9), [1, 0]],
  ] as [string, Input, number[]][]
) {
  add({
    name: `Transpose ${name}`,
    kernels: ["Transpose"],
    inputs: [input],
    fn: (x) => tf.transpose(x, perm),
  });
}

for (
  const [name, input, shape] of [
    ["[4099] to [1,4099,1]", randn([4099]), [1, 4099, 1]],
    ["[2,3,7] to [6,7]", randn([2, 3, 7]), [6, 7]],
    ["int32 [3,5] to [15]", ints([3, 5], -9, 9), [15]],
    ["[1] to []", randn([1]), []],
  ] as [string, Input, number[]][]
) {
  add({
    name: `Reshape ${name}`,
    kernels: ["Reshape"],
    inputs: [input],
    fn: (x) => tf.reshape(x, shape),
  });
}
for (
  const [name, input, axis] of [
    ["[7] axis 0", randn([7]), 0],
    ["[3,5] axis -1", randn([3, 5]), -1],
    ["[3,5] axis 1", randn([3, 5]), 1],
    ["int32 [2,3] axis 0", ints([2, 3], 0, 9), 0],
  ] as [string, Input, number][]
) {
  add({
    name: `ExpandDims ${name}`,
    kernels: ["ExpandDims"],
    inputs: [input],
    fn: (x) => tf.expandDims(x, axis),
  });
}
for (const input of [randn([7]), randn([4099]), ints([3, 5], -1000, 1000)]) {
  add({
    name: `Identity ${input.dtype} ${str(input.shape)}`,
    kernels: ["Identity"],
    inputs: [input],
    fn: (x) => x.clone(),
  });
}
for (const input of [randn([7]), ints([3, 5], -9, 9), randn([4099])]) {
  add({
    name: `ZerosLike ${input.dtype} ${str(input.shape)}`,
    kernels: ["ZerosLike"],
    inputs: [input],
    fn: (x) => tf.zerosLike(x),
    grad: false,
  });
}
// The seed gradient of the low-memory backward pass (src/train/step.ts).
for (const input of [randn([1]), ints([3, 5], -9, 9), randn([4099])]) {
  add({
    name: `OnesLike ${input.dtype} ${str(input.shape)}`,
    kernels: ["OnesLike"],
    inputs: [input],
    fn: (x) => tf.onesLike(x),
    grad: false,
  });
}

// Cast in every direction the model uses (float → int32 truncates towards zero).
add({
  name: "Cast float32 to int32: fractions, negatives, large",
  kernels: ["Cast"],
  inputs: [vals([12], [-2.7, -0.5, -0, 0.5, 2.7, 1e9, -1e9, 16777216, 3.999, -3.999, 1, 96])],
  fn: (x) => x.toInt(),
});
add({
  name: "Cast float32 [4099] to int32",
  kernels: ["Cast"],
  inputs: [randn([4099], 300)],
  fn: (x) => x.toInt(),
});
add({
  name: "Cast int32 to float32: beyond 2^24",
  kernels: ["Cast"],
  inputs: [vals([8], [0, -1, 16777217, -16777217, 2147483647, -2147483648, 123456789, 7], "int32")],
  fn: (x) => x.toFloat(),
});
add({
  name: "Cast bool to float32 and int32",
  kernels: ["Cast"],
  inputs: [bools([3, 7])],
  fn: (x) => [x.toFloat(), x.toInt()],
});
add({
  name: "Cast float32 to float32 (gradient path)",
  kernels: ["Cast"],
  inputs: [randn([3, 5])],
  fn: (x) => x.cast("float32").mul(2),
});

// BatchMatMul: odd sizes, transposes, broadcast batch, a long inner dimension.
for (
  const [name, sa, sb, ta, tb] of [
    ["[1,1,1] [1,1,1]", [1, 1, 1], [1, 1, 1], false, false],
    ["[1,7,13] [1,13,5]", [1, 7, 13], [1, 13, 5], false, false],
    ["[3,33,17] [3,17,9]", [3, 33, 17], [3, 17, 9], false, false],
    ["transposeA [3,17,33] [3,17,9]", [3, 17, 33], [3, 17, 9], true, false],
    ["transposeB [3,33,17] [3,9,17]", [3, 33, 17], [3, 9, 17], false, true],
    ["both [2,17,5] [2,7,17]", [2, 17, 5], [2, 7, 17], true, true],
    ["broadcast batch [1,5,7] [4,7,3]", [1, 5, 7], [4, 7, 3], false, false],
    ["rank 4 attention [2,3,10,16] [2,3,10,16]^T", [2, 3, 10, 16], [2, 3, 10, 16], false, true],
    ["rank 2 [7,13] [13,1]", [7, 13], [13, 1], false, false],
    ["long inner [2,3,1000] [2,1000,5]", [2, 3, 1000], [2, 1000, 5], false, false],
  ] as [string, number[], number[], boolean, boolean][]
) {
  add({
    name: `BatchMatMul ${name}`,
    kernels: ["BatchMatMul"],
    inputs: [randn(sa), randn(sb)],
    fn: (a, b) => tf.matMul(a, b, ta, tb),
    tol: LONG,
    gradTol: LONG,
  });
}

// The fused kernels of the blas backend, through the model's own functions: the plain-op path
// elsewhere (cpu is the reference), the fused kernel where it is registered.
for (
  const [name, x] of [
    ["[1,1]", randn([1, 1])],
    ["[3,7]", randn([3, 7], 2, 1)],
    ["[2,5,64]", randn([2, 5, 64])],
    ["[4,97] offset 100", randn([4, 97], 1, 100)],
  ] as [string, Input][]
) {
  const d = x.shape[x.shape.length - 1];
  add({
    name: `layerNorm ${name}`,
    kernels: ["CocaLayerNorm", "CocaLayerNormGrad"],
    inputs: [x, randn([d], 0.5, 1), randn([d], 0.5)],
    fn: (a, g, b) => layerNorm(a, g, b),
    // Rows at 100 ± 1: centring cancels about 7 bits, so summation order shows at ~1e-5 · 100.
    tol: name.includes("offset") ? { rtol: 1e-5, atol: 3e-4 } : LONG,
    gradTol: name.includes("offset") ? { rtol: 1e-5, atol: 3e-4, scale: 1e-5 } : LONG,
  });
}
for (const shape of [[1, 2], [3, 14], [2, 5, 194]]) {
  add({
    name: `swiglu ${str(shape)}`,
    kernels: ["CocaSwiGLU", "CocaSwiGLUGrad"],
    inputs: [randn(shape, 4)],
    fn: (t) => swiglu(t),
  });
}
for (const [shape, offset] of [[[2, 3, 6, 8], 0], [[3, 5, 16], 2], [[1, 1, 1, 64], 37]] as const) {
  const L = shape[shape.length - 2], D = shape[shape.length - 1];
  add({
    name: `rotary ${str([...shape])} from position ${offset}`,
    kernels: ["CocaRotary", "CocaRotaryGrad"],
    inputs: [randn([...shape], 2)],
    fn: (t) => {
      const { cos, sin } = rotaryTables(offset + L, D);
      return rotary(t, cos.slice([offset, 0], [L, D]), sin.slice([offset, 0], [L, D]));
    },
  });
}
for (const shape of [[7], [3, 5], [4099]]) {
  add({
    name: `gelu ${str(shape)}`,
    kernels: ["CocaGelu", "CocaGeluGrad"],
    inputs: [randn(shape, 3)],
    fn: (x) => gelu(x),
    // tfjs's Erf (the other backends' op form) is Abramowitz–Stegun 7.1.26 (error 1.5e-7).
    tol: { rtol: 1e-6, atol: 5e-7 },
    gradTol: { rtol: 1e-6, atol: 5e-7 },
  });
}
for (
  const [name, logits, labels] of [
    [
      "[2,5,97] with pads",
      randn([2, 5, 97], 3),
      vals([2, 5], [5, 9, 96, 0, 0, 1, 2, 3, 4, 0], "int32"),
    ],
    ["[3,10,270]", randn([3, 10, 270], 2), ints([3, 10], 1, 269)],
    ["[1,1,2]", randn([1, 1, 2]), vals([1, 1], [1], "int32")],
  ] as [string, Input, Input][]
) {
  add({
    name: `captionLoss ${name}`,
    kernels: ["CocaNll", "CocaNllGrad"],
    inputs: [logits, labels],
    fn: (l, y) => captionLoss(l, y, 0),
    tol: LONG,
    gradTol: LONG,
  });
}
for (const shape of [[3, 5], [7], [4099]]) {
  add({
    name: `AdamW 3 steps (clip scale 0.5, then 1) ${str(shape)}`,
    kernels: ["CocaAdamW"],
    inputs: [randn(shape), randn(shape), randn(shape, 1e-3)],
    fn: (p0, g1, g2) => {
      const p = tf.variable(p0.clone(), true);
      const opt = new AdamW([p], { lr: 0.01, weightDecay: 0.1 });
      try {
        opt.apply([g1], undefined, 0.5);
        opt.apply([g2]);
        opt.apply([g1], 0.003);
        return p.clone();
      } finally {
        opt.dispose();
        p.dispose();
      }
    },
    grad: false,
    tol: { rtol: 1e-5, atol: 1e-6 },
  });
}

/** Every case, in a fixed order with unique names. */
// Attention in the model's two layouts: multi-query (one shared key/value head; the text blocks
// with the causal mask and the CLS row's pad bias, the cross-attentions with M ≠ L) and
// multi-head (the ViT, scaled); one query against one key; odd widths.
{
  const padBias = (b: number, L: number): Input =>
    vals(
      [b, 1, L, L],
      Array.from({ length: b * L * L }, (_, e) => {
        const [bb, i, j] = [Math.floor(e / (L * L)), Math.floor(e / L) % L, e % L];
        return i === L - 1 && j < L - 1 && (j + bb) % 3 === 0 ? MASK_VALUE : 0;
      }),
    );
  for (
    const [name, q, k, v, opts] of [
      [
        "multi-query causal + pad bias [2,4,6,8]",
        randn([2, 4, 6, 8]),
        randn([2, 6, 8]),
        randn([2, 6, 8]),
        { causal: true, bias: 3 },
      ],
      [
        "multi-query M≠L odd dh [3,2,5,5]·[3,9,5]",
        randn([3, 2, 5, 5]),
        randn([3, 9, 5]),
        randn([3, 9, 5]),
        {},
      ],
      [
        "multi-query one query one key [1,1,1,3]",
        randn([1, 1, 1, 3]),
        randn([1, 1, 3]),
        randn([1, 1, 3]),
        {
          causal: true,
        },
      ],
      [
        "multi-head scaled [2,3,7,6]",
        randn([2, 3, 7, 6]),
        randn([2, 3, 7, 6]),
        randn([2, 3, 7, 6]),
        { scale: 6 ** -0.5 },
      ],
    ] as [string, Input, Input, Input, { causal?: boolean; scale?: number; bias?: number }][]
  ) {
    const inputs = [q, k, v];
    if (opts.bias) inputs.push(padBias(q.shape[0], q.shape[2]));
    add({
      name: `attention ${name}`,
      kernels: ["CocaAttention", "CocaAttentionGrad"],
      inputs,
      fn: (a, b, c, bias) => attention(a, b, c, { causal: opts.causal, scale: opts.scale, bias }),
      grad: [0, 1, 2], // the bias is a constant mask
      tol: LONG,
      gradTol: LONG,
    });
  }
}

export const CASES: readonly OpCase[] = cases;

{
  const seen = new Set<string>();
  for (const c of cases) {
    if (seen.has(c.name)) throw new Error(`duplicate op-suite case name: ${c.name}`);
    seen.add(c.name);
  }
}
