import assert from "node:assert/strict";
import { notebookEnv, notebookPaths, pickPython } from "../src/cli/notebooks.ts";

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
