import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { blasInfo, registerBlasBackend } from "../src/backends/blas/backend.ts";
import { planMatMul } from "../src/backends/blas/matmul.ts";

const reg = registerBlasBackend();
const ignore = !reg.ok;
if (!reg.ok) {
  console.warn(
    `blas_test: skipping OpenBLAS parity tests, libopenblas not loadable: ${reg.reason}`,
  );
}

/** Runs `f` on `backend` with inputs copied from plain arrays; returns plain nested arrays. */
async function on(
  backend: string,
  f: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[],
  inputs: { shape: number[]; values: Float32Array }[],
): Promise<{ shape: number[]; values: Float32Array }[]> {
  await tf.setBackend(backend);
  const b = tf.backend() as unknown as { firstUse?: boolean };
  if ("firstUse" in b) b.firstUse = false;
  const xs = inputs.map((i) => tf.tensor(i.values, i.shape));
  const r = f(...xs);
  const outs = Array.isArray(r) ? r : [r];
  const res = outs.map((t) => ({ shape: t.shape, values: t.dataSync() as Float32Array }));
  tf.dispose([...xs, ...outs]);
  return res;
}

function rand(shape: number[], seed: number): { shape: number[]; values: Float32Array } {
  let s = seed >>> 0;
  const n = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    values[i] = s / 2 ** 31 - 1;
  }
  return { shape, values };
}

function assertClose(
  got: { shape: number[]; values: Float32Array }[],
  want: { shape: number[]; values: Float32Array }[],
  tol = 1e-4,
): void {
  assert.equal(got.length, want.length);
  for (let t = 0; t < got.length; t++) {
    assert.deepEqual(got[t].shape, want[t].shape, `output ${t} shape`);
    for (let i = 0; i < want[t].values.length; i++) {
      const g = got[t].values[i], w = want[t].values[i];
      if (!(Math.abs(g - w) <= tol * Math.max(1, Math.abs(w)))) {
        assert.fail(`output ${t}[${i}]: expected ${w}, found ${g} (tolerance ${tol})`);
      }
    }
  }
}

async function parity(
  f: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[],
  inputs: { shape: number[]; values: Float32Array }[],
  tol = 1e-4,
): Promise<void> {
  const want = await on("cpu", f, inputs);
  const got = await on("blas", f, inputs);
  assertClose(got, want, tol);
}

Deno.test("planMatMul broadcasts batch dimensions NumPy-style", () => {
  const p = planMatMul([2, 1, 3, 4], [5, 4, 6], false, false);
  assert.deepEqual(p.outShape, [2, 5, 3, 6]);
  assert.deepEqual([...p.aIndex], [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
  assert.deepEqual([...p.bIndex], [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]);
  assert.throws(() => planMatMul([3, 4], [5, 6], false, false), /inner dimensions, found 4 and 5/);
  assert.throws(() => planMatMul([2, 3, 4], [3, 4, 5], false, false), /broadcastable batch/);
});

Deno.test({
  name: "blas backend reports its library and threads",
  ignore,
  fn() {
    assert.ok(reg.ok && reg.library.length > 0);
    const info = blasInfo();
    assert.ok(info && (info.threads === undefined || info.threads >= 1));
    assert.deepEqual(registerBlasBackend(), reg, "second registration returns the first result");
    for (const name of ["BatchMatMul", "_FusedMatMul", "Transpose", "Softmax", "Add", "Sum"]) {
      assert.notEqual(
        tf.getKernel(name, "blas")?.kernelFunc,
        tf.getKernel(name, "cpu")?.kernelFunc,
        `${name} is overridden on blas`,
      );
    }
    const cpuNames = tf.getKernelsForBackend("cpu").map((k) => k.kernelName).sort();
    const blasNames = tf.getKernelsForBackend("blas").map((k) => k.kernelName).sort();
    assert.deepEqual(blasNames, cpuNames, "every cpu kernel is registered for blas");
  },
});

Deno.test({
  name: "BatchMatMul matches cpu for every transpose combination at ranks 2, 3, 4",
  ignore,
  async fn() {
    const [m, k, n] = [5, 7, 3];
    for (const batch of [[], [3], [2, 3]]) {
      for (const ta of [false, true]) {
        for (const tb of [false, true]) {
          const a = rand([...batch, ...(ta ? [k, m] : [m, k])], 1);
          const b = rand([...batch, ...(tb ? [n, k] : [k, n])], 2);
          await parity((x, y) => tf.matMul(x, y, ta, tb), [a, b]);
        }
      }
    }
  },
});

Deno.test({
  name: "BatchMatMul broadcasts a batch of one and a missing batch on either side",
  ignore,
  async fn() {
    for (const ta of [false, true]) {
      for (const tb of [false, true]) {
        const a3 = rand(ta ? [4, 6, 5] : [4, 5, 6], 3);
        const b2 = rand(tb ? [7, 6] : [6, 7], 4);
        await parity((x, y) => tf.matMul(x, y, ta, tb), [a3, b2]);
        const a1 = rand(ta ? [1, 6, 5] : [1, 5, 6], 5);
        const b3 = rand(tb ? [4, 7, 6] : [4, 6, 7], 6);
        await parity((x, y) => tf.matMul(x, y, ta, tb), [a1, b3]);
        const a2 = rand(ta ? [6, 5] : [5, 6], 7);
        await parity((x, y) => tf.matMul(x, y, ta, tb), [a2, b3]);
      }
    }
  },
});

Deno.test({
  name: "BatchMatMul broadcasts [2,1] against [1,3] batches like explicit tiling",
  ignore,
  async fn() {
    // The cpu kernel indexes batches modulo their count, which is wrong for this pattern, so
    // the reference tiles both sides to the full batch first.
    const a = rand([2, 1, 4, 5], 8), b = rand([1, 3, 5, 2], 9);
    const want = await on(
      "cpu",
      (x, y) => tf.matMul(tf.tile(x, [1, 3, 1, 1]), tf.tile(y, [2, 1, 1, 1])),
      [a, b],
    );
    const got = await on("blas", (x, y) => tf.matMul(x, y), [a, b]);
    assertClose(got, want);
  },
});

Deno.test({
  name: "BatchMatMul of a 256×256 product matches cpu",
  ignore,
  async fn() {
    await parity((x, y) => tf.matMul(x, y), [rand([256, 256], 10), rand([256, 256], 11)], 2e-4);
  },
});

Deno.test({
  name: "fused matMul with bias and activations matches cpu",
  ignore,
  async fn() {
    const activations = ["relu", "linear", "relu6", "elu", "sigmoid", "leakyrelu"] as const;
    for (const activation of activations) {
      for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
        const a = rand(ta ? [2, 6, 4] : [2, 4, 6], 12);
        const b = rand(tb ? [2, 5, 6] : [2, 6, 5], 13);
        const bias = rand([5], 14);
        await parity(
          (x, y, z) =>
            tf.fused.matMul({ a: x, b: y, bias: z, transposeA: ta, transposeB: tb, activation }),
          [a, b, bias],
        );
      }
    }
    // Bias that is not a last-axis vector goes through the generic Add; prelu through Prelu.
    await parity(
      (x, y, z, w) =>
        tf.fused.matMul({
          a: x,
          b: y,
          bias: z,
          activation: "prelu",
          preluActivationWeights: w,
        }),
      [rand([4, 6], 15), rand([6, 5], 16), rand([4, 1], 17), rand([5], 18)],
    );
  },
});

Deno.test({
  name: "gradients of matMul and fused matMul via tf.grads match cpu",
  ignore,
  async fn() {
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
      const a = rand(ta ? [3, 6, 4] : [3, 4, 6], 19);
      const b = rand(tb ? [3, 5, 6] : [3, 6, 5], 20);
      await parity(
        (x, y) =>
          tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.matMul(p, q, ta, tb).square().sum())([x, y]),
        [a, b],
      );
    }
    await parity(
      (x, y, z) =>
        tf.grads((p: tf.Tensor, q: tf.Tensor, r: tf.Tensor) =>
          tf.fused.matMul({ a: p as tf.Tensor2D, b: q as tf.Tensor2D, bias: r, activation: "relu" })
            .square().sum()
        )([x, y, z]),
      [rand([8, 6], 21), rand([6, 5], 22), rand([5], 23)],
    );
  },
});

Deno.test({
  name: "a transformer-style layer's gradients match cpu (all fast kernels together)",
  ignore,
  async fn() {
    const [B, S, D, H] = [2, 5, 8, 2];
    const layer = (x: tf.Tensor, wqkv: tf.Tensor, w1: tf.Tensor, g: tf.Tensor) => {
      const { mean, variance } = tf.moments(x, -1, true);
      const h = x.sub(mean).mul(tf.rsqrt(variance.add(1e-5))).mul(g) as tf.Tensor2D;
      const qkv = tf.matMul(h, wqkv as tf.Tensor2D).reshape([B, S, 3, H, D / H])
        .transpose([2, 0, 3, 1, 4]);
      const [q, k, v] = tf.unstack(qkv).map((t) => t.reshape([B * H, S, D / H]));
      const att = tf.softmax(tf.matMul(q, k, false, true).mul(0.5));
      const ctx = tf.matMul(att, v).reshape([B, H, S, D / H]).transpose([0, 2, 1, 3])
        .reshape([B * S, D]);
      const m = tf.erf(tf.matMul(ctx, w1 as tf.Tensor2D)).mul(tf.sigmoid(ctx.sum(-1, true)));
      return m.square().mean();
    };
    await parity(
      (...xs) => tf.grads(layer)(xs),
      [rand([B * S, D], 24), rand([D, 3 * D], 25), rand([D, 3], 26), rand([D], 27)],
    );
  },
});

Deno.test({
  name: "non-float32 matMul falls back to the cpu kernel",
  ignore,
  async fn() {
    await tf.setBackend("blas");
    const a = tf.tensor2d([[1, 2], [3, 4]], [2, 2], "int32");
    const r = tf.matMul(a, a);
    assert.equal(r.dtype, "int32");
    assert.deepEqual(await r.array(), [[7, 10], [15, 22]]);
    tf.dispose([a, r]);
  },
});

Deno.test("parseCpuList counts ranges and single CPUs, refuses anything else", async () => {
  const { parseCpuList } = await import("../src/backends/blas/openblas.ts");
  assert.equal(parseCpuList("0-1"), 2);
  assert.equal(parseCpuList("0-3,8,10-11\n"), 7);
  assert.equal(parseCpuList("5"), 1);
  assert.throws(() => parseCpuList("3-1"), /CPU list/);
  assert.throws(() => parseCpuList("a,b"), /CPU list/);
});

Deno.test("resolveBlasThreads: option, then COCA_BLAS_THREADS, then OPENBLAS_NUM_THREADS, then CPUs", async () => {
  const { resolveBlasThreads, allowedCpuCount } = await import(
    "../src/backends/blas/openblas.ts"
  );
  const env = (vars: Record<string, string>) => (k: string) => vars[k];
  assert.deepEqual(resolveBlasThreads(3, env({ COCA_BLAS_THREADS: "1" })), {
    threads: 3,
    source: "option",
  });
  assert.deepEqual(resolveBlasThreads(undefined, env({ COCA_BLAS_THREADS: " 1 " })), {
    threads: 1,
    source: "COCA_BLAS_THREADS",
  });
  assert.deepEqual(resolveBlasThreads(undefined, env({ OPENBLAS_NUM_THREADS: "4" })), {
    threads: undefined,
    source: "OPENBLAS_NUM_THREADS",
  });
  const cpus = allowedCpuCount();
  assert.ok(Number.isInteger(cpus) && cpus >= 1 && cpus <= navigator.hardwareConcurrency);
  assert.deepEqual(resolveBlasThreads(undefined, env({})), { threads: cpus, source: "cpus" });
  for (const bad of ["0", "-2", "1.5", "two", "2x"]) {
    assert.throws(
      () => resolveBlasThreads(undefined, env({ COCA_BLAS_THREADS: bad })),
      new RegExp(`COCA_BLAS_THREADS to be a positive integer.*found "${bad}"`),
    );
  }
  assert.throws(() => resolveBlasThreads(0), /threads option to be a positive integer, found 0/);
});

Deno.test({
  name: "registerBlasBackend's threads option is applied and reported by blasInfo",
  ignore,
  fn() {
    const before = blasInfo()!;
    try {
      registerBlasBackend({ threads: 1 });
      assert.equal(blasInfo()!.threads, 1);
      assert.equal(blasInfo()!.threadSource, "option");
      assert.throws(() => registerBlasBackend({ threads: 0 }), /positive integer/);
    } finally {
      registerBlasBackend({ threads: before.threads ?? 1 });
    }
  },
});

/** blasInfo() in a fresh process (the backend loads once per process) with `env` added. */
async function blasInfoIn(env: Record<string, string>): Promise<Record<string, unknown>> {
  const url = new URL("../src/backends/blas/backend.ts", import.meta.url).href;
  const code = `import "@tensorflow/tfjs";
    import { blasInfo, registerBlasBackend } from "${url}";
    const r = registerBlasBackend();
    const i = blasInfo();
    console.log(JSON.stringify(r.ok ? { threads: i?.threads, source: i?.threadSource }
      : { reason: r.reason }));`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    env: { OPENBLAS_NUM_THREADS: "", COCA_BLAS_THREADS: "", ...env },
    stderr: "inherit",
  }).output();
  assert.equal(out.code, 0);
  return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
}

Deno.test({
  name: "COCA_BLAS_THREADS sets the thread count; an invalid value names the variable",
  ignore,
  async fn() {
    const { allowedCpuCount } = await import("../src/backends/blas/openblas.ts");
    assert.deepEqual(await blasInfoIn({ COCA_BLAS_THREADS: "1" }), {
      threads: 1,
      source: "COCA_BLAS_THREADS",
    });
    assert.deepEqual(await blasInfoIn({}), { threads: allowedCpuCount(), source: "cpus" });
    const bad = await blasInfoIn({ COCA_BLAS_THREADS: "lots" });
    assert.match(
      String(bad.reason),
      /expected COCA_BLAS_THREADS to be a positive integer \(OpenBLAS threads\), found "lots"/,
    );
  },
});
