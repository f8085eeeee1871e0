/**
 * `deno task parity FIXTURE [--backend webgpu|wasm|cpu]`: compare our CoCa with
 * a PyTorch reference fixture; prints a table, then one JSON line; exit 1 if any
 * tensor is over tolerance.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { setupBackend } from "../backend.ts";
import { runParity } from "../parity.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  options: { backend: { type: "string" }, help: { type: "boolean", short: "h" } },
  allowPositionals: true,
});
const usage = "usage: deno task parity FIXTURE.safetensors [--backend webgpu|wasm|cpu|blas|auto]";
if (values.help) {
  console.log(usage);
  Deno.exit(0);
}
const fixture = positionals[0] ?? "tests/fixtures/coca_tiny_a.safetensors";
const info = await setupBackend(values.backend);
let bytes: Uint8Array;
try {
  bytes = await Deno.readFile(fixture);
} catch (e) {
  console.error(`cannot read fixture ${fixture}: ${(e as Error).message}\n${usage}`);
  Deno.exit(2);
}
const rows = await runParity(bytes);
const w = Math.max(...rows.map((r) => r.name.length));
console.log(`${"tensor".padEnd(w)}  ${"shape".padEnd(16)}  max rel err  tol    ok`);
for (const r of rows) {
  console.log(
    `${r.name.padEnd(w)}  ${`[${r.shape}]`.padEnd(16)}  ${
      r.maxRelErr.toExponential(2).padStart(11)
    }  ${r.tolerance.toExponential(0)}  ${r.ok ? "yes" : "NO"}`,
  );
}
const ok = rows.every((r) => r.ok);
console.log(JSON.stringify({
  ok,
  backend: info.name,
  maxRelErr: Object.fromEntries(rows.map((r) => [r.name, r.maxRelErr])),
}));
Deno.exit(ok ? 0 : 1);
