/**
 * Loss curves: one line per loss component over training steps.
 *
 * @module
 */

import { colorAt } from "./colors.ts";
import { toJsonNumbers } from "./json.ts";
import type { Figure, Trace } from "./types.ts";

/** One named series of values over steps, e.g. the contrastive loss of a run. */
export interface Series {
  /** Legend name, e.g. `"contrastive"`. */
  name: string;
  /** Step (x) of each value. */
  steps: ArrayLike<number>;
  /** Value (y) at each step; non-finite values are drawn as gaps. */
  values: ArrayLike<number>;
}

/** Options for {@linkcode lossCurves}. */
export interface LossCurvesOptions {
  /** Figure title. Default `"Loss"`. */
  title?: string;
  /** X axis title. Default `"step"`. */
  xTitle?: string;
  /** Y axis title. Default `"loss"`. */
  yTitle?: string;
  /** Use a logarithmic y axis. Default `false`. */
  logY?: boolean;
  /**
   * Exponential-moving-average weight in `[0, 1)`. When above 0, each series is drawn smoothed
   * with its raw values as a faint line behind it. Default `0` (no smoothing).
   */
  smoothing?: number;
}

/**
 * Exponential moving average with bias correction (as in TensorBoard's smoothing), skipping
 * non-finite values.
 *
 * @example Usage
 * ```ts
 * import { ema } from "./loss_curves.ts";
 * ema([1, 1, 1], 0.9); // [1, 1, 1]
 * ```
 *
 * @param values Raw values.
 * @param weight Smoothing weight in `[0, 1)`; 0 returns the values unchanged.
 * @returns The smoothed values, `null` where the input was not finite.
 */
export function ema(values: ArrayLike<number>, weight: number): (number | null)[] {
  if (!(weight >= 0 && weight < 1)) {
    throw new RangeError(`ema: expected a weight in [0, 1), found ${weight}`);
  }
  const out: (number | null)[] = [];
  let acc = 0;
  let count = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) {
      out.push(null);
      continue;
    }
    acc = acc * weight + (1 - weight) * v;
    count++;
    out.push(acc / (1 - weight ** count));
  }
  return out;
}

/**
 * Splits training-log rows such as `{step: 10, total: 2.1, contrastive: 1.2, caption: 0.9}` into
 * one {@linkcode Series} per numeric key other than the step key, in first-seen key order.
 *
 * @example Usage
 * ```ts
 * import { seriesFromRows } from "./loss_curves.ts";
 * const series = seriesFromRows([{ step: 0, total: 3 }, { step: 1, total: 2 }]);
 * // [{ name: "total", steps: [0, 1], values: [3, 2] }]
 * ```
 *
 * @param rows Log rows, one per logged step.
 * @param stepKey The key holding the step. Default `"step"`.
 * @returns One series per component; a row lacking a component leaves no point for it.
 */
export function seriesFromRows(
  rows: readonly Record<string, unknown>[],
  stepKey = "step",
): Series[] {
  const byName = new Map<string, { steps: number[]; values: number[] }>();
  rows.forEach((row, i) => {
    const step = row[stepKey];
    if (typeof step !== "number") {
      throw new TypeError(
        `seriesFromRows: expected a numeric "${stepKey}" in row ${i}, found ${
          JSON.stringify(step)
        }`,
      );
    }
    for (const [key, value] of Object.entries(row)) {
      if (key === stepKey || typeof value !== "number") continue;
      let s = byName.get(key);
      if (s === undefined) byName.set(key, s = { steps: [], values: [] });
      s.steps.push(step);
      s.values.push(value);
    }
  });
  return [...byName].map(([name, s]) => ({ name, ...s }));
}

/**
 * Builds a figure with one line per loss component over steps.
 *
 * @example Usage
 * ```ts
 * import { lossCurves } from "./loss_curves.ts";
 * const fig = lossCurves([
 *   { name: "contrastive", steps: [0, 1, 2], values: [2.0, 1.5, 1.2] },
 *   { name: "caption", steps: [0, 1, 2], values: [4.0, 3.1, 2.7] },
 * ]);
 * // fig.data.length === 2
 * ```
 *
 * @param series The components to draw; each needs as many steps as values.
 * @param options Titles, log scale and smoothing.
 * @returns A plotly figure.
 */
export function lossCurves(series: readonly Series[], options: LossCurvesOptions = {}): Figure {
  const smoothing = options.smoothing ?? 0;
  const data: Trace[] = [];
  series.forEach((s, i) => {
    if (s.steps.length !== s.values.length) {
      throw new RangeError(
        `lossCurves: series "${s.name}" expected as many steps as values, found ` +
          `${s.steps.length} steps and ${s.values.length} values`,
      );
    }
    const color = colorAt(i);
    const x = Array.from(s.steps);
    if (smoothing > 0) {
      data.push({
        type: "scatter",
        mode: "lines",
        name: `${s.name} (raw)`,
        x,
        y: toJsonNumbers(s.values),
        line: { color, width: 1 },
        opacity: 0.3,
        legendgroup: s.name,
        showlegend: false,
        hoverinfo: "skip",
      });
    }
    data.push({
      type: "scatter",
      mode: "lines",
      name: s.name,
      x,
      y: smoothing > 0 ? ema(s.values, smoothing) : toJsonNumbers(s.values),
      line: { color, width: 2 },
      legendgroup: s.name,
    });
  });
  return {
    data,
    layout: {
      title: { text: options.title ?? "Loss" },
      xaxis: { title: { text: options.xTitle ?? "step" } },
      yaxis: { title: { text: options.yTitle ?? "loss" }, type: options.logY ? "log" : "linear" },
      hovermode: "x unified",
    },
  };
}
