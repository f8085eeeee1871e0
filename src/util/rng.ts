/**
 * The project's one seeded pseudo-random generator (mulberry32) and its helpers. The whole state
 * is one 32-bit integer, so it can be saved in a checkpoint and restored exactly; all arithmetic is
 * 32-bit integer, so the same seed gives the same sequence on every platform. Not cryptographic.
 *
 * - {@link Rng}: the generator as an object (`next`, `int`, `sample`, a saveable `state`).
 * - {@link RandFn}: the generator as a function of no arguments ({@link mulberry32},
 *   {@link seededRng}), for {@link randInt}, {@link pick} and {@link shuffleInPlace}.
 *
 * @module
 */

/**
 * Seeded generator of uniform floats in [0, 1).
 *
 * @example
 * ```ts
 * const a = new Rng(42), b = new Rng(42);
 * console.log(a.next() === b.next()); // true
 * ```
 */
export class Rng {
  /** The full generator state (save it to resume the exact sequence). */
  state: number;

  constructor(seed = 0) {
    this.state = seed >>> 0;
  }

  /** A uniform float in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** A uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** `k` distinct integers from [0, n) in random order (partial Fisher-Yates). */
  sample(n: number, k: number): number[] {
    const idx = Array.from({ length: n }, (_, i) => i);
    for (let i = 0; i < k; i++) {
      const j = i + this.int(n - i);
      [idx[i], idx[j]] = [idx[j], idx[i]];
    }
    return idx.slice(0, k);
  }
}

/** A function returning uniform floats in [0, 1) (a seeded generator as a function). */
export type RandFn = () => number;

/**
 * mulberry32: a 32-bit state PRNG, good enough for shuffling and data generation (not crypto).
 *
 * @example
 * ```ts
 * const rand = mulberry32(42);
 * rand(); // same value every run
 * ```
 */
export function mulberry32(seed: number): RandFn {
  if (!Number.isFinite(seed)) throw new RangeError(`expected a finite seed, found ${seed}`);
  const rng = new Rng(seed);
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
export function randInt(rand: RandFn, n: number): number {
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
export function pick<T>(rand: RandFn, items: readonly T[]): T {
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
export function shuffleInPlace<T>(items: T[], rand: RandFn): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = items[i];
    items[i] = items[j];
    items[j] = t;
  }
  return items;
}

/**
 * Creates a deterministic generator (32-bit state, mulberry32-style mixing) from an integer seed.
 * The same seed always yields the same sequence on every platform.
 *
 * @example
 * ```ts
 * const rng = seededRng(42);
 * const x = rng(); // in [0, 1), identical for every run with seed 42
 * ```
 */
export function seededRng(seed: number): RandFn {
  if (!Number.isSafeInteger(seed)) {
    throw new RangeError(`Expected an integer seed for seededRng, found ${seed}`);
  }
  // Fold a possibly >32-bit seed into the 32-bit state.
  const rng = new Rng((seed ^ Math.floor(seed / 2 ** 32)) >>> 0);
  return () => rng.next();
}
