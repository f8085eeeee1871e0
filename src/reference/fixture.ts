/**
 * One entry for both kinds of PyTorch reference fixture: a one-step parity fixture
 * (`coca-parity-fixture/1`) or a training trajectory (`coca-trajectory-fixture/1`), told apart
 * by `__metadata__.format` (or, for files without it, by their tensor names).
 *
 * @module
 */
import type { SafeTensors } from "../weights/safetensors.ts";
import { FixtureError, PARITY_FORMAT, type ParityRow, readFixture, runParity } from "./parity.ts";
import { runTrajectory, TRAJECTORY_FORMAT, type TrajectoryProgress } from "./trajectory.ts";

/** The two fixture kinds. */
export type FixtureKind = "parity" | "trajectory";

/**
 * Which kind a parsed fixture is.
 *
 * @throws {FixtureError} for an unknown format or a file that is neither kind.
 * @example
 * ```ts
 * import { fixtureKind } from "./fixture.ts";
 * import { readFixture } from "./parity.ts";
 * console.log(fixtureKind(readFixture(await Deno.readFile("tests/fixtures/coca_traj_a.safetensors")))); // "trajectory"
 * ```
 */
export function fixtureKind(st: SafeTensors): FixtureKind {
  const format = st.metadata.format;
  if (format === PARITY_FORMAT) return "parity";
  if (format === TRAJECTORY_FORMAT) return "trajectory";
  if (format !== undefined) {
    throw new FixtureError(
      `unknown fixture format ${
        JSON.stringify(format)
      }; expected ${PARITY_FORMAT} or ${TRAJECTORY_FORMAT}`,
    );
  }
  if (st.tensors.has("step.0.loss")) return "trajectory";
  if (st.tensors.has("input.text")) return "parity";
  throw new FixtureError(
    "expected a parity fixture (input.*, output.*, grad.*) or a trajectory fixture (step.*, final.*), found neither",
  );
}

/**
 * Run a fixture of either kind on the active backend.
 *
 * @throws {FixtureError} when the fixture is malformed.
 * @example
 * ```ts
 * import { runFixture } from "./fixture.ts";
 * const { kind, rows } = await runFixture(await Deno.readFile("tests/fixtures/coca_tiny_a.safetensors"));
 * console.log(kind, rows.every((r) => r.ok)); // "parity" true
 * ```
 */
export async function runFixture(
  bytes: Uint8Array,
  opts: { onStep?: TrajectoryProgress } = {},
): Promise<{ kind: FixtureKind; rows: ParityRow[] }> {
  const st = readFixture(bytes);
  const kind = fixtureKind(st);
  const rows = kind === "parity" ? await runParity(st) : await runTrajectory(st, opts);
  return { kind, rows };
}
