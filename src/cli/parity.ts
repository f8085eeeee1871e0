/**
 * `deno task parity FIXTURE [--backend B]`: compare our CoCa with a PyTorch reference fixture,
 * one-step (outputs and gradients) or a training trajectory (per-step loss and gradient norm,
 * final weights). Prints a table, then one JSON line. Exit status: 0 all within tolerance,
 * 1 something over tolerance, 2 bad fixture or bad arguments.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { BACKEND_CHOICES, setupBackend } from "../backends/setup.ts";
import { FixtureError } from "../reference/parity.ts";
import { runFixture } from "../reference/fixture.ts";

const usage = `usage: deno task parity FIXTURE.safetensors [--backend ${BACKEND_CHOICES}]`;

/** Print why and exit 2: a bad fixture or bad arguments is not a parity failure. */
function refuse(message: string): never {
  console.error(`parity: ${message}\n${usage}`);
  Deno.exit(2);
}

let values: { backend?: string; help?: boolean }, positionals: string[];
try {
  ({ values, positionals } = parseArgs({
    args: Deno.args,
    options: { backend: { type: "string" }, help: { type: "boolean", short: "h" } },
    allowPositionals: true,
  }));
} catch (e) {
  refuse((e as Error).message);
}
if (values.help) {
  console.log(usage);
  Deno.exit(0);
}
if (positionals.length > 1) refuse(`expected one fixture, found ${positionals.length}`);
const fixture = positionals[0] ?? "tests/fixtures/coca_tiny_a.safetensors";
let bytes: Uint8Array;
try {
  bytes = await Deno.readFile(fixture);
} catch (e) {
  refuse(`cannot read fixture ${fixture}: ${(e as Error).message}`);
}
let info;
try {
  info = await setupBackend(values.backend);
} catch (e) {
  refuse((e as Error).message);
}
let result;
try {
  result = await runFixture(bytes, {
    onStep: (k, steps, r) =>
      console.error(
        `step ${k + 1}/${steps}: loss ${r.loss.toFixed(6)}, grad norm ${r.gradNorm.toFixed(6)}`,
      ),
  });
} catch (e) {
  if (e instanceof FixtureError) refuse(`bad fixture ${fixture}: ${e.message}`);
  throw e;
}
const { rows } = result;
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
