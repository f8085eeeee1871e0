/**
 * The one dataset interface shared by every data source.
 *
 * Images are float32, channel-first `(3, S, S)` (NCHW without the batch axis), RGB, normalised
 * as `x = pixel / 255 * 2 - 1` so values lie in [-1, 1] (see `src/data/image.ts`).
 *
 * @module
 */

/** The three standard split names. */
export type SplitName = "train" | "val" | "test";

/** The standard split names, in order. */
export const SPLIT_NAMES: readonly SplitName[] = ["train", "val", "test"];

/** One image–caption pair. */
export interface Example {
  /** `(3, S, S)` float32 RGB in [-1, 1], row-major channel-first. */
  image: Float32Array;
  /** Caption text. */
  caption: string;
  /** Optional class label (dataset specific). */
  label?: string;
  /** Optional attributes; zero-shot task `t` uses `attributes[t]` as the true class name. */
  attributes?: Record<string, string>;
}

/** A dataset split into disjoint train/val/test example lists. */
export interface Dataset {
  /** Short name, e.g. `"shapes"`. */
  name: string;
  /** Side length S of every image. */
  imageSize: number;
  /** Disjoint standard splits. */
  splits: Record<SplitName, Example[]>;
  /** Additional evaluation splits, e.g. `heldout` (unseen attribute combinations). */
  extraSplits?: Record<string, Example[]>;
  /** Zero-shot tasks: task name → class names (the task name is the attribute key). */
  classes?: Record<string, string[]>;
  /** Prompt templates per zero-shot task; `{}` is replaced by the class name. */
  promptTemplates?: Record<string, string[]>;
}

/**
 * Fill a prompt template: every `{}` becomes the class name.
 *
 * @example
 * ```ts
 * fillTemplate("a photo of a {}", "circle"); // "a photo of a circle"
 * ```
 */
export function fillTemplate(template: string, className: string): string {
  return template.replaceAll("{}", className);
}
