import assert from "node:assert/strict";
import { join, resolve } from "node:path";
import {
  expandSweep,
  type JsonObject,
  loadResults,
  loadSteps,
  ResultsStore,
  type SweepSpec,
  type Trial,
  type TrialResult,
} from "../src/sweep/mod.ts";
import { getPath } from "../src/sweep/path.ts";
import {
  committedResults,
  EXPERIMENTS,
  loadExperimentData,
  METRICS,
  RESULTS_ROOT,
  summaryMarkdown,
} from "../experiments/mod.ts";

const CLI = resolve("experiments/cli.ts");

async function runCli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  return await runCliWith({}, ...args);
}

/** The CLI with the experiment task's permissions (trials get TRIAL_PERMISSIONS) and `env`. */
async function runCliWith(
  env: Record<string, string>,
  ...args: string[]
): Promise<{ code: number; out: string; err: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", "--allow-env", "--allow-run", CLI, ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

/** Final metrics without the wall-clock ones (which differ between runs). */
function qualityMetrics(r: TrialResult): unknown {
  const f = structuredClone(r.final) as Record<string, Record<string, unknown>>;
  delete f.evalSeconds;
  for (const k of ["seconds", "validationSeconds", "stepsPerSecond"]) delete f.train[k];
  return f;
}

function stepLosses(db: string, id: string): unknown[] {
  return loadSteps(db, id).map((s) => [s.step, s.metrics.split, s.metrics.loss]);
}

Deno.test("experiment loss_weights --tiny: same command twice gives the same numbers; summary matches the database", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const [a, b] = [join(tmp, "a"), join(tmp, "b")];
    for (const out of [a, b]) {
      // The second time the backend comes from COCA_BACKEND: written into the trials' configs,
      // so the same trial ids (ids hash the config).
      const r = out === a
        ? await runCli("loss_weights", "--tiny", "--out", out, "--backend", "wasm")
        : await runCliWith({ COCA_BACKEND: "wasm" }, "loss_weights", "--tiny", "--out", out);
      assert.equal(r.code, 0, r.err);
      for (const f of ["results.sqlite", "report.html", "summary.md"]) {
        assert.ok((await Deno.stat(join(out, f))).size > 0, `${f} in ${out}`);
      }
    }
    const dbA = join(a, "results.sqlite"), dbB = join(b, "results.sqlite");
    const rowsA = loadResults(dbA), rowsB = loadResults(dbB);
    // The 2 x 2 grid, including both pure ends and the no-loss control.
    assert.deepEqual(
      rowsA.map((r) => [
        getPath(r.config, "train.model.coca.captionLossWeight"),
        getPath(r.config, "train.model.coca.contrastiveLossWeight"),
        r.status,
      ]),
      [[0, 0, "done"], [0, 1, "done"], [1, 0, "done"], [1, 1, "done"]],
    );
    assert.deepEqual(rowsA.map((r) => r.id), rowsB.map((r) => r.id));
    assert.deepEqual(rowsB.map((r) => [getPath(r.config, "train.backend"), r.backend]), [
      ["wasm", "wasm"],
      ["wasm", "wasm"],
      ["wasm", "wasm"],
      ["wasm", "wasm"],
    ]);
    assert.deepEqual(rowsA.map(qualityMetrics), rowsB.map(qualityMetrics));
    for (const r of rowsA) {
      assert.equal(r.backend, "wasm");
      // The trainer's metrics.jsonl (with its string `split` field) is the trial's steps table.
      const steps = loadSteps(dbA, r.id);
      assert.deepEqual(
        steps.filter((s) => s.metrics.split === "train").map((s) => s.step),
        [1, 2, 3],
      );
      assert.equal(steps.filter((s) => s.metrics.split === "val").length, 1);
      assert.deepEqual(stepLosses(dbA, r.id), stepLosses(dbB, r.id));
      const t = r.final!.test as Record<string, number>;
      assert.ok(t.r1TextToImage >= 0 && t.r1TextToImage <= 1);
      assert.ok(Math.abs(t.perplexity - Math.exp(t.captionLoss)) < 1e-6 * t.perplexity);
    }
    // Weights that switch a loss off do so: contrastive weight 0 leaves the contrastive loss
    // untrained, caption weight 1 lowers the caption loss below the caption-weight-0 trials.
    const cap = (r: TrialResult) => (r.final!.test as Record<string, number>).captionLoss;
    assert.ok(cap(rowsA[2]) < cap(rowsA[0]) && cap(rowsA[3]) < cap(rowsA[1]));

    // summary.md: every table cell is the mean over the setting's trials in the database.
    const summary = await Deno.readTextFile(join(a, "summary.md"));
    const table = summary.split("\n").filter((l) => l.startsWith("| captionLossWeight="));
    assert.equal(table.length, 4);
    for (const line of table) {
      const cells = line.split("|").slice(1, -1).map((c) => c.trim());
      const [c, k] = [...cells[0].matchAll(/=([0-9.]+)/g)].map((m) => Number(m[1]));
      const group = rowsA.filter((r) =>
        getPath(r.config, "train.model.coca.captionLossWeight") === c &&
        getPath(r.config, "train.model.coca.contrastiveLossWeight") === k
      );
      assert.equal(cells[1], String(group.length));
      METRICS.forEach((m, i) => {
        const xs = group.map((r) => getPath(r.final!, m.key) as number);
        const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
        assert.equal(cells[2 + i], mean.toFixed(m.digits), `${m.key} of ${cells[0]}`);
      });
    }
    // The "best R@1 t→i" finding names the setting with the highest mean (first on ties).
    const t2i = rowsA.map((r) => (r.final!.test as Record<string, number>).r1TextToImage);
    const best = rowsA[t2i.indexOf(Math.max(...t2i))];
    const bestLine = summary.split("\n").find((l) => l.startsWith("- best R@1 t→i"));
    assert.ok(bestLine, summary);
    assert.ok(
      bestLine.includes(
        `captionLossWeight=${getPath(best.config, "train.model.coca.captionLossWeight")}, ` +
          `contrastiveLossWeight=${getPath(best.config, "train.model.coca.contrastiveLossWeight")}`,
      ) && bestLine.includes(Math.max(...t2i).toFixed(3)),
      bestLine,
    );
    // The report holds the summary and one plotly div per figure.
    const html = await Deno.readTextFile(join(a, "report.html"));
    assert.ok(html.includes("Caption vs contrastive loss weights"));
    const figures = EXPERIMENTS.loss_weights.figures({
      rows: rowsA,
      steps: new Map(rowsA.map((r) => [r.id, loadSteps(dbA, r.id)])),
    });
    assert.equal(html.match(/class="coca-plot"/g)?.length, figures.length);

    // Rerunning the same command resumes: nothing is trained again.
    const again = await runCli("loss_weights", "--tiny", "--out", a, "--backend", "wasm");
    assert.equal(again.code, 0, again.err);
    assert.match(again.out, /4\/4 trials done, 0 failed/);
    assert.deepEqual(loadResults(dbA).map((r) => r.finishedAt), rowsA.map((r) => r.finishedAt));
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("experiment depth --tiny: the split moves both depths together; patch_dropout --tiny runs", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const r = await runCli("depth", "--tiny", "--out", join(tmp, "depth"));
    assert.equal(r.code, 0, r.err);
    const rows = loadResults(join(tmp, "depth", "results.sqlite"));
    assert.deepEqual(
      rows.map((r) => [
        getPath(r.config, "train.model.coca.unimodalDepth"),
        getPath(r.config, "train.model.coca.multimodalDepth"),
        r.status,
      ]),
      [[0, 2, "done"], [2, 0, "done"]],
    );
    const p = await runCli("patch_dropout", "--tiny", "--out", join(tmp, "pd"));
    assert.equal(p.code, 0, p.err);
    const pd = loadResults(join(tmp, "pd", "results.sqlite"));
    assert.deepEqual(pd.map((r) => getPath(r.config, "train.model.vit.patchDropout")), [0, 0.5]);
    for (const row of pd) {
      const t = row.final!.train as Record<string, number>;
      assert.ok(t.stepsPerSecond > 0 && t.seconds > 0 && t.steps === 3);
    }
    const summary = await Deno.readTextFile(join(tmp, "pd", "summary.md"));
    assert.match(summary, /patchDropout 0\.5: [0-9.]+ steps\/s, [0-9.]+× the [0-9.]+ steps\/s/);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("experiment CLI: an unknown name or bad option is an error naming what was expected", async () => {
  const r = await runCli("nope", "--tiny");
  assert.equal(r.code, 2);
  assert.match(
    r.err,
    /expected one experiment name \(loss_weights, patch_dropout, depth\), found "nope"/,
  );
  const c = await runCli("depth", "--tiny", "--concurrency", "0");
  assert.equal(c.code, 2);
  assert.match(c.err, /expected --concurrency to be a positive integer, found 0/);
});

Deno.test("committedResults prefers the full study, falls back to quick, else undefined", async () => {
  const root = await Deno.makeTempDir();
  try {
    assert.equal(committedResults("depth", root), undefined);
    await Deno.mkdir(`${root}/depth-quick`);
    await Deno.writeTextFile(`${root}/depth-quick/results.sqlite`, "");
    assert.deepEqual(committedResults("depth", root), {
      dbPath: `${root}/depth-quick/results.sqlite`,
      mode: "quick",
    });
    await Deno.mkdir(`${root}/depth`);
    await Deno.writeTextFile(`${root}/depth/results.sqlite`, "");
    assert.equal(committedResults("depth", root)?.mode, "full");
    assert.equal(committedResults("depth_other", root), undefined);
    // Every study the notebooks read has committed results in the repository.
    for (const name of Object.keys(EXPERIMENTS)) assert.ok(committedResults(name), name);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

/** Every metric the summary reads, for one synthetic trial. */
function syntheticFinal(
  m: { r1: number; stepsPerSecond: number; zeroShot?: number },
): JsonObject {
  const test = {
    images: 256,
    r1ImageToText: 0.5,
    r1TextToImage: m.r1,
    r1ChanceImageToText: 1 / 256,
    r1ChanceTextToImage: 1 / 256,
    zeroShot: m.zeroShot ?? 0.5,
    zeroShotChance: 0.25,
    captionLoss: 1,
    perplexity: Math.E,
  };
  return {
    test,
    heldout: { ...test, images: 64 },
    train: { steps: 600, stepsPerSecond: m.stepsPerSecond, seconds: 600 / m.stepsPerSecond },
    evalSeconds: 1,
  };
}

/**
 * A results database written through the runner's store: the study's own sweep expansion, every
 * trial finished with the metrics `outcome` gives it (null: failed with `error`).
 */
function syntheticDb(
  path: string,
  spec: SweepSpec,
  outcome: (t: Trial) => JsonObject | { error: string },
): void {
  const store = ResultsStore.open(path);
  try {
    const trials = expandSweep(spec);
    store.syncSweep(spec, trials);
    for (const t of trials) {
      store.markRunning(t.id, {
        startedAt: "2026-01-01T00:00:00.000Z",
        gitCommit: "0123456789abcdef0123456789abcdef01234567",
        versions: {},
      });
      const o = outcome(t);
      const failed = typeof o.error === "string";
      store.markFinished(t.id, {
        status: failed ? "failed" : "done",
        finishedAt: "2026-01-01T00:01:00.000Z",
        wallSeconds: 60,
        final: failed ? null : o as JsonObject,
        backend: "blas",
        versions: {},
        error: failed ? o.error as string : null,
        steps: [{ step: 1, metrics: { step: 1, split: "train", loss: 1 } }],
      });
    }
  } finally {
    store.close();
  }
}

Deno.test("summaryMarkdown on a synthetic 3-seed database: best and worst by mean, speed-ups, seeds", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const exp = EXPERIMENTS.patch_dropout;
    const db = join(tmp, "results.sqlite");
    // R@1 t→i per (patchDropout, seed). The best mean is 0.5 (0.470); 0.25 holds the single
    // highest trial (0.600) but a lower mean (0.410), so a best-by-max would name it instead.
    const r1: Record<number, number[]> = {
      0: [0.40, 0.42, 0.44],
      0.25: [0.30, 0.60, 0.33],
      0.5: [0.45, 0.47, 0.49],
      0.75: [0.20, 0.22, 0.24],
    };
    const speed: Record<number, number[]> = {
      0: [10, 10, 10],
      0.25: [11, 11, 11],
      0.5: [12, 12.5, 13],
      0.75: [15, 15, 15],
    };
    syntheticDb(db, exp.spec("full", "blas"), (t) => {
      const p = getPath(t.config, "train.model.vit.patchDropout") as number;
      return syntheticFinal({ r1: r1[p][t.seed], stepsPerSecond: speed[p][t.seed] });
    });
    const summary = summaryMarkdown(exp, loadExperimentData(db));
    const findings = summary.split("\n").filter((l) => l.startsWith("- "));
    assert.deepEqual(findings, [
      // Sample standard deviation over the 3 seeds: 0.45, 0.47, 0.49 -> 0.020.
      "- best R@1 t→i: **patchDropout=0.5** (0.470 ± 0.020); worst: patchDropout=0.75 (0.220 ± 0.020)",
      "- zero-shot: every setting gives 0.500 ± 0.000 (no difference)",
      "- best steps/s: **patchDropout=0.75** (15.00 ± 0.00); worst: patchDropout=0 (10.00 ± 0.00)",
      "- patchDropout 0.25: 11.00 steps/s, 1.10× the 10.00 steps/s without dropout; " +
      "R@1 t→i -0.010 (0.420 → 0.410), zero-shot +0.000",
      "- patchDropout 0.5: 12.50 steps/s, 1.25× the 10.00 steps/s without dropout; " +
      "R@1 t→i +0.050 (0.420 → 0.470), zero-shot +0.000",
      "- patchDropout 0.75: 15.00 steps/s, 1.50× the 10.00 steps/s without dropout; " +
      "R@1 t→i -0.200 (0.420 → 0.220), zero-shot +0.000",
    ]);
    assert.match(summary, /12 trials \(12 done, 0 failed\), seeds 0, 1, 2, backend blas, /);
    assert.match(summary, /600 steps at batch \d+ on shapes, commit 0123456789\./);
    assert.match(summary, /Metrics on 256 test images .*chance i→t 0\.004, t→i 0\.004; /);
    assert.match(summary, /\| patchDropout=0\.5 \| 3 \| 0\.500 ± 0\.000 \| 0\.470 ± 0\.020 \|/);
    assert.doesNotMatch(summary, /one seed per setting|no trial finished/);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("summaryMarkdown on a synthetic one-seed database with a failed trial; an empty sweep says so", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const exp = EXPERIMENTS.patch_dropout;
    const db = join(tmp, "results.sqlite");
    const r1: Record<number, number> = { 0: 0.3, 0.25: 0.5, 0.5: 0.4 };
    syntheticDb(db, exp.spec("quick", "blas"), (t) => {
      const p = getPath(t.config, "train.model.vit.patchDropout") as number;
      return p === 0.75
        ? { error: "out of memory\n    at trial.ts:1" }
        : syntheticFinal({ r1: r1[p], stepsPerSecond: 10 + 10 * p });
    });
    const data = loadExperimentData(db);
    const failed = data.rows.find((r) => r.status === "failed")!;
    const summary = summaryMarkdown(exp, data);
    assert.match(summary, /4 trials \(3 done, 1 failed\), seeds 0, /);
    assert.ok(
      summary.includes(
        "- best R@1 t→i: **patchDropout=0.25** (0.500); worst: patchDropout=0 (0.300)",
      ),
      summary,
    );
    // One seed: no error bars; one image of 256 is a recall step of 1/256 = 0.004.
    assert.ok(
      summary.includes(
        "- one seed per setting: no error bars, and a recall difference of one image is 0.004",
      ),
      summary,
    );
    // The failed trial is named with the first line of its error, and has no numbers.
    assert.ok(summary.includes(`- trial \`${failed.id}\` failed: out of memory\n`), summary);
    assert.match(summary, /\| patchDropout=0\.75 \| 0 \| – \| – \|/);
    const empty = summaryMarkdown(exp, { rows: [], steps: new Map() });
    assert.match(empty, /no trial finished: nothing to report/);
    assert.doesNotMatch(empty, /best /);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("committed databases are in rollback-journal mode; reading them creates no -wal/-shm files", async () => {
  for (const name of Object.keys(EXPERIMENTS)) {
    for (const dir of [name, `${name}-quick`]) {
      const dbPath = join(RESULTS_ROOT, dir, "results.sqlite");
      const bytes = await Deno.readFile(dbPath).catch(() => undefined);
      if (!bytes) continue;
      // Header bytes 18 and 19 are the file format write/read versions: 1 = rollback journal,
      // 2 = WAL (https://www.sqlite.org/fileformat.html#file_format_version_numbers).
      assert.deepEqual([bytes[18], bytes[19]], [1, 1], `${dir}: journal mode in the header`);
      const data = loadExperimentData(dbPath);
      assert.ok(data.rows.length > 0, dir);
      for (const suffix of ["-wal", "-shm", "-journal"]) {
        await assert.rejects(() => Deno.stat(dbPath + suffix), Deno.errors.NotFound, dir + suffix);
      }
    }
  }
});

Deno.test("experiment CLI: executor flags are checked before anything runs", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const out = join(tmp, "never");
    const cases: [string[], RegExp][] = [
      [["--executor", "pbs"], /expected --executor to be local or slurm, found "pbs"/],
      [["--partition", "cpu"], /expected --executor slurm with --partition, found executor local/],
      [
        ["--time", "5", "--slurm-arg=--mem=1G"],
        /expected --executor slurm with --time, --slurm-arg, found executor local/,
      ],
      [
        ["--executor", "slurm", "--time", "0.5"],
        /expected --time \(minutes\) to be a positive integer, found 0\.5/,
      ],
      [
        ["--executor", "slurm", "--cpus-per-task", "x"],
        /expected --cpus-per-task to be a positive integer, found x/,
      ],
    ];
    for (const [flags, re] of cases) {
      const r = await runCli("depth", "--tiny", "--out", out, ...flags);
      assert.equal(r.code, 2, `${flags.join(" ")}: ${r.err}`);
      assert.match(r.err, re);
      assert.match(r.err, /usage: deno task experiment .*--executor local\|slurm/);
    }
    await assert.rejects(() => Deno.stat(out), Deno.errors.NotFound);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
