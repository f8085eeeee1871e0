// The blas backend tunes glibc's malloc (src/backends/blas/malloc.ts) so that freed tensor
// buffers are reused instead of unmapped and page-faulted in again. Counted in page faults (the
// kernel's count, not a timing), in child processes with and without the tuning.
import assert from "node:assert/strict";
import { backendTest } from "./helpers.ts";

const CHILD = `
import { setupBackend, mallocTuning } from ${
  JSON.stringify(new URL("../mod.ts", import.meta.url).href)
};
await setupBackend("blas");
const minflt = () => Number(Deno.readTextFileSync("/proc/self/stat").split(") ")[1].split(" ")[7]);
// A training step's pattern: buffers of many sizes live together, then all die (forced GC).
const sizes = Array.from({ length: 24 }, (_, i) => 131072 + i * 65536); // 0.5 to 6.5 MiB
const round = () => {
  let bufs: Float32Array[] | undefined = sizes.map((n) => new Float32Array(n).fill(1));
  const s = bufs.reduce((a, b) => a + b[0], 0);
  bufs = undefined;
  (globalThis as unknown as { gc(): void }).gc();
  return s;
};
let sum = 0;
for (let i = 0; i < 3; i++) sum += round(); // warm-up: the heap grows to its peak once
const f0 = minflt();
for (let i = 0; i < 30; i++) sum += round();
console.log(JSON.stringify({ tuning: mallocTuning(), faults: minflt() - f0, sum }));
`;

async function child(env: Record<string, string>) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", "--v8-flags=--expose-gc", CHILD],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(stderr);
  assert.equal(code, 0, err);
  const lines = new TextDecoder().decode(stdout).trim().split("\n");
  return JSON.parse(lines[lines.length - 1]);
}

await backendTest(
  "malloc tuned at registration; rounds of freed buffers fault far fewer pages",
  ["blas"],
  async () => {
    const tuned = await child({});
    const off = await child({ COCA_MALLOC_TUNING: "off" });
    const user = await child({ GLIBC_TUNABLES: "glibc.malloc.mmap_threshold=131072" });
    assert.deepEqual(tuned.tuning, { applied: true });
    assert.equal(off.tuning.applied, false);
    assert.equal(user.tuning.applied, false, "GLIBC_TUNABLES set by the user wins");
    // A round touches 24 buffers, 20k pages in all: untuned, glibc unmaps or trims them when they
    // die and the next round faults them in again; tuned, the heap keeps them.
    console.log(`page faults: tuned ${tuned.faults}, untuned ${off.faults}, user ${user.faults}`);
    assert.ok(tuned.faults < off.faults / 3, `tuned ${tuned.faults} vs untuned ${off.faults}`);
  },
);
