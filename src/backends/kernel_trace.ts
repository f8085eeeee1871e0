/**
 * A kernel recorder: which tfjs kernels a piece of code runs, forward and backward.
 *
 * Every tfjs op, every gradient function (`tf.grads`, `tf.variableGrads`, `tf.customGrad`) and
 * every custom kernel (`CocaAdamW`, `CocaSwiGLU`, ...) reaches the backend through
 * `tf.engine().runKernel`; while a trace is open that method is wrapped (and restored when the
 * last open trace closes), so the recorder sees exactly what the engine dispatches. Kernels that
 * a backend's kernel calls internally (webgpu's `Sum` reshaping through its own `reshape`
 * function, say) are not engine dispatches and are not seen; neither are tensors created from
 * host data (`tf.tensor`), which run no kernel.
 *
 * Traces nest and may overlap (each open trace records every dispatch); a trace is closed in a
 * `finally`, so an exception in `fn` never leaves the engine wrapped.
 *
 * @module
 */
import * as tf from "../deps/tf.ts";

/** One kernel dispatch seen by {@linkcode recordKernelCalls}. */
export interface KernelCall {
  /** The tfjs kernel name, e.g. `"MatMul"`, `"CocaSwiGLU"`. */
  kernel: string;
  /** The backend active when the kernel ran. */
  backend: string;
  /** The dtypes of the tensor inputs, in the order of the kernel's named inputs. */
  dtypes: tf.DataType[];
  /** The shapes of the tensor inputs, same order. */
  shapes: number[][];
}

type RunKernel = (
  kernelName: string,
  inputs: tf.NamedTensorMap,
  attrs?: tf.NamedAttrMap,
) => tf.Tensor | tf.Tensor[];

type Engine = { runKernel: RunKernel };

const listeners = new Set<(call: KernelCall) => void>();
let original: RunKernel | undefined;
let restore: (() => void) | undefined;

function open(listener: (call: KernelCall) => void): () => void {
  const engine = tf.engine() as unknown as Engine;
  if (listeners.size === 0) {
    const ownBefore = Object.prototype.hasOwnProperty.call(engine, "runKernel");
    const stock = engine.runKernel;
    original = stock;
    engine.runKernel = function (this: Engine, kernelName, inputs, attrs) {
      if (listeners.size > 0) {
        const tensors = Object.values(inputs ?? {}).flat().filter((t): t is tf.Tensor =>
          t != null && typeof t === "object" && "dtype" in t && "shape" in t
        );
        const call: KernelCall = {
          kernel: kernelName,
          backend: tf.getBackend(),
          dtypes: tensors.map((t) => t.dtype),
          shapes: tensors.map((t) => [...t.shape]),
        };
        for (const l of [...listeners]) l(call);
      }
      return stock.call(this, kernelName, inputs, attrs);
    };
    restore = () => {
      if (ownBefore) engine.runKernel = stock;
      else delete (engine as Partial<Engine>).runKernel;
      original = undefined;
    };
  }
  listeners.add(listener);
  return () => {
    listeners.delete(listener);
    if (listeners.size === 0) restore?.();
  };
}

/**
 * Every kernel dispatch (name, backend, input dtypes and shapes) while `fn` runs, in order, and
 * `fn`'s result. `fn` may be async; dispatches of other code running concurrently are recorded
 * too.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { recordKernelCalls } from "./kernel_trace.ts";
 * const { calls } = await recordKernelCalls(() => tf.tidy(() => tf.ones([3]).add(1).sum()));
 * console.log(calls.map((c) => c.kernel)); // e.g. ["Fill", "Add", "Sum"]
 * ```
 */
export async function recordKernelCalls<T>(
  fn: () => T | Promise<T>,
): Promise<{ result: T; calls: KernelCall[] }> {
  const calls: KernelCall[] = [];
  const close = open((c) => calls.push(c));
  try {
    return { result: await fn(), calls };
  } finally {
    close();
  }
}

/**
 * The set of kernel names run while the synchronous `fn` runs (forward and backward), and its
 * result.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { traceKernelsSync } from "./kernel_trace.ts";
 * const x = tf.tensor1d([1, 2, 3]);
 * const { kernels } = traceKernelsSync(() => tf.grad((t: tf.Tensor) => t.exp().sum())(x));
 * console.log([...kernels]); // e.g. ["Exp", "Sum", ..., "Multiply"]: the gradient's kernels too
 * ```
 */
export function traceKernelsSync<T>(fn: () => T): { result: T; kernels: Set<string> } {
  const kernels = new Set<string>();
  const close = open((c) => kernels.add(c.kernel));
  try {
    return { result: fn(), kernels };
  } finally {
    close();
  }
}

/**
 * The set of kernel names run while `fn` (sync or async) runs, forward and backward. Kernels
 * dispatched by other code running concurrently are included.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { traceKernels } from "./kernel_trace.ts";
 * const kernels = await traceKernels(async () => {
 *   const y = tf.addN([tf.ones([2]), tf.ones([2]), tf.ones([2])]);
 *   await y.data();
 * });
 * console.log(kernels.has("AddN")); // true
 * ```
 */
export async function traceKernels(fn: () => unknown | Promise<unknown>): Promise<Set<string>> {
  const kernels = new Set<string>();
  const close = open((c) => kernels.add(c.kernel));
  try {
    await fn();
    return kernels;
  } finally {
    close();
  }
}

/**
 * Whether a trace is open now (the engine's `runKernel` is wrapped).
 *
 * @example
 * ```ts
 * import { isTracing } from "./kernel_trace.ts";
 * console.log(isTracing()); // false outside a trace
 * ```
 */
export function isTracing(): boolean {
  return original !== undefined;
}
