import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import {
  CoCa,
  loadWeights,
  saveWeights,
  setupBackend,
  SimpleViT,
  stateDictFromBytes,
} from "../mod.ts";
import { backendTest, ids, images, TINY_COCA, tinyModel } from "./helpers.ts";

const BACKENDS = ["cpu", "webgpu", "wasm"] as const;

await backendTest(
  "causality: changing a later token never changes earlier logits",
  BACKENDS,
  async () => {
    const model = tinyModel(3).eval();
    const img = images(2);
    const a = ids([[5, 6, 7, 8, 9, 10], [11, 12, 13, 14, 0, 0]]);
    const b = ids([[5, 6, 7, 30, 31, 32], [11, 12, 13, 1, 2, 3]]);
    const la = await model.forward(a, img).slice([0, 0, 0], [2, 3, -1]).data();
    const lb = await model.forward(b, img).slice([0, 0, 0], [2, 3, -1]).data();
    assert.deepEqual(Array.from(la), Array.from(lb));
    // ... and the position that changed does differ.
    const fa = await model.forward(a, img).slice([0, 3, 0], [1, 1, -1]).data();
    const fb = await model.forward(b, img).slice([0, 3, 0], [1, 1, -1]).data();
    assert.notDeepEqual(Array.from(fa), Array.from(fb));
    model.dispose();
  },
);

await backendTest(
  "CLS pad mask: pad tokens do not change the text embedding",
  BACKENDS,
  async () => {
    const model = tinyModel(4).eval();
    const text = ids([[5, 6, 7, 0, 0, 0]]);
    const before = await model.embedText(text).textEmbeds.data();
    // Rewrite the pad token's embedding: the CLS must not see pad positions.
    // (Not a constant shift: layer norm would remove that.)
    const row = (id: number, seed: number) =>
      tf.tidy(() =>
        tf.oneHot(tf.tensor1d([id], "int32"), TINY_COCA.numTokens).reshape([-1, 1])
          .mul(tf.randomNormal([1, TINY_COCA.dim], 0, 3, "float32", seed))
      );
    model.tokenEmb.assign(model.tokenEmb.add(row(0, 3)));
    const after = await model.embedText(ids([[5, 6, 7, 0, 0, 0]])).textEmbeds.data();
    const maxDiff = Math.max(...Array.from(before, (v, i) => Math.abs(v - after[i])));
    assert.ok(maxDiff < 1e-5, `the pad embedding changed the CLS embedding by ${maxDiff}`);
    // Control: the same change to a real token's embedding does change it.
    model.tokenEmb.assign(model.tokenEmb.add(row(6, 3)));
    const changed = await model.embedText(ids([[5, 6, 7, 0, 0, 0]])).textEmbeds.data();
    assert.ok(Math.max(...Array.from(before, (v, i) => Math.abs(v - changed[i]))) > 1e-3);
    model.dispose();
  },
);

Deno.test("patch dropout keeps max(1, floor(n(1-p))) patches in training and all in eval", async () => {
  await setupBackend("cpu");
  for (const [p, want] of [[0.5, 8], [0.75, 4], [0, 16], [0.99, 1]] as const) {
    const vit = new SimpleViT({
      imageSize: 16,
      patchSize: 4,
      dim: 32,
      depth: 1,
      heads: 2,
      mlpDim: 32,
      patchDropout: p,
    });
    const x = images(2);
    vit.training = true;
    assert.deepEqual(vit.encode(x).shape, [2, want, 32]);
    assert.equal(vit.keptPatches(), want);
    vit.training = false;
    assert.deepEqual(vit.encode(x).shape, [2, 16, 32]);
    vit.store.dispose();
  }
  // CoCa's train()/eval() switch the encoder too.
  const model = tinyModel(1);
  const enc = model.imgEncoder as SimpleViT;
  model.train();
  assert.equal(enc.training, true);
  assert.equal(enc.keptPatches(), 8);
  model.eval();
  assert.equal(enc.training, false);
  model.dispose();
});

Deno.test("patch dropout is random across steps but reproducible from the seed", async () => {
  await setupBackend("cpu");
  const run = async (seed: number) => {
    const vit = new SimpleViT({
      imageSize: 16,
      patchSize: 4,
      dim: 32,
      depth: 1,
      heads: 2,
      mlpDim: 32,
    }, { seed });
    vit.training = true;
    const x = images(1);
    const a = Array.from(await vit.encode(x).data()), b = Array.from(await vit.encode(x).data());
    vit.store.dispose();
    return [a, b];
  };
  const [a1, b1] = await run(7), [a2, b2] = await run(7);
  assert.deepEqual(a1, a2);
  assert.deepEqual(b1, b2);
  assert.notDeepEqual(a1, b1);
});

Deno.test("save -> load round trip is bit-exact and strict loading reports every problem together", async () => {
  await setupBackend("cpu");
  const a = tinyModel(1), b = tinyModel(2);
  const path = await Deno.makeTempFile({ suffix: ".safetensors" });
  await saveWeights(a, path, { note: "test" });
  await loadWeights(b, path);
  for (const [k, t] of a.stateDict()) {
    assert.deepEqual(Array.from(await b.stateDict().get(k)!.data()), Array.from(await t.data()), k);
  }
  // The file holds the tied matrix once and the buffers.
  const sd = stateDictFromBytes(await Deno.readFile(path));
  assert.ok(sd.has("token_emb.weight") && !sd.has("to_logits.1.weight"));
  assert.ok(sd.has("unimodal_layers.0.fn.rotary_emb.inv_freq") && sd.has("to_logits.0.beta"));
  // The tied key alone is accepted in place of token_emb.weight.
  const tied = new Map(sd);
  tied.set("to_logits.1.weight", tied.get("token_emb.weight")!);
  tied.delete("token_emb.weight");
  b.loadStateDict(tied);
  // Missing + unexpected + mismatched, all in one error.
  const broken = new Map(sd);
  broken.delete("text_cls_token");
  broken.set("extra.weight", tf.zeros([2]));
  broken.set("img_queries", tf.zeros([3, 3]));
  assert.throws(() => b.loadStateDict(broken), (e: Error) => {
    assert.match(e.message, /missing keys \(1\): text_cls_token/);
    assert.match(e.message, /unexpected keys \(1\): extra.weight/);
    assert.match(e.message, /img_queries: expected \[5,32\], found \[3,3\]/);
    return true;
  });
  // Non-strict loads what fits and reports the rest.
  const report = b.loadStateDict(broken, { strict: false });
  assert.deepEqual(report.missing, ["text_cls_token"]);
  a.dispose();
  b.dispose();
});

Deno.test("the reference's state dict has every key, buffers and the tied key included", async () => {
  await setupBackend("cpu");
  const fixture = stateDictFromBytes(
    await Deno.readFile(new URL("./fixtures/coca_tiny_a.safetensors", import.meta.url)),
    "model.",
  );
  const { buildFromReferenceConfig } = await import("../mod.ts");
  const model = buildFromReferenceConfig({
    vit: {
      image_size: 32,
      patch_size: 8,
      num_classes: 10,
      dim: 64,
      depth: 2,
      heads: 4,
      dim_head: 16,
      mlp_dim: 128,
    },
    coca: {
      dim: 64,
      image_dim: 64,
      num_tokens: 97,
      unimodal_depth: 2,
      multimodal_depth: 2,
      dim_head: 16,
      heads: 4,
      num_img_queries: 8,
    },
  });
  const ours = [...model.stateDict().keys()].filter((k) => k !== "to_logits.1.weight").sort();
  assert.deepEqual(ours, [...fixture.keys()].sort());
  model.dispose();
});

Deno.test("encodeText / encodeImage return unit-norm latents; a function can be the image encoder", async () => {
  await setupBackend("cpu");
  const proj = tf.variable(tf.randomNormal([48, 32], 0, 0.1, "float32", 1));
  const encoder = (x: tf.Tensor4D) =>
    tf.tidy(() =>
      x.reshape([x.shape[0], 3, 16, 16]).reshape([x.shape[0], 16, 48]).matMul(proj) as tf.Tensor3D
    );
  const model = new CoCa({ ...TINY_COCA, imgEncoder: encoder });
  const zi = model.encodeImage(images(3));
  const zt = model.encodeText(ids([[4, 5, 6], [7, 8, 0], [9, 0, 0]]));
  for (const z of [zi, zt]) {
    const norms = await z.square().sum(-1).sqrt().data();
    for (const n of norms) assert.ok(Math.abs(n - 1) < 1e-5);
  }
  // Image tokens can also be passed directly.
  const direct = model.embedImage({ imageTokens: tf.ones([2, 7, 32]) as tf.Tensor3D });
  assert.deepEqual(direct.imageTokens.shape, [2, 4, 32]);
  // The user function's parameters are not the model's.
  assert.ok(!model.trainableVariables().includes(proj));
  model.dispose();
});

Deno.test("loss returns the weighted total and both unweighted components", async () => {
  await setupBackend("cpu");
  const model = tinyModel(5, {}, { captionLossWeight: 2, contrastiveLossWeight: 0.5 }).eval();
  const { loss, captionLoss, contrastiveLoss } = model.loss(
    ids([[1, 5, 6, 2], [1, 7, 2, 0]]),
    images(2),
  );
  const [l, c, k] = [loss, captionLoss, contrastiveLoss].map((t) => t.dataSync()[0]);
  assert.ok(Math.abs(l - (2 * c + 0.5 * k)) < 1e-5);
  assert.ok(c > 0 && k > 0);
  model.dispose();
});
