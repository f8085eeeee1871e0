import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { CoCa, resolveCoCaConfig, resolveViTConfig, setupBackend, SimpleViT } from "../mod.ts";
import { ids, images, TINY_COCA, TINY_VIT, tinyModel } from "./helpers.ts";

await setupBackend("cpu");

Deno.test("bad images are rejected before any compute, naming expected and found", () => {
  const model = tinyModel();
  const text = ids([[1, 2, 3], [4, 5, 6]]);
  const before = tf.memory().numTensors;
  assert.throws(
    () => model.forward(text, tf.zeros([2, 3, 16]) as unknown as tf.Tensor4D),
    /expected images of shape \(b, 3, 16, 16\), found rank 3/,
  );
  assert.throws(
    () => model.forward(text, tf.zeros([2, 1, 16, 16]) as tf.Tensor4D),
    /expected images of shape \(b, 3, 16, 16\), found \[2,1,16,16\]/,
  );
  assert.throws(
    () => model.forward(text, tf.zeros([2, 3, 32, 32]) as tf.Tensor4D),
    /found \[2,3,32,32\]/,
  );
  assert.throws(
    () => model.forward(text, images(3)),
    /same batch size, found 2 texts and 3 images/,
  );
  assert.ok(tf.memory().numTensors - before <= 4, "only the test's own inputs were created");
});

Deno.test("bad token ids are rejected: dtype, rank, range, non-integer", () => {
  const model = tinyModel();
  const img = images(1);
  assert.throws(
    () => model.forward(tf.tensor2d([[1.5, 2]]) as tf.Tensor2D, img),
    /expected int32 text token ids, found float32/,
  );
  assert.throws(
    () => model.forward(tf.tensor1d([1, 2], "int32") as unknown as tf.Tensor2D, img),
    /expected text of shape \(b, n\), found rank 1/,
  );
  assert.throws(
    () => model.forward(ids([[1, 40]]), img),
    /expected text token ids in \[0, 40\), found 40 at \[0, 1\]/,
  );
  assert.throws(() => model.forward(ids([[-1, 3]]), img), /found -1 at \[0, 0\]/);
});

Deno.test("the loss needs text of length >= 2 and at least one non-pad label", () => {
  const model = tinyModel();
  assert.throws(
    () => model.loss(ids([[5]]), images(1)),
    /expected text of length >= 2 for the loss/,
  );
  assert.throws(() => model.loss(ids([[5, 0, 0]]), images(1)), /at least one non-pad label/);
  assert.throws(
    () => model.loss(ids([[5, 6]]), images(1), { labels: ids([[1, 2, 3]]) }),
    /expected labels of shape \[1,2\], found \[1,3\]/,
  );
});

Deno.test("invalid configs are rejected with the option, the expectation and the value", () => {
  const vit = (o: object) => () => resolveViTConfig({ ...TINY_VIT, ...o });
  assert.throws(
    vit({ imageSize: 30, patchSize: 8 }),
    /expected patchSize to divide imageSize 30, found 8/,
  );
  assert.throws(
    vit({ imageSize: [16, 20], patchSize: [4, 8] }),
    /expected patchSize to divide imageSize 20, found 8/,
  );
  assert.throws(vit({ dim: 30 }), /expected ViT dim to be divisible by 4.*found 30/);
  assert.throws(vit({ patchDropout: 1 }), /expected patchDropout in \[0, 1\), found 1/);
  assert.throws(vit({ patchDropout: -0.1 }), /found -0.1/);
  assert.throws(vit({ depth: 0 }), /expected depth to be a positive integer, found 0/);
  assert.throws(vit({ heads: 2.5 }), /expected heads to be a positive integer, found 2.5/);
  assert.throws(
    vit({ patchSze: 4 }),
    /unknown key\(s\) in the ViT config: "patchSze"; expected some of imageSize/,
  );
  const coca = (o: object) => () => resolveCoCaConfig({ ...TINY_COCA, ...o });
  assert.throws(coca({ dimHead: 15 }), /expected dimHead to be even/);
  assert.throws(coca({ padId: 40 }), /expected padId in \[0, 40\), found 40/);
  assert.throws(
    coca({ unimodalDepth: -1 }),
    /expected unimodalDepth to be a non-negative integer, found -1/,
  );
  assert.throws(
    coca({ captionLossWeight: NaN }),
    /expected captionLossWeight to be a finite number/,
  );
  assert.throws(
    coca({ numTokenz: 3 }),
    /unknown key\(s\) in the CoCa config: "numTokenz"; expected some of dim/,
  );
  const enc = new SimpleViT({ ...TINY_VIT, dim: 48 });
  assert.throws(
    () => new CoCa({ ...TINY_COCA, imgEncoder: enc }),
    /expected imageDim to equal the ViT's dim 48, found 32/,
  );
});

Deno.test("images without an encoder, and bad image tokens, are clear errors", () => {
  const model = new CoCa(TINY_COCA);
  assert.throws(() => model.embedImage(images(1)), /has no imgEncoder: pass \{ imageTokens \}/);
  assert.throws(
    () => model.embedImage({ imageTokens: tf.zeros([1, 4, 8]) as tf.Tensor3D }),
    /expected imageTokens of shape \(b, m, 32\), found \[1,4,8\]/,
  );
});
