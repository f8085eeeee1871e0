import assert from "node:assert/strict";
import { checkNotebookArgs, notebookEnv, notebookPaths, pickPython } from "../src/cli/notebooks.ts";

Deno.test("notebookPaths points at the project's kernelspec folder and runner", async () => {
  const paths = notebookPaths();
  assert.ok(!paths.root.endsWith("/"));
  const spec = JSON.parse(
    await Deno.readTextFile(`${paths.jupyterPath}/kernels/deno/kernel.json`),
  );
  assert.deepEqual(spec.argv, ["deno", "jupyter", "--kernel", "--conn", "{connection_file}"]);
  assert.ok((await Deno.stat(paths.runner)).isFile);
  assert.equal(notebookPaths("/repo/").runner, "/repo/notebooks/run_notebooks.py");
});

Deno.test("notebookEnv puts the project kernelspec first and deno on PATH once", () => {
  assert.deepEqual(
    notebookEnv("/r/notebooks/jupyter", "/opt/deno/bin/deno", {
      JUPYTER_PATH: "/usr/share/jupyter:/r/notebooks/jupyter",
      PATH: "/usr/bin:/bin",
    }),
    {
      JUPYTER_PATH: "/r/notebooks/jupyter:/usr/share/jupyter",
      PATH: "/opt/deno/bin:/usr/bin:/bin",
    },
  );
  assert.deepEqual(notebookEnv("/k", "/usr/bin/deno", { PATH: "/usr/bin" }), {
    JUPYTER_PATH: "/k",
    PATH: "/usr/bin",
  });
});

Deno.test("pickPython prefers COCA_PYTHON, then Debian's python3", () => {
  assert.equal(pickPython({ COCA_PYTHON: "/v/python" }, () => true), "/v/python");
  assert.equal(pickPython({}, (p) => p === "/usr/bin/python3"), "/usr/bin/python3");
  assert.equal(pickPython({}, () => false), "python3");
});

Deno.test("checkNotebookArgs checks the runner's flags before Python starts", () => {
  const nb = `${notebookPaths().root}/notebooks/00_plots.ipynb`;
  assert.deepEqual(checkNotebookArgs(["--no-browser", "--timeout", "30", nb]), { help: false });
  assert.deepEqual(checkNotebookArgs(["-h"]), { help: true });
  assert.throws(() => checkNotebookArgs(["--timout", "30"]), /Unknown option '--timout'/);
  assert.throws(
    () => checkNotebookArgs(["--timeout", "3.5"]),
    /--timeout to be a non-negative integer, found "3.5"/,
  );
  assert.throws(() => checkNotebookArgs(["--grace", "x"]), /--grace to be a non-negative number/);
  assert.throws(
    () => checkNotebookArgs(["nope.ipynb"]),
    /expected a notebook file, found no nope.ipynb/,
  );
});

const hasNbclient = (() => {
  try {
    return new Deno.Command("/usr/bin/python3", {
      args: ["-c", "import nbclient, nbconvert, nbformat"],
      stdout: "null",
      stderr: "null",
    }).outputSync().success;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "the runner re-runs a notebook whose kernel stream broke, and only that kind of failure",
  ignore: !hasNbclient,
  fn: async () => {
    // Drives run_notebooks.execute with a stand-in for nbclient's execute: the first calls raise
    // what jupyter_client raises on interleaved frames, a later one succeeds.
    const script = `
import json, sys, types
sys.path.insert(0, "notebooks")
import run_notebooks as rn
from pathlib import Path

calls = []
def make(failures, error):
    def fake_execute(self, *a, **k):
        calls.append(1)
        if len(calls) <= failures:
            raise error
    return fake_execute

out = {}
for name, failures, error in [
    ("recovers", 1, ValueError("Invalid Signature: b'00ff'")),
    ("gives_up", 9, ValueError("Invalid Signature: b'00ff'")),
    ("no_retry", 9, RuntimeError("Kernel died before replying to kernel_info")),
]:
    calls.clear()
    rn.LateOutputClient.execute = make(failures, error)
    args = types.SimpleNamespace(timeout=5, grace=0.1, retries=2)
    result = rn.Result(notebook=Path("notebooks/00_plots.ipynb"))
    rn.execute(Path("notebooks/00_plots.ipynb"), args, result)
    out[name] = {"calls": len(calls), "errors": result.errors, "warnings": result.warnings}
print(json.dumps(out))
`;
    const run = await new Deno.Command("/usr/bin/python3", {
      args: ["-c", script],
      cwd: notebookPaths().root,
    }).output();
    const stderr = new TextDecoder().decode(run.stderr);
    assert.ok(run.success, stderr);
    const out = JSON.parse(new TextDecoder().decode(run.stdout));
    assert.equal(out.recovers.calls, 2);
    assert.deepEqual(out.recovers.errors, []);
    assert.equal(out.recovers.warnings.length, 1);
    assert.match(out.recovers.warnings[0], /attempt 1: the kernel's message stream was corrupted/);
    assert.equal(out.gives_up.calls, 3);
    assert.equal(out.gives_up.warnings.length, 2);
    assert.deepEqual(out.gives_up.errors, ["ValueError: Invalid Signature: b'00ff'"]);
    assert.equal(out.no_retry.calls, 1);
    assert.deepEqual(out.no_retry.warnings, []);
    assert.match(out.no_retry.errors[0], /^RuntimeError: Kernel died/);
  },
});
