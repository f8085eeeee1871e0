/**
 * Records which tfjs kernels the model runs on a backend, per phase, from a real run on tiny
 * models: `init` (building the models and the optimizer), `train` (a `trainStep` with clipping in
 * `train()` mode, so patch dropout is on), `eval` (`evaluate()` on a tiny shapes dataset:
 * encodeText/encodeImage, retrieval, zero-shot, caption loss, captions through `generate`) and
 * `generate` (greedy cached and uncached, beam, sampling with temperature, top-k and top-p).
 *
 * Run as a script it records every backend that starts here and writes
 * `tests/op_suite/kernels.json`:
 *
 * ```sh
 * deno run -A tests/op_suite/record.ts          # all backends that start here
 * deno run -A tests/op_suite/record.ts cpu blas # only these (others keep their recorded lists)
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { availableBackends, setupBackend } from "../../src/backends/setup.ts";
import { type KernelCall, recordKernelCalls } from "../../src/backends/kernel_trace.ts";
import { buildModel } from "../../src/train/checkpoint.ts";
import type { CoCa } from "../../src/model/coca.ts";
import { shapesDataset } from "../../src/data/shapes.ts";
import { evaluate } from "../../src/eval/evaluate.ts";
import { generate, type GenerateOptions } from "../../src/generate/generate.ts";
import { AdamW } from "../../src/train/optimizer.ts";
import { trainStep } from "../../src/train/step.ts";
import { trainTokenizer } from "../../src/text/tokenizer.ts";
import { parseSafetensors } from "../../src/weights/safetensors.ts";
import { buildFromReferenceConfig, type ReferenceConfig } from "../../src/reference/config.ts";
import { TINY_COCA, TINY_VIT } from "../helpers.ts";

/** The phases recorded, in order. */
export const PHASES = ["init", "train", "eval", "generate"] as const;
/** A phase name. */
export type Phase = (typeof PHASES)[number];
/**
 * Sorted kernel names per phase, and per kernel the input-dtype signatures it was called with
 * (see {@linkcode signature}).
 */
export type PhaseKernels = Record<Phase, string[]> & { dtypes: Record<string, string[]> };

/**
 * The input-dtype signature of a kernel call, as recorded in `kernels.json`: the distinct dtypes
 * of its tensor inputs, sorted (`"float32,int32"` for a gather; `"float32"` for an AddN of any
 * number of float32 inputs).
 */
export function signature(call: KernelCall): string {
  return [...new Set(call.dtypes)].sort().join(",");
}

/** Where the recorded lists live. */
export const KERNELS_JSON = new URL("./kernels.json", import.meta.url);

/** The file's content: per backend, per phase. */
export interface KernelsFile {
  note: string;
  backends: Record<string, PhaseKernels>;
}

/** The command that regenerates `kernels.json`. */
export const RECORD_COMMAND = "deno run -A tests/op_suite/record.ts";

const FIXTURE = new URL("../fixtures/coca_tiny_a.safetensors", import.meta.url);

/** The reference config of the parity fixture (tests/fixtures/coca_tiny_a.safetensors). */
export async function fixtureConfig(): Promise<ReferenceConfig> {
  const st = parseSafetensors(await Deno.readFile(FIXTURE));
  return JSON.parse(st.metadata.config ?? "null") as ReferenceConfig;
}

const GENERATIONS: GenerateOptions[] = [
  { maxLength: 4 },
  { maxLength: 4, cache: false },
  { maxLength: 4, strategy: "beam", beamSize: 3 },
  { maxLength: 4, strategy: "sample", seed: 1 },
  { maxLength: 4, strategy: "sample", seed: 2, topK: 5, topP: 0.9, temperature: 0.8 },
  { maxLength: 4, strategy: "sample", seed: 3, topP: 0.95 },
];

function ids(rows: number, cols: number, vocab: number, pads: number[] = []): tf.Tensor2D {
  const data = Int32Array.from({ length: rows * cols }, (_, i) => 1 + (i * 7919) % (vocab - 1));
  // Trailing pads on some rows, as real batches have.
  pads.forEach((p, r) => data.fill(0, r * cols + cols - p, (r + 1) * cols));
  return tf.tensor2d(data, [rows, cols], "int32");
}

/**
 * Record the kernels the model runs on the active backend, per phase (sorted names).
 *
 * @example
 * ```ts ignore
 * await setupBackend("cpu");
 * const k = await recordModelKernels();
 * console.log(k.train.includes("BatchMatMul"));
 * ```
 */
export async function recordModelKernels(): Promise<PhaseKernels> {
  const out = { dtypes: {} } as PhaseKernels;
  const dtypes = new Map<string, Set<string>>();
  const traceKernels = async (fn: () => unknown): Promise<Set<string>> => {
    const { calls } = await recordKernelCalls(fn);
    for (const c of calls) {
      if (!dtypes.has(c.kernel)) dtypes.set(c.kernel, new Set());
      dtypes.get(c.kernel)!.add(signature(c));
    }
    return new Set(calls.map((c) => c.kernel));
  };
  const ref = await fixtureConfig();
  const ds = shapesDataset({
    trainSize: 8,
    valSize: 1,
    testSize: 3,
    heldoutSize: 1,
    imageSize: 16,
  });
  const tokenizer = trainTokenizer(ds.splits.train.map((e) => e.caption), { vocabSize: 270 });
  const models: CoCa[] = [];
  const optimizers: AdamW[] = [];
  try {
    out.init = sorted(
      await traceKernels(() => {
        models.push(buildModel({
          vit: { ...TINY_VIT },
          coca: { ...TINY_COCA, numTokens: tokenizer.vocabSize },
        }, 3));
        models.push(buildFromReferenceConfig(ref, { seed: 4 }));
        for (const m of models) optimizers.push(new AdamW(m.trainableVariables(), { lr: 1e-3 }));
      }),
    );
    const [tiny, refModel] = models;
    out.train = sorted(
      await traceKernels(async () => {
        for (const [i, m] of models.entries()) {
          m.train();
          const size = m === refModel ? Number(ref.vit.image_size) : Number(TINY_VIT.imageSize);
          const text = ids(3, 10, m.config.numTokens, [0, 3, 6]);
          const im = tf.randomNormal([3, 3, size, size], 0, 1, "float32", 5 + i) as tf.Tensor4D;
          try {
            await trainStep(m, optimizers[i], text, im, { clipNorm: 0.5 });
          } finally {
            tf.dispose([text, im]);
          }
        }
      }),
    );
    out.eval = sorted(
      await traceKernels(async () => {
        await evaluate(tiny, ds, tokenizer, {
          textLength: 12,
          batchSize: 2,
          splits: ["test", "heldout"],
          generate: async (images) => (await generate(tiny, images, { maxLength: 3 })).tokens,
        });
        refModel.eval();
        const text = ids(3, 10, refModel.config.numTokens, [0, 3, 6]);
        const im = tf.randomNormal([3, 3, 32, 32], 0, 1, "float32", 9) as tf.Tensor4D;
        const outs = [refModel.encodeText(text), refModel.encodeImage(im)];
        const l = refModel.loss(text, im);
        await Promise.all([...outs, l.loss].map((t) => t.data()));
        tf.dispose([text, im, ...outs, l.loss, l.captionLoss, l.contrastiveLoss]);
      }),
    );
    out.generate = sorted(
      await traceKernels(async () => {
        tiny.eval();
        const im = tf.randomNormal([2, 3, 16, 16], 0, 1, "float32", 11) as tf.Tensor4D;
        try {
          for (const o of GENERATIONS) await generate(tiny, im, o);
          await generate(tiny, im, { maxLength: 3, prefix: [5, 6] });
        } finally {
          im.dispose();
        }
      }),
    );
  } finally {
    for (const o of optimizers) o.dispose();
    for (const m of models) m.dispose();
  }
  for (const k of [...dtypes.keys()].sort()) out.dtypes[k] = sorted(dtypes.get(k)!);
  return out;
}

function sorted(s: Set<string>): string[] {
  return [...s].sort();
}

/** Every kernel of every phase, sorted. */
export function allKernels(k: PhaseKernels): string[] {
  return [...new Set(PHASES.flatMap((p) => k[p]))].sort();
}

/** Read `kernels.json` (undefined when it does not exist). */
export async function readKernelsFile(): Promise<KernelsFile | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(KERNELS_JSON)) as KernelsFile;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

if (import.meta.main) {
  const wanted = Deno.args.length ? Deno.args : await availableBackends();
  const file: KernelsFile = (await readKernelsFile()) ?? { note: "", backends: {} };
  file.note = `tfjs kernels the CoCa model runs per backend and phase, recorded by ` +
    `tests/op_suite/record.ts; regenerate with: ${RECORD_COMMAND}`;
  for (const b of wanted) {
    await setupBackend(b);
    const t0 = performance.now();
    file.backends[b] = await recordModelKernels();
    const n = allKernels(file.backends[b]).length;
    console.log(`${b}: ${n} kernels (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }
  const order = ["cpu", "wasm", "blas", "webgpu"];
  file.backends = Object.fromEntries(
    Object.entries(file.backends).sort(([a], [b]) => order.indexOf(a) - order.indexOf(b)),
  );
  await Deno.writeTextFile(KERNELS_JSON, JSON.stringify(file, null, 2) + "\n");
  console.log(`wrote ${KERNELS_JSON.pathname}`);
}
