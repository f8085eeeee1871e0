import assert from "node:assert/strict";
import { buildRows, extractBenchJson, median, renderMarkdown } from "../bench/report.ts";
import type { BenchCase } from "../bench/cases.ts";
import type { Sidecar } from "../bench/harness.ts";

const CASE: BenchCase = {
  id: "mm",
  group: "matmul 2",
  description: "[2,2]·[2,2]",
  flops: 2e9,
  samples: 4,
  pytorch: { seconds: 0.5, label: "torch" },
  setup: () => ({ run: () => [], dispose: () => {} }),
};

Deno.test("median handles odd, even and empty inputs", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([]), null);
});

Deno.test("extractBenchJson skips lines printed before the JSON document", () => {
  const j = extractBenchJson('hello\n{\n  "version": 1,\n  "benches": []\n}\n');
  assert.deepEqual(j.benches, []);
  assert.throws(() => extractBenchJson("no json"), /expected a JSON object/);
});

Deno.test("buildRows derives GFLOP/s, samples/s and the PyTorch ratio from sidecar times", () => {
  const sidecar: Sidecar = {
    module: "m",
    backends: { blas: { ok: true, detail: "x" } },
    entries: [
      {
        id: "mm",
        backend: "blas",
        benchName: "mm @blas",
        timesMs: [9999, 1000, 1000, 3000],
        tfBytesPeak: 2 ** 20,
        rssPeak: 2 ** 21,
      },
      {
        id: "mm",
        backend: "cpu",
        benchName: "mm @cpu",
        timesMs: [],
        tfBytesPeak: 0,
        rssPeak: 0,
        skipped: "too slow",
      },
    ],
  };
  const bench = {
    benches: [{
      name: "mm @blas",
      group: "matmul 2",
      results: [{ ok: { n: 4, min: 1e9, avg: 2e9, p75: 2e9 } }],
    }],
  };
  const rows = buildRows(bench, [sidecar], [CASE]);
  assert.equal(rows.length, 2);
  const r = rows[0];
  assert.equal(r.medianMs, 1000, "first (warm-up) call dropped, median of the rest");
  assert.equal(r.gflops, 2);
  assert.equal(r.samplesPerSec, 4);
  assert.equal(r.ratioToPytorch, 2);
  assert.equal(rows[1].skipped, "too slow");
  const md = renderMarkdown(
    rows,
    { cpu: "AMD EPYC", cores: 2, memoryGiB: 8, runtime: "Deno", backends: sidecar.backends },
    "now",
  );
  assert.match(md, /## matmul 2/);
  assert.match(
    md,
    /\| mm \[2,2\]·\[2,2\] \| blas \| 1.00 s \| 2.0 \| 4.0 \| 1 \| 2 \| 2.00× \(torch 0.5 s\) \| 3 \|/,
  );
  assert.match(md, /skipped: too slow/);
});

Deno.test("the report compares blas with the stock backends and renders the history", async () => {
  const { speedupSection, historySection } = await import("../bench/report.ts");
  const row = (backend: string, medianMs: number) => ({
    group: "model small",
    id: "small-train-step",
    description: "",
    backend,
    n: 3,
    medianMs,
    minMs: medianMs,
    avgMs: medianMs,
    gflops: null,
    samplesPerSec: null,
    tfBytesPeak: null,
    rssPeak: null,
    pytorchSeconds: 0.69,
    ratioToPytorch: medianMs / 690,
    skipped: null,
  });
  const lines = speedupSection([row("blas", 1000), row("wasm", 16000), row("cpu", 50000)]);
  assert.ok(
    lines.some((l) => l.includes("16.0× faster than wasm, 50.0× faster than cpu")),
    lines.join("\n"),
  );
  assert.deepEqual(speedupSection([row("wasm", 1)]), []);
  const h = historySection({ note: "n", steps: [{ what: "x", forward: 1, trainStep: 1.38 }] });
  assert.ok(h.some((l) => l === "| x | 1.00 | 1.38 | 2.00× |"), h.join("\n"));
});
