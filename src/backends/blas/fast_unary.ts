/**
 * float32 unary kernels (Neg, Exp, Erf, Tanh, Sigmoid, Relu, Sqrt, Rsqrt, Log, Abs) for
 * cpu-derived backends.
 *
 * The tfjs cpu backend runs unary ops through one shared loop that calls a per-op callback for
 * every element (a megamorphic call V8 cannot inline), and `Neg` goes through the broadcasting
 * multiply. Here each op has its own loop. `Erf` uses the same Abramowitz–Stegun 7.1.26
 * coefficients as tfjs (`backend_util.ERF_*`), so results match the cpu backend.
 *
 * @module
 */
import * as tf from "../../deps/tf.ts";
import { allocFloat32 } from "./buffer_pool.ts";

/** Unary operations implemented here. */
export type UnaryOp =
  | "neg"
  | "exp"
  | "erf"
  | "tanh"
  | "sigmoid"
  | "relu"
  | "sqrt"
  | "rsqrt"
  | "log"
  | "abs";

/** Maps tfjs kernel names to the operations of {@linkcode unaryValues}. */
export const UNARY_KERNELS: Readonly<Record<string, UnaryOp>> = {
  Neg: "neg",
  Exp: "exp",
  Erf: "erf",
  Tanh: "tanh",
  Sigmoid: "sigmoid",
  Relu: "relu",
  Sqrt: "sqrt",
  Rsqrt: "rsqrt",
  Log: "log",
  Abs: "abs",
};

const P = tf.backend_util.ERF_P;
const A1 = tf.backend_util.ERF_A1;
const A2 = tf.backend_util.ERF_A2;
const A3 = tf.backend_util.ERF_A3;
const A4 = tf.backend_util.ERF_A4;
const A5 = tf.backend_util.ERF_A5;

/**
 * Applies `op` elementwise into a new Float32Array.
 *
 * @example
 * ```ts
 * import { unaryValues } from "./fast_unary.ts";
 * console.log(unaryValues("neg", new Float32Array([1, -2]))); // Float32Array [-1, 2]
 * ```
 */
export function unaryValues(op: UnaryOp, x: Float32Array): Float32Array {
  const n = x.length;
  const out = allocFloat32(n);
  switch (op) {
    case "neg":
      for (let i = 0; i < n; i++) out[i] = -x[i];
      break;
    case "exp":
      for (let i = 0; i < n; i++) out[i] = Math.exp(x[i]);
      break;
    case "erf":
      for (let i = 0; i < n; i++) {
        const xi = x[i];
        const v = Math.abs(xi);
        const t = 1 / (1 + P * v);
        const y = 1 - ((((A5 * t + A4) * t + A3) * t + A2) * t + A1) * t * Math.exp(-v * v);
        out[i] = xi < 0 ? -y : xi > 0 ? y : xi; // keeps ±0 and NaN like Math.sign(x)·y
      }
      break;
    case "tanh":
      for (let i = 0; i < n; i++) out[i] = Math.tanh(x[i]);
      break;
    case "sigmoid":
      for (let i = 0; i < n; i++) out[i] = 1 / (1 + Math.exp(-x[i]));
      break;
    case "relu":
      for (let i = 0; i < n; i++) {
        const v = x[i];
        out[i] = v < 0 ? 0 : v;
      }
      break;
    case "sqrt":
      for (let i = 0; i < n; i++) out[i] = Math.sqrt(x[i]);
      break;
    case "rsqrt":
      for (let i = 0; i < n; i++) out[i] = 1 / Math.sqrt(x[i]);
      break;
    case "log":
      for (let i = 0; i < n; i++) out[i] = Math.log(x[i]);
      break;
    case "abs":
      for (let i = 0; i < n; i++) out[i] = Math.abs(x[i]);
      break;
    default:
      throw new Error(`expected a unary op handled here, found ${op satisfies never}`);
  }
  return out;
}

/**
 * Wraps {@linkcode unaryValues} as a kernel function; non-float32 inputs go to `fallback`.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { makeUnaryKernel } from "./fast_unary.ts";
 * const exp = makeUnaryKernel("exp", tf.getKernel("Exp", "cpu")!.kernelFunc);
 * ```
 */
export function makeUnaryKernel(op: UnaryOp, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x } = args.inputs as unknown as { x: tf.TensorInfo };
    if (x.dtype !== "float32") return fallback(args);
    const backend = args.backend as tf.MathBackendCPU;
    const xv = backend.data.get(x.dataId).values;
    if (!(xv instanceof Float32Array)) return fallback(args);
    return backend.makeTensorInfo(x.shape.slice(), "float32", unaryValues(op, xv));
  };
}
