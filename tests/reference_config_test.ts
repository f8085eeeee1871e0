import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { buildFromReferenceConfig, fromReferenceConfig, maxRelErr, setupBackend } from "../mod.ts";
import { backendTest } from "./helpers.ts";

// A configuration unlike the fixture's: rectangular images and patches, image_dim != dim,
// dim_latents != dim, None values (Python defaults), channels 1, loss weights.
const REF = {
  vit: {
    image_size: [16, 24],
    patch_size: [8, 4],
    num_classes: 5,
    dim: 48,
    depth: 1,
    heads: 3,
    dim_head: 8,
    mlp_dim: 40,
    channels: 1,
    patch_dropout: 0.25,
  },
  coca: {
    dim: 32,
    image_dim: 48,
    num_tokens: 50,
    unimodal_depth: 1,
    multimodal_depth: 2,
    dim_latents: 24,
    num_img_queries: 3,
    dim_head: 8,
    heads: 2,
    ff_mult: 3,
    caption_loss_weight: 0.7,
    contrastive_loss_weight: 1.3,
    pad_id: 0,
    img_encoder: null,
  },
};

Deno.test("reference configs convert (pairs, None) and build the reference's parameter shapes", async () => {
  await setupBackend("cpu");
  const { vit, coca } = fromReferenceConfig(REF);
  assert.deepEqual(vit.imageSize, [16, 24]);
  assert.equal(coca.dimLatents, 24);
  assert.ok(!("imgEncoder" in coca), "None is left to our default");
  const model = buildFromReferenceConfig(REF);
  const shape = (k: string) => model.stateDict().get(k)?.shape;
  assert.deepEqual(shape("img_encoder.vit.to_patch_embedding.1.weight"), [32]); // 1*8*4
  assert.deepEqual(shape("img_attn_pool.to_kv.weight"), [16, 48]);
  assert.deepEqual(shape("img_attn_pool.context_norm.gamma"), [48]);
  assert.deepEqual(shape("img_queries"), [4, 32]);
  assert.deepEqual(shape("text_to_latents.to_latents.weight"), [24, 32]);
  assert.deepEqual(shape("unimodal_layers.0.fn.fused_attn_ff_proj.weight"), [
    2 * 8 + 8 + 8 + 2 * 96,
    32,
  ]);
  assert.deepEqual(shape("multimodal_layers.1.1.fn.ff.0.weight"), [192, 32]);
  assert.deepEqual(shape("img_encoder.vit.linear_head.weight"), [5, 48]);
  model.dispose();
  assert.throws(
    () => fromReferenceConfig({ vit: { ...REF.vit, patchsize: 3 }, coca: REF.coca }),
    /unknown SimpleViT argument "patchsize"/,
  );
});

/** Logits, loss and every gradient of that configuration on `backend`. */
async function referenceRun(backend: string) {
  await setupBackend(backend);
  const model = buildFromReferenceConfig(REF, { seed: 5 }).eval();
  const text = tf.tensor2d([[1, 7, 9, 2, 0], [1, 4, 2, 0, 0]], [2, 5], "int32");
  const images = tf.randomNormal([2, 1, 16, 24], 0, 1, "float32", 2) as tf.Tensor4D;
  const logits = await model.forward(text, images).data();
  const { value, grads } = tf.variableGrads(
    () => model.loss(text, images).loss,
    model.trainableVariables(),
  );
  const g = await Promise.all(Object.values(grads).map((t) => t.data()));
  const out = {
    logits: [...logits],
    loss: (await value.data())[0],
    grads: g.flatMap((x) => [...x]),
  };
  model.dispose();
  return out;
}

let cpuRun: ReturnType<typeof referenceRun> | undefined;

await backendTest(
  "that configuration computes the same outputs and gradients as on cpu",
  ["wasm", "blas", "webgpu"],
  async (backend) => {
    const ref = await (cpuRun ??= referenceRun("cpu"));
    const o = await referenceRun(backend);
    assert.ok(maxRelErr(o.logits, ref.logits) < 1e-5, `${backend} logits`);
    assert.ok(Math.abs(o.loss - ref.loss) / ref.loss < 1e-5, `${backend} loss`);
    assert.ok(
      maxRelErr(o.grads, ref.grads) < 1e-4,
      `${backend} grads ${maxRelErr(o.grads, ref.grads)}`,
    );
  },
);
