/**
 * Runs the benches (`deno bench -A --json bench/`), merges their sidecar records (per-iteration
 * times, peak memory, backend details) with the case table (FLOPs, samples), runs the
 * side-by-side section (each model case on blas in its own process, next to the PyTorch anchor
 * run in the same sitting), the WebGPU fused-kernels section (`bench/webgpu_fused.ts` in its own
 * process: GPU dispatches, engine kernel calls, step time and loss per mode, and the adapter), and
 * writes `bench/results/BENCH.md` and `bench/results/bench.json`.
 *
 * Usage: `deno task bench:report [--quick] [--filter TEXT] [--backends cpu,blas] [--out DIR]
 * [--steps N] [--no-readme] [--no-pytorch] [--skip-bench] [--skip-side-by-side] [--skip-webgpu]`
 *
 * - `--quick`: fewer iterations, slow combinations skipped; side by side: small config only,
 *   3 steps, no PyTorch anchor; WebGPU: batch 2, 1 timed step (for CI).
 * - `--filter TEXT`: only benches whose name contains TEXT (passed to `deno bench --filter`).
 * - `--backends LIST`: only these backends (default: `$COCA_BACKEND` when it names one, else cpu,
 *   wasm, webgpu, blas). The side-by-side section always runs blas.
 * - `--out DIR`: output folder (default `bench/results`).
 * - `--steps N`: steps per small-config side-by-side case (timing and the growth check; default
 *   50, quick 3).
 * - `--no-readme`, `--no-pytorch`: leave out the README config / the PyTorch anchor.
 * - `--skip-bench`, `--skip-side-by-side`, `--skip-webgpu`: leave out the benches, the
 *   side-by-side section, the WebGPU fused-kernels section.
 *
 * The PyTorch anchor is `../shared/anchor/bench_ref.py` (measurement equipment outside the
 * project, called where it is, never copied), run with Debian's `python3` when it imports torch,
 * with `LD_LIBRARY_PATH` on the OpenMP OpenBLAS build when installed, and with our thread count.
 * Every ratio is our time over the anchor's from this run; without the anchor the report says
 * why and leaves the ratios empty.
 *
 * Exit status: 0 report written, 2 bad arguments (one line and the usage), 1 any other failure.
 *
 * @module
 */
import { type AnchorRef, type BenchCase, CASES } from "./cases.ts";
import { MODEL_CASES } from "./model_cases.ts";
import { MODULE_CASES } from "./module_cases.ts";
import type { Sidecar, SidecarEntry } from "./harness.ts";
import { BACKENDS } from "../src/backends/setup.ts";
import { backendChoice, exitOnUncaught, UsageError } from "../src/cli/main.ts";
import { allowedCpuCount, resolveBlasThreads } from "../src/backends/blas/openblas.ts";
import { CASE_RESULT_PREFIX, type CaseRunResult } from "./case_runner.ts";
import { SMALL } from "./model_cases.ts";
import {
  WEBGPU_FUSED_RESULT_PREFIX,
  type WebGPUFusedOutcome,
  type WebGPUFusedResult,
} from "./webgpu_fused.ts";

const USAGE = "usage: deno task bench:report [--quick] [--filter TEXT] [--backends cpu,blas] " +
  "[--out DIR] [--steps N] [--no-readme] [--no-pytorch] [--skip-bench] [--skip-side-by-side] " +
  "[--skip-webgpu]";

/** One row of the report: a case on a backend. */
export interface ReportRow {
  group: string;
  id: string;
  description: string;
  backend: string;
  /** Iterations measured (warm-up excluded). */
  n: number;
  medianMs: number | null;
  minMs: number | null;
  avgMs: number | null;
  gflops: number | null;
  samplesPerSec: number | null;
  tfBytesPeak: number | null;
  rssPeak: number | null;
  /** The PyTorch anchor's median for the same case in this sitting (null: not run). */
  pytorchSeconds: number | null;
  /** Our median time divided by the anchor's from this sitting (below 1: faster than PyTorch). */
  ratioToPytorch: number | null;
  skipped: string | null;
}

/**
 * The PyTorch anchor's medians (seconds) from this sitting, by config, at our thread count:
 * what {@linkcode buildRows} divides by.
 */
export type AnchorMedians = ReadonlyMap<string, { forwardS: number; trainS: number }>;

/** Machine description included in the report. */
export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number | null;
  runtime: string;
  backends: Record<string, { ok: boolean; detail: string }>;
  /**
   * The blas backend's native kernels as the side-by-side cases reported them
   * ({@linkcode describeNativeKernels}), shown next to the OpenBLAS line; absent: not recorded.
   */
  nativeKernels?: string;
}

/** Subset of `deno bench --json` output that the report reads. */
interface DenoBenchJson {
  runtime?: string;
  cpu?: string;
  benches: {
    name: string;
    group: string | null;
    results: { ok?: { n: number; min: number; avg: number; p75: number } }[];
  }[];
}

/**
 * Median of `xs` (null when empty).
 *
 * @example
 * ```ts
 * import { median } from "./report.ts";
 * console.log(median([3, 1, 2])); // 2
 * ```
 */
export function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

/**
 * Builds report rows from `deno bench --json` output, sidecar records and the case table.
 * Times come from the sidecar (exact per iteration, first call dropped as warm-up); when a bench
 * has no sidecar entry the bench JSON's `avg` stands in for the median. A case with an `anchor`
 * gets a PyTorch ratio only from `anchor` (the anchor's run in this sitting).
 *
 * @example
 * ```ts
 * import { buildRows } from "./report.ts";
 * const rows = buildRows({ benches: [] }, [], []);
 * console.log(rows.length); // 0
 * ```
 */
export function buildRows(
  bench: DenoBenchJson,
  sidecars: readonly Sidecar[],
  cases: readonly BenchCase[],
  anchor: AnchorMedians = new Map(),
): ReportRow[] {
  const byId = new Map(cases.map((c) => [c.id, c]));
  const entries: SidecarEntry[] = sidecars.flatMap((s) => s.entries);
  const rows: ReportRow[] = [];
  const seen = new Set<string>();
  for (const e of entries) {
    const c = byId.get(e.id);
    const b = bench.benches.find((x) => x.name === e.benchName);
    const ok = b?.results[0]?.ok;
    if (!ok && !e.skipped && e.timesMs.length === 0) continue; // filtered out
    seen.add(e.benchName);
    const times = e.timesMs.length > 1 ? e.timesMs.slice(1) : e.timesMs;
    const med = median(times) ?? (ok ? ok.avg / 1e6 : null);
    rows.push(makeRow(c, anchor, e.id, e.backend, {
      n: times.length || ok?.n || 0,
      medianMs: med,
      minMs: times.length ? Math.min(...times) : ok ? ok.min / 1e6 : null,
      avgMs: ok ? ok.avg / 1e6 : times.length ? times.reduce((x, y) => x + y) / times.length : null,
      tfBytesPeak: e.timesMs.length ? e.tfBytesPeak : null,
      rssPeak: e.timesMs.length ? e.rssPeak : null,
      skipped: e.skipped ?? null,
    }));
  }
  // Benches without sidecar records (e.g. written by hand): use the bench JSON alone.
  for (const b of bench.benches) {
    if (seen.has(b.name)) continue;
    const ok = b.results[0]?.ok;
    const [id, backend = "?"] = b.name.split(" @");
    rows.push(makeRow(byId.get(id), anchor, id, backend, {
      n: ok?.n ?? 0,
      medianMs: ok ? ok.avg / 1e6 : null,
      minMs: ok ? ok.min / 1e6 : null,
      avgMs: ok ? ok.avg / 1e6 : null,
      tfBytesPeak: null,
      rssPeak: null,
      skipped: ok ? null : "failed",
    }));
  }
  return rows;
}

function anchorSeconds(ref: AnchorRef | undefined, anchor: AnchorMedians): number | null {
  const a = ref ? anchor.get(ref.config) : undefined;
  if (!ref || !a) return null;
  return ref.kind === "forward" ? a.forwardS : a.trainS;
}

function makeRow(
  c: BenchCase | undefined,
  anchor: AnchorMedians,
  id: string,
  backend: string,
  t: Pick<ReportRow, "n" | "medianMs" | "minMs" | "avgMs" | "tfBytesPeak" | "rssPeak" | "skipped">,
): ReportRow {
  const sec = t.medianMs === null ? null : t.medianMs / 1000;
  const torch = anchorSeconds(c?.anchor, anchor);
  return {
    group: c?.group ?? "other",
    id,
    description: c?.description ?? "",
    backend,
    ...t,
    gflops: sec && c?.flops ? c.flops / sec / 1e9 : null,
    samplesPerSec: sec && c?.samples ? c.samples / sec : null,
    pytorchSeconds: torch,
    ratioToPytorch: sec && torch ? sec / torch : null,
  };
}

function fmt(v: number | null, digits = 1): string {
  if (v === null) return "–";
  if (Math.abs(v) >= 1000) return v.toFixed(0);
  return v.toFixed(digits);
}

function fmtMs(ms: number | null): string {
  if (ms === null) return "–";
  return ms >= 1000
    ? `${(ms / 1000).toFixed(2)} s`
    : ms >= 1
    ? `${ms.toFixed(2)} ms`
    : `${(ms * 1000).toFixed(0)} µs`;
}

function mib(bytes: number | null): string {
  return bytes === null ? "–" : (bytes / 2 ** 20).toFixed(0);
}

/**
 * Renders rows, machine info and (when run) the side-by-side and WebGPU fused-kernels sections as
 * Markdown.
 *
 * @example
 * ```ts
 * import { renderMarkdown } from "./report.ts";
 * const md = renderMarkdown([], { cpu: "x", cores: 2, memoryGiB: 8, runtime: "Deno", backends: {} }, "now");
 * console.log(md.startsWith("# Benchmarks")); // true
 * ```
 */
export function renderMarkdown(
  rows: readonly ReportRow[],
  m: MachineInfo,
  when: string,
  side: SideBySide | null = null,
  webgpu: WebGPURun | null = null,
): string {
  const backends = { ...m.backends };
  if (m.nativeKernels !== undefined) {
    const blas = backends.blas ?? { ok: true, detail: "" };
    backends.blas = {
      ...blas,
      detail: `${blas.detail}${blas.detail ? "; " : ""}native kernels: ${m.nativeKernels}`,
    };
  }
  const out: string[] = [
    "# Benchmarks",
    "",
    `Generated ${when} by \`deno task bench:report\`. CPU: ${m.cpu}, ${m.cores} cores` +
    (m.memoryGiB ? `, ${m.memoryGiB.toFixed(0)} GiB RAM` : "") + `. Runtime: ${m.runtime}.`,
    "",
    "Timings on a shared machine are noisy; medians over the measured iterations (first call",
    "dropped). GPU timings include completion (`await t.data()`). GFLOP/s uses analytic FLOPs.",
    "Peak tf MiB: largest `tf.memory().numBytes` right after an iteration; RSS: process RSS.",
    'vs PyTorch: our median over the PyTorch anchor\'s median from this same run ("–" when the',
    "anchor did not run; see the side-by-side section).",
    "",
    "## Backends",
    "",
    "| backend | started | detail |",
    "| --- | --- | --- |",
    ...Object.entries(backends).map(([k, v]) =>
      `| ${k} | ${v.ok ? "yes" : "no"} | ${v.detail.replaceAll("|", "\\|").slice(0, 300)} |`
    ),
  ];
  if (side) out.push(...sideBySideSection(side));
  if (webgpu) out.push(...webgpuSection(webgpu));
  out.push(...speedupSection(rows));
  const groups = [...new Set(rows.map((r) => r.group))];
  for (const g of groups) {
    out.push(
      "",
      `## ${g}`,
      "",
      "| case | backend | median | GFLOP/s | samples/s | peak tf MiB | peak RSS MiB | vs PyTorch | n |",
      "| --- | --- | --: | --: | --: | --: | --: | --: | --: |",
    );
    for (const r of rows.filter((x) => x.group === g)) {
      const vs = r.ratioToPytorch === null
        ? "–"
        : `${r.ratioToPytorch.toFixed(2)}× (torch ${r.pytorchSeconds!.toFixed(3)} s)`;
      if (r.skipped) {
        out.push(`| ${r.id} ${r.description} | ${r.backend} | skipped: ${r.skipped} | | | | | | |`);
        continue;
      }
      out.push(
        `| ${r.id} ${r.description} | ${r.backend} | ${fmtMs(r.medianMs)} | ${fmt(r.gflops)} | ` +
          `${fmt(r.samplesPerSec)} | ${mib(r.tfBytesPeak)} | ${mib(r.rssPeak)} | ${vs} | ${r.n} |`,
      );
    }
  }
  out.push("");
  return out.join("\n");
}

/** Earlier measurements kept in `bench/baseline.json` (what each optimisation bought). */
export interface Baseline {
  note: string;
  steps: { what: string; forward: number; trainStep: number }[];
}

/**
 * "blas vs the stock tfjs backends" for every case measured on blas and another backend.
 *
 * @example
 * ```ts
 * import { speedupSection } from "./report.ts";
 * console.log(speedupSection([]).length); // 0
 * ```
 */
export function speedupSection(rows: readonly ReportRow[]): string[] {
  const byId = new Map<string, Map<string, number>>();
  for (const r of rows) {
    if (r.medianMs === null || r.skipped) continue;
    if (!byId.has(r.id)) byId.set(r.id, new Map());
    byId.get(r.id)!.set(r.backend, r.medianMs);
  }
  const lines: string[] = [];
  for (const [id, m] of byId) {
    const blas = m.get("blas");
    if (blas === undefined || m.size < 2) continue;
    const others = ["wasm", "cpu", "webgpu"].filter((b) => m.has(b))
      .map((b) => `${(m.get(b)! / blas).toFixed(1)}× faster than ${b}`);
    if (others.length) lines.push(`| ${id} | ${fmtMs(blas)} | ${others.join(", ")} |`);
  }
  if (!lines.length) return [];
  return [
    "",
    "## blas against the stock tfjs backends (this run)",
    "",
    "| case | blas median | speed-up |",
    "| --- | --: | --- |",
    ...lines,
  ];
}

/**
 * The history table from `bench/baseline.json` (times from earlier sittings; no PyTorch ratio,
 * since a ratio only means something within one sitting).
 *
 * @example
 * ```ts
 * import { historySection } from "./report.ts";
 * console.log(historySection({ note: "n", steps: [] })[1]); // "## History: small config"
 * ```
 */
export function historySection(b: Baseline): string[] {
  return [
    "",
    "## History: small config",
    "",
    b.note,
    "",
    "| step | forward s | train step s |",
    "| --- | --: | --: |",
    ...b.steps.map((s) => `| ${s.what} | ${s.forward.toFixed(2)} | ${s.trainStep.toFixed(2)} |`),
  ];
}

async function machineInfo(
  runtime: string,
  backends: MachineInfo["backends"],
): Promise<MachineInfo> {
  let cpu = "unknown";
  try {
    const text = await Deno.readTextFile("/proc/cpuinfo");
    cpu = /^model name\s*:\s*(.+)$/m.exec(text)?.[1]?.trim() ?? cpu;
  } catch {
    cpu = Deno.build.arch;
  }
  let memoryGiB: number | null = null;
  try {
    memoryGiB = Deno.systemMemoryInfo().total / 2 ** 30;
  } catch {
    memoryGiB = null;
  }
  return { cpu, cores: navigator.hardwareConcurrency, memoryGiB, runtime, backends };
}

// ---------------------------------------------------------------- side by side with PyTorch

/** One of our cases in the side-by-side section: a bench case on blas, in its own process. */
export interface SideCase {
  /** The anchor's config and measurement it corresponds to. */
  config: "small" | "readme";
  kind: "forward" | "train";
  /** Our bench case id. */
  id: string;
  /** OpenBLAS threads (`COCA_BLAS_THREADS` of the child). */
  threads: number;
  /** Iterations, warm-up included. */
  steps: number;
  /** Leading iterations left out of the median. */
  warmup: number;
  /** Set when the case is not run, with the reason. */
  skipped?: string;
}

/** One anchor process: a config at a thread count. */
export interface AnchorJob {
  config: "small" | "readme";
  threads: number;
  /** `--runs` for bench_ref.py (timed runs per measurement); undefined: the anchor's default. */
  runs?: number;
}

/** What the side-by-side section runs. */
export interface SidePlan {
  /** Our thread count (the main rows). */
  threads: number;
  cases: SideCase[];
  /** Small-config train step at each thread count of the threads table (the main run included). */
  threadCases: SideCase[];
  anchorJobs: AnchorJob[];
  /** Why the anchor is not run (quick mode, --no-pytorch), or null. */
  anchorSkipped: string | null;
  /** Why the README config is not run, or null. */
  readmeSkipped: string | null;
}

/** Options of {@linkcode planSideBySide}. */
export interface SidePlanOptions {
  quick: boolean;
  /** Our OpenBLAS thread count. */
  threads: number;
  /** Small-config steps (default 50, quick 3). */
  steps?: number;
  noReadme?: boolean;
  noPytorch?: boolean;
  /** Available memory in bytes (for the README config's ~15 GB train step); undefined: unknown. */
  availableBytes?: number;
}

/** Memory the README-config cases need free (the blas train step peaked at 14.6 GB). */
export const README_MIN_FREE_BYTES = 16 * 2 ** 30;

/**
 * What the side-by-side section runs: the small config's forward and train step (and the README
 * config's, unless quick, `--no-readme` or too little free memory) on blas at our thread count,
 * the small train step at 1 and 2 threads as well, and the anchor per config (and per thread
 * count of the threads table) unless quick or `--no-pytorch`.
 *
 * @example
 * ```ts
 * import { planSideBySide } from "./report.ts";
 * const p = planSideBySide({ quick: true, threads: 2 });
 * console.log(p.cases.map((c) => c.id), p.anchorSkipped);
 * // ["small-forward", "small-train-step", "readme-forward", "readme-train-step"] "quick mode (--quick)"
 * ```
 */
export function planSideBySide(o: SidePlanOptions): SidePlan {
  const steps = o.steps ?? (o.quick ? 3 : 50);
  const smallWarmup = o.quick || steps < 4 ? 1 : 2;
  const small = (kind: "forward" | "train", threads: number, n = steps): SideCase => ({
    config: "small",
    kind,
    id: kind === "forward" ? "small-forward" : "small-train-step",
    threads,
    steps: n,
    warmup: Math.min(smallWarmup, n - 1),
  });
  let readmeSkipped: string | null = null;
  if (o.quick) readmeSkipped = "quick mode (--quick)";
  else if (o.noReadme) readmeSkipped = "--no-readme";
  else if (o.availableBytes !== undefined && o.availableBytes < README_MIN_FREE_BYTES) {
    readmeSkipped = `${(o.availableBytes / 2 ** 30).toFixed(1)} GiB of memory available, the ` +
      `README config needs ${
        README_MIN_FREE_BYTES / 2 ** 30
      } GiB (its train step peaked at 14.6 GB)`;
  }
  const readme = (kind: "forward" | "train"): SideCase => ({
    config: "readme",
    kind,
    id: kind === "forward" ? "readme-forward" : "readme-train-step",
    threads: o.threads,
    steps: 4,
    warmup: 1,
    ...(readmeSkipped ? { skipped: readmeSkipped } : {}),
  });
  const cases = [small("forward", o.threads), small("train", o.threads)];
  cases.push(readme("forward"), readme("train"));
  const threadCounts = [...new Set([1, 2, o.threads])].sort((a, b) => a - b);
  const threadSteps = o.quick ? steps : Math.min(steps, 10);
  const threadCases = threadCounts.map((t) =>
    t === o.threads ? cases[1] : small("train", t, threadSteps)
  );
  const anchorSkipped = o.quick ? "quick mode (--quick)" : o.noPytorch ? "--no-pytorch" : null;
  const anchorJobs: AnchorJob[] = [];
  if (!anchorSkipped) {
    anchorJobs.push({ config: "small", threads: o.threads });
    for (const t of threadCounts) {
      if (t !== o.threads) anchorJobs.push({ config: "small", threads: t, runs: 5 });
    }
    if (!readmeSkipped) anchorJobs.push({ config: "readme", threads: o.threads, runs: 3 });
  }
  return { threads: o.threads, cases, threadCases, anchorJobs, anchorSkipped, readmeSkipped };
}

/** The anchor's medians and minimums (seconds) for one config, parsed from its table. */
export interface AnchorFigures {
  forwardMedianS: number;
  forwardMinS: number;
  trainMedianS: number;
  trainMinS: number;
}

/**
 * Parses `bench_ref.py bench` output: its first line (`torch ... | threads=N | CPU | BLAS [...]`)
 * and its table rows (config, B, T, image, parameters, then forward median / min and train
 * median / min in ms).
 *
 * @example
 * ```ts
 * import { parseAnchorOutput } from "./report.ts";
 * const out = "torch 1.13 | numpy 1.24 | threads=2 | CPU | BLAS ['x']\n" +
 *   "small     16   32   64     12,345,678   1,234,567   2,345,678       255.0     250.1      575.0      570.2\n";
 * console.log(parseAnchorOutput(out).figures.get("small")?.trainMedianS); // 0.575
 * ```
 */
export function parseAnchorOutput(
  stdout: string,
): { header: string | null; figures: Map<string, AnchorFigures> } {
  const lines = stdout.split("\n");
  const header = lines.find((l) => l.startsWith("torch "))?.trim() ?? null;
  const figures = new Map<string, AnchorFigures>();
  for (const line of lines) {
    const f = line.trim().split(/\s+/);
    if (f.length !== 11 || !/^[a-z]\w*$/.test(f[0])) continue;
    const nums = f.slice(1).map((x) => Number(x.replaceAll(",", "")));
    if (nums.some((n) => !Number.isFinite(n))) continue;
    const [fwdMed, fwdMin, trMed, trMin] = nums.slice(6);
    figures.set(f[0], {
      forwardMedianS: fwdMed / 1000,
      forwardMinS: fwdMin / 1000,
      trainMedianS: trMed / 1000,
      trainMinS: trMin / 1000,
    });
  }
  return { header, figures };
}

/** Where the anchor is and how to run it, or why it cannot run. */
export type AnchorSetup =
  | { ok: true; python: string; script: string; env: Record<string, string> }
  | { ok: false; reason: string };

/**
 * The environment for the anchor: `LD_LIBRARY_PATH` on Debian's OpenMP OpenBLAS build when
 * `openmpDir` exists (PyTorch is 2-3× slower with the pthread build), as the anchor's README
 * shows.
 *
 * @example
 * ```ts
 * import { anchorEnv } from "./report.ts";
 * console.log(anchorEnv("/usr/lib/x86_64-linux-gnu/openblas-openmp", true));
 * // { LD_LIBRARY_PATH: "/usr/lib/x86_64-linux-gnu/openblas-openmp" }
 * ```
 */
export function anchorEnv(openmpDir: string, exists: boolean): Record<string, string> {
  return exists ? { LD_LIBRARY_PATH: openmpDir } : {};
}

/** Debian's OpenMP OpenBLAS folder on this machine. */
export const OPENMP_OPENBLAS_DIR = `/usr/lib/${Deno.build.arch}-linux-gnu/openblas-openmp`;

/** Python interpreters tried for the anchor, in order (Debian's python3-torch is for the first). */
export const ANCHOR_PYTHONS = ["/usr/bin/python3", "python3"] as const;

function isDir(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/**
 * Finds the anchor (`../shared/anchor/bench_ref.py` next to the project `root`) and a Python
 * that imports torch.
 *
 * @example
 * ```ts
 * import { findAnchor } from "./report.ts";
 * const a = await findAnchor(new URL("../", import.meta.url));
 * console.log(a.ok ? a.python : a.reason);
 * ```
 */
export async function findAnchor(root: URL): Promise<AnchorSetup> {
  const script = new URL("../shared/anchor/bench_ref.py", root).pathname;
  try {
    Deno.statSync(script);
  } catch {
    return { ok: false, reason: `no PyTorch anchor at ${script}` };
  }
  const env = anchorEnv(OPENMP_OPENBLAS_DIR, isDir(OPENMP_OPENBLAS_DIR));
  const tried: string[] = [];
  for (const python of ANCHOR_PYTHONS) {
    try {
      const r = await new Deno.Command(python, {
        args: ["-c", "import torch"],
        env,
        stdout: "null",
        stderr: "piped",
      }).output();
      if (r.success) return { ok: true, python, script, env };
      tried.push(`${python}: ${new TextDecoder().decode(r.stderr).trim().split("\n").at(-1)}`);
    } catch (e) {
      tried.push(`${python}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return {
    ok: false,
    reason: `PyTorch is not installed (apt-get install python3-torch): ${tried.join("; ")}`,
  };
}

/**
 * Python code that runs the anchor script given as its first argument with the rest as its
 * arguments, then prints the process's peak RSS (`ru_maxrss`, KiB) on a line of its own. The
 * script itself is run where it is, unchanged.
 */
export const ANCHOR_WRAPPER = [
  "import resource, runpy, sys",
  "script = sys.argv[1]",
  "sys.argv = sys.argv[1:]",
  'runpy.run_path(script, run_name="__main__")',
  'print("ANCHOR_MAXRSS_KIB %d" % resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, flush=True)',
].join("\n");

/** What one anchor process gave. */
export interface AnchorResult {
  job: AnchorJob;
  /** Parsed figures for the job's config, or null with `error`. */
  figures: AnchorFigures | null;
  /** Peak RSS of the anchor process (bytes): forward and train step of the config together. */
  peakRss: number | null;
  /** The anchor's first line (torch version, threads, BLAS library). */
  header: string | null;
  /** Command line, for the report. */
  command: string;
  wallSeconds: number;
  error: string | null;
}

/**
 * The anchor's arguments for one job (after the interpreter).
 *
 * @example
 * ```ts
 * import { anchorArgs } from "./report.ts";
 * console.log(anchorArgs("/a/bench_ref.py", { config: "small", threads: 2 }).slice(2));
 * // ["/a/bench_ref.py", "bench", "--configs", "small", "--threads", "2"]
 * ```
 */
export function anchorArgs(script: string, job: AnchorJob): string[] {
  const args = ["-c", ANCHOR_WRAPPER, script, "bench", "--configs", job.config];
  args.push("--threads", String(job.threads));
  if (job.runs !== undefined) args.push("--runs", String(job.runs));
  return args;
}

/**
 * Runs one anchor job (the anchor process for one config at one thread count) and parses its
 * figures and peak RSS.
 *
 * @example
 * ```ts
 * import { findAnchor, runAnchor } from "./report.ts";
 * const a = await findAnchor(new URL("../", import.meta.url));
 * if (a.ok) console.log((await runAnchor(a, { config: "small", threads: 2, runs: 2 })).figures);
 * ```
 */
export async function runAnchor(
  a: Extract<AnchorSetup, { ok: true }>,
  job: AnchorJob,
): Promise<AnchorResult> {
  const args = anchorArgs(a.script, job);
  const command = `${Object.entries(a.env).map(([k, v]) => `${k}=${v} `).join("")}${a.python} ` +
    `${a.script} ${args.slice(3).join(" ")}`;
  console.error(`running the PyTorch anchor: ${command}`);
  const t0 = performance.now();
  const r = await new Deno.Command(a.python, {
    args,
    env: a.env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const wallSeconds = (performance.now() - t0) / 1000;
  const stdout = new TextDecoder().decode(r.stdout);
  const { header, figures } = parseAnchorOutput(stdout);
  const kib = /^ANCHOR_MAXRSS_KIB (\d+)$/m.exec(stdout);
  const f = figures.get(job.config) ?? null;
  let error: string | null = null;
  if (!r.success || !f) {
    const tail = (new TextDecoder().decode(r.stderr) + stdout).trim().slice(-600);
    error = `the anchor exited with code ${r.code}${f ? "" : ", no figures"}: ${tail}`;
  }
  return {
    job,
    figures: f,
    peakRss: kib ? Number(kib[1]) * 1024 : null,
    header,
    command,
    wallSeconds,
    error,
  };
}

/** One of our side-by-side cases, as run. */
export interface SideResult {
  case: SideCase;
  result: CaseRunResult | null;
  error: string | null;
}

async function runOurs(root: URL, c: SideCase): Promise<SideResult> {
  if (c.skipped) return { case: c, result: null, error: null };
  const args = ["run", "-A", new URL("bench/case_runner.ts", root).pathname, "--case", c.id];
  args.push("--backend", "blas", "--steps", String(c.steps), "--warmup", String(c.warmup));
  console.error(`running ${c.id} on blas, ${c.threads} threads, ${c.steps} steps (own process)`);
  const r = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: root.pathname,
    env: { COCA_BLAS_THREADS: String(c.threads) },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(r.stdout);
  const line = stdout.split("\n").find((l) => l.startsWith(CASE_RESULT_PREFIX));
  if (!r.success || !line) {
    const tail = new TextDecoder().decode(r.stderr).trim().slice(-600);
    return { case: c, result: null, error: `exited with code ${r.code}: ${tail}` };
  }
  return { case: c, result: JSON.parse(line.slice(CASE_RESULT_PREFIX.length)), error: null };
}

/** Everything the side-by-side section measured. */
export interface SideBySide {
  plan: SidePlan;
  /** Why the anchor did not run at all (not installed, quick mode, ...), or null. */
  anchorUnavailable: string | null;
  anchor: AnchorResult[];
  ours: SideResult[];
  threadRuns: SideResult[];
  /** 1-minute load average before and after the section, and the CPUs (how busy the machine was). */
  load?: { start: number; end: number; cpus: number };
}

function loadAverage(): number {
  try {
    return Deno.loadavg()[0];
  } catch {
    return NaN;
  }
}

/**
 * Runs the plan: our cases (one process each), then the anchor jobs.
 *
 * @example
 * ```ts
 * import { planSideBySide, runSideBySide } from "./report.ts";
 * const s = await runSideBySide(new URL("../", import.meta.url), planSideBySide({ quick: true, threads: 2 }));
 * console.log(s.ours.length);
 * ```
 */
export async function runSideBySide(root: URL, plan: SidePlan): Promise<SideBySide> {
  const start = loadAverage();
  const ours: SideResult[] = [];
  for (const c of plan.cases) ours.push(await runOurs(root, c));
  const threadRuns: SideResult[] = [];
  for (const c of plan.threadCases) {
    const same = ours.find((o) => o.case === c);
    threadRuns.push(same ?? await runOurs(root, c));
  }
  let anchorUnavailable = plan.anchorSkipped;
  const anchor: AnchorResult[] = [];
  if (!anchorUnavailable) {
    const a = await findAnchor(root);
    if (!a.ok) anchorUnavailable = a.reason;
    else for (const job of plan.anchorJobs) anchor.push(await runAnchor(a, job));
  }
  const load = { start, end: loadAverage(), cpus: navigator.hardwareConcurrency };
  return { plan, anchorUnavailable, anchor, ours, threadRuns, load };
}

/**
 * Median of the timed steps (warm-up left out) of a case run, in ms.
 *
 * @example
 * ```ts
 * import { timedMedianMs } from "./report.ts";
 * import type { CaseRunResult } from "./case_runner.ts";
 * const r = { timesMs: [900, 10, 30, 20], warmup: 1 } as CaseRunResult;
 * console.log(timedMedianMs(r)); // 20
 * ```
 */
export function timedMedianMs(r: CaseRunResult): number | null {
  return median(r.timesMs.slice(Math.min(r.warmup, r.timesMs.length - 1)));
}

/**
 * The anchor medians at our thread count, by config (for {@linkcode buildRows}).
 *
 * @example
 * ```ts
 * import { anchorMedians } from "./report.ts";
 * console.log(anchorMedians([], 2).size); // 0
 * ```
 */
export function anchorMedians(anchor: readonly AnchorResult[], threads: number): AnchorMedians {
  const m = new Map<string, { forwardS: number; trainS: number }>();
  for (const a of anchor) {
    if (a.figures && a.job.threads === threads) {
      m.set(a.job.config, { forwardS: a.figures.forwardMedianS, trainS: a.figures.trainMedianS });
    }
  }
  return m;
}

function anchorFor(s: SideBySide, config: string, threads: number): AnchorResult | undefined {
  return s.anchor.find((a) => a.job.config === config && a.job.threads === threads);
}

function anchorSecondsOf(a: AnchorResult | undefined, kind: "forward" | "train"): number | null {
  if (!a?.figures) return null;
  return kind === "forward" ? a.figures.forwardMedianS : a.figures.trainMedianS;
}

function signedMiB(bytes: number): string {
  const v = bytes / 2 ** 20;
  return `${v >= 0 ? "+" : ""}${v.toFixed(0)}`;
}

/**
 * The side-by-side section: our blas cases next to the PyTorch anchor from the same run, with
 * each side's peak RSS, `tf.memory()` after the first and the last step, RSS growth, and the
 * small train step at 1 and 2 threads.
 *
 * @example
 * ```ts
 * import { planSideBySide, sideBySideSection } from "./report.ts";
 * const plan = planSideBySide({ quick: true, threads: 2 });
 * const md = sideBySideSection({ plan, anchorUnavailable: plan.anchorSkipped, anchor: [], ours: [], threadRuns: [] });
 * console.log(md[1]); // "## Side by side with PyTorch (same sitting)"
 * ```
 */
export function sideBySideSection(s: SideBySide): string[] {
  const out: string[] = ["", "## Side by side with PyTorch (same sitting)", ""];
  out.push(
    `Ours: the blas backend, ${s.plan.threads} OpenBLAS threads, each case in its own process ` +
      "(`bench/case_runner.ts`), so its peak RSS (`VmHWM`) is its own. Ratio: our median over " +
      "the PyTorch anchor's median, both measured in this run; below 1 is faster than PyTorch." +
      (s.load
        ? ` Load average ${s.load.start.toFixed(1)} → ${s.load.end.toFixed(1)} on ${s.load.cpus} ` +
          `CPUs${
            Math.max(s.load.start, s.load.end) > s.load.cpus
              ? " (a busy machine: times are inflated and the ratio unreliable)"
              : ""
          }.`
        : ""),
    "",
  );
  if (s.anchorUnavailable) {
    out.push(
      `PyTorch anchor not run: ${s.anchorUnavailable}. The PyTorch and ratio columns are empty ` +
        "(no ratios against figures recorded elsewhere).",
      "",
    );
  } else {
    const a = s.anchor.find((x) => x.header) ?? s.anchor[0];
    out.push(
      `PyTorch anchor: \`${a?.command ?? "?"}\` (\`../shared/anchor\`, run in place); ` +
        `${a?.header ?? "no header line"}. Its peak RSS (\`ru_maxrss\`) covers the config's ` +
        "forward and train step in one process.",
      "",
    );
    for (const x of s.anchor) {
      if (x.error) out.push(`- anchor ${x.job.config}, ${x.job.threads} threads: ${x.error}`);
    }
  }
  if (s.plan.readmeSkipped) out.push(`README config not run: ${s.plan.readmeSkipped}.`, "");
  out.push(
    "| case | ours median | PyTorch median | ratio | our peak RSS MiB | PyTorch peak RSS MiB | " +
      "tf tensors step 1 → last | tf MiB step 1 → last | RSS growth MiB | steps (timed) |",
    "| --- | --: | --: | --: | --: | --: | --: | --: | --: | --: |",
  );
  const grew: string[] = [];
  for (const o of s.ours) {
    const c = o.case;
    const label = `${c.config} ${c.kind === "forward" ? "forward" : "train step"} (${c.id})`;
    if (c.skipped) {
      out.push(`| ${label} | skipped: ${c.skipped} | | | | | | | | |`);
      continue;
    }
    if (!o.result) {
      out.push(
        `| ${label} | failed: ${(o.error ?? "").replaceAll("|", "\\|").slice(0, 200)} ` +
          "| | | | | | | | |",
      );
      continue;
    }
    const r = o.result;
    const med = timedMedianMs(r);
    const a = anchorFor(s, c.config, c.threads);
    const torch = anchorSecondsOf(a, c.kind);
    const ratio = med !== null && torch ? med / 1000 / torch : null;
    const t1 = r.memoryAfterFirst, tN = r.memoryAfterLast;
    if (tN.numTensors !== t1.numTensors) grew.push(`${c.id}: ${t1.numTensors} → ${tN.numTensors}`);
    out.push(
      `| ${label} | ${fmtMs(med)} | ${torch === null ? "" : fmtMs(torch * 1000)} | ` +
        `${ratio === null ? "" : `${ratio.toFixed(2)}×`} | ${mib(r.peakRss)} | ` +
        `${a?.peakRss ? mib(a.peakRss) : ""} | ${t1.numTensors} → ${tN.numTensors} | ` +
        `${mib(t1.numBytes)} → ${mib(tN.numBytes)} | ${
          signedMiB(r.rssAfterLast - r.rssAfterFirst)
        } | ` +
        `${r.steps} (${r.steps - r.warmup}) |`,
    );
  }
  const ran = s.ours.filter((o) => o.result);
  if (ran.length) {
    out.push(
      "",
      grew.length
        ? `**tf.memory() grew** between the first and the last step: ${grew.join(", ")}.`
        : `No tensor growth: \`tf.memory().numTensors\` after the last step equals that after ` +
          `step 1 in every case (${
            ran.map((o) => `${o.case.id} over ${o.result!.steps}`).join(", ")
          } steps).`,
    );
  }
  out.push(
    "",
    "### Threads: small-config train step on blas",
    "",
    "| OpenBLAS threads | ours median | PyTorch median (same threads) | ratio | steps (timed) |",
    "| --: | --: | --: | --: | --: |",
  );
  for (const o of s.threadRuns) {
    const c = o.case;
    if (!o.result) {
      out.push(
        `| ${c.threads} | failed: ${(o.error ?? "").replaceAll("|", "\\|").slice(0, 200)} | | | |`,
      );
      continue;
    }
    const med = timedMedianMs(o.result);
    const torch = anchorSecondsOf(anchorFor(s, "small", c.threads), "train");
    const ratio = med !== null && torch ? med / 1000 / torch : null;
    const reported = o.result.threads === c.threads ? "" : ` (blas reported ${o.result.threads})`;
    out.push(
      `| ${c.threads}${reported} | ${fmtMs(med)} | ${
        torch === null ? "" : fmtMs(torch * 1000)
      } | ` +
        `${ratio === null ? "" : `${ratio.toFixed(2)}×`} | ${o.result.steps} (${
          o.result.steps - o.result.warmup
        }) |`,
    );
  }
  return out;
}

// ---------------------------------------------------------------- native kernels

/**
 * The blas native kernels as a case run recorded them (`blasInfo().native`): "LIBRARY (N
 * threads)" with the library's path relative to `root` when inside it, or "unavailable
 * (REASON)"; undefined when nothing was recorded (not blas, or an older record).
 *
 * @example
 * ```ts
 * import { describeNativeKernels } from "./report.ts";
 * console.log(describeNativeKernels({ library: "/p/native/libcoca_kernels.so", threads: 2 }, "/p/"));
 * // "native/libcoca_kernels.so (2 threads)"
 * console.log(describeNativeKernels({ unavailable: "COCA_NATIVE=off" })); // "unavailable (COCA_NATIVE=off)"
 * ```
 */
export function describeNativeKernels(
  native: CaseRunResult["native"] | undefined,
  root = "",
): string | undefined {
  if (!native) return undefined;
  if ("unavailable" in native) return `unavailable (${native.unavailable})`;
  const lib = root && native.library.startsWith(root)
    ? native.library.slice(root.length)
    : native.library;
  return `${lib} (${native.threads} thread${native.threads === 1 ? "" : "s"})`;
}

// ---------------------------------------------------------------- WebGPU fused kernels

/** What the WebGPU fused-kernels section runs (`bench/webgpu_fused.ts` in its own process). */
export interface WebGPUPlan {
  /** Batch of the small-config train step. */
  batch: number;
  /** Timed steps per mode (after one warm-up step). */
  steps: number;
  /** The process is stopped after this many seconds. */
  timeoutS: number;
  /** Why the section is not run (`--skip-webgpu`), or null. */
  skipped: string | null;
}

/**
 * The WebGPU section's plan: batch 2 and 1 timed step per mode in quick mode (counts and a rough
 * time), else the small config's batch (16) and 3 timed steps; `skip` (`--skip-webgpu`) leaves it
 * out.
 *
 * @example
 * ```ts
 * import { planWebGPU } from "./report.ts";
 * console.log(planWebGPU({ quick: true, skip: false })); // { batch: 2, steps: 1, timeoutS: 300, skipped: null }
 * ```
 */
export function planWebGPU(o: { quick: boolean; skip: boolean }): WebGPUPlan {
  return {
    batch: o.quick ? 2 : SMALL.batch,
    steps: o.quick ? 1 : 3,
    timeoutS: o.quick ? 300 : 1800,
    skipped: o.skip ? "--skip-webgpu" : null,
  };
}

/** What the WebGPU section measured, or why it has no figures. */
export interface WebGPURun {
  plan: WebGPUPlan;
  /** The figures, or null with `unavailable`. */
  result: WebGPUFusedResult | null;
  /** Why there are no figures (skipped, webgpu did not start, the process failed), or null. */
  unavailable: string | null;
  /** Command line, for the report ("" when skipped). */
  command: string;
  /** Seconds the process ran (0 when skipped): the time the section adds to the report. */
  wallSeconds: number;
}

/**
 * Reads what `bench/webgpu_fused.ts --json` gave: its `WEBGPU_FUSED_RESULT` line, else why there
 * is none (its exit code and the end of its stderr, or the timeout).
 *
 * @example
 * ```ts
 * import { parseWebGPUOutput } from "./report.ts";
 * const out = 'WEBGPU_FUSED_RESULT {"unavailable":"no adapter"}\n';
 * console.log(parseWebGPUOutput(out, "", 1, null).unavailable); // "no adapter"
 * ```
 */
export function parseWebGPUOutput(
  stdout: string,
  stderr: string,
  code: number,
  timedOutAfterS: number | null,
): { result: WebGPUFusedResult | null; unavailable: string | null } {
  const line = stdout.split("\n").find((l) => l.startsWith(WEBGPU_FUSED_RESULT_PREFIX));
  if (line) {
    let o: WebGPUFusedOutcome;
    try {
      o = JSON.parse(line.slice(WEBGPU_FUSED_RESULT_PREFIX.length));
    } catch (e) {
      return {
        result: null,
        unavailable: `expected a JSON result line, found an unreadable one (${
          (e as Error).message
        })`,
      };
    }
    if ("unavailable" in o) return { result: null, unavailable: o.unavailable };
    if (code === 0) return { result: o, unavailable: null };
  }
  const tail = stderr.trim().split("\n").slice(-6).join(" ").slice(-600);
  const why = timedOutAfterS !== null
    ? `stopped after ${timedOutAfterS} s (timeout)`
    : `exited with code ${code}`;
  return { result: null, unavailable: `bench/webgpu_fused.ts ${why}${tail ? `: ${tail}` : ""}` };
}

/**
 * Runs `bench/webgpu_fused.ts --json` in its own process (its GPU memory and any crash stay out
 * of this one) and never throws: a webgpu that does not start, a failing or a hanging process
 * become {@linkcode WebGPURun.unavailable}.
 *
 * @example
 * ```ts
 * import { planWebGPU, runWebGPUFused } from "./report.ts";
 * const w = await runWebGPUFused(new URL("../", import.meta.url), planWebGPU({ quick: true, skip: false }));
 * console.log(w.result?.rows.map((r) => r.gpuDispatches) ?? w.unavailable);
 * ```
 */
export async function runWebGPUFused(root: URL, plan: WebGPUPlan): Promise<WebGPURun> {
  if (plan.skipped) {
    return { plan, result: null, unavailable: plan.skipped, command: "", wallSeconds: 0 };
  }
  const script = new URL("bench/webgpu_fused.ts", root).pathname;
  const flags = ["--steps", String(plan.steps), "--batch", String(plan.batch), "--json"];
  const command = `deno run -A bench/webgpu_fused.ts ${flags.join(" ")}`;
  console.error(
    `running the webgpu fused kernels (batch ${plan.batch}, ${plan.steps} timed step(s) per ` +
      "mode, own process)",
  );
  const abort = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    abort.abort();
  }, plan.timeoutS * 1000);
  const t0 = performance.now();
  try {
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", script, ...flags],
      cwd: root.pathname,
      stdout: "piped",
      stderr: "piped",
      signal: abort.signal,
    }).output();
    const wallSeconds = (performance.now() - t0) / 1000;
    const { result, unavailable } = parseWebGPUOutput(
      new TextDecoder().decode(r.stdout),
      new TextDecoder().decode(r.stderr),
      r.code,
      timedOut ? plan.timeoutS : null,
    );
    return { plan, result, unavailable, command, wallSeconds };
  } catch (e) {
    const wallSeconds = (performance.now() - t0) / 1000;
    const reason = `bench/webgpu_fused.ts did not run: ${e instanceof Error ? e.message : e}`;
    return { plan, result: null, unavailable: reason, command, wallSeconds };
  } finally {
    clearTimeout(timer);
  }
}

/** Largest relative difference between the modes' losses that still counts as agreeing. */
export const WEBGPU_LOSS_TOLERANCE = 1e-4;

/**
 * Largest relative difference between the modes' losses (`|a - b| / max(|a|, |b|)`; 0 for fewer
 * than two rows, NaN when a loss is not finite).
 *
 * @example
 * ```ts
 * import { lossSpread } from "./report.ts";
 * console.log(lossSpread([{ loss: 2 }, { loss: 2.002 }]).toFixed(4)); // "0.0010"
 * ```
 */
export function lossSpread(rows: readonly { loss: number }[]): number {
  let worst = 0;
  for (const a of rows) {
    for (const b of rows) {
      if (!Number.isFinite(a.loss) || !Number.isFinite(b.loss)) return NaN;
      const scale = Math.max(Math.abs(a.loss), Math.abs(b.loss));
      if (scale > 0) worst = Math.max(worst, Math.abs(a.loss - b.loss) / scale);
    }
  }
  return worst;
}

const WEBGPU_MODES: Record<string, string> = {
  "stock": "every fused WGSL kernel unregistered (plain tfjs ops)",
  "fused": "fused layer norm, SwiGLU, cross-entropy and attention; stock AdamW",
  "fused+adamw": "all fused kernels with the fused AdamW update (the default)",
};

/**
 * The WebGPU fused-kernels section: the adapter (and whether it is a software fallback, whose
 * times are CPU emulation), then per mode the GPU dispatches, engine kernel calls and fused
 * (`Coca*`) calls per small-config train step, the median step time and the warm-up step's loss,
 * and whether the losses agree; or why it did not run.
 *
 * @example
 * ```ts
 * import { planWebGPU, webgpuSection } from "./report.ts";
 * const plan = planWebGPU({ quick: true, skip: true });
 * const md = webgpuSection({ plan, result: null, unavailable: "--skip-webgpu", command: "", wallSeconds: 0 });
 * console.log(md[3]); // "Not run: --skip-webgpu."
 * ```
 */
export function webgpuSection(w: WebGPURun): string[] {
  const out = ["", "## WebGPU fused kernels (small-config train step)", ""];
  const r = w.result;
  if (!r) {
    const why = (w.unavailable ?? "no result").replaceAll("\n", " ").trim();
    out.push(
      w.plan.skipped
        ? `Not run: ${w.plan.skipped}.`
        : `Not measured: ${why}${/[.!?]$/.test(why) ? "" : "."} The dispatch counts need a ` +
          "working webgpu backend (a GPU, or Mesa's llvmpipe software adapter: `libegl-mesa0`, " +
          "`libgl1-mesa-dri`).",
    );
    return out;
  }
  const kind = r.fallbackAdapter === true
    ? "a **software fallback adapter** (the GPU is emulated on the CPU): the step times are " +
      "CPU times of the emulation, not GPU times, and say nothing about a GPU; the dispatch " +
      "counts are what carry over"
    : r.fallbackAdapter === false
    ? "a hardware adapter"
    : "an adapter that did not say whether it is a software fallback";
  out.push(
    `Adapter: ${r.adapter}, ${kind}.`,
    "",
    `Small config (\`SMALL\` of \`bench/model_cases.ts\`) at batch ${r.batch}` +
      `${
        r.batch === SMALL.batch ? "" : ` (the full report runs ${SMALL.batch})`
      }; per mode one warm-up step (shader compilation; its loss below), ` +
      `then ${r.steps} timed step${r.steps === 1 ? "" : "s"}, the modes taking turns step by ` +
      "step. GPU dispatches: every `dispatchWorkgroups` the device received; engine kernel " +
      "calls: kernels tfjs's engine ran (`recordKernelCalls`); fused calls: the `Coca*` among " +
      `them. Own process (\`${w.command}\`), ${w.wallSeconds.toFixed(0)} s in all.`,
    "",
    "| mode | GPU dispatches / step | engine kernel calls / step | fused calls / step | " +
      "median step | loss (warm-up step) |",
    "| --- | --: | --: | --: | --: | --: |",
  );
  for (const row of r.rows) {
    const what = WEBGPU_MODES[row.mode];
    out.push(
      `| ${row.mode}${what ? `: ${what}` : ""} | ${row.gpuDispatches} | ${row.engineKernels} | ` +
        `${row.fusedCalls} | ${fmtMs(row.seconds * 1000)} | ${
          Number.isFinite(row.loss) ? row.loss.toFixed(6) : String(row.loss)
        } |`,
    );
  }
  const spread = lossSpread(r.rows);
  out.push(
    "",
    Number.isNaN(spread)
      ? "**A loss is not finite**: the modes cannot be compared."
      : spread <= WEBGPU_LOSS_TOLERANCE
      ? `The losses agree: largest relative difference between modes ${
        spread.toExponential(1)
      } (at most ${WEBGPU_LOSS_TOLERANCE.toExponential(0)}; same weights and data).`
      : `**The losses disagree**: largest relative difference between modes ${
        spread.toExponential(1)
      }, more than ${WEBGPU_LOSS_TOLERANCE.toExponential(0)} (same weights and data).`,
  );
  return out;
}

interface ReportOptions {
  quick: boolean;
  filter: string | undefined;
  backends: string;
  out: string;
  help: boolean;
  steps: number | undefined;
  noReadme: boolean;
  noPytorch: boolean;
  skipBench: boolean;
  skipSideBySide: boolean;
  skipWebgpu: boolean;
}

/**
 * Parses `bench:report`'s arguments; a {@linkcode UsageError} names what is wrong.
 *
 * @example
 * ```ts
 * import { parseReportArgs } from "./report.ts";
 * console.log(parseReportArgs(["--quick", "--steps", "5"]).steps); // 5
 * ```
 */
export function parseReportArgs(args: string[]): ReportOptions {
  const o: ReportOptions = {
    quick: false,
    filter: undefined,
    backends: "",
    out: "",
    help: false,
    steps: undefined,
    noReadme: false,
    noPytorch: false,
    skipBench: false,
    skipSideBySide: false,
    skipWebgpu: false,
  };
  const value = (flag: string, v: string | undefined) => {
    if (v === undefined || v === "") {
      throw new UsageError(`expected a value after ${flag}, found none`);
    }
    return v;
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--quick") o.quick = true;
    else if (a === "--help" || a === "-h") o.help = true;
    else if (a === "--filter") o.filter = value(a, args[++i]);
    else if (a === "--backends") o.backends = value(a, args[++i]);
    else if (a === "--out") o.out = value(a, args[++i]);
    else if (a === "--steps") {
      const v = value(a, args[++i]);
      const n = Number(v);
      if (!/^\d+$/.test(v) || n < 2) {
        throw new UsageError(`expected --steps to be an integer >= 2, found "${v}"`);
      }
      o.steps = n;
    } else if (a === "--no-readme") o.noReadme = true;
    else if (a === "--no-pytorch") o.noPytorch = true;
    else if (a === "--skip-bench") o.skipBench = true;
    else if (a === "--skip-side-by-side") o.skipSideBySide = true;
    else if (a === "--skip-webgpu") o.skipWebgpu = true;
    else {
      throw new UsageError(
        `expected --quick, --filter TEXT, --backends LIST, --out DIR, --steps N, --no-readme, ` +
          `--no-pytorch, --skip-bench, --skip-side-by-side or --skip-webgpu, found "${a}"`,
      );
    }
  }
  for (const b of o.backends.split(",").map((s) => s.trim()).filter(Boolean)) {
    if (!(BACKENDS as readonly string[]).includes(b)) {
      throw new UsageError(`expected --backends to list ${BACKENDS.join(", ")}, found "${b}"`);
    }
  }
  if (!o.backends) {
    const env = backendChoice(undefined);
    if (env !== undefined && env !== "auto") o.backends = env;
  }
  return o;
}

/** Our OpenBLAS thread count: `$COCA_BLAS_THREADS`, `$OPENBLAS_NUM_THREADS`, else the CPUs we may use. */
function ourThreads(): number {
  const r = resolveBlasThreads();
  if (r.threads !== undefined) return r.threads;
  const n = Number(Deno.env.get("OPENBLAS_NUM_THREADS"));
  return Number.isInteger(n) && n > 0 ? n : allowedCpuCount();
}

/**
 * Extracts the JSON document from `deno bench --json` stdout (bench modules may print lines
 * before it).
 *
 * @example
 * ```ts
 * import { extractBenchJson } from "./report.ts";
 * console.log(extractBenchJson('noise\n{\n  "version": 1, "benches": []\n}').benches); // []
 * ```
 */
export function extractBenchJson(stdout: string): DenoBenchJson {
  const start = stdout.search(/^\{\s*$/m);
  if (start < 0) {
    throw new Error(
      `expected a JSON object in deno bench output, found: ${stdout.slice(0, 300)}`,
    );
  }
  const end = stdout.lastIndexOf("}");
  return JSON.parse(stdout.slice(start, end + 1));
}

async function runDenoBench(root: URL, opts: ReportOptions) {
  const sidecarDir = await Deno.makeTempDir({ prefix: "bench-sidecar-" });
  const args = ["bench", "-A", "--json"];
  if (opts.filter) args.push("--filter", opts.filter);
  args.push(new URL("bench/", root).pathname);
  const env: Record<string, string> = { BENCH_SIDECAR_DIR: sidecarDir };
  if (opts.quick) env.BENCH_QUICK = "1";
  if (opts.backends) env.BENCH_BACKENDS = opts.backends;
  console.error(`running: deno ${args.join(" ")}${opts.quick ? " (quick)" : ""}`);
  const res = await new Deno.Command(Deno.execPath(), {
    args,
    env,
    cwd: root.pathname,
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const stdout = new TextDecoder().decode(res.stdout);
  if (!res.success) console.error(`deno bench exited with code ${res.code}; reporting what ran`);
  const bench = extractBenchJson(stdout);
  const sidecars: Sidecar[] = [];
  for await (const f of Deno.readDir(sidecarDir)) {
    sidecars.push(JSON.parse(await Deno.readTextFile(`${sidecarDir}/${f.name}`)));
  }
  await Deno.remove(sidecarDir, { recursive: true });
  return { bench, sidecars };
}

if (import.meta.main) {
  exitOnUncaught("bench:report", USAGE);
  const opts = parseReportArgs(Deno.args);
  if (opts.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const root = new URL("../", import.meta.url);
  const outDir = opts.out || new URL("bench/results", root).pathname;
  const { bench, sidecars } = opts.skipBench
    ? { bench: { benches: [] } as DenoBenchJson, sidecars: [] as Sidecar[] }
    : await runDenoBench(root, opts);
  let side: SideBySide | null = null;
  if (!opts.skipSideBySide) {
    let availableBytes: number | undefined;
    try {
      availableBytes = Deno.systemMemoryInfo().available;
    } catch {
      availableBytes = undefined;
    }
    const plan = planSideBySide({
      quick: opts.quick,
      threads: ourThreads(),
      steps: opts.steps,
      noReadme: opts.noReadme,
      noPytorch: opts.noPytorch,
      availableBytes,
    });
    side = await runSideBySide(root, plan);
  }
  const webgpu = await runWebGPUFused(
    root,
    planWebGPU({ quick: opts.quick, skip: opts.skipWebgpu }),
  );
  const backends: MachineInfo["backends"] = {};
  for (const s of sidecars) Object.assign(backends, s.backends);
  const blasRun = side?.ours.find((o) => o.result)?.result;
  if (blasRun && !backends.blas) backends.blas = { ok: true, detail: blasRun.detail };
  const machine = await machineInfo(bench.runtime ?? `Deno ${Deno.version.deno}`, backends);
  const nativeKernels = describeNativeKernels(blasRun?.native, root.pathname);
  if (nativeKernels !== undefined) machine.nativeKernels = nativeKernels;
  const anchor = side ? anchorMedians(side.anchor, side.plan.threads) : new Map();
  const rows = buildRows(bench, sidecars, [...CASES, ...MODULE_CASES, ...MODEL_CASES], anchor);
  const when = new Date().toISOString();
  await Deno.mkdir(outDir, { recursive: true });
  await Deno.writeTextFile(
    `${outDir}/bench.json`,
    JSON.stringify(
      { generatedAt: when, quick: opts.quick, machine, sideBySide: side, webgpu, rows },
      null,
      2,
    ) +
      "\n",
  );
  const baseline = JSON.parse(
    await Deno.readTextFile(new URL("bench/baseline.json", root)),
  ) as Baseline;
  await Deno.writeTextFile(
    `${outDir}/BENCH.md`,
    renderMarkdown(rows, machine, when, side, webgpu) + historySection(baseline).join("\n") + "\n",
  );
  if (machine.backends.blas) {
    console.error(
      `blas: ${machine.backends.blas.detail}; native kernels: ${
        machine.nativeKernels ?? "not recorded (no side-by-side case ran)"
      }`,
    );
  }
  console.error(
    webgpu.result
      ? `webgpu fused kernels: ${webgpu.result.adapter}, ${
        webgpu.result.rows.map((r) => `${r.mode} ${r.gpuDispatches} dispatches`).join(", ")
      } (${webgpu.wallSeconds.toFixed(0)} s)`
      : `webgpu fused kernels not measured: ${webgpu.unavailable}`,
  );
  console.error(`wrote ${outDir}/BENCH.md and ${outDir}/bench.json (${rows.length} rows)`);
}
