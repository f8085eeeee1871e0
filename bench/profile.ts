/**
 * Per-kernel breakdown of one train step (or forward) of the small or README config: for each
 * tfjs kernel, how often it runs per step, its time, its share of the step and the bytes its
 * outputs allocate, and which implementation runs it on the backend (OpenBLAS sgemm, a host
 * kernel of the blas backend, a fused Coca* kernel, or the stock tfjs cpu kernel).
 *
 * Usage: `deno task bench:profile [--config small|readme] [--backend blas] [--steps N]
 * [--kind train|forward] [--out DIR]`
 *
 * Runs one warm-up step and one plain timed step, then `N` profiled steps (default 3). While
 * profiling, the engine's `runKernelFunc` (through which every kernel and every custom-gradient
 * op goes) is wrapped: each dispatch's wall time and the bytes it adds to `tf.memory()` are
 * recorded as self time and self bytes (what nested dispatches took is subtracted), so a
 * custom-gradient op (`tf.customGrad`, shown as `(custom gradient) <scope>`) counts only the JS
 * around its kernels, not the kernels again. (`tf.profile` records such an op as one more kernel
 * whose time and bytes include those of the kernels inside it, so its totals double count.)
 * Wall time is the kernel's time on the CPU backends; on webgpu it is the time to enqueue.
 * Prints the table and writes `PROFILE.md` and `PROFILE.json` under `--out` (default
 * `bench/results`); a run replaces its own config/backend/kind entry and keeps the others.
 *
 * Exit status: 0 written, 2 bad arguments, 1 any other failure.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { MODEL_CASES } from "./model_cases.ts";
import { setBenchBackend } from "./backend_setup.ts";
import { exitOnUncaught, UsageError } from "../src/cli/main.ts";

const USAGE = "usage: deno task bench:profile [--config small|readme] [--backend blas] " +
  "[--steps N] [--kind train|forward] [--out DIR]";

/** One kernel's totals over the profiled steps, per step. */
export interface KernelStat {
  kernel: string;
  /** Which code runs it on the profiled backend (see {@linkcode kernelImplementation}). */
  impl: string;
  /** Dispatches per step. */
  count: number;
  /** Milliseconds per step. */
  ms: number;
  /** Share of the profiled step's wall time (0..1). */
  share: number;
  /** Bytes it added to `tf.memory().numBytes` per step (its outputs; nested dispatches' excluded). */
  bytes: number;
}

/** A profile of one config/kind/backend. */
export interface Profile {
  config: string;
  kind: "train" | "forward";
  backend: string;
  /** Backend detail (library, threads). */
  detail: string;
  generatedAt: string;
  /** Profiled steps averaged over. */
  steps: number;
  /** 1-minute load average when the profile ended, and the CPUs (how busy the machine was). */
  load: { average: number; cpus: number } | null;
  /** Wall time of one step without the profiler (ms). */
  plainStepMs: number;
  /** Mean wall time of a profiled step (ms). */
  profiledStepMs: number;
  /** Kernel time per step (ms), the sum over kernels. */
  kernelMs: number;
  /** Largest `tf.memory().numBytes` during a profiled step. */
  peakBytes: number;
  /** `tf.memory()` growth over one profiled step (tensors, bytes): 0 when nothing leaks. */
  retained: { tensors: number; bytes: number };
  /** Kernels, most time first. */
  kernels: KernelStat[];
}

/** One dispatch as the profiler records it. */
export interface ProfiledKernel {
  /** Kernel name, or `(custom gradient) <scope>` for a `tf.customGrad` op. */
  name: string;
  /** Wall time minus that of the dispatches nested in it. */
  selfMs: number;
  /** Bytes added to `tf.memory().numBytes`, minus those of nested dispatches. */
  selfBytes: number;
}

type RunKernelFunc = (params: { kernelName?: string }) => unknown;
interface EngineInternals {
  runKernelFunc: RunKernelFunc;
  state: { numBytes: number; activeScope: { name: string } | null };
}

/**
 * Records every dispatch through the engine's `runKernelFunc` while `fn` runs: self time and
 * self bytes (nested dispatches subtracted), and the peak `tf.memory().numBytes`.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { recordDispatches } from "./profile.ts";
 * const { records } = await recordDispatches(() => tf.tidy(() => tf.ones([4]).add(1).sum()).dispose());
 * console.log(records.map((r) => r.name)); // e.g. ["Fill", "Add", "Sum"]
 * ```
 */
export async function recordDispatches(
  fn: () => unknown,
): Promise<{ records: ProfiledKernel[]; peakBytes: number }> {
  const engine = tf.engine() as unknown as EngineInternals;
  const own = Object.prototype.hasOwnProperty.call(engine, "runKernelFunc");
  const stock = engine.runKernelFunc;
  const records: ProfiledKernel[] = [];
  const stack: { ms: number; bytes: number }[] = [];
  let peakBytes = engine.state.numBytes;
  engine.runKernelFunc = function (this: EngineInternals, params) {
    const name = params.kernelName ??
      `(custom gradient) ${engine.state.activeScope?.name ?? "unnamed scope"}`;
    const frame = { ms: 0, bytes: 0 };
    stack.push(frame);
    const b0 = engine.state.numBytes;
    const t0 = performance.now();
    try {
      return stock.call(this, params);
    } finally {
      const ms = performance.now() - t0;
      const bytes = engine.state.numBytes - b0;
      stack.pop();
      const parent = stack.at(-1);
      if (parent) {
        parent.ms += ms;
        parent.bytes += bytes;
      }
      records.push({ name, selfMs: ms - frame.ms, selfBytes: bytes - frame.bytes });
      peakBytes = Math.max(peakBytes, engine.state.numBytes);
    }
  };
  try {
    await fn();
  } finally {
    if (own) engine.runKernelFunc = stock;
    else delete (engine as Partial<EngineInternals>).runKernelFunc;
  }
  return { records, peakBytes };
}

/**
 * Which implementation runs `kernel` on `backend`: `OpenBLAS sgemm` (BatchMatMul and
 * _FusedMatMul on blas), `fused host (Coca*)` (the project's fused kernels), `host (blas)` (a
 * kernel the blas backend registers over the cpu one), `tfjs cpu` (the stock cpu kernel), or the
 * backend's name for other backends.
 *
 * @example
 * ```ts
 * import { kernelImplementation } from "./profile.ts";
 * console.log(kernelImplementation("CocaSwiGLU", "blas")); // "fused host (Coca*)"
 * ```
 */
export function kernelImplementation(kernel: string, backend: string): string {
  if (kernel.startsWith("(custom gradient)")) return "JS around the kernels";
  if (kernel.startsWith("Coca")) return "fused host (Coca*)";
  if (backend !== "blas") return backend;
  if (kernel === "BatchMatMul" || kernel === "_FusedMatMul") return "OpenBLAS sgemm";
  const mine = tf.getKernel(kernel, "blas")?.kernelFunc;
  const cpu = tf.getKernel(kernel, "cpu")?.kernelFunc;
  return mine && cpu && mine !== cpu ? "host (blas)" : "tfjs cpu";
}

/**
 * Aggregates the dispatch records of `steps` steps into per-step stats by kernel name, most
 * time first.
 *
 * @example
 * ```ts
 * import { aggregateKernels } from "./profile.ts";
 * const s = aggregateKernels([
 *   { name: "Add", selfBytes: 8, selfMs: 1 },
 *   { name: "Add", selfBytes: 8, selfMs: 3 },
 * ], 2, 10, "cpu");
 * console.log(s[0]); // { kernel: "Add", impl: "cpu", count: 1, ms: 2, share: 0.2, bytes: 8 }
 * ```
 */
export function aggregateKernels(
  records: readonly ProfiledKernel[],
  steps: number,
  stepMs: number,
  backend: string,
): KernelStat[] {
  const by = new Map<string, { count: number; ms: number; bytes: number }>();
  for (const r of records) {
    const s = by.get(r.name) ?? { count: 0, ms: 0, bytes: 0 };
    s.count++;
    s.ms += r.selfMs;
    s.bytes += r.selfBytes;
    by.set(r.name, s);
  }
  return [...by].map(([kernel, s]) => ({
    kernel,
    impl: kernelImplementation(kernel, backend),
    count: s.count / steps,
    ms: s.ms / steps,
    share: stepMs > 0 ? s.ms / steps / stepMs : 0,
    bytes: s.bytes / steps,
  })).sort((a, b) => b.ms - a.ms || a.kernel.localeCompare(b.kernel));
}

function mib(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1);
}

/**
 * One profile as Markdown: a summary line, the kernel table and time by implementation.
 *
 * @example
 * ```ts
 * import { renderProfile } from "./profile.ts";
 * const md = renderProfile({
 *   config: "small", kind: "train", backend: "cpu", detail: "cpu", generatedAt: "now", steps: 1, load: null,
 *   plainStepMs: 10, profiledStepMs: 11, kernelMs: 8, peakBytes: 0, retained: { tensors: 0, bytes: 0 },
 *   kernels: [],
 * });
 * console.log(md[0]); // "## small config, train step, cpu"
 * ```
 */
export function renderProfile(p: Profile): string[] {
  const other = p.profiledStepMs - p.kernelMs;
  const byImpl = new Map<string, number>();
  for (const k of p.kernels) byImpl.set(k.impl, (byImpl.get(k.impl) ?? 0) + k.ms);
  return [
    `## ${p.config} config, ${p.kind === "train" ? "train step" : "forward"}, ${p.backend}`,
    "",
    `${p.generatedAt}; ${p.detail}` +
    (p.load
      ? `; load average ${p.load.average.toFixed(1)} on ${p.load.cpus} CPUs` +
        (p.load.average > p.load.cpus ? " (busy machine: times inflated)" : "")
      : "") +
    `. Mean of ${p.steps} profiled steps: ` +
    `${p.profiledStepMs.toFixed(0)} ms per step (${p.plainStepMs.toFixed(0)} ms without the ` +
    `profiler), of which ${p.kernelMs.toFixed(0)} ms in kernels and ${other.toFixed(0)} ms ` +
    `outside them (JS between dispatches: autograd tape, gradient bookkeeping, tensor creation, ` +
    `GC). Peak tf memory during a step: ${mib(p.peakBytes)} MiB; retained after a step: ` +
    `${p.retained.tensors} tensors, ${mib(p.retained.bytes)} MiB.`,
    "",
    "| implementation | ms per step | share |",
    "| --- | --: | --: |",
    ...[...byImpl].sort((a, b) => b[1] - a[1]).map(([impl, ms]) =>
      `| ${impl} | ${ms.toFixed(1)} | ${(100 * ms / p.profiledStepMs).toFixed(1)} % |`
    ),
    `| outside kernels | ${other.toFixed(1)} | ${(100 * other / p.profiledStepMs).toFixed(1)} % |`,
    "",
    "| kernel | implementation | calls per step | ms per step | share | MiB allocated per step |",
    "| --- | --- | --: | --: | --: | --: |",
    ...p.kernels.map((k) =>
      `| ${k.kernel} | ${k.impl} | ${Number.isInteger(k.count) ? k.count : k.count.toFixed(1)} | ` +
      `${k.ms.toFixed(1)} | ${(100 * k.share).toFixed(1)} % | ${mib(k.bytes)} |`
    ),
  ];
}

/**
 * The whole `PROFILE.md`: a header, then each profile.
 *
 * @example
 * ```ts
 * import { renderProfiles } from "./profile.ts";
 * console.log(renderProfiles([]).startsWith("# Kernel profiles")); // true
 * ```
 */
export function renderProfiles(profiles: readonly Profile[]): string {
  const out = [
    "# Kernel profiles",
    "",
    "Written by `bench/profile.ts`. Per kernel: calls, self time (wall time of each dispatch,",
    "nested dispatches subtracted) and bytes allocated (what it added to `tf.memory()`, i.e. its",
    "outputs) per step, averaged over the profiled steps. `(custom gradient) ...` rows are the JS",
    "of `tf.customGrad` ops around their kernels. `Reshape` and `Identity` share their input's",
    "buffer, but `tf.memory()` counts their bytes all the same. Timings on a shared machine are",
    "noisy.",
  ];
  for (const p of profiles) out.push("", ...renderProfile(p));
  return out.join("\n") + "\n";
}

/**
 * Profiles `steps` steps of the model case `id` on the active backend.
 *
 * @example
 * ```ts
 * import { profileCase } from "./profile.ts";
 * const p = await profileCase("small-train-step", "blas", 1);
 * console.log(p.kernels.slice(0, 3));
 * ```
 */
export async function profileCase(
  id: string,
  backend: string,
  steps: number,
): Promise<Profile> {
  const c = MODEL_CASES.find((x) => x.id === id);
  if (!c) throw new Error(`expected a model case id, found "${id}"`);
  const b = await setBenchBackend(backend);
  if (!b.ok) throw new Error(`backend ${backend} did not start: ${b.reason}`);
  const run = await c.setup();
  const once = async () => {
    const out = await run.run();
    const outs = Array.isArray(out) ? out : [out];
    for (const t of outs) await t.data();
    tf.dispose(outs);
  };
  await once(); // warm-up
  let t0 = performance.now();
  await once();
  const plainStepMs = performance.now() - t0;
  const records: ProfiledKernel[] = [];
  let peakBytes = 0;
  const before = tf.memory();
  t0 = performance.now();
  for (let i = 0; i < steps; i++) {
    const r = await recordDispatches(once);
    records.push(...r.records);
    peakBytes = Math.max(peakBytes, r.peakBytes);
  }
  const profiledStepMs = (performance.now() - t0) / steps;
  const after = tf.memory();
  const retained = {
    tensors: (after.numTensors - before.numTensors) / steps,
    bytes: (after.numBytes - before.numBytes) / steps,
  };
  run.dispose();
  const kernels = aggregateKernels(records, steps, profiledStepMs, backend);
  const [config, ...rest] = id.split("-");
  return {
    config,
    kind: rest[0] === "forward" ? "forward" : "train",
    backend,
    detail: b.detail,
    generatedAt: new Date().toISOString(),
    steps,
    load: loadNow(),
    plainStepMs,
    profiledStepMs,
    kernelMs: kernels.reduce((s, k) => s + k.ms, 0),
    peakBytes,
    retained,
    kernels,
  };
}

function loadNow(): { average: number; cpus: number } | null {
  try {
    return { average: Deno.loadavg()[0], cpus: navigator.hardwareConcurrency };
  } catch {
    return null;
  }
}

if (import.meta.main) {
  exitOnUncaught("bench:profile", USAGE);
  let config = "small", backend = "blas", steps = 3, kind = "train", out = "";
  const a = Deno.args;
  const value = (flag: string, v: string | undefined) => {
    if (v === undefined || v === "") {
      throw new UsageError(`expected a value after ${flag}, found none`);
    }
    return v;
  };
  for (let i = 0; i < a.length; i++) {
    if (a[i] === "--help" || a[i] === "-h") {
      console.log(USAGE);
      Deno.exit(0);
    } else if (a[i] === "--config") config = value(a[i], a[++i]);
    else if (a[i] === "--backend") backend = value(a[i], a[++i]);
    else if (a[i] === "--kind") kind = value(a[i], a[++i]);
    else if (a[i] === "--out") out = value(a[i], a[++i]);
    else if (a[i] === "--steps") {
      const v = value(a[i], a[++i]);
      if (!/^\d+$/.test(v) || Number(v) < 1) {
        throw new UsageError(`expected --steps to be a positive integer, found "${v}"`);
      }
      steps = Number(v);
    } else {
      throw new UsageError(
        `expected --config, --backend, --steps, --kind or --out, found "${a[i]}"`,
      );
    }
  }
  if (config !== "small" && config !== "readme") {
    throw new UsageError(`expected --config small or readme, found "${config}"`);
  }
  if (kind !== "train" && kind !== "forward") {
    throw new UsageError(`expected --kind train or forward, found "${kind}"`);
  }
  const id = `${config}-${kind === "train" ? "train-step" : "forward"}`;
  console.error(`profiling ${id} on ${backend}: 1 warm-up, 1 plain and ${steps} profiled steps`);
  const p = await profileCase(id, backend, steps);
  const dir = out || new URL("results", import.meta.url).pathname;
  await Deno.mkdir(dir, { recursive: true });
  let all: Profile[] = [];
  try {
    all = JSON.parse(await Deno.readTextFile(`${dir}/PROFILE.json`)).profiles ?? [];
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const key = (x: Profile) => `${x.config}/${x.kind}/${x.backend}`;
  all = [...all.filter((x) => key(x) !== key(p)), p].sort((x, y) => key(x).localeCompare(key(y)));
  await Deno.writeTextFile(
    `${dir}/PROFILE.json`,
    JSON.stringify({ profiles: all }, null, 2) + "\n",
  );
  await Deno.writeTextFile(`${dir}/PROFILE.md`, renderProfiles(all));
  console.log(renderProfile(p).join("\n"));
  console.error(`wrote ${dir}/PROFILE.md and ${dir}/PROFILE.json`);
  Deno.exit(0);
}
