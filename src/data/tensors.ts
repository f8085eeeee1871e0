/**
 * Turn a batch of examples into model input tensors.
 *
 * @module
 */

import * as tf from "../deps/tf.ts";
import type { Example } from "./types.ts";
import type { EncodeBatchOptions, EncodedBatch } from "../text/tokenizer.ts";

/** What {@linkcode toTensors} needs from a tokenizer. */
export interface BatchEncoder {
  /** See `Tokenizer.encodeBatch`. */
  encodeBatch(texts: readonly string[], options: EncodeBatchOptions): EncodedBatch;
}

/** Model inputs for one batch. The caller owns (and must dispose) both tensors. */
export interface BatchTensors {
  /** `(b, 3, S, S)` float32 images in [-1, 1]. */
  images: tf.Tensor4D;
  /** `(b, textLength)` int32 ids: BOS caption EOS, right-padded with 0, truncated with EOS last. */
  text: tf.Tensor2D;
}

/**
 * Stack images and tokenize captions. All images must have the same size.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { Tokenizer } from "../text/tokenizer.ts";
 * import { toTensors } from "./tensors.ts";
 * const batch = [{ image: new Float32Array(3 * 8 * 8), caption: "a red circle" }];
 * const { images, text } = toTensors(batch, new Tokenizer([]), 16);
 * // images: (1, 3, 8, 8); text: (1, 16). Use, then:
 * tf.dispose([images, text]);
 * ```
 */
export function toTensors(
  batch: readonly Example[],
  tokenizer: BatchEncoder,
  textLength: number,
): BatchTensors {
  if (batch.length === 0) throw new RangeError("expected a non-empty batch, found 0 examples");
  const n = batch[0].image.length;
  const size = Math.round(Math.sqrt(n / 3));
  if (3 * size * size !== n) {
    throw new RangeError(`expected images of 3*S*S values, found ${n} in example 0`);
  }
  const pixels = new Float32Array(batch.length * n);
  batch.forEach((ex, i) => {
    if (ex.image.length !== n) {
      throw new RangeError(
        `expected every image to have ${n} values (3x${size}x${size}), found ${ex.image.length} in example ${i}`,
      );
    }
    pixels.set(ex.image, i * n);
  });
  const enc = tokenizer.encodeBatch(batch.map((e) => e.caption), {
    length: textLength,
    bos: true,
    eos: true,
  });
  return {
    images: tf.tensor4d(pixels, [batch.length, 3, size, size], "float32"),
    text: tf.tensor2d(enc.data, enc.shape, "int32"),
  };
}
