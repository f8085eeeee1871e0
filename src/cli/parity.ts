/**
 * `deno task parity FIXTURE [--backend B]`: compare our CoCa with a PyTorch reference fixture,
 * one-step (outputs and gradients) or a training trajectory (per-step loss and gradient norm,
 * final weights). Prints a table, then one JSON line. Exit status: 0 all within tolerance,
 * 1 something over tolerance, 2 bad fixture or bad arguments. Without `--backend`,
 * `$COCA_BACKEND`, else `auto`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { BACKEND_CHOICES, setupBackend } from "../backends/setup.ts";
import { FixtureError } from "../reference/parity.ts";
import { runFixture } from "../reference/fixture.ts";
import { backendChoice, requireBackendPermissions, runCli, UsageError } from "./main.ts";

const usage = `usage: deno task parity FIXTURE.safetensors [--backend ${BACKEND_CHOICES}]`;

async function main(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { backend: { type: "string" }, help: { type: "boolean", short: "h" } },
    allowPositionals: true,
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (positionals.length > 1) {
    throw new UsageError(`expected one fixture, found ${positionals.length}`);
  }
  const backend = backendChoice(values.backend);
  requireBackendPermissions(backend);
  const fixture = positionals[0] ?? "tests/fixtures/coca_tiny_a.safetensors";
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(fixture);
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable) throw e;
    throw new UsageError(`cannot read fixture ${fixture}: ${(e as Error).message}`);
  }
  let info;
  try {
    info = await setupBackend(backend);
  } catch (e) {
    throw new UsageError((e as Error).message);
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
    if (e instanceof FixtureError) throw new UsageError(`bad fixture ${fixture}: ${e.message}`);
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
  return ok ? 0 : 1;
}

Deno.exit(await runCli("parity", usage, main));
