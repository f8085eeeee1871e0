/**
 * One training step: forward, backward, optional clipping, AdamW update.
 *
 * @module
 */
import * as tf from "../deps/tf.ts";
import type { CoCa, ImageInput } from "../model/coca.ts";
import { type AdamW, clipByGlobalNorm } from "./optimizer.ts";
import { hasFusedAdamW, hostGlobalNorm } from "../ops/adamw.ts";

/** The losses of a step, as numbers. */
export interface StepResult {
  loss: number;
  captionLoss: number;
  contrastiveLoss: number;
  /** Global gradient norm before clipping (when clipping was asked for). */
  gradNorm?: number;
}

/** Backends whose tensors live in JS typed arrays (their values are read without a copy). */
const HOST_BACKENDS = new Set(["cpu", "blas"]);

/** The global L2 norm of the gradients, reduced on the active backend and read back. */
async function deviceGlobalNorm(grads: readonly tf.Tensor[]): Promise<number> {
  const norm = tf.tidy(() => tf.sqrt(tf.addN(grads.map((g) => tf.sum(tf.square(g))))));
  const [value] = await norm.data();
  norm.dispose();
  return value;
}

/** The parts of tfjs's engine (4.22) that {@linkcode lowMemoryVariableGrads} drives. */
interface TapeEngine {
  state: { gradientDepth: number; activeTape: TapeNode[] | null };
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  startTape(): void;
  endTape(): void;
}

/** A node of tfjs's gradient tape (engine.ts `TapeNode`). */
interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  saved?: tf.Tensor[];
  gradient?: (dys: (tf.Tensor | null)[]) => Record<string, () => tf.Tensor>;
}

/**
 * The nodes of `tape` on a path from one of `xs` to `y`, their inputs pruned to those that depend
 * on `xs` (tfjs's `getFilteredNodesXToY`, which the package does not export).
 */
function nodesFromXsToY(tape: TapeNode[], xs: readonly tf.Tensor[], y: tf.Tensor): TapeNode[] {
  const fromX = new Set<number>(xs.map((x) => x.id));
  const nodesFromX = new Set<number>();
  for (const node of tape) {
    if (Object.values(node.inputs).some((t) => fromX.has(t.id))) {
      for (const o of node.outputs) fromX.add(o.id);
      nodesFromX.add(node.id);
    }
  }
  const toY = new Set<number>([y.id]);
  const nodesToY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i];
    if (node.outputs.some((o) => toY.has(o.id))) {
      for (const t of Object.values(node.inputs)) toY.add(t.id);
      nodesToY.add(node.id);
    }
  }
  const out: TapeNode[] = [];
  for (const node of tape) {
    if (!nodesFromX.has(node.id) || !nodesToY.has(node.id)) continue;
    const inputs: Record<string, tf.Tensor> = {};
    for (const [name, t] of Object.entries(node.inputs)) if (fromX.has(t.id)) inputs[name] = t;
    out.push({ ...node, inputs });
  }
  return out;
}

/**
 * Kernels whose tfjs 4.22 gradient reads only the shapes of its saved tensors (`Reshape`,
 * `Slice`, `Concat`: `x.shape`; `Add`, `Sub`: both shapes, for the broadcast reduction; `Sum`,
 * `Mean`: `x.shape`). Keeping the tensors themselves would keep their buffers alive through the
 * forward pass for nothing: a reshape of the fused projection or of the logits held tens of MiB
 * per layer that nothing else needed (README config: 957 of 3531 MiB of saved buffers).
 */
const SHAPE_ONLY_GRADIENTS = new Set(["Reshape", "Slice", "Concat", "Add", "Sub", "Sum", "Mean"]);

/** Replace a node's saved tensors by what its gradient reads of them (shape, rank, dtype, size). */
function keepShapesOnly(node: TapeNode): void {
  const saved = node.saved; // the array the node's gradient closure reads
  if (!saved) return;
  for (let i = 0; i < saved.length; i++) {
    const t = saved[i];
    if (!(t instanceof tf.Tensor)) continue;
    const stub = { shape: t.shape.slice(), rank: t.rank, dtype: t.dtype, size: t.size };
    saved[i] = stub as unknown as tf.Tensor;
    t.dispose();
  }
}

/** Dispose a node's saved tensors, except one that is (also) a gradient in `owners`. */
function disposeSaved(node: TapeNode, owners: ReadonlyMap<tf.Tensor, number>): void {
  for (const t of node.saved ?? []) if (t instanceof tf.Tensor && !owners.has(t)) t.dispose();
}

/**
 * `tf.variableGrads(f, vars)` with the same kernels in the same order (the same numbers, bit for
 * bit), but freeing memory as the backward pass goes instead of at its end: a node's saved
 * tensors once its gradient ran, the gradient of an activation once it was propagated to the
 * node's inputs, a partial gradient once added into its sum; and the saved inputs of kernels
 * whose gradient reads only their shapes (`Reshape`, `Concat`, `Add`, ...) right after the
 * forward pass. tfjs keeps all of them until the
 * whole backward pass is over, so its peak is every saved activation plus the gradient of every
 * activation at once (README config on blas: see `bench/NOTES.md`). Returns `grads[i]` for
 * `vars[i]` (undefined where `f` does not depend on it). Inside another gradient tape
 * (higher-order gradients) it is `tf.variableGrads`.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { lowMemoryVariableGrads } from "./step.ts";
 * const w = tf.variable(tf.tensor1d([1, 2]));
 * const { value, grads } = lowMemoryVariableGrads(() => w.square().sum() as tf.Scalar, [w]);
 * grads[0]!.print(); // [2, 4]
 * console.log(value.dataSync()[0]); // 5
 * ```
 */
export function lowMemoryVariableGrads(
  f: () => tf.Scalar,
  vars: readonly tf.Variable[],
): { value: tf.Scalar; grads: (tf.Tensor | undefined)[] } {
  const engine = tf.engine() as unknown as TapeEngine;
  if (engine.state.gradientDepth > 0) {
    const { value, grads } = tf.variableGrads(f, [...vars]);
    return { value, grads: vars.map((v) => grads[v.name] ?? undefined) };
  }
  const xs = vars.filter((v) => v.trainable);
  const y = engine.scopedRun(
    () => engine.startTape(),
    () => engine.endTape(),
    () => tf.tidy("forward", f),
  );
  const tape = engine.state.activeTape ?? [];
  engine.state.activeTape = null;
  if (!(y instanceof tf.Tensor) || y.rank !== 0) {
    for (const node of tape) tf.dispose(node.saved ?? []);
    tf.dispose(y);
    throw new TypeError(
      `expected the loss function to return a scalar tensor, found ${
        y instanceof tf.Tensor ? `shape [${y.shape}]` : typeof y
      }`,
    );
  }
  const filtered = nodesFromXsToY(tape, xs, y);
  const used = new Set(filtered.map((n) => n.id));
  // Saved tensors of nodes off every path from the variables to the loss are never needed.
  for (const node of tape) if (!used.has(node.id)) tf.dispose(node.saved ?? []);
  for (const node of filtered) if (SHAPE_ONLY_GRADIENTS.has(node.kernelName)) keepShapesOnly(node);
  const grads = tf.tidy(() => {
    /** Gradient by tensor id, and how many ids share each gradient tensor. */
    const byId = new Map<number, tf.Tensor>();
    const owners = new Map<tf.Tensor, number>();
    const put = (id: number, g: tf.Tensor) => {
      byId.set(id, g);
      owners.set(g, (owners.get(g) ?? 0) + 1);
    };
    const drop = (id: number) => {
      const g = byId.get(id);
      if (!g) return;
      byId.delete(id);
      const n = owners.get(g)! - 1;
      if (n > 0) owners.set(g, n);
      else {
        owners.delete(g);
        g.dispose();
      }
    };
    put(y.id, tf.onesLike(y));
    try {
      for (let i = filtered.length - 1; i >= 0; i--) {
        const node = filtered[i];
        if (!node.gradient) {
          throw new Error(
            `expected a gradient function for kernel ${node.kernelName}, found none`,
          );
        }
        const dxFuncs = node.gradient(node.outputs.map((o) => byId.get(o.id) ?? null));
        for (const [name, x] of Object.entries(node.inputs)) {
          if (!(name in dxFuncs)) {
            throw new Error(
              `expected a gradient for input ${name} of ${node.kernelName}, found only ${
                Object.keys(dxFuncs)
              }`,
            );
          }
          const dx = tf.tidy(() => dxFuncs[name]());
          if (dx.dtype !== "float32" || !tf.util.arraysEqual(dx.shape, x.shape)) {
            throw new Error(
              `expected the gradient of ${node.kernelName} input ${name} to be float32 [${x.shape}], found ${dx.dtype} [${dx.shape}]`,
            );
          }
          const cur = byId.get(x.id);
          if (!cur) {
            put(x.id, dx);
            continue;
          }
          const sum = tf.add(cur, dx);
          drop(x.id);
          put(x.id, sum);
          if (!owners.has(dx)) dx.dispose();
        }
        for (const o of node.outputs) drop(o.id);
        disposeSaved(node, owners);
      }
    } finally {
      for (const node of filtered) disposeSaved(node, owners);
    }
    // One tensor per variable, so that a caller may dispose each gradient on its own.
    const seen = new Set<tf.Tensor>();
    return xs.map((x) => {
      const g = byId.get(x.id);
      if (!g || !seen.has(g)) return g && (seen.add(g), g);
      return g.clone();
    });
  });
  const byVar = new Map<tf.Variable, tf.Tensor | undefined>(xs.map((x, i) => [x, grads[i]]));
  return { value: y as tf.Scalar, grads: vars.map((v) => byVar.get(v)) };
}

/**
 * Forward + backward + AdamW on the total loss (patch dropout active if the
 * model is in `train()` mode; the temperature is learned like any parameter).
 * Leaves no tensors behind.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { CoCa } from "../model/coca.ts";
 * import { AdamW } from "./optimizer.ts";
 * import { trainStep } from "./step.ts";
 * const coca = new CoCa({ dim: 16, numTokens: 10, unimodalDepth: 1, multimodalDepth: 1, dimHead: 8, heads: 2, numImgQueries: 2 });
 * const opt = new AdamW(coca.trainableVariables());
 * const text = tf.tensor2d([[1, 2, 3]], [1, 3], "int32");
 * console.log(await trainStep(coca, opt, text, { imageTokens: tf.ones([1, 4, 16]) }));
 * ```
 */
export async function trainStep(
  model: CoCa,
  optimizer: AdamW,
  text: tf.Tensor2D,
  images: ImageInput,
  opts: { lr?: number; clipNorm?: number; labels?: tf.Tensor2D } = {},
): Promise<StepResult> {
  const vars = optimizer.vars;
  let parts: tf.Tensor[] = [];
  const { value, grads } = lowMemoryVariableGrads(() => {
    const l = model.loss(text, images, { labels: opts.labels });
    parts = [tf.keep(l.captionLoss), tf.keep(l.contrastiveLoss)];
    return l.loss;
  }, vars);
  let list: (tf.Tensor | undefined)[] = grads;
  let norm: tf.Scalar | undefined;
  if (hasFusedAdamW()) {
    // The clip scale is applied inside the fused update. On a cpu-family backend the norm is one
    // host pass over the gradients; elsewhere (webgpu) it is reduced on the device and read back.
    const present = list.filter((g): g is tf.Tensor => !!g);
    const n = opts.clipNorm === undefined
      ? undefined
      : HOST_BACKENDS.has(tf.getBackend())
      ? hostGlobalNorm(present)
      : await deviceGlobalNorm(present);
    const scale = n === undefined ? 1 : Math.min(1, opts.clipNorm! / (n + 1e-6));
    // Each gradient is freed right after its variable's update.
    optimizer.apply(list, opts.lr, scale, { disposeGrads: true });
    const packed = tf.tidy(() => tf.stack([value, ...parts].map((t) => t.reshape([]))));
    const values = await packed.data();
    tf.dispose([packed, value, ...parts]);
    return {
      loss: values[0],
      captionLoss: values[1],
      contrastiveLoss: values[2],
      ...(n !== undefined ? { gradNorm: n } : {}),
    };
  }
  if (opts.clipNorm !== undefined) {
    const clipped = clipByGlobalNorm(list, opts.clipNorm);
    tf.dispose(grads.filter((g): g is tf.Tensor => !!g));
    list = clipped.grads;
    norm = clipped.norm;
  }
  optimizer.apply(list, opts.lr);
  const packed = tf.tidy(() =>
    tf.stack([value, ...parts, norm ?? tf.scalar(NaN)].map((t) => t.reshape([])))
  );
  const values = await packed.data();
  tf.dispose([
    packed,
    value,
    ...parts,
    ...list.filter((g): g is tf.Tensor => !!g),
    ...(norm ? [norm] : []),
  ]);
  if (opts.clipNorm === undefined) tf.dispose(grads.filter((g): g is tf.Tensor => !!g));
  return {
    loss: values[0],
    captionLoss: values[1],
    contrastiveLoss: values[2],
    ...(norm ? { gradNorm: values[3] } : {}),
  };
}
