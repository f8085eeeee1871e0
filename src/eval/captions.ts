/**
 * The caption phase of `evaluate()` (only with a generator): the generator gets batches of
 * distinct images in split order and returns token ids per image (turned into text by
 * `captionText`: decoding stops at the first EOS, BOS and pad are dropped). BLEU-4, CIDEr-D and
 * exact match are computed against all captions of each image. The baseline ("chance") scores
 * each image with the captions of the next image (rotation by one), i.e. a fluent caption of the
 * wrong picture.
 *
 * @module
 */
import * as tf from "../deps/tf.ts";
import type { Tokenizer } from "../text/tokenizer.ts";
import { captionText } from "../text/caption.ts";
import { bleu4, ciderD, exactMatch } from "./metrics.ts";
import type { CaptionGenerator, CaptionReport } from "./types.ts";

/** Distinct images `(3, size, size)` as one `(n, 3, size, size)` batch. */
function stackImages(list: readonly Float32Array[], size: number): tf.Tensor4D {
  const n = 3 * size * size;
  const pixels = new Float32Array(list.length * n);
  list.forEach((im, i) => {
    if (im.length !== n) {
      throw new RangeError(
        `expected images of ${n} values (3x${size}x${size}), found ${im.length} at ${i}`,
      );
    }
    pixels.set(im, i * n);
  });
  return tf.tensor4d(pixels, [list.length, 3, size, size], "float32");
}

/**
 * Caption metrics of a split's distinct images (`imageCaptionText[i]`: image i's references),
 * or "skipped" without a generator.
 */
export async function captionReport(
  generate: CaptionGenerator | undefined,
  tokenizer: Tokenizer,
  imageList: readonly Float32Array[],
  imageCaptionText: string[][],
  imageSize: number,
  batchSize: number,
  samples: number,
  onBatch: (done: number, total: number) => void,
): Promise<CaptionReport> {
  const U = imageList.length;
  if (!generate) return { skipped: true, reason: "no caption generator given" };
  const generated: string[] = [];
  for (let start = 0; start < U; start += batchSize) {
    const list = imageList.slice(start, start + batchSize);
    const images = stackImages(list, imageSize);
    let out: number[][];
    try {
      out = await generate(images);
    } finally {
      images.dispose();
    }
    if (!Array.isArray(out) || out.length !== list.length) {
      throw new RangeError(
        `expected the caption generator to return ${list.length} token lists, found ${
          Array.isArray(out) ? out.length : typeof out
        }`,
      );
    }
    for (const ids of out) generated.push(captionText(tokenizer, ids));
    onBatch(start + list.length, U);
  }
  const metrics = (cands: string[]) => ({
    bleu4: bleu4(cands, imageCaptionText).bleu,
    ciderD: ciderD(cands, imageCaptionText).score,
    exactMatch: exactMatch(cands, imageCaptionText),
  });
  return {
    skipped: false,
    ...metrics(generated),
    chance: U > 1
      ? metrics(imageCaptionText.map((_, i) => imageCaptionText[(i + 1) % U][0]))
      : null,
    samples: generated.slice(0, samples).map((g, i) => ({
      references: imageCaptionText[i],
      generated: g,
    })),
  };
}
