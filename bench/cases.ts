/**
 * The benchmark case table. Each case says how to build its inputs on the active backend, what
 * one iteration computes, and its analytic cost (FLOPs, samples), so `bench/report.ts` can turn
 * times into GFLOP/s, samples/s and (with `anchor`) ratios to the PyTorch anchor run in the same
 * sitting.
 *
 * To add a model-level case, append an entry to `MODEL_CASES` (`model_cases.ts`) with a `setup`
 * that builds the model once and returns `run` doing one forward/step and returning the tensors
 * to await; `anchor: { config: "small", kind: "train" }` pairs it with the anchor's figure.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  type LayerConfig,
  layerForward,
  layerForwardFlops,
  layerTrainStep,
  makeLayerParams,
} from "./profile_layer.ts";

/**
 * The PyTorch anchor's measurement that a case corresponds to (`../shared/anchor/bench_ref.py`:
 * its `small` / `readme` config, forward or train step). `bench/report.ts` divides the case's
 * time by the anchor's from the same sitting; there are no recorded PyTorch figures.
 */
export interface AnchorRef {
  /** The anchor's config name. */
  config: "small" | "readme";
  /** Forward (eval, no grad) or one train step. */
  kind: "forward" | "train";
}

/** What a case's `setup` returns: the measured body and the cleanup. */
export interface CaseRun {
  /**
   * One iteration. Returns the tensors it produced; the harness awaits `data()` on each inside
   * the timed region (so GPU work is complete) and disposes them afterwards.
   */
  run(): tf.Tensor | tf.Tensor[] | Promise<tf.Tensor | tf.Tensor[]>;
  /** Frees what `setup` allocated. */
  dispose(): void;
}

/** One benchmark case, run on every backend listed in `backends` (default: all that start). */
export interface BenchCase {
  /** Unique, stable id; appears in bench names as `${id} @${backend}`. */
  id: string;
  /** Report/bench group, e.g. "matmul 512" or "layer". */
  group: string;
  /** Human description (shapes). */
  description: string;
  /** Floating-point operations per iteration, analytic. */
  flops?: number;
  /** Samples (e.g. images or sequences) per iteration, for samples/s. */
  samples?: number;
  /** The PyTorch anchor measurement to compare with (same sitting). */
  anchor?: AnchorRef;
  /** Restrict to these backends. */
  backends?: readonly string[];
  /** Longest estimated iteration to attempt (default 1 s quick, 6 s full). */
  maxSeconds?: number;
  /** Run only when this environment variable is "1" (slow, opt-in groups). */
  optIn?: string;
  /** Builds inputs on the active backend. */
  setup(): CaseRun | Promise<CaseRun>;
}

function matmulCase(
  group: string,
  id: string,
  description: string,
  aShape: number[],
  bShape: number[],
  transposeA = false,
  transposeB = false,
): BenchCase {
  const ra = aShape.length;
  const m = transposeA ? aShape[ra - 1] : aShape[ra - 2];
  const k = transposeA ? aShape[ra - 2] : aShape[ra - 1];
  const n = transposeB ? bShape[bShape.length - 2] : bShape[bShape.length - 1];
  const batch = aShape.slice(0, -2).reduce((x, y) => x * y, 1);
  return {
    id,
    group,
    description,
    flops: 2 * batch * m * n * k,
    setup() {
      const a = tf.randomNormal(aShape), b = tf.randomNormal(bShape);
      return {
        run: () => tf.matMul(a, b, transposeA, transposeB),
        dispose: () => tf.dispose([a, b]),
      };
    },
  };
}

/** Square matmuls and the matmul shapes of a d=256, seq 64, batch 16 transformer. */
export const MATMUL_CASES: BenchCase[] = [
  ...[256, 512, 1024].map((s) =>
    matmulCase(`matmul ${s}`, `matmul-${s}`, `[${s},${s}]·[${s},${s}]`, [s, s], [s, s])
  ),
  matmulCase("model shapes", "qkv-proj", "[1024,256]·[256,768]", [1024, 256], [256, 768]),
  matmulCase("model shapes", "mlp-in", "[1024,256]·[256,1024]", [1024, 256], [256, 1024]),
  matmulCase("model shapes", "mlp-out", "[1024,1024]·[1024,256]", [1024, 1024], [1024, 256]),
  matmulCase(
    "model shapes",
    "mlp-in-dW",
    "[1024,256]ᵀ·[1024,1024] (weight gradient)",
    [1024, 256],
    [1024, 1024],
    true,
  ),
  matmulCase(
    "model shapes",
    "attn-qk",
    "[128,64,64]·[128,64,64]ᵀ (B16·H8, S64, dh64)",
    [128, 64, 64],
    [128, 64, 64],
    false,
    true,
  ),
  matmulCase(
    "model shapes",
    "attn-av",
    "[128,64,64]·[128,64,64]",
    [128, 64, 64],
    [128, 64, 64],
  ),
];

const LAYER: LayerConfig = { batch: 16, seq: 64, dim: 256, heads: 4, mlpRatio: 4 };

/** One pre-LN transformer layer (d=256, 4 heads, seq 64, batch 16): forward and train step. */
export const LAYER_CASES: BenchCase[] = [
  {
    id: "layer-forward",
    group: "transformer layer",
    description: "pre-LN layer d256 h4 S64 B16, forward",
    flops: layerForwardFlops(LAYER),
    samples: LAYER.batch,
    setup() {
      const p = makeLayerParams(LAYER);
      const x = tf.randomNormal([LAYER.batch * LAYER.seq, LAYER.dim]) as tf.Tensor2D;
      return {
        run: () => tf.tidy(() => layerForward(x, p, LAYER)),
        dispose: () => tf.dispose([x, ...p]),
      };
    },
  },
  {
    id: "layer-train",
    group: "transformer layer",
    description: "pre-LN layer d256 h4 S64 B16, forward+backward (tf.grads)",
    flops: 3 * layerForwardFlops(LAYER),
    samples: LAYER.batch,
    setup() {
      const p = makeLayerParams(LAYER);
      const x = tf.randomNormal([LAYER.batch * LAYER.seq, LAYER.dim]) as tf.Tensor2D;
      return {
        run: () => layerTrainStep(x, p, LAYER),
        dispose: () => tf.dispose([x, ...p]),
      };
    },
  },
];

/**
 * The matmul and transformer-layer cases. Model-level cases (small / README config forward and
 * train step, paired with the PyTorch anchor) are in `model_cases.ts`.
 *
 * @example
 * ```ts
 * import { CASES } from "./cases.ts";
 * console.log(CASES.map((c) => c.id));
 * ```
 */
export const CASES: BenchCase[] = [...MATMUL_CASES, ...LAYER_CASES];
