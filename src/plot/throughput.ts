/**
 * Throughput against depth or backend, as grouped bars or lines.
 *
 * @module
 */

import type { JsonObject } from "../util/json.ts";
import { colorAt } from "./colors.ts";
import { type Key, orderKeys } from "./keys.ts";
import { summarize } from "./stats.ts";
import type { Figure, Layout, Trace } from "./types.ts";

/** One throughput measurement. Repeats of the same (group, x) are shown as mean ± std. */
export interface ThroughputPoint {
  /** Series, e.g. the backend (`"cpu"`, `"wasm"`) or a batch size. */
  group: string;
  /** Position on the x axis, e.g. the depth or the backend name. */
  x: Key;
  /** Measured throughput, e.g. images per second. */
  value: number;
}

/** Options for {@linkcode throughputChart}. */
export interface ThroughputOptions {
  /** `"bar"` (grouped bars, the default) or `"line"`. */
  kind?: "bar" | "line";
  /** Figure title. Default `"Throughput"`. */
  title?: string;
  /** X axis title. Default `"depth"`. */
  xTitle?: string;
  /** Y axis title. Default `"images/s"`. */
  yTitle?: string;
  /** Logarithmic y axis. Default `false`. */
  logY?: boolean;
}

/**
 * Builds a throughput chart: one trace per group (e.g. backend) over x (e.g. depth). When a
 * (group, x) pair was measured several times, the bar or point is the mean and the error bar
 * the sample standard deviation.
 *
 * @example Usage
 * ```ts
 * import { throughputChart } from "./throughput.ts";
 * const fig = throughputChart([
 *   { group: "cpu", x: 2, value: 10 },
 *   { group: "cpu", x: 4, value: 6 },
 *   { group: "wasm", x: 2, value: 30 },
 * ]);
 * // two bar traces: cpu at x [2, 4], wasm at x [2]
 * ```
 *
 * @param points The measurements.
 * @param options Chart kind and titles.
 * @returns A plotly figure.
 */
export function throughputChart(
  points: readonly ThroughputPoint[],
  options: ThroughputOptions = {},
): Figure {
  const kind = options.kind ?? "bar";
  const groups = new Map<string, Map<Key, number[]>>();
  for (const p of points) {
    let byX = groups.get(p.group);
    if (byX === undefined) groups.set(p.group, byX = new Map());
    const list = byX.get(p.x);
    if (list === undefined) byX.set(p.x, [p.value]);
    else list.push(p.value);
  }
  const allX = orderKeys(points.map((p) => p.x));
  const categorical = kind === "bar" || allX.some((k) => typeof k === "string");
  const data: Trace[] = [...groups].map(([group, byX], i) => {
    const xs = allX.filter((k) => byX.has(k));
    const stats = xs.map((k) => summarize(byX.get(k)!));
    const color = colorAt(i);
    const trace: Trace = {
      type: kind === "bar" ? "bar" : "scatter",
      name: group,
      x: categorical ? xs.map(String) : xs,
      y: stats.map((s) => s.mean),
      marker: { color },
      hovertemplate: `${group}: %{y:.4g}<extra>%{x}</extra>`,
    };
    if (stats.some((s) => s.n > 1)) {
      trace.error_y = { type: "data", array: stats.map((s) => s.std), visible: true };
    }
    if (kind === "line") {
      trace.mode = "lines+markers";
      trace.line = { color };
    }
    return trace;
  });
  const xaxis: JsonObject = {
    title: { text: options.xTitle ?? "depth" },
    type: categorical ? "category" : "linear",
  };
  if (categorical) {
    xaxis.categoryorder = "array";
    xaxis.categoryarray = allX.map(String);
  }
  const layout: Layout = {
    title: { text: options.title ?? "Throughput" },
    xaxis,
    yaxis: { title: { text: options.yTitle ?? "images/s" }, type: options.logY ? "log" : "linear" },
  };
  if (kind === "bar") layout.barmode = "group";
  return { data, layout };
}
