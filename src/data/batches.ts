/**
 * Seeded, deterministic mini-batching.
 *
 * @module
 */

import { mixSeeds, mulberry32, shuffleInPlace } from "../util/rng.ts";
import { positiveInt } from "../util/validate.ts";

/** Options of {@linkcode batches}. */
export interface BatchOptions {
  /** Examples per batch (positive integer). */
  batchSize: number;
  /** Base seed of the shuffle (default 0). */
  seed?: number;
  /** Epoch number; each epoch gets its own order derived from `(seed, epoch)` (default 0). */
  epoch?: number;
  /** Shuffle before batching (default true). */
  shuffle?: boolean;
  /** Drop a last, smaller batch (default false). */
  dropLast?: boolean;
}

/**
 * Split examples into batches. With `shuffle`, the order is a permutation drawn from a
 * mulberry32 generator seeded with `mixSeeds(seed, epoch)`: same inputs, same batches.
 *
 * @example
 * ```ts
 * const items = [1, 2, 3, 4, 5];
 * for (const b of batches(items, { batchSize: 2, seed: 1, epoch: 0 })) console.log(b);
 * ```
 */
export function* batches<T>(examples: readonly T[], options: BatchOptions): Generator<T[]> {
  const { batchSize } = options;
  positiveInt("batchSize", batchSize);
  const seed = options.seed ?? 0;
  const epoch = options.epoch ?? 0;
  if (!Number.isInteger(seed) || !Number.isInteger(epoch) || epoch < 0) {
    throw new RangeError(
      `expected integer seed and epoch >= 0, found seed ${seed}, epoch ${epoch}`,
    );
  }
  const order = Array.from({ length: examples.length }, (_, i) => i);
  if (options.shuffle ?? true) shuffleInPlace(order, mulberry32(mixSeeds(seed, epoch)));
  for (let start = 0; start < order.length; start += batchSize) {
    const end = Math.min(start + batchSize, order.length);
    if (end - start < batchSize && (options.dropLast ?? false)) break;
    yield order.slice(start, end).map((i) => examples[i]);
  }
}
