/**
 * A tiny seeded pseudo-random generator for reproducible random search. Not cryptographic.
 *
 * @module
 */

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
  let state = (seed ^ Math.floor(seed / 2 ** 32)) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  };
}
