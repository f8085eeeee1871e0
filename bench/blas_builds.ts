/**
 * Small-config train step (the `small-train-step` bench case) on the blas backend with each
 * installed OpenBLAS build (Debian's `openblas-pthread` and `openblas-openmp`), one subprocess per
 * build and round, rounds interleaved so that drift on a shared machine hits both builds alike.
 *
 * Usage: `deno run -A bench/blas_builds.ts [--rounds 3] [--steps 5] [--warmup 2]
 * [--library "pthread|openmp|PATH [NAME=VALUE ...]"]...` (default: every installed build). A
 * `--library` value may carry environment settings for its processes, e.g.
 * `--library "openmp GOMP_SPINCOUNT=300000"` (libgomp's default spin instead of the passive wait
 * the backend sets). Prints one line per variant (median step, build the backend reported) and a
 * JSON object as the last line.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { setupBackend } from "../src/backends/setup.ts";
import { blasInfo } from "../src/backends/blas/backend.ts";
import { installedOpenBlasBuilds, resolveOpenBlasLibrary } from "../src/backends/blas/openblas.ts";
import { MODEL_CASES } from "./model_cases.ts";

const CASE_ID = "small-train-step";

interface ChildResult {
  library: string;
  build: string;
  config: string;
  threads: number | null;
  stepsMs: number[];
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function child(steps: number, warmup: number): Promise<void> {
  await setupBackend("blas");
  const c = MODEL_CASES.find((x) => x.id === CASE_ID);
  if (!c) throw new Error(`expected a bench case "${CASE_ID}" in bench/model_cases.ts, found none`);
  const run = await c.setup();
  const stepsMs: number[] = [];
  for (let i = 0; i < warmup + steps; i++) {
    const t0 = performance.now();
    const out = await run.run();
    const outs = Array.isArray(out) ? out : [out];
    for (const t of outs) await t.data();
    tf.dispose(outs);
    if (i >= warmup) stepsMs.push(performance.now() - t0);
  }
  run.dispose();
  const info = blasInfo();
  const result: ChildResult = {
    library: info?.library ?? "?",
    build: info?.build ?? "?",
    config: info?.config ?? "?",
    threads: info?.threads ?? null,
    stepsMs,
  };
  console.log(JSON.stringify(result));
  tf.disposeVariables();
}

function parseArgs(args: string[]) {
  const o = { rounds: 3, steps: 5, warmup: 2, libraries: [] as string[], child: false };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const num = (name: string) => {
      const v = Number(args[++i]);
      if (!Number.isInteger(v) || v < (name === "warmup" ? 0 : 1)) {
        throw new RangeError(`expected --${name} to be a positive integer, found ${args[i]}`);
      }
      return v;
    };
    if (a === "--rounds") o.rounds = num("rounds");
    else if (a === "--steps") o.steps = num("steps");
    else if (a === "--warmup") o.warmup = num("warmup");
    else if (a === "--library") o.libraries.push(args[++i] ?? "");
    else if (a === "--child") o.child = true;
    else {
      throw new RangeError(
        `expected --rounds N, --steps N, --warmup N or --library pthread|openmp|PATH, found "${a}"`,
      );
    }
  }
  return o;
}

if (import.meta.main) {
  const o = parseArgs(Deno.args);
  if (o.child) {
    await child(o.steps, o.warmup);
  } else {
    const libs = o.libraries.length
      ? o.libraries.map((l) => {
        const [lib, ...assignments] = l.trim().split(/\s+/);
        const env: Record<string, string> = {};
        for (const a of assignments) {
          const eq = a.indexOf("=");
          if (eq < 1) throw new RangeError(`expected NAME=VALUE after the library, found "${a}"`);
          env[a.slice(0, eq)] = a.slice(eq + 1);
        }
        return { name: l.trim(), path: resolveOpenBlasLibrary(lib), env };
      })
      : Object.entries(installedOpenBlasBuilds()).map(([name, path]) => ({
        name,
        path,
        env: {} as Record<string, string>,
      }));
    if (libs.length === 0) throw new Error("expected an installed OpenBLAS build, found none");
    const results = new Map<string, ChildResult[]>();
    for (let r = 0; r < o.rounds; r++) {
      for (const lib of r % 2 ? [...libs].reverse() : libs) {
        const out = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            new URL(import.meta.url).pathname,
            "--child",
            "--steps",
            String(o.steps),
            "--warmup",
            String(o.warmup),
          ],
          env: { ...lib.env, OPENBLAS_LIBRARY: lib.path },
          stderr: "inherit",
        }).output();
        if (!out.success) {
          throw new Error(`${lib.name} round ${r + 1} exited with ${out.code} (${out.signal})`);
        }
        const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
        const res = JSON.parse(lines[lines.length - 1]) as ChildResult;
        results.set(lib.name, [...(results.get(lib.name) ?? []), res]);
        console.error(
          `round ${r + 1} ${lib.name}: median ${median(res.stepsMs).toFixed(0)} ms (${res.build})`,
        );
      }
    }
    const summary: Record<string, unknown> = {};
    for (const lib of libs) {
      const rs = results.get(lib.name) ?? [];
      const all = rs.flatMap((x) => x.stepsMs);
      const m = median(all);
      summary[lib.name] = {
        library: rs[0]?.library,
        build: rs[0]?.build,
        threads: rs[0]?.threads,
        medianMs: Math.round(m),
        roundMediansMs: rs.map((x) => Math.round(median(x.stepsMs))),
        steps: all.length,
      };
      console.log(
        `${lib.name}: small train step median ${m.toFixed(0)} ms over ${all.length} steps ` +
          `(${rs[0]?.config}, threads=${rs[0]?.threads})`,
      );
    }
    console.log(JSON.stringify({ case: CASE_ID, ...summary }));
  }
}
