/**
 * What every command-line tool of the workbench shares: exit codes, the one-line error (no stack
 * trace) followed by the usage on bad input, clear messages for missing permissions, and the
 * backend choice (`--backend`, else `$COCA_BACKEND`, else `auto`).
 *
 * Exit codes: {@linkcode EXIT_OK} (0) success, {@linkcode EXIT_FAILED} (1) a check failed or the
 * run failed, {@linkcode EXIT_USAGE} (2) bad input: a bad flag, a bad or missing file, a bad
 * config, an unknown backend, a missing permission.
 *
 * @module
 */
import { BACKEND_CHOICES, BACKENDS } from "../backends/setup.ts";

/** Exit code of a successful run. */
export const EXIT_OK = 0;
/** Exit code of a check that failed (parity over tolerance, a failed trial) or a run that failed. */
export const EXIT_FAILED = 1;
/** Exit code of bad input: flags, files, configs, backend names, permissions. */
export const EXIT_USAGE = 2;

/**
 * Bad input from the user (a flag, a file, a config): the CLI prints its message and its usage
 * and exits {@linkcode EXIT_USAGE}.
 *
 * @example
 * ```ts
 * import { UsageError } from "./main.ts";
 * throw new UsageError('expected --steps to be a positive integer, found "x"');
 * ```
 */
export class UsageError extends Error {
  override name = "UsageError";
}

/**
 * Errors of the library that mean bad input (a malformed file, a bad config or spec), by class
 * name, so that this module need not import (and load) every part of the library.
 */
const INPUT_ERROR_NAMES = new Set([
  "UsageError",
  "CaptionCliError",
  "FixtureError",
  "SafetensorsError",
  "ManifestError",
  "ImageError",
  "SweepSpecError",
  "ConfigPathError",
  "SweepMismatchError",
  "ZodError",
]);

/** A permission error's Deno message, `Requires read access to "x", run again with ...`. */
const PERMISSION_MESSAGE =
  /Requires (\w+) access to (.+?), run again with the (--allow-[\w-]+) flag/g;

/**
 * Whether `e` means bad input (exit 2) rather than a failed run (exit 1): a {@linkcode UsageError},
 * a malformed file or config reported by the library, a missing file, a missing permission, or a
 * bad command line reported by `parseArgs` from `node:util`.
 *
 * @example
 * ```ts
 * import { isInputError } from "./main.ts";
 * isInputError(new Deno.errors.NotFound("no such file")); // true
 * isInputError(new Error("out of memory")); // false
 * ```
 */
export function isInputError(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotCapable) return true;
  if (e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.IsADirectory) {
    return true;
  }
  if (INPUT_ERROR_NAMES.has(e.name) || INPUT_ERROR_NAMES.has(e.constructor.name)) return true;
  // A permission error wrapped by the library ("cannot read X: Requires read access ...").
  if (new RegExp(PERMISSION_MESSAGE.source).test(e.message)) return true;
  const code = (e as { code?: unknown }).code;
  return typeof code === "string" && code.startsWith("ERR_PARSE_ARGS_");
}

/**
 * The message of `e` as one line: permission errors say which flag is missing and how to run,
 * `parseArgs` errors say what was found, newlines become `; `.
 *
 * @example
 * ```ts
 * import { errorMessage } from "./main.ts";
 * errorMessage(new Deno.errors.NotCapable(
 *   'Requires read access to "a.json", run again with the --allow-read flag',
 * )); // 'needs read access to "a.json" (run through deno task, or add --allow-read)'
 * ```
 */
export function errorMessage(e: unknown): string {
  let message = e instanceof Error ? e.message : String(e);
  message = message.replace(
    PERMISSION_MESSAGE,
    (_, kind, what, flag) =>
      `needs ${kind} access to ${what} (run through deno task, or add ${flag})`,
  );
  const code = e instanceof Error ? (e as { code?: unknown }).code : undefined;
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    const option = /'([^']*)'/.exec(message)?.[1] ?? message;
    message = `expected an option of the usage below, found unknown option ${option}`;
  } else if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
    const missing = /^Option '(-\S+)(?:, (-\S+))? <value>' argument missing/.exec(message);
    const extra = /^Option '(-\S+)(?:, (-\S+))?' does not take an argument/.exec(message);
    if (missing) message = `expected a value after ${missing[2] ?? missing[1]}, found none`;
    else if (extra) message = `expected no value after ${extra[2] ?? extra[1]}, found one`;
  } else if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") {
    const argument = /'([^']*)'/.exec(message)?.[1] ?? message;
    message = `expected options only, found argument '${argument}'`;
  }
  return message.split(/\s*\n\s*/).filter((l) => l !== "").join("; ");
}

/**
 * Run a CLI's `main` with `args` and return its exit code, printing errors instead of throwing:
 * bad input ({@linkcode isInputError}) prints `NAME: message` and the usage and gives 2, any
 * other error prints `NAME: message` and gives 1. No stack trace is printed (set
 * `COCA_DEBUG=1` to see one). `main` returns its exit code (nothing means 0).
 *
 * @example
 * ```ts
 * import { runCli, UsageError } from "./main.ts";
 * const code = await runCli("demo", "usage: demo [--steps N]", (args) => {
 *   if (args.length) throw new UsageError(`expected no argument, found ${args[0]}`);
 * }, ["x"]); // prints "demo: expected no argument, found x" and the usage
 * console.log(code); // 2
 * ```
 */
export async function runCli(
  name: string,
  usage: string,
  main: (args: string[]) => Promise<number | void> | number | void,
  args: string[] = Deno.args,
): Promise<number> {
  try {
    return (await main(args)) ?? EXIT_OK;
  } catch (e) {
    return reportError(name, usage, e);
  }
}

/**
 * Print `e` as a CLI error and return its exit code: `NAME: message` (one line), then the usage
 * and 2 for bad input ({@linkcode isInputError}), else 1.
 *
 * @example
 * ```ts
 * import { reportError, UsageError } from "./main.ts";
 * const code = reportError("eval", "usage: eval --checkpoint DIR", new UsageError("no DIR"));
 * console.log(code); // 2
 * ```
 */
export function reportError(name: string, usage: string, e: unknown): number {
  const input = isInputError(e);
  console.error(`${name}: ${errorMessage(e)}`);
  if (input) console.error(usage);
  if (debugging() && e instanceof Error && e.stack) console.error(e.stack);
  return input ? EXIT_USAGE : EXIT_FAILED;
}

/**
 * For a CLI written as a script (top-level code rather than a `main` function): any error that
 * nothing caught ends the process as {@linkcode reportError} says (one line, exit 1 or 2), not as
 * a stack trace. Call it first thing in the script.
 *
 * @example
 * ```ts ignore
 * import { exitOnUncaught } from "./main.ts";
 * exitOnUncaught("demo", "usage: deno task demo [--steps N]");
 * ```
 */
export function exitOnUncaught(name: string, usage: string): void {
  const handle = (event: Event, error: unknown) => {
    event.preventDefault();
    Deno.exit(reportError(name, usage, error));
  };
  addEventListener("error", (e) => handle(e, (e as ErrorEvent).error));
  addEventListener("unhandledrejection", (e) => handle(e, (e as PromiseRejectionEvent).reason));
}

function debugging(): boolean {
  try {
    return Deno.permissions.querySync({ name: "env", variable: "COCA_DEBUG" }).state ===
        "granted" && Boolean(Deno.env.get("COCA_DEBUG"));
  } catch {
    return false;
  }
}

/**
 * The backend a CLI should start: `flag` when given, else `$COCA_BACKEND` when set, else
 * `undefined` (which {@linkcode setupBackend} and the train config read as `auto`). The name is
 * checked here, so a typo is bad input naming where it came from.
 *
 * @throws {UsageError} for an unknown name, naming `--backend` or `COCA_BACKEND`.
 * @example
 * ```ts
 * import { backendChoice } from "./main.ts";
 * backendChoice("wasm", {}); // "wasm"
 * backendChoice(undefined, { COCA_BACKEND: "cpu" }); // "cpu"
 * backendChoice(undefined, {}); // undefined
 * ```
 */
export function backendChoice(
  flag: string | undefined,
  env: { COCA_BACKEND?: string } = { COCA_BACKEND: Deno.env.get("COCA_BACKEND") },
): "auto" | (typeof BACKENDS)[number] | undefined {
  const [value, from] = flag !== undefined
    ? [flag, "--backend"]
    : [env.COCA_BACKEND || undefined, "COCA_BACKEND"];
  if (value === undefined) return undefined;
  const name = value.toLowerCase();
  if (name !== "auto" && !(BACKENDS as readonly string[]).includes(name)) {
    throw new UsageError(`expected ${from} to be one of ${BACKEND_CHOICES}, found "${value}"`);
  }
  return name as "auto" | (typeof BACKENDS)[number];
}

/**
 * Fail early, as bad input, when `backend` is `blas` and this process may not load OpenBLAS
 * (`--allow-ffi` missing): otherwise the backend would fail with one error per library path.
 *
 * @throws {UsageError} `needs --allow-ffi to use the blas backend`.
 * @example
 * ```ts
 * import { requireBackendPermissions } from "./main.ts";
 * requireBackendPermissions("wasm"); // nothing to check
 * ```
 */
export function requireBackendPermissions(backend: string | undefined): void {
  if (backend !== "blas") return;
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
    throw new UsageError(
      "needs --allow-ffi to use the blas backend (OpenBLAS is loaded through Deno FFI; run " +
        "through deno task, or add --allow-ffi)",
    );
  }
}
