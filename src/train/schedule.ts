/**
 * Learning-rate schedule: linear warmup, then cosine decay.
 *
 * @module
 */

/**
 * The learning rate at `step` (0-based): `lr · (step+1)/warmup` during warmup,
 * then a cosine from `lr` down to `minLrRatio · lr` at `totalSteps - 1`.
 *
 * @example
 * ```ts
 * import { learningRate } from "./schedule.ts";
 * const s = { lr: 1, warmupSteps: 10, minLrRatio: 0.1, totalSteps: 110 };
 * console.log(learningRate(4, s), learningRate(109, s)); // 0.5 0.1
 * ```
 */
export function learningRate(
  step: number,
  s: { lr: number; warmupSteps: number; minLrRatio: number; totalSteps: number },
): number {
  if (step < s.warmupSteps) return s.lr * (step + 1) / s.warmupSteps;
  const span = Math.max(1, s.totalSteps - 1 - s.warmupSteps);
  const t = Math.min(1, (step - s.warmupSteps) / span);
  const min = s.lr * s.minLrRatio;
  return min + (s.lr - min) * 0.5 * (1 + Math.cos(Math.PI * t));
}
