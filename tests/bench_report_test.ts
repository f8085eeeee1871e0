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
  anchor: { config: "small", kind: "train" },
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
  const rows = buildRows(
    bench,
    [sidecar],
    [CASE],
    new Map([["small", { forwardS: 9, trainS: 0.5 }]]),
  );
  assert.equal(buildRows(bench, [sidecar], [CASE])[0].ratioToPytorch, null, "no anchor, no ratio");
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
    /\| mm \[2,2\]·\[2,2\] \| blas \| 1.00 s \| 2.0 \| 4.0 \| 1 \| 2 \| 2.00× \(torch 0.500 s\) \| 3 \|/,
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
  assert.ok(h.some((l) => l === "| x | 1.00 | 1.38 |"), h.join("\n"));
  assert.ok(!h.join("\n").includes("PyTorch"), "no ratio against a recorded PyTorch figure");
});

// ---------------------------------------------------------------- side by side with PyTorch

import {
  ANCHOR_WRAPPER,
  anchorArgs,
  anchorEnv,
  anchorMedians,
  findAnchor,
  parseAnchorOutput,
  parseReportArgs,
  planSideBySide,
  runAnchor,
  type SideBySide,
  sideBySideSection,
} from "../bench/report.ts";
import { type CaseRunResult, parseProcStatus } from "../bench/case_runner.ts";
import { join } from "node:path";

/** What bench_ref.py prints (its format strings, two configs). */
const ANCHOR_STDOUT = [
  "torch 1.13.0a0 | numpy 1.24.2 | threads=2 | CPU | BLAS " +
  "['/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3']",
  "config     B    T  img  params(total)         vit   text/coca  fwd med (ms)   fwd min " +
  "train med (ms)  train min",
  "-".repeat(110),
  "small     16   32   64     12,345,678   3,456,789   8,888,889         255.3     250.1" +
  "           575.5      570.2",
  "readme     4  512  256    765,432,100  86,000,000 679,432,100        9100.0    9050.0" +
  "         20600.0    20500.0",
  "[small] logits [16, 32, 1000], first train loss 7.1234, unused vit linear_head params " +
  "257,000, fwd runs 10, train runs 10",
].join("\n");

Deno.test("parseAnchorOutput reads the anchor's header and every config row", () => {
  const { header, figures } = parseAnchorOutput(ANCHOR_STDOUT);
  assert.match(header!, /^torch 1.13.0a0 .*threads=2/);
  assert.deepEqual(figures.get("small"), {
    forwardMedianS: 0.2553,
    forwardMinS: 0.2501,
    trainMedianS: 0.5755,
    trainMinS: 0.5702,
  });
  assert.equal(figures.get("readme")?.trainMedianS, 20.6);
  assert.equal(figures.size, 2, "header, rule and summary lines are not rows");
  assert.equal(parseAnchorOutput("Traceback ...\nImportError").figures.size, 0);
});

Deno.test("anchor invocation: OpenMP OpenBLAS through LD_LIBRARY_PATH, our threads, runs", () => {
  assert.deepEqual(anchorEnv("/x/openblas-openmp", true), {
    LD_LIBRARY_PATH: "/x/openblas-openmp",
  });
  assert.deepEqual(anchorEnv("/x/openblas-openmp", false), {});
  assert.deepEqual(anchorArgs("/a/bench_ref.py", { config: "readme", threads: 1, runs: 3 }), [
    "-c",
    ANCHOR_WRAPPER,
    "/a/bench_ref.py",
    "bench",
    "--configs",
    "readme",
    "--threads",
    "1",
    "--runs",
    "3",
  ]);
});

async function python(): Promise<string | undefined> {
  for (const p of ["/usr/bin/python3", "python3"]) {
    try {
      if ((await new Deno.Command(p, { args: ["-c", "pass"] }).output()).success) return p;
    } catch { /* not installed */ }
  }
  return undefined;
}

Deno.test("runAnchor runs the script in place and reads its table and peak RSS", async (t) => {
  const py = await python();
  if (!py) {
    console.warn("bench_report_test: no python3, anchor wrapper not exercised");
    return;
  }
  const dir = await Deno.makeTempDir({ prefix: "anchor_" });
  const script = join(dir, "bench_ref.py");
  // A stand-in anchor: prints the real one's output, allocates ~64 MB, echoes its arguments.
  await Deno.writeTextFile(
    script,
    `import sys\nbuf = bytearray(64 * 2**20)\nfor i in range(0, len(buf), 4096): buf[i] = 1\n` +
      `print(${JSON.stringify(ANCHOR_STDOUT)})\nprint("ARGS", " ".join(sys.argv[1:]))\n`,
  );
  await t.step("a good run", async () => {
    const r = await runAnchor({ ok: true, python: py, script, env: {} }, {
      config: "small",
      threads: 2,
    });
    assert.equal(r.error, null);
    assert.equal(r.figures?.trainMedianS, 0.5755);
    assert.ok(r.peakRss !== null && r.peakRss > 64 * 2 ** 20, `peak RSS ${r.peakRss}`);
    assert.match(r.command, /bench_ref\.py bench --configs small --threads 2$/);
  });
  await t.step("a failing run is reported, not parsed", async () => {
    await Deno.writeTextFile(script, `import sys\nsys.exit("no torch here")\n`);
    const r = await runAnchor({ ok: true, python: py, script, env: {} }, {
      config: "small",
      threads: 2,
    });
    assert.equal(r.figures, null);
    assert.match(r.error!, /exited with code 1, no figures: no torch here/);
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("findAnchor says why it cannot run the anchor", async () => {
  const dir = await Deno.makeTempDir({ prefix: "anchor_root_" });
  const root = new URL(`file://${dir}/project/`);
  const missing = await findAnchor(root);
  assert.ok(
    !missing.ok && /no PyTorch anchor at .*shared\/anchor\/bench_ref\.py/.test(missing.reason),
  );
  await Deno.mkdir(join(dir, "shared", "anchor"), { recursive: true });
  await Deno.writeTextFile(join(dir, "shared", "anchor", "bench_ref.py"), "");
  const found = await findAnchor(root);
  if (found.ok) assert.equal(found.script, join(dir, "shared", "anchor", "bench_ref.py"));
  else assert.match(found.reason, /PyTorch is not installed/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("planSideBySide: quick is small only without the anchor; full adds README, threads", () => {
  const q = planSideBySide({ quick: true, threads: 2 });
  assert.deepEqual(q.cases.filter((c) => !c.skipped).map((c) => [c.id, c.steps]), [
    ["small-forward", 3],
    ["small-train-step", 3],
  ]);
  assert.match(q.readmeSkipped!, /quick mode/);
  assert.match(q.anchorSkipped!, /quick mode/);
  assert.deepEqual(q.anchorJobs, []);
  assert.deepEqual(q.threadCases.map((c) => c.threads), [1, 2]);
  assert.equal(q.threadCases[1], q.cases[1], "the main run is the 2-thread row");

  const f = planSideBySide({ quick: false, threads: 4, availableBytes: 20 * 2 ** 30 });
  assert.deepEqual(f.cases.map((c) => [c.id, c.threads, c.steps, c.warmup, !!c.skipped]), [
    ["small-forward", 4, 50, 2, false],
    ["small-train-step", 4, 50, 2, false],
    ["readme-forward", 4, 4, 1, false],
    ["readme-train-step", 4, 4, 1, false],
  ]);
  assert.deepEqual(f.threadCases.map((c) => [c.threads, c.steps]), [[1, 10], [2, 10], [4, 50]]);
  assert.deepEqual(f.anchorJobs, [
    { config: "small", threads: 4 },
    { config: "small", threads: 1, runs: 5 },
    { config: "small", threads: 2, runs: 5 },
    { config: "readme", threads: 4, runs: 3 },
  ]);
  const low = planSideBySide({ quick: false, threads: 2, availableBytes: 8 * 2 ** 30 });
  assert.match(low.readmeSkipped!, /8\.0 GiB of memory available/);
  assert.ok(low.cases.filter((c) => c.config === "readme").every((c) => c.skipped));
  assert.ok(!low.anchorJobs.some((j) => j.config === "readme"));
  assert.equal(
    planSideBySide({ quick: false, threads: 2, noPytorch: true }).anchorSkipped,
    "--no-pytorch",
  );
});

function caseResult(id: string, timesMs: number[], tensors: [number, number]): CaseRunResult {
  return {
    id,
    backend: "blas",
    detail: "OpenBLAS",
    threads: 2,
    native: { library: "/p/src/backends/blas/native/libcoca_kernels.so", threads: 2 },
    steps: timesMs.length,
    warmup: 1,
    timesMs,
    memoryAfterFirst: { numTensors: tensors[0], numBytes: 2 ** 20 },
    memoryAfterLast: { numTensors: tensors[1], numBytes: 2 ** 20 },
    rssAfterFirst: 100 * 2 ** 20,
    rssAfterLast: 103 * 2 ** 20,
    peakRss: 500 * 2 ** 20,
  };
}

Deno.test("sideBySideSection: ratios only from this run's anchor, memory and growth columns", () => {
  const plan = planSideBySide({ quick: false, threads: 2, noReadme: true });
  const fwd = caseResult("small-forward", [9000, 600, 500, 400], [10, 10]);
  const train = caseResult("small-train-step", [9000, 1200, 1150, 1100], [12, 13]);
  const one = { ...caseResult("small-train-step", [9000, 2000, 2000], [12, 12]), threads: 1 };
  const base: SideBySide = {
    plan,
    anchorUnavailable: null,
    anchor: [{
      job: { config: "small", threads: 2 },
      figures: { forwardMedianS: 0.25, forwardMinS: 0.24, trainMedianS: 0.575, trainMinS: 0.57 },
      peakRss: 1024 * 2 ** 20,
      header: "torch 1.13 | threads=2",
      command: "python3 bench_ref.py bench --configs small --threads 2",
      wallSeconds: 30,
      error: null,
    }],
    ours: [
      { case: plan.cases[0], result: fwd, error: null },
      { case: plan.cases[1], result: train, error: null },
      { case: plan.cases[2], result: null, error: null },
      { case: plan.cases[3], result: null, error: null },
    ],
    threadRuns: [
      { case: plan.threadCases[0], result: one, error: null },
      { case: plan.threadCases[1], result: train, error: null },
    ],
  };
  const md = sideBySideSection({ ...base, load: { start: 3, end: 1, cpus: 2 } }).join("\n");
  assert.match(md, /Load average 3\.0 → 1\.0 on 2 CPUs \(a busy machine/);
  assert.match(
    md,
    /\| small forward \(small-forward\) \| 500\.00 ms \| 250\.00 ms \| 2\.00× \| 500 \| 1024 \| 10 → 10 \| 1 → 1 \| \+3 \| 4 \(3\) \|/,
  );
  assert.match(
    md,
    /\| small train step \(small-train-step\) \| 1\.15 s \| 575\.00 ms \| 2\.00× \|/,
  );
  assert.match(md, /skipped: --no-readme/);
  assert.match(md, /\*\*tf\.memory\(\) grew\*\*.*small-train-step: 12 → 13/);
  assert.match(md, /\| 1 \| 2\.00 s \| {2}\| {2}\| 3 \(2\) \|/, "no 1-thread anchor: no ratio");
  assert.match(md, /\| 2 \| 1\.15 s \| 575\.00 ms \| 2\.00× \| 4 \(3\) \|/);
  assert.deepEqual([...anchorMedians(base.anchor, 2)], [["small", {
    forwardS: 0.25,
    trainS: 0.575,
  }]]);
  assert.equal(anchorMedians(base.anchor, 1).size, 0);

  const none = sideBySideSection({
    ...base,
    anchorUnavailable: "PyTorch is not installed",
    anchor: [],
    ours: [{ case: plan.cases[0], result: fwd, error: null }],
  }).join("\n");
  assert.match(none, /PyTorch anchor not run: PyTorch is not installed\. The PyTorch and ratio/);
  assert.match(
    none,
    /\| small forward \(small-forward\) \| 500\.00 ms \| {2}\| {2}\| 500 \| {2}\|/,
  );
  assert.match(none, /No tensor growth/);
});

Deno.test("parseReportArgs: steps, switches and clear errors", () => {
  const o = parseReportArgs(["--quick", "--steps", "5", "--no-pytorch", "--skip-bench"]);
  assert.deepEqual([o.quick, o.steps, o.noPytorch, o.skipBench, o.noReadme], [
    true,
    5,
    true,
    true,
    false,
  ]);
  assert.throws(() => parseReportArgs(["--steps", "1"]), /--steps to be an integer >= 2/);
  assert.throws(() => parseReportArgs(["--fast"]), /found "--fast"/);
  assert.equal(o.skipWebgpu, false, "the WebGPU section runs unless skipped");
  assert.equal(parseReportArgs(["--skip-webgpu"]).skipWebgpu, true);
  assert.throws(() => parseReportArgs(["--skip-gpu"]), /--skip-webgpu, found "--skip-gpu"/);
});

// ---------------------------------------------------------------- native kernels, WebGPU

import {
  describeNativeKernels,
  lossSpread,
  parseWebGPUOutput,
  planWebGPU,
  runWebGPUFused,
  type WebGPURun,
  webgpuSection,
} from "../bench/report.ts";
import {
  parseWebGPUFusedArgs,
  WEBGPU_FUSED_RESULT_PREFIX,
  type WebGPUFusedResult,
} from "../bench/webgpu_fused.ts";

Deno.test("native kernels: library and threads next to the OpenBLAS line, or why not", () => {
  const root = "/p/";
  assert.equal(
    describeNativeKernels({ library: "/p/src/native/libcoca_kernels.so", threads: 2 }, root),
    "src/native/libcoca_kernels.so (2 threads)",
  );
  assert.equal(
    describeNativeKernels({ library: "/lib/k.so", threads: 1 }, root),
    "/lib/k.so (1 thread)",
  );
  assert.equal(
    describeNativeKernels({ unavailable: "no library (run deno task native)" }),
    "unavailable (no library (run deno task native))",
  );
  assert.equal(describeNativeKernels(null), undefined);
  const machine = {
    cpu: "AMD EPYC",
    cores: 2,
    memoryGiB: 8,
    runtime: "Deno",
    backends: { blas: { ok: true, detail: "OpenBLAS 0.3.21 (pthread build), threads=2" } },
  };
  const md = renderMarkdown([], { ...machine, nativeKernels: "k.so (2 threads)" }, "now");
  assert.match(
    md,
    /\| blas \| yes \| OpenBLAS 0\.3\.21 \(pthread build\), threads=2; native kernels: k\.so \(2 threads\) \|/,
  );
  const off = renderMarkdown(
    [],
    { ...machine, nativeKernels: "unavailable (COCA_NATIVE=off)" },
    "now",
  );
  assert.match(off, /threads=2; native kernels: unavailable \(COCA_NATIVE=off\) \|/);
  assert.doesNotMatch(
    renderMarkdown([], machine, "now"),
    /native kernels/,
    "not recorded: not shown",
  );
});

const WEBGPU_RESULT: WebGPUFusedResult = {
  adapter: "llvmpipe (LLVM 15.0.6, 256 bits)",
  fallbackAdapter: true,
  batch: 2,
  steps: 1,
  rows: [
    {
      mode: "stock",
      gpuDispatches: 4028,
      engineKernels: 6748,
      fusedCalls: 0,
      seconds: 10.77,
      loss: 7.123456,
    },
    {
      mode: "fused",
      gpuDispatches: 2848,
      engineKernels: 4158,
      fusedCalls: 116,
      seconds: 15.02,
      loss: 7.123457,
    },
    {
      mode: "fused+adamw",
      gpuDispatches: 1178,
      engineKernels: 2487,
      fusedCalls: 234,
      seconds: 9.34,
      loss: 7.123455,
    },
  ],
};

Deno.test("planWebGPU: quick is batch 2 and one timed step; --skip-webgpu skips", () => {
  assert.deepEqual(planWebGPU({ quick: true, skip: false }), {
    batch: 2,
    steps: 1,
    timeoutS: 300,
    skipped: null,
  });
  const full = planWebGPU({ quick: false, skip: false });
  assert.deepEqual([full.batch, full.steps, full.skipped], [16, 3, null]);
  assert.equal(planWebGPU({ quick: false, skip: true }).skipped, "--skip-webgpu");
});

Deno.test("webgpuSection: counts, times, losses and the adapter, flagged when software", () => {
  const run: WebGPURun = {
    plan: planWebGPU({ quick: true, skip: false }),
    result: WEBGPU_RESULT,
    unavailable: null,
    command: "deno run -A bench/webgpu_fused.ts --steps 1 --batch 2 --json",
    wallSeconds: 87.4,
  };
  const md = webgpuSection(run).join("\n");
  assert.match(md, /^\n## WebGPU fused kernels \(small-config train step\)\n/);
  assert.match(
    md,
    /Adapter: llvmpipe \(LLVM 15\.0\.6, 256 bits\), a \*\*software fallback adapter\*\*/,
  );
  assert.match(md, /not GPU times/);
  assert.match(md, /at batch 2 \(the full report runs 16\)/);
  assert.match(md, /then 1 timed step, /);
  assert.match(
    md,
    /`deno run -A bench\/webgpu_fused\.ts --steps 1 --batch 2 --json`\), 87 s in all/,
  );
  assert.match(md, /\| stock: [^|]+ \| 4028 \| 6748 \| 0 \| 10\.77 s \| 7\.123456 \|/);
  assert.match(md, /\| fused: [^|]+ \| 2848 \| 4158 \| 116 \| 15\.02 s \| 7\.123457 \|/);
  assert.match(md, /\| fused\+adamw: [^|]+ \| 1178 \| 2487 \| 234 \| 9\.34 s \| 7\.123455 \|/);
  assert.match(md, /The losses agree: largest relative difference between modes 2\.8e-7/);

  const gpu = { ...WEBGPU_RESULT, adapter: "NVIDIA H200", fallbackAdapter: false, batch: 16 };
  const hw = webgpuSection({ ...run, result: gpu }).join("\n");
  assert.match(hw, /Adapter: NVIDIA H200, a hardware adapter\./);
  assert.doesNotMatch(hw, /software|full report runs/);

  const off = { ...WEBGPU_RESULT, rows: WEBGPU_RESULT.rows.map((r, i) => ({ ...r, loss: 7 + i })) };
  assert.match(
    webgpuSection({ ...run, result: off }).join("\n"),
    /\*\*The losses disagree\*\*: .* 2\.2e-1/,
  );
  const nan = { ...WEBGPU_RESULT, rows: [{ ...WEBGPU_RESULT.rows[0], loss: NaN }] };
  assert.match(webgpuSection({ ...run, result: nan }).join("\n"), /\| NaN \|[\s\S]*not finite/);
  assert.equal(lossSpread([]), 0);
  assert.equal(lossSpread([{ loss: 4 }, { loss: 5 }]), 0.2);
});

Deno.test("webgpuSection: says why when webgpu did not start or was skipped", () => {
  const plan = planWebGPU({ quick: true, skip: false });
  const down = webgpuSection({
    plan,
    result: null,
    unavailable: "webgpu backend failed to start: no adapter\n(navigator.gpu is undefined)",
    command: "deno run -A bench/webgpu_fused.ts --steps 1 --batch 2 --json",
    wallSeconds: 2,
  });
  assert.equal(down.length, 4, down.join("\n"));
  assert.equal(
    down[3],
    "Not measured: webgpu backend failed to start: no adapter (navigator.gpu is undefined). " +
      "The dispatch counts need a working webgpu backend (a GPU, or Mesa's llvmpipe software " +
      "adapter: `libegl-mesa0`, `libgl1-mesa-dri`).",
  );
  const skipped = webgpuSection({
    plan: planWebGPU({ quick: true, skip: true }),
    result: null,
    unavailable: "--skip-webgpu",
    command: "",
    wallSeconds: 0,
  });
  assert.deepEqual(skipped.slice(1), [
    "## WebGPU fused kernels (small-config train step)",
    "",
    "Not run: --skip-webgpu.",
  ]);
  const md = renderMarkdown(
    [],
    { cpu: "x", cores: 2, memoryGiB: 8, runtime: "Deno", backends: {} },
    "now",
    null,
    { plan, result: null, unavailable: "no adapter", command: "c", wallSeconds: 1 },
  );
  assert.match(
    md,
    /## WebGPU fused kernels \(small-config train step\)\n\nNot measured: no adapter\. /,
  );
  assert.doesNotMatch(
    renderMarkdown([], { cpu: "x", cores: 2, memoryGiB: 8, runtime: "Deno", backends: {} }, "now"),
    /WebGPU fused/,
  );
});

Deno.test("parseWebGPUOutput: the result line, webgpu not starting, a crash, a timeout", () => {
  const ok = `webgpu: llvmpipe\nstock: step 1, 10.77 s\n${WEBGPU_FUSED_RESULT_PREFIX}${
    JSON.stringify(WEBGPU_RESULT)
  }\n`;
  assert.deepEqual(parseWebGPUOutput(ok, "", 0, null), {
    result: WEBGPU_RESULT,
    unavailable: null,
  });
  const down = `${WEBGPU_FUSED_RESULT_PREFIX}{"unavailable":"webgpu backend failed: no adapter"}\n`;
  assert.deepEqual(parseWebGPUOutput(down, "webgpu_fused: ...", 1, null), {
    result: null,
    unavailable: "webgpu backend failed: no adapter",
  });
  const crash = parseWebGPUOutput("stock: step 1\n", "thread panicked\nSIGSEGV here", 139, null);
  assert.equal(crash.result, null);
  assert.equal(
    crash.unavailable,
    "bench/webgpu_fused.ts exited with code 139: thread panicked SIGSEGV here",
  );
  assert.equal(
    parseWebGPUOutput("", "", 143, 300).unavailable,
    "bench/webgpu_fused.ts stopped after 300 s (timeout)",
  );
  assert.match(
    parseWebGPUOutput(`${WEBGPU_FUSED_RESULT_PREFIX}{not json\n`, "", 0, null).unavailable!,
    /expected a JSON result line, found an unreadable one/,
  );
});

Deno.test("webgpu_fused.ts arguments: steps, batch, --json and clear errors", () => {
  assert.deepEqual(parseWebGPUFusedArgs([]), { steps: 2, batch: 16, json: false });
  assert.deepEqual(parseWebGPUFusedArgs(["--steps", "1", "--batch", "2", "--json"]), {
    steps: 1,
    batch: 2,
    json: true,
  });
  assert.throws(
    () => parseWebGPUFusedArgs(["--batch", "0"]),
    /--batch to be a positive integer, found 0/,
  );
  assert.throws(
    () => parseWebGPUFusedArgs(["--steps"]),
    /--steps to be a positive integer, found nothing/,
  );
  assert.throws(
    () => parseWebGPUFusedArgs(["--fast"]),
    /expected --steps N, --batch N or --json, found "--fast"/,
  );
});

async function webgpuAdapter(): Promise<boolean> {
  try {
    return !!(await (navigator as Navigator & { gpu?: GPU }).gpu?.requestAdapter());
  } catch {
    return false;
  }
}

Deno.test("runWebGPUFused runs bench/webgpu_fused.ts in its own process (batch 1, 1 step)", async () => {
  const plan = { ...planWebGPU({ quick: true, skip: false }), batch: 1 };
  if (!await webgpuAdapter()) {
    // No adapter: the section must still come back, saying why (this is quick: nothing runs).
    const w = await runWebGPUFused(new URL("../", import.meta.url), plan);
    assert.equal(w.result, null);
    assert.ok(w.unavailable, "a reason");
    console.warn(
      `bench_report_test: no webgpu adapter, only the unavailable path: ${w.unavailable}`,
    );
    return;
  }
  const w = await runWebGPUFused(new URL("../", import.meta.url), plan);
  assert.equal(w.unavailable, null);
  const r = w.result!;
  assert.equal(r.batch, 1);
  assert.equal(r.steps, 1);
  assert.ok(r.adapter.length > 0);
  assert.deepEqual(r.rows.map((x) => x.mode), ["stock", "fused", "fused+adamw"]);
  const [stock, fused, adamw] = r.rows;
  assert.equal(stock.fusedCalls, 0, "stock: no Coca* kernel");
  assert.ok(fused.fusedCalls > 0 && adamw.fusedCalls > fused.fusedCalls);
  assert.ok(
    stock.gpuDispatches > fused.gpuDispatches && fused.gpuDispatches > adamw.gpuDispatches,
    r.rows.map((x) => x.gpuDispatches).join(", "),
  );
  assert.ok(stock.engineKernels > fused.engineKernels && fused.engineKernels > adamw.engineKernels);
  assert.ok(r.rows.every((x) => x.seconds > 0));
  assert.ok(lossSpread(r.rows) <= 1e-4, r.rows.map((x) => x.loss).join(", "));
  assert.match(webgpuSection(w).join("\n"), /The losses agree/);
});

Deno.test("parseProcStatus reads VmRSS and VmHWM in bytes", () => {
  assert.deepEqual(parseProcStatus("Name:\tdeno\nVmHWM:\t  4096 kB\nVmRSS:\t   2048 kB\n"), {
    rss: 2048 * 1024,
    hwm: 4096 * 1024,
  });
  assert.deepEqual(parseProcStatus("Name:\tx\n"), { rss: null, hwm: null });
});

Deno.test("case_runner measures a case in its own process: times, tf.memory(), peak RSS", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "bench/case_runner.ts", "--case", "matmul-256", "--backend", "cpu"]
      .concat(["--steps", "4", "--warmup", "1"]),
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const line = new TextDecoder().decode(out.stdout).split("\n").find((l) =>
    l.startsWith("CASE_RESULT ")
  );
  const r: CaseRunResult = JSON.parse(line!.slice("CASE_RESULT ".length));
  assert.equal(r.id, "matmul-256");
  assert.equal(r.timesMs.length, 4);
  assert.equal(r.warmup, 1);
  assert.equal(r.memoryAfterLast.numTensors, r.memoryAfterFirst.numTensors, "no growth");
  assert.ok(r.memoryAfterFirst.numBytes >= 2 * 256 * 256 * 4, "the two inputs are alive");
  assert.ok(r.peakRss >= r.rssAfterLast && r.rssAfterLast > 10 * 2 ** 20);
  const bad = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "bench/case_runner.ts", "--case", "no-such-case", "--backend", "cpu"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(bad.code, 1);
  assert.match(
    new TextDecoder().decode(bad.stderr),
    /expected a bench case id, found "no-such-case"/,
  );
});

// ---------------------------------------------------------------- kernel profile

import {
  aggregateKernels,
  kernelImplementation,
  type Profile,
  recordDispatches,
  renderProfile,
  renderProfiles,
} from "../bench/profile.ts";
import * as tf from "@tensorflow/tfjs";
import { setupBackend } from "../src/backends/setup.ts";

Deno.test("aggregateKernels: calls, ms, share and bytes per step, most time first", () => {
  const stats = aggregateKernels(
    [
      { name: "Add", selfBytes: 100, selfMs: 1 },
      { name: "BatchMatMul", selfBytes: 400, selfMs: 10 },
      { name: "Add", selfBytes: 100, selfMs: 3 },
      { name: "Add", selfBytes: 100, selfMs: 0 },
      { name: "BatchMatMul", selfBytes: 400, selfMs: 6 },
    ],
    2,
    20,
    "cpu",
  );
  assert.deepEqual(stats, [
    { kernel: "BatchMatMul", impl: "cpu", count: 1, ms: 8, share: 0.4, bytes: 400 },
    { kernel: "Add", impl: "cpu", count: 1.5, ms: 2, share: 0.1, bytes: 150 },
  ]);
});

Deno.test("kernelImplementation tells OpenBLAS, blas host kernels, fused and stock kernels apart", async () => {
  try {
    await setupBackend("blas");
  } catch (e) {
    console.warn(`bench_report_test: blas unavailable, only the backend-free cases: ${e}`);
    assert.equal(kernelImplementation("CocaAdamW", "webgpu"), "fused host (Coca*)");
    assert.equal(kernelImplementation("Add", "wasm"), "wasm");
    return;
  }
  assert.equal(kernelImplementation("BatchMatMul", "blas"), "OpenBLAS sgemm");
  assert.equal(kernelImplementation("CocaSwiGLU", "blas"), "fused host (Coca*)");
  assert.equal(kernelImplementation("Transpose", "blas"), "host (blas)");
  assert.equal(kernelImplementation("Reshape", "blas"), "tfjs cpu");
  assert.equal(kernelImplementation("Add", "cpu"), "cpu");
});

Deno.test("renderProfile: summary, time by implementation, the kernel table", () => {
  const p: Profile = {
    config: "small",
    kind: "train",
    backend: "blas",
    detail: "OpenBLAS, threads=2",
    generatedAt: "2026-11-30T00:00:00Z",
    steps: 2,
    load: { average: 5, cpus: 2 },
    plainStepMs: 900,
    profiledStepMs: 1000,
    kernelMs: 700,
    peakBytes: 300 * 2 ** 20,
    retained: { tensors: 0, bytes: 0 },
    kernels: [
      {
        kernel: "BatchMatMul",
        impl: "OpenBLAS sgemm",
        count: 120,
        ms: 500,
        share: 0.5,
        bytes: 2 ** 26,
      },
      { kernel: "Add", impl: "host (blas)", count: 60.5, ms: 200, share: 0.2, bytes: 2 ** 20 },
    ],
  };
  const md = renderProfile(p).join("\n");
  assert.match(md, /^## small config, train step, blas/);
  assert.match(md, /load average 5\.0 on 2 CPUs \(busy machine: times inflated\)/);
  assert.match(
    md,
    /1000 ms per step \(900 ms without the profiler\), of which 700 ms in kernels and 300 ms outside/,
  );
  assert.match(md, /\| OpenBLAS sgemm \| 500\.0 \| 50\.0 % \|/);
  assert.match(md, /\| outside kernels \| 300\.0 \| 30\.0 % \|/);
  assert.match(md, /\| BatchMatMul \| OpenBLAS sgemm \| 120 \| 500\.0 \| 50\.0 % \| 64\.0 \|/);
  assert.match(md, /\| Add \| host \(blas\) \| 60\.5 \| 200\.0 \| 20\.0 % \| 1\.0 \|/);
  assert.match(
    renderProfiles([p, { ...p, config: "readme" }]),
    /## small config[\s\S]*## readme config/,
  );
});

Deno.test("recordDispatches: self time and bytes, a custom-gradient op not counted twice", async () => {
  await tf.setBackend("cpu");
  const x = tf.ones([1000]);
  const square = tf.customGrad((a) => {
    const t = a as tf.Tensor;
    return { value: t.mul(t).add(1), gradFunc: (dy: tf.Tensor) => dy.mul(t).mul(2) };
  });
  const { records, peakBytes } = await recordDispatches(() => {
    const y = tf.tidy(() => square(x) as tf.Tensor);
    y.dispose();
  });
  const names = records.map((r) => r.name);
  assert.deepEqual(names.filter((n) => !n.startsWith("(custom gradient)")), ["Multiply", "Add"]);
  const op = records.find((r) => r.name.startsWith("(custom gradient)"));
  assert.ok(op, names.join(", "));
  const mul = records.find((r) => r.name === "Multiply")!;
  assert.equal(mul.selfBytes, 4000, "Multiply's output");
  // The op's own bytes exclude its kernels' outputs (the intermediate is freed by then).
  assert.ok(op.selfBytes <= 4000, `custom op self bytes ${op.selfBytes}`);
  assert.ok(records.every((r) => r.selfMs >= 0));
  assert.ok(peakBytes >= 4000 + 8000);
  assert.equal(
    Object.prototype.hasOwnProperty.call(tf.engine(), "runKernelFunc"),
    false,
    "the engine is unwrapped afterwards",
  );
  x.dispose();
});
