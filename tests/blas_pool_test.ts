// The blas backend's output-buffer pool (src/backends/blas/buffer_pool.ts): disposed kernel
// outputs are reused, and never while a tensor, a view of it, or a reader still holds them.
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { registerBlasBackend } from "../src/backends/blas/backend.ts";
import {
  allocFloat32,
  bufferPoolStats,
  installBufferRecycling,
  POOL_MIN_LENGTH,
  type RecyclableBackend,
  setPoolMaxBytes,
} from "../src/backends/blas/buffer_pool.ts";

// The pool is off by default (budget 0); these tests are about what it does when it is on.
setPoolMaxBytes(2 ** 30);

const blas = registerBlasBackend();
const ignore = !blas.ok;
if (blas.ok) await tf.setBackend("blas");

const N = 128; // N·N = 16384 elements: the smallest pooled size
assert.ok(N * N >= POOL_MIN_LENGTH);

function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    v[i] = s / 2 ** 32 - 0.5;
  }
  return v;
}

/** `a · b` of two N×N matrices in float64, rounded to float32. */
function matMulRef(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(N * N);
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < N; k++) s += a[i * N + k] * b[k * N + j];
      out[i * N + j] = s;
    }
  }
  return out;
}

/** Allocates and disposes `rounds` N×N products and elementwise results (pool churn). */
function churn(rounds: number): void {
  for (let r = 0; r < rounds; r++) {
    tf.tidy(() => {
      const a = tf.tensor2d(rand(N * N, 100 + r), [N, N]);
      const p = tf.matMul(a, a);
      tf.add(p, p);
      tf.exp(p);
      tf.transpose(p);
    });
  }
}

/** Largest |t − want| (reads only the scalar result, so `t`'s buffer is not read out). */
function maxDiff(t: tf.Tensor, want: Float32Array): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(t, tf.tensor(want, t.shape)))).dataSync()[0]);
}

Deno.test({
  name: "blas pool: a disposed matmul output's buffer is reused for the next one",
  ignore,
  fn() {
    churn(1);
    const before = bufferPoolStats();
    churn(3);
    const after = bufferPoolStats();
    assert.ok(after.reused > before.reused, JSON.stringify({ before, after }));
    assert.equal(after.allocated, before.allocated, JSON.stringify({ before, after }));
  },
});

Deno.test({
  name: "blas pool: a tensor kept alive across steps keeps its values",
  ignore,
  fn() {
    const a = rand(N * N, 1), b = rand(N * N, 2);
    const want = matMulRef(a, b);
    const kept = tf.tidy(() => tf.matMul(tf.tensor2d(a, [N, N]), tf.tensor2d(b, [N, N])));
    const reshaped = tf.tidy(() => {
      const p = tf.matMul(tf.tensor2d(b, [N, N]), tf.tensor2d(a, [N, N]));
      return tf.reshape(p, [N * N]); // p is disposed; the reshape shares its buffer
    });
    const wantReshaped = matMulRef(b, a);
    const before = bufferPoolStats();
    churn(4);
    assert.ok(bufferPoolStats().reused > before.reused, "the churn reused buffers");
    assert.ok(maxDiff(kept, want) < 1e-4, `kept: max diff ${maxDiff(kept, want)}`);
    assert.ok(maxDiff(reshaped, wantReshaped) < 1e-4, "reshaped view");
    tf.dispose([kept, reshaped]);
  },
});

Deno.test({
  name: "blas pool: an array read out with dataSync() is never reused after its tensor is disposed",
  ignore,
  fn() {
    const a = rand(N * N, 3), b = rand(N * N, 4);
    const t = tf.tidy(() => tf.matMul(tf.tensor2d(a, [N, N]), tf.tensor2d(b, [N, N])));
    const read = t.dataSync() as Float32Array;
    const copy = read.slice();
    t.dispose();
    churn(4);
    assert.deepEqual(read, copy);
  },
});

Deno.test("blas pool: a buffer goes back only when the last entry on it is deleted", () => {
  const entries = new Map<object, { values?: unknown }>();
  const backend: RecyclableBackend = {
    data: {
      has: (id) => entries.has(id),
      get: (id) => entries.get(id),
      set: (id, v) => void entries.set(id, v),
      delete: (id) => entries.delete(id),
    },
    readSync: (id) => entries.get(id)?.values,
  };
  installBufferRecycling(backend);
  const n = POOL_MIN_LENGTH + 7; // a length no other test uses
  const x = allocFloat32(n);
  const view = x.subarray(10, 20);
  const id1 = {}, id2 = {};
  backend.data.set(id1, { values: x });
  backend.data.set(id2, { values: view });
  backend.data.delete(id1);
  assert.notEqual(allocFloat32(n).buffer, x.buffer, "the view still holds the buffer");
  backend.data.delete(id2);
  assert.equal(allocFloat32(n).buffer, x.buffer, "reused once no entry holds it");

  const y = allocFloat32(n);
  const id3 = {};
  backend.data.set(id3, { values: y });
  backend.readSync(id3);
  backend.data.delete(id3);
  assert.notEqual(allocFloat32(n).buffer, y.buffer, "a read-out buffer is never reused");

  const user = new Float32Array(n); // not from the pool
  const id4 = {};
  backend.data.set(id4, { values: user });
  backend.data.delete(id4);
  assert.notEqual(allocFloat32(n).buffer, user.buffer, "user arrays are never pooled");
});
