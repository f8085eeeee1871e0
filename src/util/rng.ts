/**
 * A small seeded pseudo-random generator (mulberry32) whose whole state is one
 * 32-bit integer, so it can be saved in a checkpoint and restored exactly.
 *
 * @module
 */

/**
 * Seeded generator of uniform floats in [0, 1).
 *
 * @example
 * ```ts
 * import { Rng } from "./rng.ts";
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
