import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { join, resolve } from "node:path";
import {
  estimateEta,
  expandSweep,
  formatProgress,
  groupBy,
  loadResults,
  loadSteps,
  ResultsStore,
  runSweep,
  SweepMismatchError,
  type SweepProgress,
  type SweepSpec,
  SweepSpecError,
  trialId,
  type TrialResult,
  validateSweepSpec,
} from "../src/sweep/mod.ts";

const FAKE_TRIAL = resolve("tests/fixtures/sweep/fake_trial.ts");
const CLI = resolve("src/cli/sweep_run.ts");

function lrSpec(extra: Partial<SweepSpec> = {}): SweepSpec {
  return {
    name: "lr",
    base: { optim: { lr: 1e-3, wd: 0 }, model: { depth: 2 }, steps: 10 },
    grid: { "optim.lr": [1e-3, 3e-4], "model.depth": [2, 4, 6] },
    seeds: [0, 1],
    ...extra,
  };
}

/** Spec for the fake trial; `log` collects one start/end line per execution. */
function fakeSpec(dir: string, extra: Record<string, unknown> = {}, xs = [1, 2, 3]): SweepSpec {
  return {
    name: "fake",
    base: {
      x: 0,
      steps: 3,
      sleepMs: 20,
      log: join(dir, "exec.log"),
      ...extra,
    } as SweepSpec["base"],
    grid: { x: xs },
    seeds: [0, 1],
  };
}

function execLog(dir: string): { kind: string; id: string; pid: number }[] {
  let text = "";
  try {
    text = Deno.readTextFileSync(join(dir, "exec.log"));
  } catch { /* no execution yet */ }
  return text.trim().split("\n").filter((l) => l).map((l) => {
    const [kind, id, pid] = l.split(" ");
    return { kind, id, pid: Number(pid) };
  });
}

function byX(rows: TrialResult[], x: number, seed = 0): TrialResult {
  const row = rows.find((r) => r.config.x === x && r.seed === seed);
  assert.ok(row, `no trial with x=${x} seed=${seed}`);
  return row;
}

// ---------------------------------------------------------------- expansion

Deno.test("expandSweep: grid count, order (last key fastest, seed fastest) and configs", () => {
  const trials = expandSweep(lrSpec());
  assert.equal(trials.length, 2 * 3 * 2);
  const combos = trials.map((t) => [t.overrides["optim.lr"], t.overrides["model.depth"], t.seed]);
  assert.deepEqual(combos.slice(0, 7), [
    [1e-3, 2, 0],
    [1e-3, 2, 1],
    [1e-3, 4, 0],
    [1e-3, 4, 1],
    [1e-3, 6, 0],
    [1e-3, 6, 1],
    [3e-4, 2, 0],
  ]);
  assert.deepEqual(trials.map((t) => t.index), trials.map((_, i) => i));
  const t = trials[9]; // lr 3e-4, depth 4, seed 1
  assert.deepEqual(t.config, {
    optim: { lr: 3e-4, wd: 0 },
    model: { depth: 4 },
    steps: 10,
    seed: 1,
  });
  assert.equal(new Set(trials.map((t) => t.id)).size, trials.length);
});

Deno.test("expandSweep: ids are stable, filesystem-safe and depend only on overrides + seed", () => {
  const a = expandSweep(lrSpec());
  const b = expandSweep(lrSpec());
  assert.deepEqual(a.map((t) => t.id), b.map((t) => t.id));
  for (const t of a) {
    assert.match(t.id, /^[A-Za-z0-9._=+-]+-[0-9a-f]{10}$/);
    assert.equal(t.id, trialId(t.overrides, t.seed));
  }
  assert.match(a[0].id, /^lr=0\.001_depth=2_s0-/);
  // Another base and an extra grid value keep the ids of the shared trials.
  const c = expandSweep(lrSpec({
    base: { optim: { lr: 5, wd: 0.1 }, model: { depth: 1 }, steps: 99 },
    grid: { "optim.lr": [1e-3, 3e-4, 1e-4], "model.depth": [2, 4, 6] },
  }));
  const cIds = new Set(c.map((t) => t.id));
  assert.ok(a.every((t) => cIds.has(t.id)));
  // The hash ignores override key order.
  assert.equal(
    trialId({ a: 1, b: 2 }, 0).slice(-10),
    trialId({ b: 2, a: 1 }, 0).slice(-10),
  );
  assert.notEqual(trialId({ a: 1 }, 0), trialId({ a: 1 }, 1));
});

Deno.test("expandSweep: a path missing from base is an error naming it, unless allowed", () => {
  const bad = lrSpec({ grid: { "optim.lrr": [1, 2] } });
  assert.throws(() => expandSweep(bad), (e: Error) => {
    assert.ok(e instanceof SweepSpecError);
    assert.match(e.message, /"optim\.lrr"/);
    assert.match(e.message, /keys there: lr, wd/);
    return true;
  });
  assert.throws(
    () => expandSweep(lrSpec({ grid: { "steps.n": [1] } })),
    /"steps\.n".*expected an object at "steps", found number/,
  );
  const ok = expandSweep(
    lrSpec({ grid: { "optim.beta2": [0.98] }, allowNewPaths: ["optim.beta2"] }),
  );
  assert.equal((ok[0].config.optim as Record<string, number>).beta2, 0.98);
  const noSeed = expandSweep(lrSpec({ seedPath: null }));
  assert.equal("seed" in noSeed[0].config, false);
});

Deno.test("validateSweepSpec: rejects malformed specs with the field named", () => {
  const cases: [unknown, RegExp][] = [
    [
      { ...lrSpec(), seedz: [0] },
      /unknown key\(s\) in the sweep spec: "seedz"; expected some of name/,
    ],
    [{ ...lrSpec(), seeds: [0, 0] }, /expected seeds to be distinct, found \[0,0\]/],
    [{ ...lrSpec(), seeds: [] }, /expected seeds to be a non-empty array of integers, found \[\]/],
    [
      { ...lrSpec(), grid: { "optim.lr": [] } },
      /expected grid\["optim\.lr"\] to be a non-empty array, found \[\]/,
    ],
    [
      { ...lrSpec(), base: { a: NaN } },
      /expected base to be a plain JSON object \(finite numbers only\)/,
    ],
    [
      { ...lrSpec(), random: { samples: 2, space: { "optim.lr": { values: [1] } } } },
      /path "optim\.lr" is set more than once/,
    ],
    [
      { ...lrSpec(), random: { samples: 2, space: { "optim.wd": { min: 0, max: 1, log: true } } } },
      /expected random\.space\["optim\.wd"\]\.min > 0 for log sampling, found 0/,
    ],
  ];
  for (const [spec, re] of cases) assert.throws(() => validateSweepSpec(spec), re);
});

Deno.test("expandSweep: random search is deterministic, in range and crossed with the grid", () => {
  const spec = (seed: number): SweepSpec => ({
    name: "rand",
    base: { optim: { lr: 0, wd: 0 }, model: { depth: 2, act: "gelu" } },
    grid: { "model.depth": [2, 4] },
    random: {
      samples: 5,
      seed,
      space: {
        "optim.lr": { min: 1e-5, max: 1e-2, log: true },
        "optim.wd": { min: 0, max: 0.1 },
        "model.act": { values: ["gelu", "relu", "silu"] },
      },
    },
    seeds: [7],
  });
  const a = expandSweep(spec(1));
  assert.deepEqual(expandSweep(spec(1)), a);
  assert.equal(a.length, 2 * 5);
  assert.notDeepEqual(expandSweep(spec(2)).map((t) => t.id), a.map((t) => t.id));
  // The same 5 random points for each grid value, in the same order.
  const pick = (t: (typeof a)[number]) => [t.overrides["optim.lr"], t.overrides["model.act"]];
  assert.deepEqual(a.slice(0, 5).map(pick), a.slice(5).map(pick));
  const lrs = a.slice(0, 5).map((t) => t.overrides["optim.lr"] as number);
  assert.ok(lrs.every((x) => x >= 1e-5 && x <= 1e-2), `lr out of range: ${lrs}`);
  assert.equal(new Set(lrs).size, 5);
  for (const t of a) {
    const wd = t.overrides["optim.wd"] as number;
    assert.ok(wd >= 0 && wd < 0.1);
    assert.ok(["gelu", "relu", "silu"].includes(t.overrides["model.act"] as string));
    assert.equal(t.config.seed, 7);
  }
  // A tiny discrete space: duplicates are dropped, so at most 2 distinct points remain.
  const small = expandSweep({
    name: "small",
    base: { k: 0 },
    random: { samples: 20, space: { k: { min: 1, max: 2, integer: true } } },
    seeds: [0],
  });
  assert.deepEqual(small.map((t) => t.config.k).sort(), [1, 2]);
});

// ---------------------------------------------------------------- runner

Deno.test("runSweep: records trials, steps, provenance and progress in SQLite", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sweep_run_" });
  const outDir = join(dir, "out");
  const events: SweepProgress[] = [];
  const summary = await runSweep({
    spec: fakeSpec(dir),
    outDir,
    entry: FAKE_TRIAL,
    concurrency: 2,
    versions: { tfjs: "4.22.0" },
    gitCommit: "0123456789abcdef0123456789abcdef01234567",
    onProgress: (p) => events.push(p),
  });
  assert.equal(summary.total, 6);
  assert.equal(summary.done, 6);
  assert.equal(summary.started, 6);
  assert.equal(summary.failed, 0);

  const rows = loadResults(summary.dbPath);
  assert.equal(rows.length, 6);
  assert.deepEqual(rows.map((r) => r.id), expandSweep(fakeSpec(dir)).map((t) => t.id));
  for (const r of rows) {
    const x = r.config.x as number;
    assert.equal(r.status, "done");
    assert.equal(r.sweep, "fake");
    assert.equal(r.attempts, 1);
    assert.deepEqual(r.final, { loss: x * x + r.seed / 10, steps: 3 });
    assert.equal(r.backend, "fake");
    assert.equal(r.versions?.deno, Deno.version.deno);
    assert.equal(r.versions?.tfjs, "4.22.0");
    assert.equal(r.versions?.fake_trial, "1");
    assert.equal(r.gitCommit, "0123456789abcdef0123456789abcdef01234567");
    assert.ok(r.wallSeconds! > 0.06, `wall ${r.wallSeconds} shorter than 3 sleeps of 20 ms`);
    assert.ok(Date.parse(r.finishedAt!) >= Date.parse(r.startedAt!));
    const steps = loadSteps(summary.dbPath, r.id);
    assert.deepEqual(steps.map((s) => s.step), [1, 2, 3]);
    for (const s of steps) assert.equal(s.metrics.loss, (x + r.seed / 10) / s.step);
    const cfgOnDisk = JSON.parse(
      await Deno.readTextFile(join(outDir, "trials", r.id, "config.json")),
    );
    assert.deepEqual(cfgOnDisk, r.config);
  }

  const db = new DatabaseSync(summary.dbPath, { readOnly: true });
  // WAL while the runner writes; a rollback journal again once it has closed the database.
  assert.deepEqual({ ...db.prepare("PRAGMA journal_mode").get() }, { journal_mode: "delete" });
  const sweepRow = db.prepare("SELECT name, spec FROM sweeps").all() as {
    name: string;
    spec: string;
  }[];
  assert.equal(sweepRow.length, 1);
  assert.deepEqual(JSON.parse(sweepRow[0].spec), fakeSpec(dir));
  db.close();

  assert.equal(events[0].event.type, "start");
  assert.equal(events.at(-1)!.event.type, "finish");
  assert.equal(events.at(-1)!.done, 6);
  assert.equal(events.at(-1)!.etaSeconds, 0);
  assert.equal(Math.max(...events.map((e) => e.running)), 2);
  assert.equal(events.filter((e) => e.event.type === "trial-done").length, 6);
  const mid = events.find((e) => e.event.type === "trial-done")!;
  assert.ok(mid.meanTrialSeconds! > 0 && mid.etaSeconds! > 0);

  // A rerun of a finished sweep starts nothing and keeps every row.
  const again = await runSweep({ spec: fakeSpec(dir), outDir, entry: FAKE_TRIAL });
  assert.equal(again.started, 0);
  assert.equal(again.done, 6);
  assert.equal(execLog(dir).filter((l) => l.kind === "start").length, 6);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("runSweep: failing trials are recorded with stderr tail, the sweep goes on, retry", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sweep_fail_" });
  const outDir = join(dir, "out");
  const spec = fakeSpec(dir, { failWhenX: 2, noFinalWhenX: 3 });
  const summary = await runSweep({ spec, outDir, entry: FAKE_TRIAL, gitCommit: null });
  assert.equal(summary.done, 2);
  assert.equal(summary.failed, 4);
  const rows = loadResults(summary.dbPath);
  const crashed = byX(rows, 2, 1);
  assert.equal(crashed.status, "failed");
  assert.equal(crashed.final, null);
  assert.match(crashed.error!, /^trial exited with code 3\n--- stderr \(tail\) ---\n/);
  assert.match(crashed.error!, /fake trial: diverged at step 2 \(x=2\)/);
  assert.deepEqual(loadSteps(summary.dbPath, crashed.id).map((s) => s.step), [1, 2]);
  const noFinal = byX(rows, 3);
  assert.equal(noFinal.status, "failed");
  assert.match(noFinal.error!, /exited 0 but wrote no final\.json/);
  assert.equal(byX(rows, 1).status, "done");
  assert.equal(byX(rows, 1).gitCommit, null);

  // Without retryFailed nothing reruns; with it only the failed trials run (and fail again).
  assert.equal((await runSweep({ spec, outDir, entry: FAKE_TRIAL })).started, 0);
  const retried = await runSweep({ spec, outDir, entry: FAKE_TRIAL, retryFailed: true });
  assert.equal(retried.started, 4);
  const after = loadResults(summary.dbPath);
  assert.deepEqual(after.map((r) => r.attempts), rows.map((r) => r.status === "failed" ? 2 : 1));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("runSweep: a trial that crashes after a valid final.json is failed, signal named", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sweep_crash_" });
  const outDir = join(dir, "out");
  const spec: SweepSpec = {
    ...fakeSpec(dir, { crashAfterFinalWhenX: 2, crashSignal: "SIGSEGV" }),
    grid: { x: [1, 2], crashSignal: ["SIGSEGV", "SIGABRT"] },
    seeds: [0],
  };
  // The trials run in their own folders, so that a core dump (where enabled) lands there.
  const summary = await runSweep({
    spec,
    outDir,
    command: (t) => ({
      cmd: Deno.execPath(),
      args: ["run", "-A", FAKE_TRIAL, "--config", t.configPath, "--out", t.trialDir],
      cwd: t.trialDir,
    }),
    gitCommit: null,
  });
  assert.equal(summary.done, 2);
  assert.equal(summary.failed, 2);
  const rows = loadResults(summary.dbPath);
  for (const [signal, code] of [["SIGSEGV", 139], ["SIGABRT", 134]] as const) {
    const row = rows.find((r) => r.config.x === 2 && r.config.crashSignal === signal)!;
    assert.equal(row.status, "failed");
    assert.equal(row.final, null, "a crashed trial's final.json is not recorded");
    assert.match(
      row.error!,
      new RegExp(
        `^trial killed by signal ${signal} \\(exit code ${code}\\) after writing a valid ` +
          `final\\.json \\(not recorded\\)\n--- stderr \\(tail\\) ---\n`,
      ),
    );
    assert.match(row.error!, new RegExp(`fake trial: crashing with ${signal} after final\\.json`));
    assert.deepEqual(loadSteps(summary.dbPath, row.id).map((s) => s.step), [1, 2, 3]);
  }
  assert.ok(rows.filter((r) => r.config.x === 1).every((r) => r.status === "done"));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("runSweep: a hanging trial is killed at the timeout and recorded failed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sweep_timeout_" });
  const spec = { ...fakeSpec(dir, { hangFirstAttemptX: 1 }, [1]), seeds: [0] };
  const t0 = performance.now();
  const summary = await runSweep({
    spec,
    outDir: join(dir, "out"),
    entry: FAKE_TRIAL,
    trialTimeoutSeconds: 0.5,
  });
  assert.ok(performance.now() - t0 < 10_000);
  const [row] = loadResults(summary.dbPath);
  assert.equal(row.status, "failed");
  assert.match(row.error!, /^trial timed out after 0\.5 s/);
  assert.equal(execLog(dir).filter((l) => l.kind === "end").length, 0);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("runSweep: a different spec for an existing outDir is refused unless forced", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sweep_mismatch_" });
  const outDir = join(dir, "out");
  const spec = { ...fakeSpec(dir, { sleepMs: 0, steps: 1 }, [1, 2]), seeds: [0] };
  await runSweep({ spec, outDir, entry: FAKE_TRIAL });
  const changed = { ...spec, grid: { x: [2, 5] } };
  await assert.rejects(
    () => runSweep({ spec: changed, outDir, entry: FAKE_TRIAL }),
    (e: Error) => {
      assert.ok(e instanceof SweepMismatchError);
      assert.equal(e.added.length, 1);
      assert.equal(e.removed.length, 1);
      assert.match(e.message, /1 new, 1 missing, 0 with a changed config/);
      return true;
    },
  );
  const forced = await runSweep({ spec: changed, outDir, entry: FAKE_TRIAL, force: true });
  assert.equal(forced.started, 1);
  const rows = loadResults(forced.dbPath);
  assert.deepEqual(rows.map((r) => r.config.x), [2, 5]);
  assert.deepEqual(rows.map((r) => r.attempts), [1, 1]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("runSweep: a second runner on the same outDir is refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sweep_lock_" });
  const held = await Deno.open(join(dir, ".runner.lock"), { create: true, write: true });
  await held.lock(true);
  await assert.rejects(
    () => runSweep({ spec: fakeSpec(dir), outDir: dir, entry: FAKE_TRIAL }),
    /Expected no other runner on .*found its lock held/,
  );
  held.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("runSweep: SIGKILL of the runner mid-sweep, then rerun: nothing lost or run twice", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sweep_kill_" });
  const outDir = join(dir, "out");
  // x=2 hangs on its first execution, so the runner is surely killed while it runs.
  const spec = { ...fakeSpec(dir, { hangFirstAttemptX: 2 }), seeds: [0] };
  const specPath = join(dir, "spec.json");
  await Deno.writeTextFile(specPath, JSON.stringify(spec));
  const runner = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, "--spec", specPath, "--out", outDir, "--entry", FAKE_TRIAL],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const dbPath = join(outDir, "results.sqlite");
  const deadline = Date.now() + 20_000;
  let hungPid = 0;
  while (hungPid === 0) {
    assert.ok(Date.now() < deadline, "runner did not reach the hanging trial in time");
    await new Promise((r) => setTimeout(r, 50));
    let rows: TrialResult[];
    try {
      rows = loadResults(dbPath);
    } catch {
      continue; // database not created yet
    }
    if (rows.length !== 3 || byX(rows, 1).status !== "done") continue;
    if (byX(rows, 2).status !== "running") continue;
    hungPid = execLog(dir).find((l) => l.kind === "start" && l.id === byX(rows, 2).id)?.pid ?? 0;
  }
  try {
    await resumeAfterKill(dir, outDir, spec, runner, hungPid);
  } finally {
    try {
      Deno.kill(hungPid, "SIGKILL"); // only reached if the runner failed to clean it up
    } catch { /* already gone, as expected */ }
  }
  await Deno.remove(dir, { recursive: true });
});

async function resumeAfterKill(
  dir: string,
  outDir: string,
  spec: SweepSpec,
  runner: Deno.ChildProcess,
  hungPid: number,
): Promise<void> {
  const dbPath = join(outDir, "results.sqlite");
  runner.kill("SIGKILL");
  const st = await runner.status;
  await runner.stderr.cancel();
  assert.equal(st.signal, "SIGKILL");
  assert.ok(Deno.statSync(`/proc/${hungPid}`).isDirectory, "the orphaned trial should still run");

  const killedRows = loadResults(dbPath);
  assert.deepEqual(killedRows.map((r) => r.status), ["done", "running", "pending"]);

  const resumed = await runSweep({ spec, outDir, entry: FAKE_TRIAL });
  assert.equal(resumed.recovered, 1);
  assert.equal(resumed.orphansKilled, 1);
  assert.equal(resumed.started, 2);
  assert.equal(resumed.done, 3);

  const rows = loadResults(dbPath);
  assert.deepEqual(rows.map((r) => r.status), ["done", "done", "done"]);
  assert.deepEqual(rows.map((r) => r.attempts), [1, 2, 1]);
  const log = execLog(dir);
  const count = (kind: string, id: string) =>
    log.filter((l) => l.kind === kind && l.id === id).length;
  const [a, b, c] = rows.map((r) => r.id);
  assert.deepEqual([count("start", a), count("start", b), count("start", c)], [1, 2, 1]);
  assert.deepEqual([count("end", a), count("end", b), count("end", c)], [1, 1, 1]);
  assert.ok(!log.some((l) => l.kind === "end" && l.pid === hungPid), "orphan must not finish");
  for (const r of rows) {
    assert.deepEqual(loadSteps(dbPath, r.id).map((s) => s.step), [1, 2, 3]);
  }
}

Deno.test("runSweep: aborting kills running trials and leaves them pending", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sweep_abort_" });
  const spec = { ...fakeSpec(dir, { hangFirstAttemptX: 1 }, [1, 2]), seeds: [0] };
  const ctl = new AbortController();
  const summary = await runSweep({
    spec,
    outDir: join(dir, "out"),
    entry: FAKE_TRIAL,
    signal: ctl.signal,
    onProgress: (p) => {
      if (p.event.type === "trial-start") setTimeout(() => ctl.abort(), 300);
    },
  });
  assert.equal(summary.aborted, true);
  assert.equal(summary.pending, 2);
  const rows = loadResults(summary.dbPath);
  assert.deepEqual(rows.map((r) => [r.status, r.attempts]), [["pending", 1], ["pending", 0]]);
  await Deno.remove(dir, { recursive: true });
});

// ---------------------------------------------------------------- reporting

function row(id: string, lr: number, seed: number, loss: number | null): TrialResult {
  return {
    id,
    sweep: "s",
    order: 0,
    config: { optim: { lr }, seed },
    overrides: { "optim.lr": lr },
    seed,
    status: loss === null ? "failed" : "done",
    final: loss === null ? null : { val: { loss } },
    wallSeconds: 1,
    backend: null,
    versions: null,
    gitCommit: null,
    startedAt: null,
    finishedAt: null,
    error: null,
    attempts: 1,
  };
}

Deno.test("groupBy: mean / sample std over seeds per config value, failures counted missing", () => {
  const rows = [
    row("a", 1e-3, 0, 1.0),
    row("b", 1e-3, 1, 2.0),
    row("c", 1e-3, 2, 4.0),
    row("d", 3e-4, 0, 5.0),
    row("e", 3e-4, 1, null),
  ];
  const groups = groupBy(rows, "optim.lr", "val.loss");
  assert.deepEqual(groups.map((g) => g.label), ["optim.lr=0.001", "optim.lr=0.0003"]);
  const [g1, g2] = groups;
  assert.equal(g1.n, 3);
  assert.equal(g1.mean, 7 / 3);
  const expectedVar = ((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 2;
  assert.ok(Math.abs(g1.std - Math.sqrt(expectedVar)) < 1e-12);
  assert.deepEqual([g1.min, g1.max, g1.seeds, g1.missing], [1, 4, [0, 1, 2], 0]);
  assert.deepEqual([g2.n, g2.mean, g2.std, g2.missing, g2.trialIds], [1, 5, 0, 1, ["d"]]);
  const bySeed = groupBy(rows, ["optim.lr", "seed"], "val.loss");
  assert.equal(bySeed.length, 5);
  assert.throws(() => groupBy(rows, "optim.beta", "val.loss"), /"optim\.beta" in trial "a"/);
});

Deno.test("formatProgress / estimateEta: TTY line vs plain lines", () => {
  assert.equal(estimateEta({ pending: 3, running: 1, meanTrialSeconds: 10, concurrency: 2 }), 20);
  assert.equal(estimateEta({ pending: 1, running: 0, meanTrialSeconds: 10, concurrency: 4 }), 10);
  assert.equal(
    estimateEta({ pending: 2, running: 0, meanTrialSeconds: null, concurrency: 1 }),
    null,
  );
  const p: SweepProgress = {
    sweep: "lr",
    total: 12,
    done: 5,
    failed: 1,
    queued: 0,
    running: 2,
    pending: 4,
    runningIds: ["a", "b"],
    elapsedSeconds: 65,
    meanTrialSeconds: 30,
    etaSeconds: 185,
    event: { type: "trial-failed", trialId: "c", wallSeconds: 3, error: "exited 3\nstderr…" },
  };
  const tty = formatProgress(p, { tty: true, columns: 40 });
  assert.ok(tty.startsWith("\r\x1b[2K"));
  assert.ok(!tty.includes("\n"));
  assert.ok(tty.length - "\r\x1b[2K".length <= 39);
  const plain = formatProgress(p, { tty: false });
  assert.equal(
    plain,
    "[lr] 5/12 done, 1 failed, 2 running, ETA 3m05s, elapsed 1m05s | FAILED c: exited 3\n",
  );
});

Deno.test("ResultsStore: WAL while open, one rollback-journal file after close", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "results.sqlite");
    const store = ResultsStore.open(path);
    const spec: SweepSpec = { name: "j", base: { x: 1 }, grid: { x: [1, 2] }, seeds: [0] };
    store.syncSweep(spec, expandSweep(spec));
    assert.deepEqual({ ...store.db.prepare("PRAGMA journal_mode").get() }, { journal_mode: "wal" });
    store.close();
    const bytes = await Deno.readFile(path);
    // Header bytes 18 and 19: file format write/read versions, 1 = rollback journal, 2 = WAL.
    assert.deepEqual([bytes[18], bytes[19]], [1, 1]);
    for (const suffix of ["-wal", "-shm", "-journal"]) {
      await assert.rejects(() => Deno.stat(path + suffix), Deno.errors.NotFound, suffix);
    }
    assert.equal(loadResults(path).length, 2);
    // Reopened (a re-run into the same folder), written and closed again: still one file.
    const again = ResultsStore.open(path);
    again.resetFailed();
    again.close();
    assert.deepEqual([...(await Deno.readFile(path)).subarray(18, 20)], [1, 1]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------- threads per trial

Deno.test("trialBlasThreads: CPUs shared by the parallel trials, at least one each", async () => {
  const { trialBlasThreads } = await import("../src/sweep/run.ts");
  assert.equal(trialBlasThreads(2, 1), 2);
  assert.equal(trialBlasThreads(2, 2), 1);
  assert.equal(trialBlasThreads(2, 4), 1);
  assert.equal(trialBlasThreads(16, 3), 5);
});

Deno.test("runSweep: each trial's environment carries COCA_BLAS_THREADS = CPUs / concurrency", async () => {
  const protocol = new URL("../src/sweep/protocol.ts", import.meta.url).href;
  // A trial that reports the thread count it was given as its metric.
  const code = `import { writeFinal } from "${protocol}";
    await writeFinal(Deno.env.get("SWEEP_TRIAL_DIR"), {
      metrics: { threads: Number(Deno.env.get("COCA_BLAS_THREADS") ?? "NaN") } });`;
  const handSet = Deno.env.get("COCA_BLAS_THREADS");
  Deno.env.delete("COCA_BLAS_THREADS"); // a value set by whoever runs the tests would be inherited
  try {
    for (const [cpus, concurrency, want] of [[5, 2, 2], [1, 2, 1], [6, 1, 6]]) {
      const dir = await Deno.makeTempDir({ prefix: "sweep_threads_" });
      const summary = await runSweep({
        spec: { name: "threads", base: { x: 0 }, grid: { x: [1, 2] }, seeds: [0] },
        outDir: join(dir, "out"),
        command: () => ({ cmd: Deno.execPath(), args: ["eval", code] }),
        concurrency,
        cpus,
        gitCommit: null,
      });
      assert.equal(summary.done, 2);
      for (const r of loadResults(summary.dbPath)) {
        assert.deepEqual(r.final, { threads: want }, `cpus ${cpus}, concurrency ${concurrency}`);
      }
      await Deno.remove(dir, { recursive: true });
    }
    // A value set by hand in the runner's environment is passed on unchanged.
    Deno.env.set("COCA_BLAS_THREADS", "3");
    const dir = await Deno.makeTempDir({ prefix: "sweep_threads_" });
    const summary = await runSweep({
      spec: { name: "threads", base: { x: 0 }, grid: { x: [1] }, seeds: [0] },
      outDir: join(dir, "out"),
      command: () => ({ cmd: Deno.execPath(), args: ["eval", code] }),
      concurrency: 2,
      cpus: 2,
      gitCommit: null,
    });
    assert.deepEqual(loadResults(summary.dbPath)[0].final, { threads: 3 });
    await Deno.remove(dir, { recursive: true });
  } finally {
    if (handSet === undefined) Deno.env.delete("COCA_BLAS_THREADS");
    else Deno.env.set("COCA_BLAS_THREADS", handSet);
  }
});

// ---------------------------------------------------------------- executors and schema v2

Deno.test("ResultsStore: a committed results database migrates to schema v2 and resumes with nothing to run", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sweep_migrate_" });
  try {
    const committed = resolve("experiments/results/loss_weights-quick/results.sqlite");
    const path = join(dir, "results.sqlite");
    await Deno.copyFile(committed, path);
    const old = new DatabaseSync(path, { readOnly: true });
    const version0 = old.prepare("PRAGMA user_version").get() as { user_version: number };
    const stepsBefore = (old.prepare("SELECT COUNT(*) AS n FROM steps").get() as { n: number }).n;
    const spec = JSON.parse(
      (old.prepare("SELECT spec FROM sweeps").get() as { spec: string }).spec,
    );
    old.close();
    assert.equal(version0.user_version, 0, "the committed databases predate executors");
    assert.ok(stepsBefore > 0);
    const before = loadResults(path);

    const store = ResultsStore.open(path);
    assert.deepEqual({ ...store.db.prepare("PRAGMA user_version").get() }, { user_version: 2 });
    const columns = (store.db.prepare("PRAGMA table_info(trials)").all() as { name: string }[])
      .map((c) => c.name);
    for (const c of ["executor", "batch", "job_id", "host"]) assert.ok(columns.includes(c), c);
    assert.equal(
      (store.db.prepare("SELECT COUNT(*) AS n FROM steps").get() as { n: number }).n,
      stepsBefore,
      "the rebuild of trials must not cascade to the steps",
    );
    assert.deepEqual({ ...store.db.prepare("PRAGMA foreign_key_check").all() }, {});
    store.close();

    const after = loadResults(path);
    const strip = (r: TrialResult) => ({
      ...r,
      executor: undefined,
      jobId: undefined,
      host: undefined,
    });
    assert.deepEqual(after.map(strip), before.map(strip));
    assert.ok(after.every((r) => r.executor === "local" && r.jobId === null && r.host === null));
    // Reopening a v2 database changes nothing; the stored sweep resumes with nothing to run.
    const summary = await runSweep({
      spec,
      outDir: dir,
      entry: FAKE_TRIAL,
      gitCommit: null,
    });
    assert.equal(summary.started, 0);
    assert.equal(summary.done, before.length);
    assert.deepEqual(loadResults(path), after);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ResultsStore: a database of a newer schema is refused, naming both versions", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sweep_newer_" });
  try {
    const path = join(dir, "results.sqlite");
    const db = new DatabaseSync(path);
    db.exec("PRAGMA user_version = 7");
    db.close();
    assert.throws(
      () => ResultsStore.open(path),
      /Expected a results database of schema version <= 2 .*found version 7/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Slurm helpers: squeue and scontrol parsing, sbatch arguments, kill reasons, exit records", async () => {
  const { parseScontrolJob, parseSqueue, sbatchArgs, slurmKilledBy, parseExitRecord } =
    await import(
      "../src/sweep/mod.ts"
    );
  assert.deepEqual(
    parseSqueue("7_0|RUNNING|node1|None|lr-ab\n7_1|PENDING||JobArrayTaskLimit|lr-ab\n"),
    [
      { jobId: "7_0", state: "RUNNING", nodes: "node1", reason: "None", name: "lr-ab" },
      { jobId: "7_1", state: "PENDING", nodes: "", reason: "JobArrayTaskLimit", name: "lr-ab" },
    ],
  );
  assert.throws(
    () => parseSqueue("7_0 RUNNING"),
    /Expected squeue lines "id\|state\|nodes\|reason\|name", found "7_0 RUNNING"/,
  );
  const line =
    "JobId=12 ArrayJobId=9 ArrayTaskId=3 JobName=lr-ab JobState=TIMEOUT Reason=TimeLimit " +
    "Dependency=(null) ExitCode=0:15 TimeLimit=00:01:00 NodeList=node1 BatchHost=node1";
  const job = parseScontrolJob(line);
  assert.deepEqual(job, {
    state: "TIMEOUT",
    reason: "TimeLimit",
    nodes: "node1",
    exitCode: "0:15",
    timeLimit: "00:01:00",
  });
  assert.equal(slurmKilledBy(job), "Slurm: TIMEOUT (TimeLimit, time limit 00:01:00)");
  assert.equal(
    slurmKilledBy(parseScontrolJob("JobState=CANCELLED Reason=None")),
    "Slurm: CANCELLED",
  );
  assert.throws(
    () => parseScontrolJob("slurm_load_jobs error: Invalid job id"),
    /Expected "JobState=\.\.\."/,
  );
  assert.deepEqual(
    sbatchArgs({ kind: "slurm", partition: "cpu", cpusPerTask: 4, args: ["--mem=2G"] }, {
      batch: "lr-ab",
      n: 6,
      concurrency: 2,
      logDir: "/s/runs/lr/slurm",
      cwd: "/s/repo",
      timeoutSeconds: 61,
    }),
    [
      "--parsable",
      "--job-name=lr-ab",
      "--array=0-5%2",
      "--output=/s/runs/lr/slurm/lr-ab-%a.log",
      "--chdir=/s/repo",
      "--cpus-per-task=4",
      "--partition=cpu",
      "--time=2",
      "--mem=2G",
    ],
  );
  // The executor's own time limit wins over the runner's; without either, no --time.
  const time = (spec: Record<string, unknown>, timeoutSeconds?: number) =>
    sbatchArgs({ kind: "slurm", ...spec }, {
      batch: "b",
      n: 1,
      concurrency: 1,
      logDir: "/l",
      cwd: "/c",
      timeoutSeconds,
    }).filter((a) => a.startsWith("--time"));
  assert.deepEqual(time({ timeMinutes: 30 }, 61), ["--time=30"]);
  assert.deepEqual(time({}), []);
  const exit = {
    id: "a",
    attempt: 2,
    code: 0,
    signal: null,
    host: "n1",
    startedAt: "2026-01-01T00:00:00.000Z",
    finishedAt: "2026-01-01T00:00:02.000Z",
    wallSeconds: 2,
  };
  assert.deepEqual(parseExitRecord(JSON.stringify(exit)), exit);
  assert.throws(
    () => parseExitRecord("{"),
    /Expected an exit record to be JSON, found a parse error/,
  );
  assert.throws(
    () => parseExitRecord(JSON.stringify({ ...exit, attempt: "2" })),
    /Expected exit record field "attempt" to be an integer, found/,
  );
});

Deno.test("validateSweepSpec / runSweep: the executor of a spec is checked, naming the field", async () => {
  const spec = (executor: unknown) => ({ ...lrSpec(), executor });
  assert.equal(
    validateSweepSpec(spec({ kind: "slurm", partition: "cpu", timeMinutes: 5 })).executor?.kind,
    "slurm",
  );
  assert.equal(validateSweepSpec(spec({ kind: "local" })).executor?.kind, "local");
  assert.throws(() => validateSweepSpec(spec({ kind: "pbs" })), /executor/);
  assert.throws(
    () => validateSweepSpec(spec({ kind: "slurm", cpusPerTask: 0 })),
    /expected executor\.cpusPerTask to be a positive integer/,
  );
  assert.throws(() => validateSweepSpec(spec({ kind: "slurm", nodes: 2 })), /"nodes"/);
  await assert.rejects(
    () =>
      runSweep({
        spec: lrSpec(),
        outDir: "/nonexistent/never-created",
        entry: FAKE_TRIAL,
        executor: { kind: "slurm", timeMinutes: 1.5 } as never,
      }),
    /Invalid executor: expected executor\.timeMinutes to be a positive integer/,
  );
});

Deno.test("runSweep: trials left queued under Slurm are not taken over by the local executor", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sweep_foreign_" });
  try {
    const spec = { ...fakeSpec(dir, {}, [1]), seeds: [0] };
    const store = ResultsStore.open(join(dir, "results.sqlite"));
    store.syncSweep(spec, expandSweep(spec));
    const [t] = expandSweep(spec);
    store.markRunning(t.id, {
      startedAt: new Date().toISOString(),
      gitCommit: null,
      versions: {},
      status: "queued",
      executor: "slurm",
      batch: "fake-0123abcd",
    });
    store.close();
    await assert.rejects(
      () => runSweep({ spec, outDir: dir, entry: FAKE_TRIAL }),
      /Expected the slurm executor for the 1 trials still queued or running under Slurm \(x=1_s0-[0-9a-f]+\), found executor local/,
    );
    assert.deepEqual(loadResults(join(dir, "results.sqlite")).map((r) => r.status), ["queued"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runSweep (local): trials ending together are all recorded; a command that cannot start is failed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sweep_burst_" });
  try {
    const protocol = new URL("../src/sweep/protocol.ts", import.meta.url).href;
    const code = `import { writeFinal } from "${protocol}";
      await writeFinal(Deno.env.get("SWEEP_TRIAL_DIR"), { metrics: { ok: 1 } });`;
    const summary = await runSweep({
      spec: { name: "burst", base: { x: 0 }, grid: { x: [1, 2, 3, 4, 5, 6, 7, 8] }, seeds: [0] },
      outDir: join(dir, "out"),
      command: (t) =>
        t.config.x === 8
          ? { cmd: join(dir, "no-such-program"), args: [] }
          : { cmd: Deno.execPath(), args: ["eval", code] },
      concurrency: 4,
      gitCommit: null,
    });
    assert.deepEqual([summary.started, summary.done, summary.failed, summary.pending], [
      8,
      7,
      1,
      0,
    ]);
    const rows = loadResults(summary.dbPath);
    assert.match(rows[7].error!, /^could not start the trial: /);
    assert.ok(rows.every((r) => r.executor === "local" && r.host), "every trial records its host");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
