import assert from "node:assert/strict";
import {
  BACKENDS,
  FixtureError,
  fixtureKind,
  readFixtureFile,
  runFixture,
  runParity,
  serializeSafetensors,
  setupBackend,
} from "../mod.ts";

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

Deno.test("fixture errors name the fixture file (readFixtureFile, runFixture with file)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const truncated = `${dir}/truncated.safetensors`;
    await Deno.writeFile(truncated, fixture.subarray(0, 1000));
    const isNamed = (path: string, detail: RegExp) => (e: unknown) => {
      assert.ok(e instanceof FixtureError, String(e));
      assert.ok(e.message.startsWith(`${path}: `), e.message);
      assert.match(e.message, detail);
      return true;
    };
    await assert.rejects(readFixtureFile(truncated), isNamed(truncated, /truncated: expected/));
    const missing = `${dir}/missing.safetensors`;
    await assert.rejects(readFixtureFile(missing), isNamed(missing, /expected a readable fixture/));
    assert.equal(
      fixtureKind(await readFixtureFile("tests/fixtures/coca_tiny_a.safetensors")),
      "parity",
    );
    // Bytes that parse but are neither kind, then bytes that do not parse: the file comes first.
    const neither = serializeSafetensors(
      new Map([["x", { dtype: "F32", shape: [1], data: new Uint8Array(4) }]]),
    );
    await assert.rejects(
      runFixture(neither, { file: "mine.safetensors" }),
      isNamed("mine.safetensors", /found neither/),
    );
    await assert.rejects(
      runFixture(fixture.subarray(0, 1000), { file: "cut.safetensors" }),
      isNamed("cut.safetensors", /not a readable safetensors file: .*truncated/),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
