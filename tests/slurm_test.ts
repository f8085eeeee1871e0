// The Slurm executor on a real one-node cluster: the private one of scripts/slurm-local.sh
// (started here when none answers, stopped at the end), or the one SLURM_CONF names. Every test
// is skipped, with the reason printed, where Slurm is not installed or the cluster cannot start
// (not root); CI (.ci/run) installs slurm-wlm and munge and runs as root.
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { join, resolve } from "node:path";
import {
  loadResults,
  loadSteps,
  runSweep,
  type SweepProgress,
  type SweepSpec,
  type TrialResult,
} from "../src/sweep/mod.ts";

const SCRIPT = resolve("scripts/slurm-local.sh");
const CLI = resolve("experiments/cli.ts");
const FAKE_TRIAL = resolve("tests/fixtures/sweep/fake_trial.ts");
const SWEEP_MOD = resolve("src/sweep/mod.ts");

function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  try {
    const r = new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" }).outputSync();
    const dec = new TextDecoder();
    return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
  } catch (e) {
    return { code: -1, out: "", err: (e as Error).message };
  }
}

/** Finds or starts a cluster; returns why the tests must be skipped, or null. */
function setUpCluster(): { skip: string | null; startedHere: boolean } {
  const tools = ["sbatch", "squeue", "scontrol", "scancel", "slurmctld", "slurmd", "munged"];
  const missing = tools.filter((t) => run("bash", ["-c", `command -v ${t}`]).code !== 0);
  if (missing.length > 0) {
    return {
      skip:
        `Slurm is not installed (missing: ${missing.join(", ")}): install slurm-wlm and munge ` +
        "(as .ci/run does) and run as root, or set SLURM_CONF to a running cluster",
      startedHere: false,
    };
  }
  const conf = Deno.env.get("SLURM_CONF");
  if (conf && run("scontrol", ["ping"]).out.includes("is UP")) {
    return { skip: null, startedHere: false };
  }
  const status = run("bash", [SCRIPT, "status"]);
  if (status.code === 0) {
    Deno.env.set("SLURM_CONF", /SLURM_CONF=(\S+)/.exec(status.out)![1]);
    return { skip: null, startedHere: false };
  }
  const r = run("bash", [SCRIPT, "start"]);
  if (r.code === 3) {
    return { skip: `the private cluster cannot start here: ${r.err.trim()}`, startedHere: false };
  }
  if (r.code !== 0) {
    throw new Error(
      `Expected scripts/slurm-local.sh start to succeed, found exit ${r.code}: ${r.err}`,
    );
  }
  Deno.env.set("SLURM_CONF", /SLURM_CONF=(\S+)/.exec(r.out)![1]);
  return { skip: null, startedHere: true };
}

const cluster = setUpCluster();
if (cluster.skip) console.warn(`tests/slurm_test.ts: skipped: ${cluster.skip}`);
if (cluster.startedHere) {
  globalThis.addEventListener("unload", () => {
    run("bash", [SCRIPT, "stop"]);
  });
}
const ignore = cluster.skip !== null;

function cli(...args: string[]) {
  const r = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", "--allow-env", "--allow-run", CLI, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return r.then((o) => ({
    code: o.code,
    out: new TextDecoder().decode(o.stdout),
    err: new TextDecoder().decode(o.stderr),
  }));
}

/** Final metrics without the wall-clock ones. */
function quality(r: TrialResult): unknown {
  const f = structuredClone(r.final) as Record<string, Record<string, unknown>>;
  delete f.evalSeconds;
  for (const k of ["seconds", "validationSeconds", "stepsPerSecond"]) delete f.train[k];
  return f;
}

function squeue(name: string): string {
  return run("squeue", ["-h", "-r", "-o", "%i %T", `--name=${name}`]).out.trim();
}

Deno.test({
  name:
    "slurm: experiment loss_weights --tiny through a job array: all done, same numbers as local, host and job ids recorded",
  ignore,
  fn: async () => {
    const tmp = await Deno.makeTempDir({ prefix: "slurm_exp_" });
    try {
      const [local, slurm] = [join(tmp, "local"), join(tmp, "slurm")];
      const a = await cli("loss_weights", "--tiny", "--backend", "wasm", "--out", local);
      assert.equal(a.code, 0, a.err);
      const b = await cli(
        "loss_weights",
        "--tiny",
        "--backend",
        "wasm",
        "--out",
        slurm,
        "--executor",
        "slurm",
        "--concurrency",
        "2",
        "--time",
        "10",
      );
      assert.equal(b.code, 0, b.err);
      assert.match(b.out, /4\/4 trials done, 0 failed/);
      assert.match(b.out, /queued .* as Slurm job \d+_0/);
      const [la, sa] = [
        loadResults(join(local, "results.sqlite")),
        loadResults(join(slurm, "results.sqlite")),
      ];
      assert.deepEqual(sa.map((r) => r.id), la.map((r) => r.id));
      assert.deepEqual(sa.map(quality), la.map(quality));
      for (const [i, r] of sa.entries()) {
        assert.equal(r.status, "done");
        assert.equal(r.attempts, 1);
        assert.equal(r.executor, "slurm");
        assert.match(r.jobId ?? "", new RegExp(`^\\d+_${i}$`));
        assert.equal(r.host, "localhost"); // the node name (slurmd -N localhost)
        assert.equal(la[i].executor, "local");
        assert.ok(la[i].host, "a local trial records this machine's name");
        const steps = (db: string, id: string) =>
          loadSteps(db, id).map((s) => [s.step, s.metrics.split, s.metrics.loss]);
        assert.deepEqual(
          steps(join(slurm, "results.sqlite"), r.id),
          steps(join(local, "results.sqlite"), r.id),
        );
        const exit = JSON.parse(await Deno.readTextFile(join(slurm, "trials", r.id, "exit.json")));
        assert.deepEqual([exit.code, exit.signal, exit.host], [0, null, "localhost"]);
      }
      // Rerunning the command resumes: nothing is submitted again.
      const again = await cli(
        "loss_weights",
        "--tiny",
        "--backend",
        "wasm",
        "--out",
        slurm,
        "--executor",
        "slurm",
      );
      assert.equal(again.code, 0, again.err);
      assert.doesNotMatch(again.out, /queued /);
      assert.deepEqual(
        loadResults(join(slurm, "results.sqlite")).map((r) => r.finishedAt),
        sa.map((r) => r.finishedAt),
      );
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

function execLog(dir: string): { kind: string; id: string }[] {
  let text = "";
  try {
    text = Deno.readTextFileSync(join(dir, "exec.log"));
  } catch { /* nothing ran yet */ }
  return text.trim().split("\n").filter((l) => l).map((l) => {
    const [kind, id] = l.split(" ");
    return { kind, id };
  });
}

Deno.test({
  name:
    "slurm: SIGKILL of the runner mid-sweep, then the same command: re-attaches, records what finished meanwhile, nothing lost or run twice",
  ignore,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "slurm_kill_" });
    try {
      const outDir = join(dir, "out");
      const spec: SweepSpec = {
        name: "slurm-resume",
        base: { x: 0, steps: 4, sleepMs: 600, log: join(dir, "exec.log") },
        grid: { x: [1, 2, 3, 4, 5] },
        seeds: [0],
        executor: { kind: "slurm", pollSeconds: 0.5 },
      };
      const runner = join(dir, "runner.ts");
      await Deno.writeTextFile(
        runner,
        `import { runSweep } from ${JSON.stringify(SWEEP_MOD)};
const s = await runSweep({ spec: ${JSON.stringify(spec)}, outDir: ${JSON.stringify(outDir)},
  entry: ${JSON.stringify(FAKE_TRIAL)}, concurrency: 2 });
console.log(JSON.stringify(s));`,
      );
      const start = () =>
        new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", runner],
          stdout: "piped",
          stderr: "piped",
        })
          .spawn();
      const first = start();
      const db = join(outDir, "results.sqlite");
      // Killed once a trial is done and others are queued or running under Slurm.
      const deadline = Date.now() + 120_000;
      for (;;) {
        assert.ok(Date.now() < deadline, "the runner did not get mid-sweep in time");
        await new Promise((r) => setTimeout(r, 200));
        let rows: TrialResult[];
        try {
          rows = loadResults(db);
        } catch {
          continue;
        }
        const n = (s: string) => rows.filter((r) => r.status === s).length;
        if (n("done") >= 1 && n("queued") + n("running") >= 2) break;
      }
      first.kill("SIGKILL");
      assert.equal((await first.status).signal, "SIGKILL");
      await first.stdout.cancel();
      await first.stderr.cancel();
      const atKill = loadResults(db);
      const inFlight = atKill.filter((r) => r.status === "queued" || r.status === "running");
      assert.ok(inFlight.every((r) => /^\d+_\d$/.test(r.jobId ?? "")), JSON.stringify(inFlight));
      // The jobs go on without the runner: wait until one more trial has finished meanwhile.
      const doneAtKill = atKill.filter((r) => r.status === "done").length;
      const exits = () =>
        atKill.filter((r) => {
          try {
            return Deno.statSync(join(outDir, "trials", r.id, "exit.json")).isFile;
          } catch {
            return false;
          }
        }).length;
      while (exits() <= doneAtKill) {
        assert.ok(Date.now() < deadline, "no trial finished after the runner was killed");
        await new Promise((r) => setTimeout(r, 200));
      }

      const second = start();
      const out = await second.output();
      const err = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, err);
      const summary = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
      assert.equal(summary.recovered, inFlight.length);
      assert.equal(summary.reattached, inFlight.length);
      assert.equal(summary.lost, 0);
      assert.equal(summary.done, 5);
      // Only the trials never submitted before the kill are submitted now.
      assert.equal(summary.started, atKill.filter((r) => r.status === "pending").length);

      const rows = loadResults(db);
      assert.deepEqual(rows.map((r) => r.status), ["done", "done", "done", "done", "done"]);
      assert.deepEqual(rows.map((r) => r.attempts), [1, 1, 1, 1, 1]);
      for (const r of inFlight) {
        const now = rows.find((x) => x.id === r.id)!;
        assert.equal(now.jobId, r.jobId, "re-attached trials keep their job");
      }
      const log = execLog(dir);
      for (const r of rows) {
        assert.equal(
          log.filter((l) => l.kind === "start" && l.id === r.id).length,
          1,
          `${r.id} started once`,
        );
        assert.equal(
          log.filter((l) => l.kind === "end" && l.id === r.id).length,
          1,
          `${r.id} ended once`,
        );
        assert.deepEqual(loadSteps(db, r.id).map((s) => s.step), [1, 2, 3, 4]);
        assert.equal(r.host, "localhost");
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "slurm: a task Slurm kills is failed with Slurm's reason; aborting scancels the rest and leaves them pending",
  ignore,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "slurm_cancel_" });
    try {
      const spec: SweepSpec = {
        name: "slurm-cancel",
        // Each trial runs about a second: x=2 must still be running when the runner, which sees
        // Slurm's state every 0.3 s, reports its start and aborts (at 20 ms it could already be
        // done by then, as happened once under load).
        base: { x: 0, steps: 2, sleepMs: 500, log: join(dir, "exec.log"), hangFirstAttemptX: 1 },
        grid: { x: [1, 2, 3] },
        seeds: [0],
      };
      const ctl = new AbortController();
      const events: SweepProgress[] = [];
      const summary = await runSweep({
        spec,
        outDir: join(dir, "out"),
        entry: FAKE_TRIAL,
        executor: { kind: "slurm", pollSeconds: 0.3 },
        concurrency: 1,
        gitCommit: null,
        signal: ctl.signal,
        onProgress: (p) => {
          events.push(p);
          const e = p.event;
          if (e.type !== "trial-start") return;
          const row = loadResults(join(dir, "out", "results.sqlite")).find((r) =>
            r.id === e.trialId
          )!;
          // The hanging x=1 is cancelled from outside; x=2 starts next, then the runner stops.
          if (row.config.x === 1) run("scancel", [row.jobId!]);
          else ctl.abort();
        },
      });
      assert.equal(summary.aborted, true);
      const rows = loadResults(summary.dbPath);
      assert.deepEqual(rows.map((r) => r.status), ["failed", "pending", "pending"]);
      assert.match(rows[0].error!, /^trial killed by Slurm: CANCELLED/);
      assert.equal(rows[0].host, "localhost");
      assert.deepEqual(rows.map((r) => r.attempts), [1, 1, 1]);
      assert.ok(events.some((e) => e.queued === 2), "the progress counts queued trials");
      assert.equal(squeue("slurm-cancel"), "", "no job of the sweep is left in the queue");
      // Rerunning finishes the pending trials (x=1 stays failed: its failure is recorded).
      const again = await runSweep({
        spec,
        outDir: join(dir, "out"),
        entry: FAKE_TRIAL,
        executor: { kind: "slurm", pollSeconds: 0.3 },
        gitCommit: null,
      });
      assert.equal(again.started, 2);
      assert.deepEqual(loadResults(summary.dbPath).map((r) => r.status), [
        "failed",
        "done",
        "done",
      ]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "slurm: each trial gets COCA_BLAS_THREADS = --cpus-per-task",
  ignore,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "slurm_threads_" });
    const protocol = new URL("../src/sweep/protocol.ts", import.meta.url).href;
    const code = `import { writeFinal } from "${protocol}";
      await writeFinal(Deno.env.get("SWEEP_TRIAL_DIR"), { metrics: {
        threads: Number(Deno.env.get("COCA_BLAS_THREADS")),
        cpus: Number(Deno.env.get("SLURM_CPUS_PER_TASK")) } });`;
    const handSet = Deno.env.get("COCA_BLAS_THREADS");
    Deno.env.delete("COCA_BLAS_THREADS");
    // 2 where the one node has 2 CPUs (a task asking for more than the node has never starts).
    const cpus = Math.min(2, navigator.hardwareConcurrency);
    try {
      const summary = await runSweep({
        spec: { name: "slurm-threads", base: { x: 0 }, grid: { x: [1, 2] }, seeds: [0] },
        outDir: join(dir, "out"),
        command: () => ({ cmd: Deno.execPath(), args: ["eval", code] }),
        executor: { kind: "slurm", cpusPerTask: cpus, pollSeconds: 0.3 },
        concurrency: 2,
        gitCommit: null,
      });
      assert.equal(summary.done, 2);
      for (const r of loadResults(summary.dbPath)) {
        assert.deepEqual(r.final, { threads: cpus, cpus });
      }
    } finally {
      if (handSet !== undefined) Deno.env.set("COCA_BLAS_THREADS", handSet);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "slurm: resume records a task that finished meanwhile from its exit record and resubmits only a lost one",
  ignore,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "slurm_lost_" });
    try {
      const spec: SweepSpec = {
        name: "slurm-lost",
        base: { x: 0, steps: 2, sleepMs: 10, log: join(dir, "exec.log") },
        grid: { x: [1, 2, 3] },
        seeds: [0],
        executor: { kind: "slurm", pollSeconds: 0.3 },
      };
      const outDir = join(dir, "out");
      const first = await runSweep({
        spec,
        outDir,
        entry: FAKE_TRIAL,
        concurrency: 3,
        gitCommit: null,
      });
      assert.equal(first.done, 3);
      const [a, b, c] = loadResults(first.dbPath);
      // As a killed runner would leave them: a still "running" (its task has finished since and
      // wrote its exit record), b "queued" with a job Slurm has never heard of and no exit record,
      // c "queued" with no job id (a runner killed in sbatch) but an exit record in its folder.
      const db = new DatabaseSync(first.dbPath);
      const set = (sql: string, id: string) =>
        db.prepare(`UPDATE trials SET ${sql} WHERE id = ?`).run(id);
      set("status = 'running', final = NULL", a.id);
      set("status = 'queued', final = NULL, job_id = '999999_0'", b.id);
      set("status = 'queued', final = NULL, job_id = NULL", c.id);
      db.close();
      await Deno.remove(join(outDir, "trials", b.id, "exit.json"));

      const second = await runSweep({ spec, outDir, entry: FAKE_TRIAL, gitCommit: null });
      assert.deepEqual(
        [second.recovered, second.reattached, second.lost, second.started, second.done],
        [3, 2, 1, 1, 3],
      );
      const rows = loadResults(first.dbPath);
      assert.deepEqual(rows.map((r) => [r.status, r.attempts]), [["done", 1], ["done", 2], [
        "done",
        1,
      ]]);
      assert.deepEqual(rows[0].final, a.final);
      assert.deepEqual(rows[2].final, c.final);
      assert.equal(rows[0].jobId, a.jobId);
      assert.notEqual(rows[1].jobId, "999999_0");
      const starts = (id: string) =>
        execLog(dir).filter((l) => l.kind === "start" && l.id === id).length;
      assert.deepEqual(rows.map((r) => starts(r.id)), [1, 2, 1]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
