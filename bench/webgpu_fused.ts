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
 * until the loss is read back. Not part of `deno task test` or `deno task bench`.
 *
 * ```sh
 * deno run -A bench/webgpu_fused.ts [--steps 2] [--batch 16]
 * ```
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
  loss: number;
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
 * Run the bench: `steps` timed train steps per mode after one warm-up step.
 *
 * @example
 * ```ts ignore
 * const rows = await benchWebGPUFused({ steps: 2, batch: 16 });
 * ```
 */
export async function benchWebGPUFused(
  opts: { steps: number; batch: number },
): Promise<FusedBenchRow[]> {
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
  return rows;
}

if (import.meta.main) {
  const arg = (name: string, fallback: number) => {
    const i = Deno.args.indexOf(`--${name}`);
    const v = i >= 0 ? Number(Deno.args[i + 1]) : fallback;
    if (!Number.isInteger(v) || v < 1) {
      console.error(`expected --${name} to be a positive integer, found ${Deno.args[i + 1]}`);
      Deno.exit(2);
    }
    return v;
  };
  const rows = await benchWebGPUFused({ steps: arg("steps", 2), batch: arg("batch", SMALL.batch) });
  console.log(
    "\n| mode | GPU dispatches / step | engine kernels / step | fused calls | s / step |",
  );
  console.log("| --- | --: | --: | --: | --: |");
  for (const r of rows) {
    console.log(
      `| ${r.mode} | ${r.gpuDispatches} | ${r.engineKernels} | ${r.fusedCalls} | ${
        r.seconds.toFixed(2)
      } |`,
    );
  }
}
