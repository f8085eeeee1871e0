/**
 * Phase 1 of `evaluate()`: a split's examples and their index (distinct images by object
 * identity, distinct caption strings, which image and caption each example has).
 *
 * @module
 */
import { type Dataset, type Example, SPLIT_NAMES, type SplitName } from "../data/types.ts";

/**
 * The examples of `split`: `train`/`val`/`test` or a key of `dataset.extraSplits`.
 *
 * @throws {RangeError} naming the known splits for an unknown one.
 */
export function examplesOf(dataset: Dataset, split: string): Example[] {
  if ((SPLIT_NAMES as readonly string[]).includes(split)) {
    return dataset.splits[split as SplitName];
  }
  const extra = dataset.extraSplits?.[split];
  if (!extra) {
    const known = [...SPLIT_NAMES, ...Object.keys(dataset.extraSplits ?? {})];
    throw new RangeError(
      `expected a split of dataset "${dataset.name}" (${known.join(", ")}), found "${split}"`,
    );
  }
  return extra;
}

/** Distinct images and captions of a split's examples. */
export interface SplitIndex {
  /** Distinct images in first-seen order. */
  imageList: Float32Array[];
  /** The first example of each distinct image. */
  firstExample: Example[];
  /** Per example: the index of its image in `imageList`. */
  imageOfText: number[];
  /** Per example: the id of its caption string. */
  captionOfText: number[];
  /** Distinct caption strings. */
  distinctCaptions: number;
  /** Per image: the caption-string ids of its examples. */
  imageCaptions: Set<number>[];
  /** Per image: its examples' captions (the references for caption metrics). */
  imageCaptionText: string[][];
}

/** Index the examples: images by object identity, captions by string. */
export function indexExamples(examples: readonly Example[]): SplitIndex {
  // Distinct images (by object identity) and distinct caption strings.
  const imageIndex = new Map<Float32Array, number>();
  const imageList: Float32Array[] = [];
  const firstExample: Example[] = [];
  const imageOfText: number[] = [];
  const captionId = new Map<string, number>();
  const captionOfText: number[] = [];
  for (const ex of examples) {
    const im = ex.image;
    let i = imageIndex.get(im);
    if (i === undefined) {
      i = imageList.length;
      imageIndex.set(im, i);
      imageList.push(im);
      firstExample.push(ex);
    }
    imageOfText.push(i);
    if (!captionId.has(ex.caption)) captionId.set(ex.caption, captionId.size);
    captionOfText.push(captionId.get(ex.caption)!);
  }
  const U = imageList.length;
  const imageCaptions: Set<number>[] = Array.from({ length: U }, () => new Set());
  const imageCaptionText: string[][] = Array.from({ length: U }, () => []);
  examples.forEach((ex, t) => {
    imageCaptions[imageOfText[t]].add(captionOfText[t]);
    imageCaptionText[imageOfText[t]].push(ex.caption);
  });
  return {
    imageList,
    firstExample,
    imageOfText,
    captionOfText,
    distinctCaptions: captionId.size,
    imageCaptions,
    imageCaptionText,
  };
}
