/**
 * GPU dispatches and time per train step on webgpu, stock kernels against the fused WGSL
 * kernels (`src/backends/webgpu/`): the small bench config (`SMALL` of `model_cases.ts`), one
 * warm-up step (shader compilation) and then `--steps` timed steps per mode, the modes taking
 * turns step by step (medians reported).
 *
 * - `stock`: every fused webgpu kernel unregistered (the plain tfjs ops);
 * - `fused`: layer norm, SwiGLU, token cross-entropy and attention, stock AdamW;
 * - `fused+adamw`: plus the fused AdamW update: the default registration.
 *
 * Per step: the compute dispatches the GPU received (every `dispatchWorkgroups`, stock and fused
 * programs alike), the kernels tfjs's engine dispatched (`recordKernelCalls`), and the wall time
 * until the loss is read back; per mode the loss of the warm-up step (same weights and data in
 * every mode, so the three agree up to rounding). Not part of `deno task test` or
 * `deno task bench`; `deno task bench:report` runs it in its own process with `--json`.
 *
 * ```sh
 * deno run -A bench/webgpu_fused.ts [--steps 2] [--batch 16] [--json]
 * ```
 *
 * `--json`: print one line `WEBGPU_FUSED_RESULT {json}` ({@linkcode WebGPUFusedOutcome}) on
 * stdout after the progress lines, also when webgpu does not start.
 *
 * Exit status: 0 measured, 2 bad arguments, 1 webgpu did not start or the run failed.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { setupBackend } from "../src/backends/setup.ts";
import { recordKernelCalls } from "../src/backends/kernel_trace.ts";
import { registerWebGPUAdamW, WEBGPU_FUSED_KERNELS } from "../src/backends/webgpu/mod.ts";
import { CoCa } from "../src/model/coca.ts";
import { SimpleViT } from "../src/model/vit.ts";
import { AdamW } from "../src/train/optimizer.ts";
import { trainStep } from "../src/train/step.ts";
import { SMALL } from "./model_cases.ts";

/** One mode's numbers, per timed step (medians over the steps). */
export interface FusedBenchRow {
  mode: string;
  gpuDispatches: number;
  engineKernels: number;
  fusedCalls: number;
  seconds: number;
  /** Loss of the warm-up step (the same weights and data in every mode). */
  loss: number;
}

/** What {@linkcode benchWebGPUFused} measured, with the adapter it ran on. */
export interface WebGPUFusedResult {
  /** The adapter's description (e.g. "llvmpipe (LLVM 15.0.6, 256 bits)"). */
  adapter: string;
  /** Whether the adapter is a software fallback (CPU emulation); null: not reported. */
  fallbackAdapter: boolean | null;
  batch: number;
  /** Timed steps per mode (after one warm-up step). */
  steps: number;
  rows: FusedBenchRow[];
}

/** The `--json` line's payload: the result, or why webgpu did not start or the run failed. */
export type WebGPUFusedOutcome = WebGPUFusedResult | { unavailable: string };

/** The line prefix of the `--json` result on stdout. */
export const WEBGPU_FUSED_RESULT_PREFIX = "WEBGPU_FUSED_RESULT ";

/** Arguments of `bench/webgpu_fused.ts`. */
export interface WebGPUFusedArgs {
  steps: number;
  batch: number;
  json: boolean;
}

/**
 * Parses `bench/webgpu_fused.ts`'s arguments (`--steps N`, `--batch N`, `--json`); throws an
 * error naming the flag and what it found.
 *
 * @example
 * ```ts
 * import { parseWebGPUFusedArgs } from "./webgpu_fused.ts";
 * console.log(parseWebGPUFusedArgs(["--batch", "2", "--json"])); // { steps: 2, batch: 2, json: true }
 * ```
 */
export function parseWebGPUFusedArgs(args: readonly string[]): WebGPUFusedArgs {
  const o: WebGPUFusedArgs = { steps: 2, batch: SMALL.batch, json: false };
  const count = (flag: string, v: string | undefined) => {
    const n = Number(v);
    if (v === undefined || !/^\d+$/.test(v) || n < 1) {
      throw new Error(`expected ${flag} to be a positive integer, found ${v ?? "nothing"}`);
    }
    return n;
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--steps") o.steps = count(a, args[++i]);
    else if (a === "--batch") o.batch = count(a, args[++i]);
    else if (a === "--json") o.json = true;
    else throw new Error(`expected --steps N, --batch N or --json, found "${a}"`);
  }
  return o;
}

/** Every `dispatchWorkgroups` of any compute pass, counted while `counting` is set. */
let dispatches = 0;
let counting = false;
function countDispatches(): void {
  const proto = GPUComputePassEncoder.prototype;
  const stock = proto.dispatchWorkgroups;
  proto.dispatchWorkgroups = function (this: GPUComputePassEncoder, x, y, z) {
    if (counting) dispatches++;
    return stock.call(this, x, y, z);
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Run the bench: `steps` timed train steps per mode after one warm-up step. Throws when webgpu
 * does not start.
 *
 * @example
 * ```ts
 * import { benchWebGPUFused } from "./webgpu_fused.ts";
 * const { adapter, rows } = await benchWebGPUFused({ steps: 1, batch: 2 });
 * console.log(adapter, rows.map((r) => r.gpuDispatches));
 * ```
 */
export async function benchWebGPUFused(
  opts: { steps: number; batch: number },
): Promise<WebGPUFusedResult> {
  const info = await setupBackend("webgpu");
  console.log(`webgpu: ${info.adapter ?? "?"}; small config, batch ${opts.batch}`);
  countDispatches();
  registerWebGPUAdamW();
  const all = [...WEBGPU_FUSED_KERNELS, "CocaAdamW"];
  const configs = new Map(all.map((k) => [k, tf.getKernel(k, "webgpu")!]));
  /** Exactly the fused kernels in `wanted` registered for webgpu. */
  const use = (wanted: string[]) => {
    for (const k of all) {
      const on = tf.getKernel(k, "webgpu") !== undefined;
      if (on && !wanted.includes(k)) tf.unregisterKernel(k, "webgpu");
      if (!on && wanted.includes(k)) tf.registerKernel(configs.get(k)!);
    }
  };
  const modes: [string, string[]][] = [
    ["stock", []],
    ["fused", [...WEBGPU_FUSED_KERNELS]],
    ["fused+adamw", all],
  ];
  const B = opts.batch, T = SMALL.textLength, size = Number(SMALL.vit.imageSize);
  const images = tf.randomNormal([B, 3, size, size], 0, 1, "float32", 1) as tf.Tensor4D;
  // One model and optimizer per mode, all alive, so that the modes' steps can alternate (the
  // machine's load drifts; alternating spreads it over the modes).
  const runs = modes.map(([mode, kernels]) => {
    const vit = new SimpleViT(SMALL.vit, { seed: 0 });
    const model = new CoCa({ ...SMALL.coca, imgEncoder: vit }, { seed: 0 });
    model.train();
    const opt = new AdamW(model.trainableVariables(), { lr: 1e-4 });
    const V = model.config.numTokens;
    const ids = Int32Array.from({ length: B * T }, (_, i) => 1 + (i * 7919) % (V - 1));
    const step = async () => {
      use(kernels);
      const text = tf.tensor2d(ids, [B, T], "int32");
      try {
        return await trainStep(model, opt, text, images);
      } finally {
        text.dispose();
      }
    };
    return {
      mode,
      model,
      opt,
      step,
      loss: NaN,
      seconds: [] as number[],
      gpu: [] as number[],
      engine: [] as number[],
      fused: [] as number[],
    };
  });
  for (const run of runs) run.loss = (await run.step()).loss; // warm-up: shader compilation
  for (let s = 0; s < opts.steps; s++) {
    for (const run of runs) {
      dispatches = 0;
      counting = true;
      const t0 = performance.now();
      const { calls } = await recordKernelCalls(run.step);
      run.seconds.push((performance.now() - t0) / 1000);
      counting = false;
      run.gpu.push(dispatches);
      run.engine.push(calls.length);
      run.fused.push(calls.filter((c) => c.kernel.startsWith("Coca")).length);
      console.log(`${run.mode}: step ${s + 1}, ${run.seconds.at(-1)!.toFixed(2)} s`);
    }
  }
  const rows: FusedBenchRow[] = runs.map((run) => ({
    mode: run.mode,
    gpuDispatches: median(run.gpu),
    engineKernels: median(run.engine),
    fusedCalls: median(run.fused),
    seconds: median(run.seconds),
    loss: run.loss,
  }));
  for (const run of runs) {
    run.opt.dispose();
    run.model.dispose();
  }
  images.dispose();
  use([...WEBGPU_FUSED_KERNELS]); // the default registration again
  return {
    adapter: info.adapter ?? "unknown adapter",
    fallbackAdapter: info.fallbackAdapter ?? null,
    batch: opts.batch,
    steps: opts.steps,
    rows,
  };
}

if (import.meta.main) {
  let args: WebGPUFusedArgs;
  try {
    args = parseWebGPUFusedArgs(Deno.args);
  } catch (e) {
    console.error(`webgpu_fused: ${(e as Error).message}`);
    console.error("usage: deno run -A bench/webgpu_fused.ts [--steps N] [--batch N] [--json]");
    Deno.exit(2);
  }
  let result: WebGPUFusedResult;
  try {
    result = await benchWebGPUFused(args);
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    console.error(`webgpu_fused: ${reason}`);
    if (args.json) {
      const out: WebGPUFusedOutcome = { unavailable: reason };
      console.log(WEBGPU_FUSED_RESULT_PREFIX + JSON.stringify(out));
    }
    Deno.exit(1);
  }
  console.log(
    "\n| mode | GPU dispatches / step | engine kernels / step | fused calls | s / step | loss |",
  );
  console.log("| --- | --: | --: | --: | --: | --: |");
  for (const r of result.rows) {
    console.log(
      `| ${r.mode} | ${r.gpuDispatches} | ${r.engineKernels} | ${r.fusedCalls} | ${
        r.seconds.toFixed(2)
      } | ${r.loss.toFixed(6)} |`,
    );
  }
  if (args.json) console.log(WEBGPU_FUSED_RESULT_PREFIX + JSON.stringify(result));
  Deno.exit(0);
}
