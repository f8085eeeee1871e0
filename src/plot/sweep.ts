/**
 * A metric against a swept value, with mean ± std error bars over seeds.
 *
 * @module
 */

import { colorAt } from "./colors.ts";
import { type Key, orderKeys } from "./keys.ts";
import { summarize } from "./stats.ts";
import type { Figure, Layout, Trace } from "./types.ts";

/**
 * One measurement of a sweep: the metric of one seed at one swept value, optionally belonging
 * to a named series (e.g. a model variant).
 */
export interface SweepPoint {
  /** Series name; points without one form the series `"metric"`. */
  series?: string;
  /** The swept value, e.g. a depth or a learning rate. */
  x: Key;
  /** The metric of one seed. */
  value: number;
}

/** One series of a sweep: per-seed values at each swept value. */
export interface SweepSeries {
  /** Legend name. */
  name: string;
  /** Swept values; a string axis is drawn as categories. */
  x: readonly Key[];
  /** `values[i]` holds the raw per-seed values at `x[i]` (at least one each). */
  values: readonly ArrayLike<number>[];
}

/** Options for {@linkcode metricVsSweep}. */
export interface SweepOptions {
  /** Figure title. Default `"Metric vs sweep"`. */
  title?: string;
  /** X axis title. Default `"value"`. */
  xTitle?: string;
  /** Y axis title. Default `"metric"`. */
  yTitle?: string;
  /** Logarithmic x axis (for learning rates). Default `false`. */
  logX?: boolean;
  /** `"line"` (markers and lines, the default) or `"bar"` (grouped bars). */
  kind?: "line" | "bar";
}

/**
 * Groups raw sweep points into one {@linkcode SweepSeries} per series name, with the seeds of
 * each swept value gathered together and the swept values ordered by {@linkcode orderKeys}.
 *
 * @example Usage
 * ```ts
 * import { sweepSeriesFromPoints } from "./sweep.ts";
 * const [s] = sweepSeriesFromPoints([
 *   { x: 2, value: 0.5 }, { x: 1, value: 0.2 }, { x: 2, value: 0.7 },
 * ]);
 * // s.x → [1, 2]; s.values → [[0.2], [0.5, 0.7]]
 * ```
 *
 * @param points One entry per (series, swept value, seed).
 * @returns The series in first-seen order.
 */
export function sweepSeriesFromPoints(points: readonly SweepPoint[]): SweepSeries[] {
  const groups = new Map<string, Map<Key, number[]>>();
  for (const p of points) {
    const name = p.series ?? "metric";
    let byX = groups.get(name);
    if (byX === undefined) groups.set(name, byX = new Map());
    const list = byX.get(p.x);
    if (list === undefined) byX.set(p.x, [p.value]);
    else list.push(p.value);
  }
  return [...groups].map(([name, byX]) => {
    const x = orderKeys(byX.keys());
    return { name, x, values: x.map((k) => byX.get(k)!) };
  });
}

/**
 * Plots a metric against a swept value, one trace per series, with mean markers and error bars
 * of ± one sample standard deviation over the per-seed values (see {@linkcode summarize}).
 * Hovering a point shows the mean, std and the number of seeds.
 *
 * @example Usage
 * ```ts
 * import { metricVsSweep } from "./sweep.ts";
 * const fig = metricVsSweep([{ name: "R@1", x: [2, 4], values: [[0.1, 0.3], [0.4, 0.4]] }]);
 * // fig.data[0].y → [0.2, 0.4]; error_y.array → [0.1414…, 0]
 * ```
 *
 * @param series The series to draw.
 * @param options Titles, log x axis and chart kind.
 * @returns A plotly figure.
 */
export function metricVsSweep(
  series: readonly SweepSeries[],
  options: SweepOptions = {},
): Figure {
  const kind = options.kind ?? "line";
  const data: Trace[] = series.map((s, i) => {
    if (s.x.length !== s.values.length) {
      throw new RangeError(
        `metricVsSweep: series "${s.name}" expected one list of seed values per x, found ` +
          `${s.x.length} x values and ${s.values.length} lists`,
      );
    }
    const stats = s.values.map((v, j) => {
      if (v.length === 0) {
        throw new RangeError(
          `metricVsSweep: series "${s.name}" expected at least one seed value at x=${s.x[j]}, ` +
            `found none`,
        );
      }
      return summarize(v);
    });
    const color = colorAt(i);
    const trace: Trace = {
      type: kind === "bar" ? "bar" : "scatter",
      name: s.name,
      x: [...s.x],
      y: stats.map((t) => t.mean),
      error_y: { type: "data", array: stats.map((t) => t.std), visible: true },
      customdata: stats.map((t) => [t.std, t.n]),
      hovertemplate: `${s.name}: %{y:.4g} ± %{customdata[0]:.3g} (n=%{customdata[1]})` +
        `<extra>%{x}</extra>`,
      marker: { color },
    };
    if (kind === "line") {
      trace.mode = "lines+markers";
      trace.line = { color };
    }
    return trace;
  });
  const categorical = series.some((s) => s.x.some((k) => typeof k === "string"));
  const layout: Layout = {
    title: { text: options.title ?? "Metric vs sweep" },
    xaxis: {
      title: { text: options.xTitle ?? "value" },
      type: categorical ? "category" : options.logX ? "log" : "linear",
    },
    yaxis: { title: { text: options.yTitle ?? "metric" } },
  };
  if (kind === "bar") layout.barmode = "group";
  return { data, layout };
}
