import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { AdamW, BACKENDS, clipByGlobalNorm, setupBackend, trainStep } from "../mod.ts";
import { backendTest, ids, images, tinyModel } from "./helpers.ts";

const BATCH = [[1, 5, 6, 7, 2, 0], [1, 8, 9, 2, 0, 0], [1, 10, 11, 12, 13, 2], [1, 14, 2, 0, 0, 0]];

await backendTest(
  "training does not leak tensors: the live count is constant over 20 steps",
  BACKENDS,
  async () => {
    const model = tinyModel(1).train();
    const opt = new AdamW(model.trainableVariables(), { lr: 1e-3 });
    const text = ids(BATCH), img = images(4);
    const counts: number[] = [];
    for (let i = 0; i < 20; i++) {
      await trainStep(model, opt, text, img, { clipNorm: 1 });
      counts.push(tf.memory().numTensors);
    }
    // Caches (rotary tables, masks) appear in step 1; from then on nothing grows.
    assert.deepEqual(counts.slice(1), new Array(19).fill(counts[1]), `tensor counts: ${counts}`);
    model.dispose();
    opt.dispose();
  },
);

await backendTest(
  "a tiny model overfits a fixed batch (loss falls by a large factor) with patch dropout on",
  ["wasm"],
  async () => {
    const model = tinyModel(2).train();
    const opt = new AdamW(model.trainableVariables(), { lr: 3e-3, weightDecay: 0 });
    const text = ids(BATCH), img = images(4, 9);
    const first = await trainStep(model, opt, text, img);
    let last = first;
    for (let i = 0; i < 150; i++) last = await trainStep(model, opt, text, img);
    assert.ok(
      last.loss < first.loss / 8,
      `expected the loss to fall 8x, from ${first.loss} to ${last.loss}`,
    );
    assert.ok(
      last.captionLoss < first.captionLoss / 8 && last.contrastiveLoss < first.contrastiveLoss,
    );
    // The temperature is learned.
    assert.notEqual((await model.temperature.data())[0], 1);
    model.dispose();
    opt.dispose();
  },
);

Deno.test("AdamW matches a hand-computed update, with decoupled weight decay on matrices only", async () => {
  await setupBackend("cpu");
  const w = tf.variable(tf.tensor2d([[1, -2]])), b = tf.variable(tf.tensor1d([0.5]));
  const opt = new AdamW([w, b], { lr: 0.1, weightDecay: 0.5 });
  opt.apply([tf.tensor2d([[0.2, 0.4]]), tf.tensor1d([-1])]);
  // Step 1: m̂ = g, v̂ = g², update = g/(|g|+eps) = sign(g).
  const wv = await w.data(), bv = await b.data();
  assert.ok(Math.abs(wv[0] - (1 - 0.1 - 0.1 * 0.5 * 1)) < 1e-6);
  assert.ok(Math.abs(wv[1] - (-2 - 0.1 - 0.1 * 0.5 * -2)) < 1e-6);
  assert.ok(Math.abs(bv[0] - (0.5 + 0.1)) < 1e-6); // no decay on a vector
  // State round trip.
  const state = await opt.getState();
  const opt2 = new AdamW([w, b], { lr: 0.1, weightDecay: 0.5 });
  opt2.setState(state);
  assert.deepEqual(await opt2.getState(), state);
});

Deno.test("clipByGlobalNorm scales to the max norm and leaves small gradients alone", async () => {
  await setupBackend("cpu");
  const { grads, norm } = clipByGlobalNorm([tf.tensor1d([3]), undefined, tf.tensor1d([4])], 1);
  assert.equal((await norm.data())[0], 5);
  assert.ok(Math.abs((await grads[0]!.data())[0] - 0.6) < 1e-6);
  assert.equal(grads[1], undefined);
  const small = clipByGlobalNorm([tf.tensor1d([0.3])], 1);
  assert.ok(Math.abs((await small.grads[0]!.data())[0] - 0.3) < 1e-6);
});

await backendTest("the fused AdamW kernel gives the same update as the op-by-op path (cpu)", [
  "blas",
], async () => {
  const run = async (backend: string) => {
    await setupBackend(backend);
    const w = tf.variable(tf.randomNormal([5, 7], 0, 1, "float32", 3));
    const b = tf.variable(tf.randomNormal([7], 0, 1, "float32", 4));
    const opt = new AdamW([w, b], { lr: 0.01, weightDecay: 0.1 });
    for (let s = 0; s < 3; s++) {
      const g = [
        tf.randomNormal([5, 7], 0, 1, "float32", 10 + s),
        tf.randomNormal([7], 0, 1, "float32", 20 + s),
      ];
      opt.apply(g);
      tf.dispose(g);
    }
    const out = [...await w.data(), ...await b.data()];
    const state = await opt.getState();
    return { out, m: [...state.m[0]], v: [...state.v[1]] };
  };
  const ref = await run("cpu"), fused = await run("blas");
  const { hasFusedAdamW } = await import("../src/ops/adamw.ts");
  assert.ok(hasFusedAdamW(), "blas has the fused kernel");
  for (const k of ["out", "m", "v"] as const) {
    const d = Math.max(...ref[k].map((x, i) => Math.abs(x - fused[k][i])));
    assert.ok(d < 1e-6, `${k} differs by ${d}`);
  }
});

await backendTest("clipped train steps agree between the fused path and the op path (cpu)", [
  "blas",
], async () => {
  const run = async (backend: string) => {
    await setupBackend(backend);
    const model = tinyModel(6).eval(); // eval: no patch-dropout randomness to compare
    const opt = new AdamW(model.trainableVariables(), { lr: 1e-2 });
    const steps = [];
    for (let i = 0; i < 3; i++) {
      steps.push(await trainStep(model, opt, ids(BATCH), images(4, 3), { clipNorm: 0.5 }));
    }
    const w = [...await model.tokenEmb.data()];
    model.dispose();
    opt.dispose();
    return { steps, w };
  };
  const ref = await run("cpu"), fused = await run("blas");
  for (let i = 0; i < 3; i++) {
    assert.ok(Math.abs(ref.steps[i].loss - fused.steps[i].loss) < 1e-4, `loss at step ${i}`);
    assert.ok(
      Math.abs(ref.steps[i].gradNorm! - fused.steps[i].gradNorm!) / ref.steps[i].gradNorm! < 1e-4,
    );
  }
  assert.ok(ref.steps[0].gradNorm! > 0.5, "clipping was active");
  const d = Math.max(...ref.w.map((x, i) => Math.abs(x - fused.w[i])));
  assert.ok(d < 1e-4, `weights differ by ${d}`);
});
