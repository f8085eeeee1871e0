/**
 * Executes the notebooks in `notebooks/` with the project-local Deno kernel and checks that
 * their plotly figures render (see `notebooks/run_notebooks.py`). Arguments are passed to the
 * runner, e.g. `deno task notebooks --no-browser notebooks/00_plots.ipynb`.
 *
 * Needs Debian's Jupyter packages and Chromium: `bash notebooks/setup.sh` installs them.
 *
 * @example Usage
 * ```sh
 * deno task notebooks                      # run all, in place; HTML + PNG in out/notebooks/
 * deno task notebooks --output-dir /tmp/nb # keep the committed notebooks unchanged
 * ```
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { backendChoice, runCli, UsageError } from "./main.ts";

/** The usage line of `deno task notebooks` (the runner's own flags, checked before it starts). */
export const NOTEBOOKS_USAGE: string =
  "usage: deno task notebooks [--output-dir DIR] [--artifacts DIR] [--timeout S] [--grace S] " +
  "[--retries N] [--page-timeout S] [--width PX] [--chromium PATH] [--no-browser] [NOTEBOOK...]";

/**
 * Check the runner's flags (`notebooks/run_notebooks.py`) here, so a typo is a one-line error
 * before Python and Jupyter start.
 *
 * @example Usage
 * ```ts
 * import { checkNotebookArgs } from "./notebooks.ts";
 * checkNotebookArgs(["--no-browser", "notebooks/00_plots.ipynb"]); // { help: false }
 * ```
 *
 * @param args The command line.
 * @returns Whether `--help` was asked for.
 * @throws {TypeError} from `parseArgs` on an unknown flag or a missing value.
 * @throws {UsageError} for a bad number or a notebook file that does not exist.
 */
export function checkNotebookArgs(args: string[]): { help: boolean } {
  const text = { type: "string" } as const;
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      "output-dir": text,
      artifacts: text,
      timeout: text,
      grace: text,
      retries: text,
      "page-timeout": text,
      width: text,
      chromium: text,
      "no-browser": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  for (const [flag, v] of Object.entries(values)) {
    if (
      typeof v !== "string" ||
      !["timeout", "grace", "retries", "page-timeout", "width"].includes(flag)
    ) {
      continue;
    }
    const n = Number(v);
    const int = flag === "timeout" || flag === "retries" || flag === "width";
    if (v.trim() === "" || !Number.isFinite(n) || n < 0 || (int && !Number.isInteger(n))) {
      throw new UsageError(
        `expected --${flag} to be a non-negative ${int ? "integer" : "number"}, found "${v}"`,
      );
    }
  }
  for (const notebook of positionals) {
    try {
      Deno.statSync(notebook);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      throw new UsageError(`expected a notebook file, found no ${notebook}`);
    }
  }
  return { help: values.help === true };
}

/** Where the project keeps its notebooks, its kernelspec folder and the runner script. */
export interface NotebookPaths {
  /** The repository root. */
  root: string;
  /** `notebooks/jupyter`, the folder `JUPYTER_PATH` must contain. */
  jupyterPath: string;
  /** `notebooks/run_notebooks.py`. */
  runner: string;
}

/**
 * The notebook paths of the repository whose root is `root`.
 *
 * @example Usage
 * ```ts
 * import { notebookPaths } from "./notebooks.ts";
 * notebookPaths("/repo").jupyterPath; // "/repo/notebooks/jupyter"
 * ```
 *
 * @param root Repository root. Default: two folders above this file.
 * @returns The paths.
 */
export function notebookPaths(
  root: string = fileURLToPath(new URL("../../", import.meta.url)),
): NotebookPaths {
  const base = root.replace(/\/+$/, "");
  return {
    root: base,
    jupyterPath: `${base}/notebooks/jupyter`,
    runner: `${base}/notebooks/run_notebooks.py`,
  };
}

/**
 * The environment the runner needs: `JUPYTER_PATH` starting with the project's kernelspec
 * folder (so the kernel named `deno` is the project-local one) and `PATH` containing the
 * directory of the running `deno`, which the kernelspec starts by name.
 *
 * @example Usage
 * ```ts
 * import { notebookEnv } from "./notebooks.ts";
 * const env = notebookEnv("/repo/notebooks/jupyter", "/opt/deno/deno", { PATH: "/usr/bin" });
 * // env.JUPYTER_PATH === "/repo/notebooks/jupyter", env.PATH === "/opt/deno:/usr/bin"
 * ```
 *
 * @param jupyterPath The kernelspec folder to put first.
 * @param denoPath The `deno` executable the kernel should use.
 * @param env The current environment.
 * @returns The variables to set (only `JUPYTER_PATH` and `PATH`).
 */
export function notebookEnv(
  jupyterPath: string,
  denoPath: string,
  env: Record<string, string | undefined>,
): { JUPYTER_PATH: string; PATH: string } {
  const jupyter = (env.JUPYTER_PATH ?? "").split(":").filter((p) => p !== "" && p !== jupyterPath);
  const denoDir = denoPath.slice(0, denoPath.lastIndexOf("/")) || "/";
  const path = (env.PATH ?? "").split(":").filter((p) => p !== "");
  return {
    JUPYTER_PATH: [jupyterPath, ...jupyter].join(":"),
    PATH: (path.includes(denoDir) ? path : [denoDir, ...path]).join(":"),
  };
}

/**
 * The Python that has Debian's nbclient and nbconvert: `$COCA_PYTHON` when set, otherwise
 * `/usr/bin/python3` when it exists (a pyenv or venv `python3` earlier on `PATH` usually lacks
 * the Debian packages), otherwise `python3`.
 *
 * @example Usage
 * ```ts
 * import { pickPython } from "./notebooks.ts";
 * pickPython({ COCA_PYTHON: "/venv/bin/python" }, () => true); // "/venv/bin/python"
 * ```
 *
 * @param env The current environment.
 * @param exists Whether a file exists (injectable for tests).
 * @returns The Python executable.
 */
export function pickPython(
  env: Record<string, string | undefined>,
  exists: (path: string) => boolean,
): string {
  if (env.COCA_PYTHON) return env.COCA_PYTHON;
  return exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
}

function fileExists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

async function main(args: string[]): Promise<number> {
  if (checkNotebookArgs(args).help) {
    console.log(NOTEBOOKS_USAGE);
    return 0;
  }
  // The kernels inherit the environment: a bad COCA_BACKEND fails here, in one line.
  backendChoice(undefined);
  const paths = notebookPaths();
  const python = pickPython(Deno.env.toObject(), fileExists);
  const env = notebookEnv(paths.jupyterPath, Deno.execPath(), Deno.env.toObject());
  const probe = await new Deno.Command(python, {
    args: ["-c", "import nbclient, nbconvert, nbformat"],
    stdout: "null",
    stderr: "null",
  }).output().catch(() => ({ success: false }));
  if (!probe.success) {
    throw new UsageError(
      `expected ${python} to import nbclient, nbconvert and nbformat, found it ` +
        `unable to; run "bash notebooks/setup.sh" (as root) or set COCA_PYTHON`,
    );
  }
  const child = new Deno.Command(python, {
    args: [paths.runner, ...args],
    cwd: paths.root,
    env,
    stdin: "null",
  }).spawn();
  return (await child.status).code;
}

if (import.meta.main) Deno.exit(await runCli("notebooks", NOTEBOOKS_USAGE, main));
