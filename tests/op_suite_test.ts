// The op-consistency suite: every case of tests/op_suite/cases.ts on every backend, values and
// gradients against the cpu backend, each case checked (with the kernel recorder) to run the
// kernels it declares; then a coverage test that re-records the kernels the model runs and fails
// for any kernel (or input dtype) no case covers, or when tests/op_suite/kernels.json is stale.
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { availableBackends, setupBackend } from "../src/backends/setup.ts";
import {
  isTracing,
  type KernelCall,
  recordKernelCalls,
  traceKernels,
  traceKernelsSync,
} from "../src/backends/kernel_trace.ts";
import { fusedSwiGLU } from "../src/ops/swiglu.ts";
import { CASES, GRAD_TOL, type Input, type OpCase, TOL, type Tol } from "./op_suite/cases.ts";
import {
  allKernels,
  PHASES,
  readKernelsFile,
  RECORD_COMMAND,
  recordModelKernels,
  signature,
} from "./op_suite/record.ts";

const backends = await availableBackends();
const ORDER = ["cpu", "wasm", "blas", "webgpu"];

type Host = { dtype: string; shape: number[]; values: Float32Array | Int32Array | Uint8Array };
interface CaseResult {
  outputs: Host[];
  grads: Host[];
  calls: KernelCall[];
  error?: string;
}

function toTensor(x: Input): tf.Tensor {
  return tf.tensor(x.values, x.shape, x.dtype);
}

/** Fixed pseudo-random weights for output `k` of a case (the same on every backend). */
function weights(n: number, k: number): Float32Array {
  let s = (0x9e3779b9 ^ (k * 0x85ebca6b) ^ n) >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 4294967296) * 2 - 1;
  });
}

const asList = (y: tf.Tensor | tf.Tensor[]) => (Array.isArray(y) ? y : [y]);

async function host(ts: tf.Tensor[]): Promise<Host[]> {
  const out: Host[] = [];
  for (const t of ts) {
    out.push({
      dtype: t.dtype,
      shape: [...t.shape],
      values: (await t.data()) as Float32Array | Int32Array | Uint8Array,
    });
  }
  return out;
}

/** Run one case on the active backend: outputs, gradients, and every kernel dispatch. */
async function runCase(c: OpCase): Promise<CaseResult> {
  const xs = c.inputs.map(toTensor);
  const held: tf.Tensor[] = [];
  try {
    const { result, calls } = await recordKernelCalls(async () => {
      const ys = tf.tidy(() => asList(c.fn(...xs)));
      held.push(...ys);
      const outputs = await host(ys);
      const wrt = wrtOf(c);
      let grads: Host[] = [];
      if (wrt.length > 0 && ys.some((y) => y.dtype === "float32")) {
        const gs = tf.tidy(() =>
          tf.grads((...free: tf.Tensor[]) => {
            const args = [...xs];
            wrt.forEach((i, j) => (args[i] = free[j]));
            let total: tf.Tensor | undefined;
            asList(c.fn(...args)).forEach((y, k) => {
              if (y.dtype !== "float32") return;
              const term = y.mul(tf.tensor(weights(y.size, k), y.shape)).sum();
              total = total ? total.add(term) : term;
            });
            return total as tf.Scalar;
          })(wrt.map((i) => xs[i]))
        );
        held.push(...gs);
        grads = await host(gs);
      }
      return { outputs, grads };
    });
    return { ...result, calls };
  } catch (e) {
    return { outputs: [], grads: [], calls: [], error: e instanceof Error ? e.message : String(e) };
  } finally {
    tf.dispose([...xs, ...held]);
  }
}

/** A fixed pseudo-random normal direction of `n` elements for input `k` of a case. */
function direction(n: number, k: number): Float64Array {
  const u = weights(2 * n, 1000 + k);
  return Float64Array.from({ length: n }, (_, i) => {
    const a = Math.max((u[2 * i] + 1) / 2, 1e-9), b = (u[2 * i + 1] + 1) / 2;
    return Math.sqrt(-2 * Math.log(a)) * Math.cos(2 * Math.PI * b);
  });
}

/** Differentiated inputs of a case (indices). */
function wrtOf(c: OpCase): number[] {
  if (c.grad === false) return [];
  return c.grad ?? c.inputs.flatMap((x, i) => (x.dtype === "float32" ? [i] : []));
}

/**
 * On the active backend: the gradient along a random direction, `<grad, d>`, against the central
 * difference `(f(x + d) - f(x - d)) / 2` of `f = sum(fn(x) · w)`, where `d = h · v` with `v`
 * random normal and `h = 1e-3 · max(|x|, 1e-2 rms(x))` per element (so positive inputs stay
 * positive). A structural error in a gradient formula (a transpose, a missing broadcast sum) is
 * far outside the float32 noise of the difference. Returns a description of a mismatch.
 */
async function finiteDifference(c: OpCase, grads: Host[]): Promise<string | undefined> {
  const wrt = wrtOf(c);
  const steps = wrt.map((i, k) => {
    const x = c.inputs[i].values, v = direction(x.length, k);
    let ss = 0;
    for (const e of x) ss += e * e;
    const floor = 1e-2 * Math.sqrt(ss / Math.max(1, x.length)) || 1e-2;
    return v.map((ve, e) => ve * 1e-3 * Math.max(Math.abs(x[e]), floor));
  });
  let analytic = 0, scale = 0;
  wrt.forEach((_, k) => {
    const g = grads[k].values, d = steps[k];
    for (let e = 0; e < g.length; e++) {
      analytic += g[e] * d[e];
      scale += Math.abs(g[e] * d[e]);
    }
  });
  const f = async (sign: number): Promise<number> => {
    const xs = c.inputs.map((x, i) => {
      const k = wrt.indexOf(i);
      if (k < 0) return toTensor(x);
      return tf.tensor(x.values.map((v, e) => v + sign * steps[k][e]), x.shape, x.dtype);
    });
    const total = tf.tidy(() => {
      let t = tf.scalar(0);
      asList(c.fn(...xs)).forEach((y, k) => {
        if (y.dtype === "float32") t = t.add(y.mul(tf.tensor(weights(y.size, k), y.shape)).sum());
      });
      return t;
    });
    const v = (await total.data())[0];
    tf.dispose([...xs, total]);
    return v;
  };
  const numeric = ((await f(1)) - (await f(-1))) / 2;
  const err = Math.abs(numeric - analytic);
  if (err <= 2e-2 * Math.abs(analytic) + 2e-3 * scale + 1e-6) return undefined;
  return `directional derivative ${analytic.toPrecision(6)} (from the gradient), ` +
    `${numeric.toPrecision(6)} (finite difference)`;
}

/** The largest `|err| / allowed` seen per kernel (printed with OP_SUITE_STATS=1). */
type Headroom = Map<string, { ratio: number; where: string }>;

/** The first element out of tolerance, described; undefined when all pass. */
function compare(
  got: Host,
  want: Host,
  tol: Tol,
  note?: (ratio: number) => void,
): string | undefined {
  if (got.dtype !== want.dtype) return `dtype ${got.dtype}, expected ${want.dtype}`;
  if (got.shape.join() !== want.shape.join()) {
    return `shape [${got.shape}], expected [${want.shape}]`;
  }
  let maxRef = 0;
  for (const v of want.values) if (Number.isFinite(v)) maxRef = Math.max(maxRef, Math.abs(v));
  let worst = -1, worstExcess = 0, bad = 0;
  for (let i = 0; i < want.values.length; i++) {
    const a = got.values[i], b = want.values[i];
    if (Object.is(a, b) || a === b) continue;
    if (Number.isNaN(a) && Number.isNaN(b)) continue;
    const allowed = want.dtype === "float32" && Number.isFinite(b)
      ? tol.atol + tol.rtol * Math.abs(b) + tol.scale * maxRef
      : 0;
    const err = Math.abs(a - b);
    if (allowed > 0 && Number.isFinite(err)) note?.(err / allowed);
    if (!(err <= allowed)) {
      bad++;
      const excess = Number.isFinite(err) && allowed > 0 ? err / allowed : Infinity;
      if (worst < 0 || excess > worstExcess) {
        worst = i;
        worstExcess = excess;
      }
    }
  }
  if (worst < 0) return undefined;
  const at = worst;
  return `${bad} of ${want.values.length} elements off; worst at ${at}: ${
    got.values[at]
  }, expected ${want.values[at]} (|err| ${
    Math.abs(got.values[at] - want.values[at]).toPrecision(3)
  }, tolerance rtol ${tol.rtol} atol ${tol.atol} scale ${tol.scale})`;
}

interface SuiteRun {
  results: Map<string, CaseResult>;
  failures: string[];
  /** Per kernel: the input-dtype signatures that cases declaring it ran it with. */
  covered: Map<string, Set<string>>;
  headroom: Headroom;
  seconds: number;
}

const runs = new Map<string, Promise<SuiteRun>>();

/** Run every case on `backend` (once per process), compared with the cpu run. */
function suiteRun(backend: string): Promise<SuiteRun> {
  if (!runs.has(backend)) runs.set(backend, doSuiteRun(backend));
  return runs.get(backend)!;
}

async function doSuiteRun(backend: string): Promise<SuiteRun> {
  const reference = backend === "cpu" ? undefined : await suiteRun("cpu");
  await setupBackend(backend);
  const t0 = performance.now();
  const results = new Map<string, CaseResult>();
  const failures: string[] = [];
  const covered = new Map<string, Set<string>>();
  const headroom: Headroom = new Map();
  for (const c of CASES) {
    const r = await runCase(c);
    results.set(c.name, r);
    const where = `${c.kernels.join("/")} on ${backend}, case "${c.name}"`;
    if (r.error) {
      failures.push(`${where}: threw ${r.error}`);
      continue;
    }
    // The case must run each declared kernel that this backend registers.
    const mine = r.calls.filter((k) => k.backend === backend);
    for (const k of c.kernels) {
      const ran = mine.filter((call) => call.kernel === k);
      if (ran.length > 0) {
        if (!covered.has(k)) covered.set(k, new Set());
        for (const call of ran) covered.get(k)!.add(signature(call));
      } else if (tf.getKernel(k, backend)) {
        failures.push(`${where}: did not run kernel ${k}`);
      }
    }
    if (backend === "cpu" && r.grads.length > 0 && c.fd !== false) {
      const msg = await finiteDifference(c, r.grads);
      if (msg) failures.push(`${where}: gradient on cpu: ${msg}`);
    }
    const ref = reference?.results.get(c.name);
    if (!ref || ref.error) continue;
    const check = (kind: string, got: Host[], want: Host[], tol: Tol) => {
      if (got.length !== want.length) {
        failures.push(`${where}: ${got.length} ${kind}s, expected ${want.length}`);
        return;
      }
      const note = (ratio: number) => {
        const k = `${c.kernels[0]} ${kind}`;
        if (ratio > (headroom.get(k)?.ratio ?? 0)) headroom.set(k, { ratio, where: c.name });
      };
      got.forEach((g, i) => {
        const msg = compare(g, want[i], tol, note);
        if (msg) failures.push(`${where}: ${kind} ${i}: ${msg}`);
      });
    };
    check("output", r.outputs, ref.outputs, { ...TOL, ...c.tol });
    check("gradient", r.grads, ref.grads, { ...GRAD_TOL, ...c.gradTol });
  }
  return { results, failures, covered, headroom, seconds: (performance.now() - t0) / 1000 };
}

// ------------------------------------------------------------------ the recorder itself

Deno.test("kernel recorder: sees forward, gradient and custom kernels; restores the engine", async () => {
  await setupBackend("cpu");
  const x = tf.tensor1d([1, 2, 3]);
  const { result, kernels } = traceKernelsSync(() => tf.grad((t: tf.Tensor) => t.exp().sum())(x));
  assert.ok(kernels.has("Exp") && kernels.has("Sum"), [...kernels].join());
  assert.ok(kernels.has("Multiply"), `the gradient's kernels: ${[...kernels]}`);
  assert.ok(!isTracing() && !Object.hasOwn(tf.engine(), "runKernel"), "engine restored");
  assert.throws(() => traceKernelsSync(() => tf.tensor1d([1]).reshape([2])));
  assert.ok(!isTracing(), "engine restored after a throw");
  // Nested traces both see the inner dispatch.
  const outer = await traceKernels(async () => {
    const inner = await traceKernels(() => tf.dispose(tf.addN([x, x, x])));
    assert.deepEqual([...inner], ["AddN"]);
  });
  assert.ok(outer.has("AddN"));
  tf.dispose([x, result]);
  if (backends.includes("blas")) {
    await setupBackend("blas");
    const t = tf.randomNormal([2, 8]);
    const k = traceKernelsSync(() => tf.grad((v: tf.Tensor) => fusedSwiGLU(v).sum())(t));
    assert.ok(
      k.kernels.has("CocaSwiGLU") && k.kernels.has("CocaSwiGLUGrad"),
      [...k.kernels].join(),
    );
    tf.dispose([t, k.result]);
  }
});

// ------------------------------------------------------------------ the suite

for (const backend of ORDER) {
  Deno.test({
    name: `op suite on ${backend}: ${CASES.length} cases, values and gradients vs cpu`,
    ignore: !backends.includes(backend),
    fn: async () => {
      const run = await suiteRun(backend);
      console.log(`${backend}: ${CASES.length} cases in ${run.seconds.toFixed(1)} s`);
      if (Deno.env.get("OP_SUITE_STATS")) {
        // How close each kernel came to its tolerance (1 = at the limit).
        for (const [k, { ratio, where }] of [...run.headroom].sort()) {
          console.log(`  ${k.padEnd(30)} ${ratio.toFixed(3)}  (${where})`);
        }
      }
      assert.equal(run.failures.length, 0, `\n${run.failures.join("\n")}`);
    },
  });
}

// ------------------------------------------------------------------ coverage

Deno.test("op suite: every kernel in kernels.json is declared by some case", async () => {
  const file = await readKernelsFile();
  assert.ok(file, `tests/op_suite/kernels.json is missing; regenerate with: ${RECORD_COMMAND}`);
  const declared = new Set(CASES.flatMap((c) => c.kernels));
  const missing: string[] = [];
  for (const [backend, k] of Object.entries(file.backends)) {
    for (const kernel of allKernels(k)) {
      if (!declared.has(kernel)) missing.push(`${kernel} (recorded on ${backend})`);
    }
  }
  assert.deepEqual(missing, [], `kernels without a case in tests/op_suite/cases.ts`);
});

for (const backend of ORDER) {
  Deno.test({
    name: `op suite coverage on ${backend}: live recording matches kernels.json, all covered`,
    ignore: !backends.includes(backend),
    fn: async () => {
      const run = await suiteRun(backend);
      await setupBackend(backend);
      const live = await recordModelKernels();
      const problems: string[] = [];
      for (const kernel of allKernels(live)) {
        const sigs = run.covered.get(kernel);
        if (!sigs) {
          problems.push(`kernel ${kernel} runs in the model on ${backend} but no case covers it`);
          continue;
        }
        for (const s of live.dtypes[kernel] ?? []) {
          if (!sigs.has(s)) {
            problems.push(
              `kernel ${kernel} runs on ${backend} with ${s} inputs but no case covers that ` +
                `(cases run it with ${[...sigs].join(" | ")})`,
            );
          }
        }
      }
      assert.deepEqual(
        problems,
        [],
        `\n${problems.join("\n")}\nadd cases to tests/op_suite/cases.ts`,
      );
      const file = await readKernelsFile();
      const recorded = file?.backends[backend];
      const stale: string[] = [];
      for (const p of [...PHASES, "dtypes"] as const) {
        const a = JSON.stringify(recorded?.[p] ?? null), b = JSON.stringify(live[p]);
        if (a !== b) stale.push(`${p}: recorded ${a}, live ${b}`);
      }
      assert.deepEqual(
        stale,
        [],
        `tests/op_suite/kernels.json is stale for ${backend}; regenerate with: ${RECORD_COMMAND} ` +
          `(then commit it)\n${stale.join("\n")}`,
      );
    },
  });
}

// ------------------------------------------------------------------ regressions of the fixes
// (src/backends/kernel_fixes.ts); each fails without its fix, whatever ran before it.

/** Inclusive or exclusive, forward or reverse prefix sums of the rows of `x` (host). */
function hostCumsum(x: number[], exclusive: boolean, reverse: boolean): number[] {
  const n = x.length, out = new Array<number>(n);
  let acc = 0;
  for (let k = 0; k < n; k++) {
    const i = reverse ? n - 1 - k : k;
    if (exclusive) {
      out[i] = acc;
      acc += x[i];
    } else {
      acc += x[i];
      out[i] = acc;
    }
  }
  return out;
}

for (const backend of ORDER) {
  Deno.test({
    name:
      `fix on ${backend}: reverse cumsum of any length after a shorter one (webgpu cached one length)`,
    ignore: !backends.includes(backend),
    fn: async () => {
      await setupBackend(backend);
      for (const exclusive of [false, true]) {
        for (const n of [7, 1000, 33]) {
          const x = Array.from({ length: n }, (_, i) => (i % 5) + 1);
          const y = tf.cumsum(tf.tensor2d(x, [1, n]), 1, exclusive, true);
          const got = Array.from(await y.data());
          assert.deepEqual(got, hostCumsum(x, exclusive, true), `n=${n} exclusive=${exclusive}`);
          y.dispose();
        }
      }
    },
  });
  Deno.test({
    name: `fix on ${backend}: gather with batchDims 1 and 2 (wasm read the wrong indices)`,
    ignore: !backends.includes(backend),
    fn: async () => {
      await setupBackend(backend);
      const p = tf.tensor2d([[0, 1], [2, 3]]);
      const i = tf.tensor2d([[0, 1, 1, 1], [1, 0, 0, 1]], [2, 4], "int32");
      const g = tf.gather(p, i, 1, 1);
      assert.deepEqual(Array.from(await g.data()), [0, 1, 1, 1, 3, 2, 2, 3]);
      // batchDims 2 over [2, 2, 3]: row (a, b) picks x[a, b, idx[a, b, :]].
      const x = tf.tensor3d(Array.from({ length: 12 }, (_, k) => k), [2, 2, 3]);
      const idx = tf.tensor3d([2, 0, 1, 1, 0, 0, 2, 2], [2, 2, 2], "int32");
      const g2 = tf.gather(x, idx, 2, 2);
      assert.deepEqual(Array.from(await g2.data()), [2, 0, 4, 4, 6, 6, 11, 11]);
      // Its gradient counts how often each element was picked (threw for batchDims 2).
      const [dx] = tf.grads((t: tf.Tensor) => tf.gather(t, idx, 2, 2).sum())([x]);
      assert.deepEqual(Array.from(await dx.data()), [1, 0, 1, 0, 2, 0, 2, 0, 0, 0, 0, 2]);
      tf.dispose([p, i, g, x, idx, g2, dx]);
    },
  });
  Deno.test({
    name:
      `fix on ${backend}: gradients of broadcast maximum/minimum/matMul, cumsum axis 0, split in 1`,
    ignore: !backends.includes(backend),
    fn: async () => {
      await setupBackend(backend);
      const read = async (t: tf.Tensor) => Array.from(await t.data());
      // maximum(a [3,1], b [1,2]): a wins where a >= b; gradients summed over the broadcast.
      const a = tf.tensor2d([[0], [2], [5]]), b = tf.tensor2d([[1, 3]]);
      const [ga, gb] = tf.grads((u: tf.Tensor, v: tf.Tensor) => tf.maximum(u, v).sum())([a, b]);
      assert.deepEqual([ga.shape, await read(ga)], [[3, 1], [0, 1, 2]]);
      assert.deepEqual([gb.shape, await read(gb)], [[1, 2], [1, 2]]);
      const [ha, hb] = tf.grads((u: tf.Tensor, v: tf.Tensor) => tf.minimum(u, v).sum())([a, b]);
      assert.deepEqual([await read(ha), await read(hb)], [[2, 1, 0], [2, 1]]);
      // matMul of [1,2,3] by [4,3,2]: the gradient of a is the sum over the 4 batches.
      const m = tf.ones([1, 2, 3]), n = tf.ones([4, 3, 2]);
      const [gm, gn] = tf.grads((u: tf.Tensor, v: tf.Tensor) => tf.matMul(u, v).sum())([m, n]);
      assert.deepEqual([gm.shape, await read(gm)], [[1, 2, 3], new Array(6).fill(8)]);
      assert.deepEqual([gn.shape, await read(gn)], [[4, 3, 2], new Array(24).fill(2)]);
      // cumsum along axis 0 of a square matrix: d/dx[i,j] of sum(w ⊙ cumsum) = sum_{k>=i} w[k,j].
      const x = tf.zeros([3, 3]), w = tf.tensor2d([[1, 2, 3], [10, 20, 30], [100, 200, 300]]);
      const [gc] = tf.grads((u: tf.Tensor) => tf.cumsum(u, 0).mul(w).sum())([x]);
      assert.deepEqual(await read(gc), [111, 222, 333, 110, 220, 330, 100, 200, 300]);
      // split into one piece.
      const [gs] = tf.grads((u: tf.Tensor) => tf.split(u, 1, 1)[0].mul(2).sum())([x]);
      assert.deepEqual(await read(gs), new Array(9).fill(2));
      tf.dispose([a, b, ga, gb, ha, hb, m, n, gm, gn, x, w, gc, gs]);
    },
  });
}
