/**
 * The blas backend must not crash when a process exits (issue 8): with Debian's OpenMP build of
 * OpenBLAS, Deno's `dlclose` at exit unmapped libgomp under its spinning worker threads and the
 * process died with SIGSEGV after finishing its work. These tests start short processes with each
 * installed build (see `bench/exit_stress.ts`) and check how the loader picks and reports a build.
 */
import assert from "node:assert/strict";
import { exitStress } from "../bench/exit_stress.ts";
import { installedOpenBlasBuilds } from "../src/backends/blas/openblas.ts";

const builds = installedOpenBlasBuilds();
const both = builds.pthread !== undefined && builds.openmp !== undefined;
/** About 20 processes in all: split across the builds when both are installed. */
const PROCESSES = both ? 10 : 20;

function missing(build: "pthread" | "openmp"): boolean {
  if (builds[build] !== undefined) return false;
  console.warn(
    `blas_exit_test: skipping the ${build} exit stress: ${
      build === "pthread" ? "libopenblas0-pthread" : "libopenblas0-openmp"
    } is not installed (no /usr/lib/${Deno.build.arch}-linux-gnu/openblas-${build}/libopenblas.so.0)`,
  );
  return true;
}

async function stress(library: "pthread" | "openmp", ompWaitPolicy?: string) {
  const lines: string[] = [];
  const { summary } = await exitStress({
    processes: PROCESSES,
    library,
    ompWaitPolicy,
    log: (l) => lines.push(l),
  });
  assert.equal(summary.processes, PROCESSES);
  assert.equal(summary.abnormal, 0, `abnormal exits:\n${lines.join("\n")}`);
  assert.deepEqual(Object.keys(summary.builds), [`${library} ${builds[library]}`]);
}

Deno.test({
  name: "exit stress: pthread build, no abnormal exit",
  ignore: missing("pthread"),
  fn: () => stress("pthread"),
});

Deno.test({
  // ACTIVE keeps libgomp's workers spinning through the whole teardown: without the fix every
  // one of these processes died with SIGSEGV.
  name: "exit stress: openmp build with OMP_WAIT_POLICY=ACTIVE, no abnormal exit",
  ignore: missing("openmp"),
  fn: () => stress("openmp", "ACTIVE"),
});

/** Runs a loader probe in a fresh process (the backend loads once per process). */
async function probe(env: Record<string, string>): Promise<Record<string, unknown>> {
  const url = new URL("../src/backends/blas/openblas.ts", import.meta.url).href;
  const code = `import { loadOpenBlas } from "${url}";
    const r = loadOpenBlas();
    console.log(JSON.stringify(r.ok
      ? { ok: true, library: r.blas.library, build: r.blas.build, pinned: r.blas.pinned,
          omp: Deno.env.get("OMP_WAIT_POLICY") ?? null }
      : { ok: false, reason: r.reason }));`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    env: { ...env },
    stderr: "inherit",
  }).output();
  assert.equal(out.code, 0);
  return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
}

Deno.test({
  name: "loader: pthread build preferred, OPENBLAS_LIBRARY forces a build, nothing leaks",
  ignore: !both,
  fn: async () => {
    // OPENBLAS_LIBRARY may be set by whoever runs the tests: blank it for the default choice.
    const auto = await probe({ OPENBLAS_LIBRARY: "" });
    assert.deepEqual(auto, {
      ok: true,
      library: builds.pthread,
      build: "pthread",
      pinned: true,
      omp: null,
    });
    const forced = await probe({ OPENBLAS_LIBRARY: "openmp" });
    assert.deepEqual(forced, {
      ok: true,
      library: builds.openmp,
      build: "openmp",
      pinned: true,
      omp: null, // PASSIVE was set for the load only
    });
    // A user's wait policy is left alone.
    assert.equal(
      (await probe({ OPENBLAS_LIBRARY: "openmp", OMP_WAIT_POLICY: "ACTIVE" })).omp,
      "ACTIVE",
    );
  },
});

Deno.test("loader: a forced library that does not load is an error naming it, no fallback", async () => {
  const r = await probe({ OPENBLAS_LIBRARY: "/nonexistent/libopenblas.so.0" });
  assert.equal(r.ok, false);
  assert.match(
    String(r.reason),
    /^expected OPENBLAS_LIBRARY=\/nonexistent\/libopenblas\.so\.0 to name an OpenBLAS shared library.*found: \/nonexistent\/libopenblas\.so\.0: /,
  );
});
