/**
 * A tiny seeded pseudo-random generator for reproducible random search. Not cryptographic.
 *
 * @module
 */

import { Rng as Mulberry32 } from "../util/rng.ts";

/** A function returning uniform floats in [0, 1). */
export type Rng = () => number;

/**
 * Creates a deterministic generator (32-bit state, mulberry32-style mixing) from an integer seed.
 * The same seed always yields the same sequence on every platform.
 *
 * @example
 * ```ts
 * import { seededRng } from "./random.ts";
 * const rng = seededRng(42);
 * const x = rng(); // in [0, 1), identical for every run with seed 42
 * ```
 */
export function seededRng(seed: number): Rng {
  if (!Number.isSafeInteger(seed)) {
    throw new RangeError(`Expected an integer seed for seededRng, found ${seed}`);
  }
  // Fold a possibly >32-bit seed into the 32-bit state.
  const rng = new Mulberry32((seed ^ Math.floor(seed / 2 ** 32)) >>> 0);
  return () => rng.next();
}
