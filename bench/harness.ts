/**
 * Registers `Deno.bench` entries for bench cases × backends and records, per entry, exact
 * per-iteration times and peak memory into a sidecar JSON file that `bench/report.ts` merges with
 * `deno bench --json`'s output.
 *
 * Environment: `BENCH_QUICK=1` for fewer iterations and skipping slow combinations,
 * `BENCH_BACKENDS=blas,wasm` to restrict backends, `BENCH_SIDECAR_DIR` where sidecars go
 * (unset: none written).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { BenchCase, CaseRun } from "./cases.ts";
import { BENCH_BACKENDS, setBenchBackend } from "./backend_setup.ts";

/** Rough matmul throughput per backend (GFLOP/s) used only to pick iteration counts. */
const ROUGH_GFLOPS: Record<string, number> = { cpu: 1, wasm: 20, webgpu: 4, blas: 100 };

/** What the sidecar records for one case on one backend. */
export interface SidecarEntry {
  /** Case id. */
  id: string;
  /** Backend name. */
  backend: string;
  /** Bench name as `deno bench` reports it. */
  benchName: string;
  /** Milliseconds of each timed call (warm-up calls included; the first is dropped later). */
  timesMs: number[];
  /** Largest `tf.memory().numBytes` seen right after an iteration (outputs still alive). */
  tfBytesPeak: number;
  /** Largest `Deno.memoryUsage().rss` seen right after an iteration. */
  rssPeak: number;
  /** Set when the combination was not run, with the reason. */
  skipped?: string;
}

/** Everything one bench module recorded. */
export interface Sidecar {
  /** Module that wrote it. */
  module: string;
  /** Backends that started, with details (library, adapter). */
  backends: Record<string, { ok: boolean; detail: string }>;
  /** Per case × backend records. */
  entries: SidecarEntry[];
}

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/**
 * Probes the backends, then registers one `Deno.bench` per case × started backend.
 * Call at the top level of a `*.bench.ts` module (top-level await).
 *
 * @example
 * ```ts
 * import { registerBenches } from "./harness.ts";
 * import { MATMUL_CASES } from "./cases.ts";
 * await registerBenches(MATMUL_CASES, "matmul");
 * ```
 */
export async function registerBenches(cases: readonly BenchCase[], module: string): Promise<void> {
  const quick = env("BENCH_QUICK") === "1";
  const wanted = env("BENCH_BACKENDS")?.split(",").map((s) => s.trim()).filter(Boolean) ??
    [...BENCH_BACKENDS];
  const sidecarDir = env("BENCH_SIDECAR_DIR");
  const sidecar: Sidecar = { module, backends: {}, entries: [] };
  const started: string[] = [];
  for (const name of wanted) {
    const r = await setBenchBackend(name);
    sidecar.backends[name] = r.ok
      ? { ok: true, detail: r.detail }
      : { ok: false, detail: r.reason };
    if (r.ok) started.push(name);
  }
  const save = () => {
    if (!sidecarDir) return;
    Deno.mkdirSync(sidecarDir, { recursive: true });
    Deno.writeTextFileSync(`${sidecarDir}/${module}.json`, JSON.stringify(sidecar));
  };
  save();

  let current: { key: string; run: CaseRun } | undefined;
  for (const c of cases) {
    for (const backend of started) {
      if (c.backends && !c.backends.includes(backend)) continue;
      const benchName = `${c.id} @${backend}`;
      const estSec = (c.flops ?? 1e9) / ((ROUGH_GFLOPS[backend] ?? 1) * 1e9);
      const maxSec = c.maxSeconds ?? (quick ? 1 : 6);
      const entry: SidecarEntry = {
        id: c.id,
        backend,
        benchName,
        timesMs: [],
        tfBytesPeak: 0,
        rssPeak: 0,
      };
      sidecar.entries.push(entry);
      if (c.optIn && env(c.optIn) !== "1") {
        entry.skipped = `opt-in: set ${c.optIn}=1`;
        continue;
      }
      if (estSec > maxSec) {
        entry.skipped = `estimated ${estSec.toFixed(1)} s/iteration > ${maxSec} s limit` +
          (quick ? " (quick mode)" : "");
        continue;
      }
      const target = quick ? 0.4 : 3;
      const n = Math.max(quick ? 2 : 3, Math.min(quick ? 10 : 50, Math.round(target / estSec)));
      Deno.bench({
        name: benchName,
        group: c.group,
        n,
        warmup: 1,
        async fn(b) {
          const key = `${c.id}@${backend}`;
          if (current?.key !== key) {
            current?.run.dispose();
            current = undefined;
            const r = await setBenchBackend(backend);
            if (!r.ok) throw new Error(`backend ${backend} stopped working: ${r.reason}`);
            current = { key, run: await c.setup() };
          }
          const run = current.run;
          b.start();
          const t0 = performance.now();
          const out = await run.run();
          const outs = Array.isArray(out) ? out : [out];
          for (const t of outs) await t.data();
          const dt = performance.now() - t0;
          b.end();
          entry.timesMs.push(dt);
          entry.tfBytesPeak = Math.max(entry.tfBytesPeak, tf.memory().numBytes);
          entry.rssPeak = Math.max(entry.rssPeak, Deno.memoryUsage().rss);
          tf.dispose(outs);
          save();
        },
      });
    }
  }
}
