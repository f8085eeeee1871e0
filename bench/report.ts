/**
 * Runs the benches (`deno bench -A --json bench/`), merges their sidecar records (per-iteration
 * times, peak memory, backend details) with the case table (FLOPs, samples, PyTorch figures), and
 * writes `bench/results/BENCH.md` and `bench/results/bench.json`.
 *
 * Usage: `deno task bench:report [--quick] [--filter TEXT] [--backends cpu,blas] [--out DIR]`
 *
 * - `--quick`: fewer iterations, slow combinations skipped (for CI).
 * - `--filter TEXT`: only benches whose name contains TEXT (passed to `deno bench --filter`).
 * - `--backends LIST`: only these backends (default: `$COCA_BACKEND` when it names one, else cpu,
 *   wasm, webgpu, blas).
 * - `--out DIR`: output folder (default `bench/results`).
 *
 * Exit status: 0 report written, 2 bad arguments (one line and the usage), 1 any other failure.
 *
 * @module
 */
import { type BenchCase, CASES } from "./cases.ts";
import { MODEL_CASES } from "./model_cases.ts";
import { MODULE_CASES } from "./module_cases.ts";
import type { Sidecar, SidecarEntry } from "./harness.ts";
import { BACKENDS } from "../src/backends/setup.ts";
import { backendChoice, exitOnUncaught, UsageError } from "../src/cli/main.ts";

const USAGE = "usage: deno task bench:report [--quick] [--filter TEXT] [--backends cpu,blas] " +
  "[--out DIR]";

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
  pytorchSeconds: number | null;
  /** Our median time divided by PyTorch's (below 1: faster than PyTorch). */
  ratioToPytorch: number | null;
  skipped: string | null;
}

/** Machine description included in the report. */
export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number | null;
  runtime: string;
  backends: Record<string, { ok: boolean; detail: string }>;
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
 * has no sidecar entry the bench JSON's `avg` stands in for the median.
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
    rows.push(makeRow(c, e.id, e.backend, {
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
    rows.push(makeRow(byId.get(id), id, backend, {
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

function makeRow(
  c: BenchCase | undefined,
  id: string,
  backend: string,
  t: Pick<ReportRow, "n" | "medianMs" | "minMs" | "avgMs" | "tfBytesPeak" | "rssPeak" | "skipped">,
): ReportRow {
  const sec = t.medianMs === null ? null : t.medianMs / 1000;
  return {
    group: c?.group ?? "other",
    id,
    description: c?.description ?? "",
    backend,
    ...t,
    gflops: sec && c?.flops ? c.flops / sec / 1e9 : null,
    samplesPerSec: sec && c?.samples ? c.samples / sec : null,
    pytorchSeconds: c?.pytorch?.seconds ?? null,
    ratioToPytorch: sec && c?.pytorch ? sec / c.pytorch.seconds : null,
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
 * Renders rows and machine info as Markdown.
 *
 * @example
 * ```ts
 * import { renderMarkdown } from "./report.ts";
 * const md = renderMarkdown([], { cpu: "x", cores: 2, memoryGiB: 8, runtime: "Deno", backends: {} }, "now");
 * console.log(md.startsWith("# Benchmarks")); // true
 * ```
 */
export function renderMarkdown(rows: readonly ReportRow[], m: MachineInfo, when: string): string {
  const out: string[] = [
    "# Benchmarks",
    "",
    `Generated ${when} by \`deno task bench:report\`. CPU: ${m.cpu}, ${m.cores} cores` +
    (m.memoryGiB ? `, ${m.memoryGiB.toFixed(0)} GiB RAM` : "") + `. Runtime: ${m.runtime}.`,
    "",
    "Timings on a shared machine are noisy; medians over the measured iterations (first call",
    "dropped). GPU timings include completion (`await t.data()`). GFLOP/s uses analytic FLOPs.",
    "Peak tf MiB: largest `tf.memory().numBytes` right after an iteration; RSS: process RSS.",
    "",
    "## Backends",
    "",
    "| backend | started | detail |",
    "| --- | --- | --- |",
    ...Object.entries(m.backends).map(([k, v]) =>
      `| ${k} | ${v.ok ? "yes" : "no"} | ${v.detail.replaceAll("|", "\\|").slice(0, 300)} |`
    ),
  ];
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
        : `${r.ratioToPytorch.toFixed(2)}× (torch ${r.pytorchSeconds} s)`;
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
 * The history table from `bench/baseline.json`.
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
    "| step | forward s | train step s | train step vs PyTorch 0.69 s |",
    "| --- | --: | --: | --: |",
    ...b.steps.map((s) =>
      `| ${s.what} | ${s.forward.toFixed(2)} | ${s.trainStep.toFixed(2)} | ${
        (s.trainStep / 0.69).toFixed(2)
      }× |`
    ),
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

function parseArgs(args: string[]) {
  const o = {
    quick: false,
    filter: undefined as string | undefined,
    backends: "",
    out: "",
    help: false,
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
    else {
      throw new UsageError(
        `expected --quick, --filter TEXT, --backends LIST or --out DIR, found "${a}"`,
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

if (import.meta.main) {
  exitOnUncaught("bench:report", USAGE);
  const opts = parseArgs(Deno.args);
  if (opts.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const root = new URL("../", import.meta.url);
  const outDir = opts.out || new URL("bench/results", root).pathname;
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
  const backends: MachineInfo["backends"] = {};
  for (const s of sidecars) Object.assign(backends, s.backends);
  const machine = await machineInfo(bench.runtime ?? `Deno ${Deno.version.deno}`, backends);
  const rows = buildRows(bench, sidecars, [...CASES, ...MODULE_CASES, ...MODEL_CASES]);
  const when = new Date().toISOString();
  await Deno.mkdir(outDir, { recursive: true });
  await Deno.writeTextFile(
    `${outDir}/bench.json`,
    JSON.stringify({ generatedAt: when, quick: opts.quick, machine, rows }, null, 2) + "\n",
  );
  const baseline = JSON.parse(
    await Deno.readTextFile(new URL("bench/baseline.json", root)),
  ) as Baseline;
  await Deno.writeTextFile(
    `${outDir}/BENCH.md`,
    renderMarkdown(rows, machine, when) + historySection(baseline).join("\n") + "\n",
  );
  console.error(`wrote ${outDir}/BENCH.md and ${outDir}/bench.json (${rows.length} rows)`);
}
