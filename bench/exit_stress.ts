/**
 * Exit stress for the blas backend: starts many short processes, each of which trains a tiny CoCa
 * for a few steps with the project's trainer (which saves a checkpoint), evaluates it and exits
 * right after its last OpenBLAS call, and counts the processes that ended abnormally (a non-zero
 * exit status, a signal, or no result line). Written for issue 8: with Debian's OpenMP build of
 * OpenBLAS, processes died with SIGSEGV at exit after finishing their work.
 *
 * Usage: `deno task exit-stress [--processes 20] [--library pthread|openmp|PATH]
 * [--omp-wait-policy active|passive] [--concurrency 1] [--keep]`. `--library` sets
 * `OPENBLAS_LIBRARY` for the processes (`pthread` and `openmp` name Debian's builds); without it
 * they load what the backend picks. `--omp-wait-policy active` sets `OMP_WAIT_POLICY=ACTIVE`:
 * libgomp's workers then spin for the whole life of the process instead of a few milliseconds
 * after each parallel sgemm, which turns the exit race of an unpinned OpenMP build from "sometimes"
 * into "every time" (the hardest case for the fix). Prints one line per abnormal exit, a summary
 * line and a JSON object as the last line; exits 1 if any process ended abnormally, 2 on bad
 * arguments (one line and the usage).
 *
 * @module
 */
import { blasInfo } from "../src/backends/blas/backend.ts";
import { resolveOpenBlasLibrary } from "../src/backends/blas/openblas.ts";
import { exitOnUncaught, UsageError } from "../src/cli/main.ts";

const USAGE = "usage: deno task exit-stress [--processes N] [--library pthread|openmp|PATH] " +
  "[--omp-wait-policy active|passive] [--concurrency N] [--keep]";
import { toTensors } from "../src/data/tensors.ts";
import { evaluate } from "../src/eval/evaluate.ts";
import { resolveTrainConfig } from "../src/train/config.ts";
import { train } from "../src/train/trainer.ts";

/** What a stress process prints as its last stdout line. */
export interface StressChildResult {
  /** The OpenBLAS file the backend loaded. */
  library: string;
  /** Its parallel build (`pthread`, `openmp`, ...). */
  build: string;
  /** Whether the library was pinned in memory. */
  pinned: boolean;
  /** Optimizer steps done. */
  steps: number;
  /** Text → image recall@1 on the test split (meaningless; proves evaluation ran). */
  r1: number;
}

/** Outcome of one stress process. */
export interface StressProcess {
  /** 0-based index. */
  index: number;
  /** Exit status. */
  code: number;
  /** Signal that ended it, if any. */
  signal: string | null;
  /** Wall seconds. */
  seconds: number;
  /** Its result line, when it printed one. */
  result?: StressChildResult;
  /** Last characters of its stderr when it ended abnormally. */
  stderrTail?: string;
}

/** The JSON summary (last stdout line) of a stress run. */
export interface StressSummary {
  /** The `--library` argument as a path, or null when the backend chose. */
  library: string | null;
  /** `OMP_WAIT_POLICY` set for the processes, or null (inherited). */
  ompWaitPolicy: string | null;
  /** Builds the processes reported, with counts. */
  builds: Record<string, number>;
  /** Processes started. */
  processes: number;
  /** Processes that ended with a signal, a non-zero status or no result line. */
  abnormal: number;
  /** Of those, ended by a signal, by name with counts. */
  signals: Record<string, number>;
  /** Of those, exited with a non-zero status (no signal). */
  nonZero: number;
  /** Of those, exited 0 without a result line. */
  incomplete: number;
  /** Median wall seconds per process. */
  medianSeconds: number;
  /** Wall seconds of the whole run. */
  seconds: number;
}

/** The tiny training config of a stress process (the shapes-tiny model, little data). */
function childConfig(outDir: string) {
  return resolveTrainConfig({
    model: {
      vit: {
        imageSize: 32,
        patchSize: 8,
        dim: 64,
        depth: 2,
        heads: 4,
        dimHead: 16,
        mlpDim: 128,
        patchDropout: 0.25,
      },
      coca: {
        dim: 64,
        imageDim: 64,
        numTokens: 300,
        unimodalDepth: 2,
        multimodalDepth: 2,
        dimHead: 16,
        heads: 4,
        numImgQueries: 16,
        ffMult: 4,
      },
    },
    data: { name: "shapes", trainSize: 64, valSize: 16, testSize: 32, heldoutSize: 16, seed: 0 },
    tokenizer: { vocabSize: 300 },
    textLength: 16,
    batchSize: 32,
    steps: 3,
    seed: 0,
    backend: "blas",
    optimizer: { lr: 0.002 },
    evalEvery: 0,
    checkpointEvery: 0,
    logEvery: 1,
    outDir,
  });
}

/**
 * One stress process: train (the trainer saves a checkpoint), evaluate, print, then encode a test
 * batch (as a caption CLI ends on a forward) and exit at once.
 */
async function child(outDir: string): Promise<void> {
  const run = await train(childConfig(outDir));
  const report = await evaluate(run.model, run.dataset, run.tokenizer, {
    textLength: 16,
    splits: ["test"],
    batchSize: 32,
  });
  const info = blasInfo();
  const result: StressChildResult = {
    library: info?.library ?? "?",
    build: info?.build ?? "?",
    pinned: info?.pinned ?? false,
    steps: run.steps,
    r1: report.splits[0].retrieval.captionDedup.textToImage[1],
  };
  console.log(JSON.stringify(result));
  // The last OpenBLAS calls: multi-threaded sgemm (32 images × 16 patches, dim 64) a moment before
  // exit; the OpenMP build's workers are still spin-waiting in libgomp when Deno tears down.
  const { images, text } = toTensors(run.dataset.splits.test.slice(0, 32), run.tokenizer, 16);
  const z = run.model.encodeImage(images);
  z.dataSync();
  z.dispose();
  images.dispose();
  text.dispose();
}

function parseArgs(args: string[]) {
  const o = {
    processes: 20,
    concurrency: 1,
    library: undefined as string | undefined,
    ompWaitPolicy: undefined as string | undefined,
    keep: false,
    child: undefined as string | undefined,
    help: false,
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const int = (name: string) => {
      const v = Number(args[++i]);
      if (!Number.isInteger(v) || v < 1) {
        throw new UsageError(`expected --${name} to be a positive integer, found ${args[i]}`);
      }
      return v;
    };
    if (a === "--processes") o.processes = int("processes");
    else if (a === "--concurrency") o.concurrency = int("concurrency");
    else if (a === "--library") {
      o.library = args[++i];
      if (!o.library) throw new UsageError("expected a value after --library, found none");
    } else if (a === "--help" || a === "-h") o.help = true;
    else if (a === "--omp-wait-policy") {
      const v = (args[++i] ?? "").toUpperCase();
      if (v !== "ACTIVE" && v !== "PASSIVE") {
        throw new UsageError(`expected --omp-wait-policy active or passive, found "${args[i]}"`);
      }
      o.ompWaitPolicy = v;
    } else if (a === "--keep") o.keep = true;
    else if (a === "--child") o.child = args[++i];
    else {
      throw new UsageError(
        `expected --processes N, --library pthread|openmp|PATH, --omp-wait-policy active|passive, ` +
          `--concurrency N or --keep, found "${a}"`,
      );
    }
  }
  return o;
}

const median = (xs: number[]): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** What a child needs: OpenBLAS through FFI, its environment, and its own folder. */
const CHILD_PERMISSIONS = ["--allow-read", "--allow-write", "--allow-env", "--allow-ffi"];

/**
 * Runs `processes` stress processes, `concurrency` at a time, with `OPENBLAS_LIBRARY=library` and
 * `OMP_WAIT_POLICY=ompWaitPolicy` when given, reporting each abnormal one through `log`.
 *
 * @example
 * ```ts ignore
 * const s = await exitStress({ processes: 10, library: "openmp" });
 * console.log(s.abnormal);
 * ```
 */
export async function exitStress(opts: {
  processes: number;
  library?: string;
  ompWaitPolicy?: string;
  concurrency?: number;
  keep?: boolean;
  log?: (line: string) => void;
}): Promise<{ summary: StressSummary; runs: StressProcess[] }> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const library = opts.library === undefined ? undefined : resolveOpenBlasLibrary(opts.library);
  const root = await Deno.makeTempDir({ prefix: "exit-stress-" });
  const t0 = performance.now();
  const runs: StressProcess[] = [];
  let next = 0;
  const worker = async () => {
    while (next < opts.processes) {
      const index = next++;
      const env: Record<string, string> = {};
      if (library !== undefined) env.OPENBLAS_LIBRARY = library;
      if (opts.ompWaitPolicy !== undefined) env.OMP_WAIT_POLICY = opts.ompWaitPolicy;
      const start = performance.now();
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          ...CHILD_PERMISSIONS,
          new URL(import.meta.url).pathname,
          "--child",
          `${root}/p${index}`,
        ],
        env,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const seconds = (performance.now() - start) / 1000;
      const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
      let result: StressChildResult | undefined;
      try {
        result = JSON.parse(lines[lines.length - 1]) as StressChildResult;
      } catch {
        result = undefined;
      }
      const p: StressProcess = { index, code: out.code, signal: out.signal, seconds, result };
      if (out.code !== 0 || out.signal !== null || !result) {
        p.stderrTail = new TextDecoder().decode(out.stderr).slice(-600);
        log(
          `process ${index}: ${out.signal ? `killed by ${out.signal}` : `exit status ${out.code}`}${
            result ? " after printing its result" : ", no result line"
          }${
            p.stderrTail.trim()
              ? `; stderr tail: ${p.stderrTail.trim().replaceAll("\n", " | ")}`
              : ""
          }`,
        );
      }
      runs.push(p);
      if (!opts.keep) await Deno.remove(`${root}/p${index}`, { recursive: true }).catch(() => {});
    }
  };
  try {
    await Promise.all(
      Array.from({ length: Math.min(opts.concurrency ?? 1, opts.processes) }, worker),
    );
  } finally {
    if (!opts.keep) await Deno.remove(root, { recursive: true }).catch(() => {});
  }
  const builds: Record<string, number> = {};
  const signals: Record<string, number> = {};
  let nonZero = 0;
  let incomplete = 0;
  for (const r of runs) {
    if (r.result) {
      const key = `${r.result.build} ${r.result.library}${r.result.pinned ? "" : " (not pinned)"}`;
      builds[key] = (builds[key] ?? 0) + 1;
    }
    if (r.signal) signals[r.signal] = (signals[r.signal] ?? 0) + 1;
    else if (r.code !== 0) nonZero++;
    else if (!r.result) incomplete++;
  }
  const signalled = Object.values(signals).reduce((a, b) => a + b, 0);
  const summary: StressSummary = {
    library: library ?? null,
    ompWaitPolicy: opts.ompWaitPolicy ?? null,
    builds,
    processes: runs.length,
    abnormal: signalled + nonZero + incomplete,
    signals,
    nonZero,
    incomplete,
    medianSeconds: Math.round(median(runs.map((r) => r.seconds)) * 100) / 100,
    seconds: Math.round((performance.now() - t0) / 100) / 10,
  };
  if (opts.keep) log(`kept the process folders in ${root}`);
  return { summary, runs };
}

if (import.meta.main) {
  exitOnUncaught("exit-stress", USAGE);
  const o = parseArgs(Deno.args);
  if (o.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  if (o.library?.includes("/")) {
    try {
      Deno.statSync(o.library);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      throw new UsageError(`expected --library to name an OpenBLAS file, found no ${o.library}`);
    }
  }
  if (o.child !== undefined) {
    await child(o.child);
  } else {
    const { summary: s } = await exitStress(o);
    const sig = Object.entries(s.signals).map(([k, v]) => `${v} ${k}`).join(", ") || "0 signals";
    console.log(
      `exit-stress: ${s.abnormal} of ${s.processes} processes ended abnormally (${sig}, ` +
        `${s.nonZero} non-zero status, ${s.incomplete} without a result); library ${
          s.library ?? "(backend's choice)"
        }${s.ompWaitPolicy ? `, OMP_WAIT_POLICY=${s.ompWaitPolicy}` : ""}; loaded: ${
          Object.entries(s.builds).map(([k, v]) => `${v}× ${k}`).join(", ") || "none"
        }; median ${s.medianSeconds} s per process, ${s.seconds} s in all`,
    );
    console.log(JSON.stringify(s));
    if (s.abnormal > 0) Deno.exit(1);
  }
}
