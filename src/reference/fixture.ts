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

/** `f()`, with a {@linkcode FixtureError}'s message prefixed by `file` (when given). */
async function namingFile<T>(file: string | undefined, f: () => T | Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (file === undefined || !(e instanceof FixtureError)) throw e;
    throw new FixtureError(`${file}: ${e.message}`, { cause: e });
  }
}

/**
 * Read and parse a fixture file of either kind; every error names `path`.
 *
 * @throws {FixtureError} `PATH: ...` when the file cannot be read or is not a readable
 *   safetensors file (what was expected and what was found).
 * @example
 * ```ts
 * import { fixtureKind, readFixtureFile } from "./fixture.ts";
 * console.log(fixtureKind(await readFixtureFile("tests/fixtures/coca_traj_a.safetensors"))); // "trajectory"
 * ```
 */
export async function readFixtureFile(path: string): Promise<SafeTensors> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new FixtureError(
      `${path}: expected a readable fixture file, found ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  return namingFile(path, () => readFixture(bytes));
}

/**
 * Run a fixture of either kind on the active backend.
 *
 * @param opts `file`: the file the bytes came from, named at the start of every error;
 *   `onStep`: a trajectory's per-step progress.
 * @throws {FixtureError} when the fixture is malformed (`FILE: ...` when `file` is given).
 * @example
 * ```ts
 * import { runFixture } from "./fixture.ts";
 * const path = "tests/fixtures/coca_tiny_a.safetensors";
 * const { kind, rows } = await runFixture(await Deno.readFile(path), { file: path });
 * console.log(kind, rows.every((r) => r.ok)); // "parity" true
 * ```
 */
export function runFixture(
  bytes: Uint8Array,
  opts: { onStep?: TrajectoryProgress; file?: string } = {},
): Promise<{ kind: FixtureKind; rows: ParityRow[] }> {
  return namingFile(opts.file, async () => {
    const st = readFixture(bytes);
    const kind = fixtureKind(st);
    const rows = kind === "parity" ? await runParity(st) : await runTrajectory(st, opts);
    return { kind, rows };
  });
}
