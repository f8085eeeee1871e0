/**
 * Small seeded pseudo-random number generator (mulberry32) and helpers. Same seed, same
 * sequence, on every platform: all arithmetic is 32-bit integer.
 *
 * @module
 */

import { Rng as SeededRng } from "../util/rng.ts";

/** A function returning uniform floats in [0, 1). */
export type Rng = () => number;

/**
 * mulberry32: a 32-bit state PRNG, good enough for shuffling and data generation (not crypto).
 *
 * @example
 * ```ts
 * const rand = mulberry32(42);
 * rand(); // same value every run
 * ```
 */
export function mulberry32(seed: number): Rng {
  if (!Number.isFinite(seed)) throw new RangeError(`expected a finite seed, found ${seed}`);
  const rng = new SeededRng(seed);
  return () => rng.next();
}

/**
 * Mix several integers into one 32-bit seed (e.g. a base seed and an epoch).
 *
 * @example
 * ```ts
 * const rand = mulberry32(mixSeeds(7, 3)); // seed 7, epoch 3
 * ```
 */
export function mixSeeds(...values: number[]): number {
  let h = 0x811c9dc5;
  for (const v of values) {
    h = Math.imul(h ^ (v >>> 0), 0x01000193) >>> 0;
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
    h ^= h >>> 13;
  }
  return h >>> 0;
}

/**
 * Uniform integer in [0, n).
 *
 * @example
 * ```ts
 * randInt(mulberry32(1), 6); // 0..5
 * ```
 */
export function randInt(rand: Rng, n: number): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`expected n >= 1, found ${n}`);
  return Math.floor(rand() * n);
}

/**
 * Uniformly chosen element of a non-empty array.
 *
 * @example
 * ```ts
 * pick(mulberry32(1), ["red", "blue"]);
 * ```
 */
export function pick<T>(rand: Rng, items: readonly T[]): T {
  if (items.length === 0) throw new RangeError("expected a non-empty array, found length 0");
  return items[randInt(rand, items.length)];
}

/**
 * Fisher–Yates shuffle in place; returns the same array.
 *
 * @example
 * ```ts
 * shuffleInPlace([1, 2, 3, 4], mulberry32(0));
 * ```
 */
export function shuffleInPlace<T>(items: T[], rand: Rng): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = items[i];
    items[i] = items[j];
    items[j] = t;
  }
  return items;
}
