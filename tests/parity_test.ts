import assert from "node:assert/strict";
import { BACKENDS, runParity, setupBackend } from "../mod.ts";

const fixture = await Deno.readFile(new URL("./fixtures/coca_tiny_a.safetensors", import.meta.url));

for (const backend of BACKENDS) {
  Deno.test(`parity with the PyTorch reference on ${backend} (tiny_a: outputs and every gradient)`, async () => {
    await setupBackend(backend);
    const rows = await runParity(fixture);
    assert.ok(
      rows.length >= 8 + 70,
      `expected outputs and 70 gradients, found ${rows.length} rows`,
    );
    const bad = rows.filter((r) => !r.ok).map((r) => `${r.name}: ${r.maxRelErr}`);
    assert.deepEqual(bad, []);
  });
}
