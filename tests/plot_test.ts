import assert from "node:assert/strict";
import {
  attentionMap,
  bundle,
  ema,
  type Figure,
  figureHtml,
  imageGrid,
  inJupyter,
  jupyterSettleMs,
  lossCurves,
  metricVsSweep,
  PLOTLY_MIME,
  plotlyGzipBase64,
  plotlyLoaderTag,
  plotlySource,
  seriesFromRows,
  show,
  summarize,
  sweepHeatmap,
  sweepSeriesFromPoints,
  throughputChart,
  toHtml,
} from "../src/plot/mod.ts";

// deno-lint-ignore no-explicit-any
type Loose = any;

function close(actual: number, expected: number, tol = 1e-12): void {
  assert.ok(Math.abs(actual - expected) <= tol, `expected ${expected}, found ${actual}`);
}

function count(haystack: string, needle: string): number {
  return haystack.split(needle).length - 1;
}

/** A tiny CHW float image whose pixels are all `value`. */
function flat(height: number, width: number, value = 0) {
  return { data: new Float32Array(3 * height * width).fill(value), height, width };
}

const bar: Figure = { data: [{ type: "bar", x: ["a", "b"], y: [1, 2] }], layout: {} };

Deno.test("summarize gives the mean and the sample std over seeds", () => {
  const s = summarize([1, 2, 3, 4]);
  assert.equal(s.mean, 2.5);
  close(s.std, Math.sqrt(5 / 3)); // squares 2.25+0.25+0.25+2.25 = 5, over n-1 = 3
  assert.equal(s.n, 4);
  assert.deepEqual(summarize([7]), { mean: 7, std: 0, n: 1 });
  assert.throws(() => summarize([]), /at least one value/);
  assert.throws(() => summarize([1, NaN]), /finite numbers, found NaN at index 1/);
});

Deno.test("lossCurves draws one line per component with gaps for non-finite values", () => {
  const fig = lossCurves([
    { name: "contrastive", steps: new Float32Array([0, 10, 20]), values: [2, NaN, 1] },
    { name: "caption", steps: [0, 10, 20], values: new Float32Array([4, 3, 2]) },
  ], { logY: true });
  assert.equal(fig.data.length, 2);
  const [a, b] = fig.data as Loose[];
  assert.equal(a.name, "contrastive");
  assert.deepEqual(a.x, [0, 10, 20]);
  assert.deepEqual(a.y, [2, null, 1]);
  assert.deepEqual(b.y, [4, 3, 2]);
  assert.notEqual(a.line.color, b.line.color);
  assert.equal((fig.layout as Loose).yaxis.type, "log");
  assert.deepEqual(JSON.parse(JSON.stringify(fig)), fig);
  assert.throws(
    () => lossCurves([{ name: "x", steps: [0, 1], values: [1] }]),
    /"x" expected as many steps as values, found 2 steps and 1 values/,
  );
});

Deno.test("lossCurves with smoothing adds a faint raw trace behind each smoothed one", () => {
  const fig = lossCurves([{ name: "total", steps: [0, 1, 2], values: [3, 1, 2] }], {
    smoothing: 0.5,
  });
  const [raw, smooth] = fig.data as Loose[];
  assert.equal(fig.data.length, 2);
  assert.deepEqual(raw.y, [3, 1, 2]);
  assert.equal(raw.showlegend, false);
  // bias-corrected EMA: 3; (0.5*1.5+0.5)/0.75 = 1.666…; ((1.25*0.5)+1)/0.875
  close(smooth.y[0], 3);
  close(smooth.y[1], (0.5 * 1.5 + 0.5) / 0.75);
  close(smooth.y[2], (0.5 * 1.25 + 1) / 0.875);
  assert.deepEqual(ema([5, 5, 5], 0.9).map((v) => Math.round(v! * 1e9) / 1e9), [5, 5, 5]);
  assert.throws(() => ema([1], 1), /weight in \[0, 1\), found 1/);
});

Deno.test("seriesFromRows splits log rows into one series per component", () => {
  const series = seriesFromRows([
    { step: 0, total: 3, contrastive: 1, note: "warmup" },
    { step: 5, total: 2 },
  ]);
  assert.deepEqual(series, [
    { name: "total", steps: [0, 5], values: [3, 2] },
    { name: "contrastive", steps: [0], values: [1] },
  ]);
  assert.throws(() => seriesFromRows([{ total: 1 }]), /numeric "step" in row 0, found undefined/);
});

Deno.test("metricVsSweep error bars are the std over the raw per-seed values", () => {
  const series = sweepSeriesFromPoints([
    { x: 8, value: 0.5 },
    { x: 2, value: 0.1 },
    { x: 2, value: 0.3 },
    { x: 8, value: 0.5 },
    { x: 2, value: 0.2 },
    { series: "other", x: 2, value: 1 },
  ]);
  assert.deepEqual(series.map((s) => s.name), ["metric", "other"]);
  assert.deepEqual(series[0].x, [2, 8]);
  assert.deepEqual(series[0].values, [[0.1, 0.3, 0.2], [0.5, 0.5]]);
  const fig = metricVsSweep(series, { xTitle: "depth", logX: true });
  const t = fig.data[0] as Loose;
  assert.equal(t.type, "scatter");
  assert.deepEqual(t.x, [2, 8]);
  close(t.y[0], 0.2);
  close(t.y[1], 0.5);
  close(t.error_y.array[0], 0.1); // deviations -0.1, 0.1, 0 → sqrt(0.02 / 2)
  assert.equal(t.error_y.array[1], 0);
  assert.deepEqual(t.customdata.map((c: number[]) => c[1]), [3, 2]);
  assert.equal((fig.layout as Loose).xaxis.type, "log");
  const bars = metricVsSweep([{ name: "acc", x: ["cpu", "wasm"], values: [[1], [2, 4]] }], {
    kind: "bar",
  });
  assert.equal(bars.data[0].type, "bar");
  assert.equal((bars.layout as Loose).xaxis.type, "category");
  assert.equal(bars.layout.barmode, "group");
  assert.throws(
    () => metricVsSweep([{ name: "acc", x: [1, 2], values: [[1], []] }]),
    /at least one seed value at x=2, found none/,
  );
});

Deno.test("sweepHeatmap lays z out as rows over y and columns over x, averaging seeds", () => {
  const fig = sweepHeatmap([
    { x: 1e-3, y: 4, value: 7 },
    { x: 1e-4, y: 2, value: 1 },
    { x: 1e-4, y: 2, value: 3 },
    { x: 3e-4, y: 2, value: 5 },
    { x: 1e-4, y: 4, value: 6 },
  ], { xTitle: "lr", yTitle: "depth" });
  const t = fig.data[0] as Loose;
  assert.equal(t.type, "heatmap");
  assert.deepEqual(t.x, ["0.0001", "0.0003", "0.001"]);
  assert.deepEqual(t.y, ["2", "4"]);
  assert.deepEqual(t.z, [[2, 5, null], [6, null, 7]]);
  assert.equal((fig.layout as Loose).yaxis.title.text, "depth");
  assert.throws(() => sweepHeatmap([]), /at least one cell/);
});

Deno.test("throughputChart groups by backend, keeps x order and adds std only for repeats", () => {
  const fig = throughputChart([
    { group: "wasm", x: 4, value: 20 },
    { group: "cpu", x: 4, value: 5 },
    { group: "cpu", x: 2, value: 9 },
    { group: "cpu", x: 2, value: 11 },
    { group: "wasm", x: 2, value: 40 },
  ]);
  const [wasm, cpu] = fig.data as Loose[];
  assert.equal(wasm.name, "wasm");
  assert.deepEqual(wasm.x, ["2", "4"]);
  assert.deepEqual(wasm.y, [40, 20]);
  assert.equal(wasm.error_y, undefined);
  assert.deepEqual(cpu.y, [10, 5]);
  close(cpu.error_y.array[0], Math.sqrt(2));
  assert.deepEqual((fig.layout as Loose).xaxis.categoryarray, ["2", "4"]);
  const line = throughputChart(
    [{ group: "cpu", x: 2, value: 1 }, { group: "cpu", x: 8, value: 3 }],
    {
      kind: "line",
    },
  );
  assert.equal(line.data[0].mode, "lines+markers");
  assert.deepEqual(line.data[0].x, [2, 8]);
  assert.equal((line.layout as Loose).xaxis.type, "linear");
});

Deno.test("imageGrid puts each image on its own aspect-locked axes with an escaped caption", () => {
  const rgb = { data: new Uint8Array(4 * 6 * 3).fill(200), height: 4, width: 6 };
  const fig = imageGrid([
    { image: flat(8, 8, -1), caption: "a <unk> cat" },
    { image: rgb },
    { image: flat(8, 8, 1), caption: "white" },
  ], { columns: 2, title: "Samples" });
  assert.equal(fig.data.length, 3);
  const axes = fig.data.map((t) => [t.xaxis, t.yaxis]);
  assert.deepEqual(axes, [["x", "y"], ["x2", "y2"], ["x3", "y3"]]);
  for (const t of fig.data) {
    assert.equal(t.type, "image");
    assert.match(t.source as string, /^data:image\/png;base64,/);
  }
  const layout = fig.layout as Loose;
  assert.equal(layout.yaxis3.scaleanchor, "x3");
  assert.equal(layout.yaxis2.autorange, "reversed");
  // two rows: the third image sits below the first, in the same column
  assert.deepEqual(layout.xaxis3.domain, layout.xaxis.domain);
  assert.ok(layout.yaxis3.domain[1] < layout.yaxis.domain[0]);
  assert.deepEqual(layout.annotations.map((a: Loose) => a.text), ["a &lt;unk&gt; cat", "white"]);
  assert.ok(layout.annotations[0].y >= layout.yaxis.domain[1]);
  assert.throws(() => imageGrid([]), /at least one image/);
  assert.throws(
    () => imageGrid([{ image: { data: new Float32Array(5), height: 2, width: 2 } }]),
    /1×2×2 or 3×2×2 values, found 5 values/,
  );
});

Deno.test("attentionMap reshapes row-major weights to gh×gw patches in pixel coordinates", () => {
  const weights = Float32Array.from({ length: 6 }, (_, i) => i);
  const fig = attentionMap(flat(20, 30), weights, { gridHeight: 2, gridWidth: 3 });
  const [image, heat] = fig.data as Loose[];
  assert.equal(image.type, "image");
  assert.equal(heat.type, "heatmap");
  assert.deepEqual(heat.z, [[0, 1, 2], [3, 4, 5]]);
  // patches are 10×10 pixels; pixel i spans [i - 0.5, i + 0.5]
  assert.equal(heat.x0, 4.5);
  assert.equal(heat.dx, 10);
  assert.equal(heat.y0, 4.5);
  assert.equal(heat.dy, 10);
  assert.equal(heat.xaxis, "x");
  assert.equal(heat.opacity, 0.5);
  assert.deepEqual((fig.layout as Loose).yaxis.range, [19.5, -0.5]);
  const beside = attentionMap(flat(20, 30), weights, {
    gridHeight: 2,
    gridWidth: 3,
    mode: "beside",
  });
  assert.equal(beside.data[1].xaxis, "x2");
  assert.equal(beside.data[1].opacity, 1);
  assert.deepEqual((beside.layout as Loose).xaxis2.range, [-0.5, 29.5]);
  assert.throws(
    () => attentionMap(flat(20, 30), weights, { gridHeight: 3, gridWidth: 3 }),
    /expected 3×3 = 9 weights, found 6/,
  );
});

Deno.test("bundle carries plotly JSON and an HTML fallback with plotly.js when asked", () => {
  const withJs = bundle(bar);
  assert.deepEqual(withJs[PLOTLY_MIME], bar);
  assert.equal(count(withJs["text/html"], "<script data-plotly-version"), 1);
  assert.match(withJs["text/html"], /Plotly\.newPlot/);
  assert.match(withJs["text/plain"], /1 trace/);
  assert.match(withJs["text/html"], /data-encoding="gzip\+base64"/);
  assert.ok(withJs["text/html"].length < 2_200_000, `${withJs["text/html"].length} chars`);
  const withoutJs = bundle(bar, { includePlotly: false, id: "fig-a" });
  assert.equal(count(withoutJs["text/html"], "data-plotly-version"), 0);
  assert.ok(withoutJs["text/html"].length < 10_000);
  assert.match(withoutJs["text/html"], /<div id="fig-a"/);
  assert.deepEqual(Object.keys(withoutJs).sort(), [PLOTLY_MIME, "text/html", "text/plain"].sort());
});

Deno.test("the notebook loader's gzip + base64 payload inflates to exactly plotly.min.js", async () => {
  const payload = plotlyGzipBase64();
  assert.ok(plotlyLoaderTag().includes(`atob("${payload}")`));
  const bytes = Uint8Array.from(atob(payload), (c) => c.charCodeAt(0));
  const inflated = await new Response(
    new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip")),
  ).text();
  const source = await Deno.readTextFile(
    new URL(import.meta.resolve("plotly.js-dist-min/plotly.min.js")),
  );
  assert.equal(inflated.length, source.length);
  assert.ok(inflated === source, "inflated text differs from plotly.min.js");
  assert.ok(payload.length < source.length / 2, `${payload.length} vs ${source.length}`);
});

Deno.test("jupyterSettleMs: a 60 ms floor plus 100 ms per MB, in whole ms, never shrinking with size", () => {
  // Known values (ms): the 60 ms floor for small displays, 100 ms per MB (10^6 characters) on
  // top; the first display of a notebook inlines plotly.js (about 2 MB).
  const known: [number, number][] = [
    [0, 60],
    [1, 60],
    [4_999, 60],
    [5_000, 61],
    [500_000, 110],
    [1_000_000, 160],
    [2_000_000, 260],
    [10_000_000, 1060],
    [50_000_000, 5060],
  ];
  for (const [bytes, ms] of known) assert.equal(jupyterSettleMs(bytes), ms, `${bytes} bytes`);
  // Properties over sizes from one byte to 100 MB: a whole number of ms (setTimeout's unit),
  // never below the floor, never shorter for a larger message, and each further MB adds 100 ms.
  let previous = 0;
  for (let bytes = 1; bytes <= 1e8; bytes = Math.ceil(bytes * 1.7) + 13) {
    const ms = jupyterSettleMs(bytes);
    assert.ok(Number.isInteger(ms) && ms >= 60 && ms >= previous, `${bytes} bytes: ${ms} ms`);
    assert.equal(jupyterSettleMs(bytes + 1_000_000) - ms, 100, `one more MB after ${bytes}`);
    previous = ms;
  }
  // The real bundles: the first display (plotly.js inlined) waits over 100 ms longer than one
  // without it, whose wait stays near the floor.
  const first = bundle(bar, { includePlotly: true }), later = bundle(bar, { includePlotly: false });
  const size = (b: typeof first) => b["text/html"].length + JSON.stringify(b[PLOTLY_MIME]).length;
  assert.ok(jupyterSettleMs(size(first)) - jupyterSettleMs(size(later)) > 100);
  assert.ok(jupyterSettleMs(size(later)) < 70);
  for (const bad of [-1, Number.NaN, -Infinity]) {
    assert.throws(() => jupyterSettleMs(bad), /expected a byte count >= 0/, String(bad));
  }
});

Deno.test("figureHtml escapes figure JSON so text cannot close the script", () => {
  const html = figureHtml({ data: [], layout: { title: { text: "</script><b>" } } }, { id: "f" });
  assert.equal(count(html, "</script>"), 1);
  assert.match(html, /\\u003c\/script>\\u003cb>/);
  assert.throws(() => figureHtml(bar, { id: 'x" onload="' }), /expected an id of letters/);
});

Deno.test("toHtml makes one offline page with plotly.js inlined exactly once", () => {
  const page = toHtml(["# Results\n\nDepth **4** wins.", bar, lossCurves([]), bar], {
    title: "Report <1>",
  });
  assert.equal(count(page, "<script data-plotly-version"), 1);
  const marker = "window.Plotly = Plotly";
  assert.equal(count(plotlySource(), marker), 1);
  assert.equal(count(page, marker), 1);
  assert.ok(page.indexOf(marker) < page.indexOf('id="figure-1"'));
  for (const id of ["figure-1", "figure-2", "figure-3"]) assert.equal(count(page, `id="${id}"`), 1);
  assert.equal(count(page, "Plotly.newPlot"), 3);
  assert.match(page, /<title>Report &lt;1&gt;<\/title>/);
  assert.match(page, /<strong>4<\/strong>/);
  assert.doesNotMatch(page, /src="http/);
  assert.throws(() => toHtml([{ data: 1 } as unknown as Figure]), /block 0 to be a markdown/);
});

Deno.test("show writes a standalone HTML file outside Jupyter", async () => {
  assert.equal(inJupyter(), false);
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/fig.html`;
    assert.equal(await show(bar, { path, title: "Bars" }), path);
    const html = await Deno.readTextFile(path);
    assert.match(html, /<title>Bars<\/title>/);
    assert.equal(count(html, "<script data-plotly-version"), 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
