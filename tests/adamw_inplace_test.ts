// The blas AdamW kernel updates a parameter and its moments in place when nothing else can see
// their arrays, and in copies when something can: a clone of the parameter, or an array read out
// with dataSync(), keeps its values. Same numbers either way.
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { setupBackend } from "../src/backends/setup.ts";
import { AdamW } from "../src/train/optimizer.ts";
import { backendAvailable } from "./helpers.ts";

const blasOk = await backendAvailable("blas");
const N = 40_000; // over the pool's tracking threshold (16 384 floats)

/** a equals b element for element (no deepEqual: its diff of 40 000 elements takes minutes). */
function assertSame(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  assert.equal(a.length, b.length, `${what}: lengths`);
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) assert.fail(`${what}: element ${i} is ${a[i]}, expected ${b[i]}`);
  }
}

function values(seed: number): Float32Array {
  return Float32Array.from({ length: N }, (_, i) => Math.sin(i * 0.37 + seed));
}

/** p after `steps` updates on blas, and the variable's dataIds after each step. */
function run(steps: number, between?: (p: tf.Variable, step: number) => void) {
  const init = tf.tensor1d(values(1));
  const p = tf.variable(init);
  init.dispose(); // the variable shares its data
  const opt = new AdamW([p], { lr: 0.01, weightDecay: 0.1 });
  const ids: unknown[] = [];
  for (let s = 0; s < steps; s++) {
    const g = tf.tensor1d(values(s + 2));
    opt.apply([g]);
    g.dispose();
    ids.push(p.dataId);
    between?.(p, s);
  }
  const out = (p.dataSync() as Float32Array).slice();
  opt.dispose();
  p.dispose();
  return { out, ids };
}

Deno.test({
  name: "blas AdamW updates in place after its first step, with the same numbers",
  ignore: !blasOk,
  fn: async () => {
    await setupBackend("blas");
    const before = tf.memory().numTensors;
    const { out, ids } = run(4);
    // Step 1 writes new arrays (the initial ones were made outside the backend's allocator);
    // from step 2 on the parameter keeps its data entry.
    assert.notEqual(ids[0], undefined);
    assert.equal(ids[1], ids[2]);
    assert.equal(ids[2], ids[3]);
    assert.equal(tf.memory().numTensors, before);
    // The same updates on copies (a clone held at each step forbids writing in place).
    const held: tf.Tensor[] = [];
    const copied = run(4, (p) => held.push(p.clone()));
    assert.notEqual(copied.ids[1], copied.ids[2]);
    assertSame(copied.out, out, "in place vs copies");
    tf.dispose(held);
  },
});

Deno.test({
  name: "blas AdamW leaves a clone of the parameter unchanged",
  ignore: !blasOk,
  fn: async () => {
    await setupBackend("blas");
    const afterTwo = run(2).out;
    let clone: tf.Tensor | undefined;
    run(4, (p, step) => {
      if (step === 1) clone = p.clone(); // shares the parameter's data entry
    });
    assertSame(clone!.dataSync(), afterTwo, "the clone");
    clone!.dispose();
  },
});

Deno.test({
  name: "blas AdamW leaves an array read out of the parameter unchanged",
  ignore: !blasOk,
  fn: async () => {
    await setupBackend("blas");
    const afterThree = run(3).out;
    let readOut: Float32Array | undefined;
    run(4, (p, step) => {
      if (step === 2) readOut = p.dataSync() as Float32Array; // on blas: the array itself
    });
    assertSame(readOut!, afterThree, "the read-out array");
  },
});
