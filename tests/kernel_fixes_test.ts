import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { availableBackends, BACKENDS, setupBackend } from "../mod.ts";

const backends = await availableBackends();

for (const backend of BACKENDS) {
  Deno.test({
    name: `AddN on ${backend}: 1..64 inputs sum every input (webgpu's stock kernel summed 7)`,
    ignore: !backends.includes(backend),
    fn: async () => {
      await setupBackend(backend);
      for (const k of [1, 2, 6, 7, 8, 9, 15, 16, 17, 49, 50, 64]) {
        // Scalars 1²..k²: the closed form k(k+1)(2k+1)/6 is exact in float32 here.
        const xs = Array.from({ length: k }, (_, i) => tf.scalar((i + 1) ** 2));
        const s = tf.addN(xs);
        assert.equal((await s.data())[0], (k * (k + 1) * (2 * k + 1)) / 6, `${k} scalars`);
        tf.dispose([...xs, s]);
      }
      // Odd shapes: input i holds i + j at element j.
      const cases: [number, number[]][] = [[9, [3, 5]], [23, [1, 7, 3]], [64, [257]]];
      for (const [k, shape] of cases) {
        const size = shape.reduce((a, b) => a * b, 1);
        const xs = Array.from(
          { length: k },
          (_, i) => tf.tensor(Float32Array.from({ length: size }, (_, j) => i + j), [...shape]),
        );
        const s = tf.addN(xs);
        const got = await s.data();
        assert.deepEqual(s.shape, [...shape]);
        for (let j = 0; j < size; j++) {
          assert.equal(
            got[j],
            (k * (k - 1)) / 2 + k * j,
            `${k} inputs of [${shape}], element ${j}`,
          );
        }
        tf.dispose([...xs, s]);
      }
      // The gradient of every input of a sum of 12 is one; nothing leaks.
      const before = tf.memory().numTensors;
      const xs = Array.from({ length: 12 }, (_, i) => tf.fill([2, 3], i));
      const grads = tf.grads((...ys: tf.Tensor[]) => tf.addN(ys).square().sum())(xs);
      const total = tf.addN(xs);
      const k12 = (await total.data())[0];
      for (const g of grads) assert.deepEqual([...await g.data()], new Array(6).fill(2 * k12));
      tf.dispose([...xs, ...grads, total]);
      assert.equal(tf.memory().numTensors, before);
    },
  });
}
