import assert from "node:assert/strict";
import {
  dataSummaryText,
  learningRate,
  LOCK_FILE,
  resolveTrainConfig,
  train,
  type TrainOptions,
  validationLosses,
} from "../mod.ts";
import { shapesDataset } from "../src/data/shapes.ts";
import { trainProgressText } from "../src/cli/progress.ts";
import { TINY_COCA, TINY_VIT } from "./helpers.ts";

const CLI = new URL("../src/cli/train.ts", import.meta.url).pathname;

function tinyConfig(outDir: string, steps = 12) {
  return {
    model: {
      vit: { ...TINY_VIT, mlpDim: 32 },
      coca: { ...TINY_COCA, numTokens: 300 },
    },
    data: { name: "shapes", trainSize: 40, valSize: 8, testSize: 8, heldoutSize: 8, imageSize: 16 },
    tokenizer: { vocabSize: 300 },
    textLength: 12,
    batchSize: 8,
    steps,
    seed: 3,
    backend: "cpu",
    checkpointEvery: 3,
    logEvery: 1,
    outDir,
  };
}

async function run(
  args: string[],
  opts: { killWhen?: (out: string) => Promise<boolean>; signal?: Deno.Signal } = {},
) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (opts.killWhen) {
    const out = args[args.indexOf("--out") + 1];
    for (let i = 0; i < 600 && !(await opts.killWhen(out)); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill(opts.signal ?? "SIGKILL");
  }
  const res = await child.output();
  return {
    code: res.code,
    stdout: new TextDecoder().decode(res.stdout),
    stderr: new TextDecoder().decode(res.stderr),
  };
}

async function stepOf(out: string): Promise<number> {
  try {
    return JSON.parse(await Deno.readTextFile(`${out}/checkpoint/state.json`)).step;
  } catch {
    return 0;
  }
}

function trainLosses(text: string): [number, number][] {
  return text.trim().split("\n").map((l) => JSON.parse(l)).filter((l) => l.split === "train")
    .map((l) => [l.step, l.loss]);
}

Deno.test("a run killed with SIGKILL and resumed ends with exactly the weights of an uninterrupted run", async () => {
  const dir = await Deno.makeTempDir();
  const cfgPath = `${dir}/config.json`;
  await Deno.writeTextFile(cfgPath, JSON.stringify(tinyConfig(`${dir}/unused`)));
  const full = await run(["--config", cfgPath, "--out", `${dir}/full`]);
  assert.equal(full.code, 0, full.stderr);

  const killed = await run(["--config", cfgPath, "--out", `${dir}/resumed`], {
    killWhen: async (out) => (await stepOf(out)) >= 3,
  });
  assert.notEqual(killed.code, 0, "the first run was killed");
  const at = await stepOf(`${dir}/resumed`);
  assert.ok(at >= 3 && at < 12, `killed mid-way (checkpoint at step ${at})`);
  const resumed = await run(["--config", cfgPath, "--out", `${dir}/resumed`, "--resume"]);
  assert.equal(resumed.code, 0, resumed.stderr);

  const a = await Deno.readFile(`${dir}/full/checkpoint/weights.safetensors`);
  const b = await Deno.readFile(`${dir}/resumed/checkpoint/weights.safetensors`);
  assert.ok(a.length === b.length && a.every((v, i) => v === b[i]), "final weights differ");
  const oa = await Deno.readFile(`${dir}/full/checkpoint/optimizer.safetensors`);
  const ob = await Deno.readFile(`${dir}/resumed/checkpoint/optimizer.safetensors`);
  assert.ok(oa.every((v, i) => v === ob[i]), "optimizer state differs");
  // The loss curve is the same, each step logged once.
  const la = trainLosses(await Deno.readTextFile(`${dir}/full/metrics.jsonl`));
  const lb = trainLosses(await Deno.readTextFile(`${dir}/resumed/metrics.jsonl`));
  assert.equal(la.length, 12);
  assert.deepEqual(lb, la);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("Ctrl-C saves a checkpoint before exiting; an existing checkpoint needs --resume", async () => {
  const dir = await Deno.makeTempDir();
  const cfgPath = `${dir}/config.json`;
  await Deno.writeTextFile(
    cfgPath,
    JSON.stringify({ ...tinyConfig(`${dir}/run`, 400), checkpointEvery: 0 }),
  );
  const metricsHas = async (out: string) => {
    try {
      return (await Deno.readTextFile(`${out}/metrics.jsonl`)).split("\n").length > 3;
    } catch {
      return false;
    }
  };
  // Wait until a few steps are logged, then interrupt.
  const r = await run(["--config", cfgPath, "--out", `${dir}/run`], {
    killWhen: metricsHas,
    signal: "SIGINT",
  });
  assert.equal(r.code, 130, r.stderr);
  // The run's lock is released on Ctrl-C.
  await assert.rejects(() => Deno.stat(`${dir}/run/${LOCK_FILE}`), Deno.errors.NotFound);
  const step = await stepOf(`${dir}/run`);
  assert.ok(step >= 3 && step < 400, `checkpoint saved at step ${step}`);
  const again = await run(["--config", cfgPath, "--out", `${dir}/run`]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already holds a checkpoint: pass --resume/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("train config: unknown keys and bad values are errors naming the key", () => {
  const base = tinyConfig("x");
  assert.throws(
    () => resolveTrainConfig({ ...base, stepz: 3 } as never),
    /unknown key\(s\) in the config: "stepz"/,
  );
  assert.throws(
    () => resolveTrainConfig({ ...base, optimizer: { lr: 1, momentum: 0.9 } } as never),
    /unknown key\(s\) in optimizer: "momentum"/,
  );
  assert.throws(
    () => resolveTrainConfig({ ...base, batchSize: 1 } as never),
    /expected batchSize to be an integer >= 2, found 1/,
  );
  assert.throws(
    () => resolveTrainConfig({ ...base, tokenizer: { vocabSize: 500 } } as never),
    /expected tokenizer.vocabSize <= model.coca.numTokens 300, found 500/,
  );
  assert.throws(
    () => resolveTrainConfig({ ...base, data: { name: "imagenet" } } as never),
    /expected data.name/,
  );
});

Deno.test("schedule: linear warmup then cosine to minLrRatio", () => {
  const s = { lr: 1e-3, warmupSteps: 10, minLrRatio: 0.1, totalSteps: 111 };
  assert.ok(Math.abs(learningRate(0, s) - 1e-4) < 1e-12);
  assert.ok(Math.abs(learningRate(9, s) - 1e-3) < 1e-12);
  assert.ok(Math.abs(learningRate(10, s) - 1e-3) < 1e-12);
  assert.ok(Math.abs(learningRate(60, s) - 5.5e-4) < 1e-12); // half way: mean of lr and min
  assert.ok(Math.abs(learningRate(110, s) - 1e-4) < 1e-12);
  for (let i = 11; i < 111; i++) assert.ok(learningRate(i, s) <= learningRate(i - 1, s));
});

Deno.test("trainProgressText: speed, ETA and losses, with the learning rate when asked", () => {
  const p = {
    step: 5,
    steps: 10,
    loss: 3,
    captionLoss: 2,
    contrastiveLoss: 1,
    lr: 1e-3,
    stepsPerSecond: 2,
    etaSeconds: 65,
  };
  assert.equal(
    trainProgressText(p),
    "2.00 step/s ETA 1m05s loss 3.000 (caption 2.000, contrastive 1.000)",
  );
  assert.equal(
    trainProgressText(p, { digits: 1, lr: true }),
    "2.00 step/s ETA 1m05s loss 3.0 (caption 2.0, contrastive 1.0) lr 1.00e-3",
  );
});

Deno.test("resume: any spelling of --out, no duplicate val line, the backend used is checked, state.json consistent", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const cfgPath = `${dir}/config.json`;
    await Deno.writeTextFile(cfgPath, JSON.stringify(tinyConfig(`${dir}/run`, 2)));
    const first = await run(["--config", cfgPath]);
    assert.equal(first.code, 0, first.stderr);
    const metrics = await Deno.readTextFile(`${dir}/run/metrics.jsonl`);
    assert.equal(metrics.split("\n").filter((l) => l.includes('"val"')).length, 1);
    // The same folder spelled differently; a finished run resumed adds no line.
    for (const out of [`${dir}/./run/`, `${dir}/../${dir.split("/").pop()}/run`]) {
      const again = await run(["--resume", "--out", out]);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(await Deno.readTextFile(`${dir}/run/metrics.jsonl`), metrics);
    }
    // The checkpoint records the backend it trained on; another one needs asking for.
    const statePath = `${dir}/run/checkpoint/state.json`;
    const state = JSON.parse(await Deno.readTextFile(statePath));
    assert.equal(state.backend, "cpu");
    await Deno.writeTextFile(statePath, JSON.stringify({ ...state, backend: "blas" }));
    const other = await run(["--resume", "--out", `${dir}/run`]);
    assert.equal(other.code, 1);
    assert.match(
      other.stderr,
      /trained on backend blas, this run got cpu .*--allow-backend-change/,
    );
    // Lines after the checkpoint's step (a kill after logging) are dropped by writing a new file
    // and renaming it over the old one, never by rewriting the history in place.
    const metricsPath = `${dir}/run/metrics.jsonl`;
    await Deno.writeTextFile(metricsPath, '{"step":99,"split":"train"}\n{"st', { append: true });
    const inode = (await Deno.stat(metricsPath)).ino;
    const allowed = await run(["--resume", "--out", `${dir}/run`, "--allow-backend-change"]);
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.equal(await Deno.readTextFile(metricsPath), metrics);
    assert.notEqual((await Deno.stat(metricsPath)).ino, inode, "metrics.jsonl replaced by rename");
    // state.json and the optimizer's step must agree.
    await Deno.writeTextFile(statePath, JSON.stringify({ ...state, step: 1 }));
    const torn = await run(["--resume", "--out", `${dir}/run`]);
    assert.equal(torn.code, 1);
    assert.match(torn.stderr, /state\.json says step 1, its optimizer\.safetensors says step 2/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A short run whose cosine part is visible (warmup 1 step), with a val split under a batch. */
function scheduleConfig(outDir: string, steps: number) {
  return resolveTrainConfig({
    ...tinyConfig(outDir, steps),
    data: { name: "shapes", trainSize: 40, valSize: 3, testSize: 8, heldoutSize: 8, imageSize: 16 },
    schedule: { warmupSteps: 1, minLrRatio: 0.1 },
    optimizer: { lr: 1e-3 },
    checkpointEvery: 0,
  } as never);
}

async function trainIn(
  outDir: string,
  steps: number,
  opts: TrainOptions & { stopAt?: number } = {},
): Promise<{ lrs: Map<number, number>; notes: string[] }> {
  const abort = new AbortController();
  const notes: string[] = [];
  const summary = await train(scheduleConfig(outDir, steps), {
    signal: abort.signal,
    onNote: (m) => notes.push(m),
    onProgress: (p) => {
      if (p.step === opts.stopAt) abort.abort();
    },
    ...opts,
  });
  summary.model.dispose();
  const lrs = new Map<number, number>();
  for (const l of (await Deno.readTextFile(`${outDir}/metrics.jsonl`)).trim().split("\n")) {
    const line = JSON.parse(l);
    if (line.split === "train") lrs.set(line.step, line.lr);
  }
  return { lrs, notes };
}

Deno.test("resume with more steps keeps the original lr schedule unless --reschedule", async () => {
  const dir = await Deno.makeTempDir({ prefix: "coca_sched_" });
  try {
    const full = await trainIn(`${dir}/full`, 6);
    const lrs6 = [...full.lrs.values()];
    assert.equal(lrs6.length, 6);
    const final = 1e-3 * 0.1;
    assert.ok(Math.abs(lrs6[5] - final) < 1e-15, `ends at the final lr: ${lrs6}`);
    // The finished run extended: its 6 steps untouched, 7..9 at the final lr, said so.
    const more = await trainIn(`${dir}/full`, 9, { resume: true });
    assert.deepEqual([...more.lrs.values()].slice(0, 6), lrs6);
    assert.deepEqual([...more.lrs.values()].slice(6), [final, final, final]);
    assert.match(more.notes.join("\n"), /schedule kept: 6 steps .* 7 to 9 .*--reschedule/);
    // Stopped at step 3 of 6, resumed with --steps 9: steps 1..6 have the lr of the 6-step run.
    await trainIn(`${dir}/cut`, 6, { stopAt: 3 });
    const cut = await trainIn(`${dir}/cut`, 9, { resume: true });
    assert.deepEqual([...cut.lrs.entries()].slice(0, 6), [...full.lrs.entries()]);
    assert.ok([...cut.lrs.values()].slice(6).every((v) => v === final));
    // The schedule length survives a second resume (it is in state.json, not only in memory).
    const state = JSON.parse(await Deno.readTextFile(`${dir}/cut/checkpoint/state.json`));
    assert.equal(state.scheduleSteps, 6);
    // --reschedule stretches the cosine over 9 steps from the resume on, and says so.
    await trainIn(`${dir}/re`, 6, { stopAt: 3 });
    const re = await trainIn(`${dir}/re`, 9, { resume: true, reschedule: true });
    const reLrs = [...re.lrs.values()];
    assert.deepEqual(reLrs.slice(0, 3), lrs6.slice(0, 3));
    assert.ok(reLrs[3] > lrs6[3] && reLrs[5] > lrs6[5], `stretched: ${reLrs} vs ${lrs6}`);
    assert.match(re.notes.join("\n"), /rescheduled: .* from 6 to 9 steps \(--reschedule\)/);
    const s2 = JSON.parse(await Deno.readTextFile(`${dir}/re/checkpoint/state.json`));
    assert.equal(s2.scheduleSteps, 9);
    // A val split smaller than the batch still gets its val line (the partial batch counts).
    const val = (await Deno.readTextFile(`${dir}/full/metrics.jsonl`)).trim().split("\n")
      .map((l) => JSON.parse(l)).filter((l) => l.split === "val");
    assert.ok(val.length >= 1 && val.every((l) => Number.isFinite(l.loss)), JSON.stringify(val));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("validation uses every example: the last partial batch counts, weighted by its tokens", async () => {
  const outDir = await Deno.makeTempDir({ prefix: "coca_val_" });
  try {
    // A 1-step run gives a model and tokenizer; then the val loss at several batch sizes.
    const summary = await train(scheduleConfig(outDir, 1));
    const { model, tokenizer } = summary;
    const val =
      shapesDataset({ trainSize: 8, valSize: 5, testSize: 2, heldoutSize: 2, imageSize: 16 })
        .splits.val;
    assert.equal(val.length, 5);
    const at = (b: number) => validationLosses(model, val, tokenizer, 12, b);
    const whole = await at(5);
    // Batches 2+2+1 and 3+2: the caption loss (per example independent) is the same mean.
    for (const b of [2, 3, 8]) {
      const m = await at(b);
      assert.ok(
        Math.abs(m.captionLoss - whole.captionLoss) < 1e-5,
        `batch ${b}: ${m.captionLoss} vs ${whole.captionLoss}`,
      );
      assert.ok(Number.isFinite(m.loss) && Number.isFinite(m.contrastiveLoss));
    }
    assert.deepEqual(await validationLosses(model, [], tokenizer, 12, 4), {});
    model.dispose();
  } finally {
    await Deno.remove(outDir, { recursive: true });
  }
});

Deno.test("metrics.jsonl: every append is fsynced", async () => {
  const outDir = await Deno.makeTempDir({ prefix: "coca_fsync_" });
  const proto = Deno.FsFile.prototype;
  const sync = proto.sync;
  const synced: number[] = [];
  proto.sync = function (this: Deno.FsFile) {
    synced.push(this.statSync().ino ?? -1);
    return sync.call(this);
  };
  try {
    (await train(scheduleConfig(outDir, 4))).model.dispose();
    const ino = (await Deno.stat(`${outDir}/metrics.jsonl`)).ino;
    const lines = (await Deno.readTextFile(`${outDir}/metrics.jsonl`)).trim().split("\n");
    assert.equal(lines.length, 5); // 4 train lines, 1 val line
    assert.equal(synced.filter((i) => i === ino).length, 5, "one fsync per append");
  } finally {
    proto.sync = sync;
    await Deno.remove(outDir, { recursive: true });
  }
});

Deno.test("one run per out dir: a live holder is an error naming it; a dead one's lock is taken over", async () => {
  const dir = await Deno.makeTempDir({ prefix: "coca_lock_" });
  try {
    const out = `${dir}/run`;
    await Deno.mkdir(out);
    const lock = `${out}/${LOCK_FILE}`;
    // Held by a live process (this one): refused at once, the lock left as it was.
    const held = JSON.stringify({ pid: Deno.pid, started: "2026-01-01T00:00:00Z" });
    await Deno.writeTextFile(lock, held);
    await assert.rejects(
      () => train(scheduleConfig(out, 1)),
      new RegExp(`expected no other training run in ${out}, found one running as pid ${Deno.pid}`),
    );
    assert.equal(await Deno.readTextFile(lock), held);
    // The CLI says so on one line (exit 1), without touching the lock.
    const cfgPath = `${dir}/config.json`;
    await Deno.writeTextFile(cfgPath, JSON.stringify(tinyConfig(out, 1)));
    const cli = await run(["--config", cfgPath, "--out", out]);
    assert.equal(cli.code, 1, cli.stderr);
    assert.equal(cli.stderr.trim().split("\n").length, 1, cli.stderr);
    assert.match(cli.stderr, new RegExp(`^train: .*${out}.*pid ${Deno.pid}`));
    assert.equal(await Deno.readTextFile(lock), held);
    // Held by a process that is gone (kill -9): taken over with a note, released at the end.
    const child = new Deno.Command(Deno.execPath(), { args: ["eval", ""] }).spawn();
    await child.status;
    await Deno.writeTextFile(lock, JSON.stringify({ pid: child.pid }));
    const notes: string[] = [];
    (await train(scheduleConfig(out, 1), { onNote: (m) => notes.push(m) })).model.dispose();
    assert.match(notes.join("\n"), new RegExp(`took over the stale lock .* of pid ${child.pid}`));
    await assert.rejects(() => Deno.stat(lock), Deno.errors.NotFound, "released at the end");
    // Released on an error too.
    await assert.rejects(() => train(scheduleConfig(out, 1)), /already holds a checkpoint/);
    await assert.rejects(() => Deno.stat(lock), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train prints the data and split sizes at start, and the skipped rows", async () => {
  const rows = Array.from({ length: 12 }, (_, i) => `m.jsonl:${i + 2}: no such image`);
  const text = dataSummaryText({
    name: "manifest",
    path: "my-data/",
    sizes: { train: 612, val: 68, test: 105 },
    skipped: 12,
    skippedRows: rows,
  }).split("\n");
  assert.equal(text[0], "data: manifest my-data/ — train 612, val 68, test 105; skipped 12 rows");
  assert.equal(text.length, 12);
  assert.equal(text[1], "  skipped m.jsonl:2: no such image");
  assert.equal(text[11], "  ... and 2 more");
  // The CLI prints it, with the schedule note of a resume.
  const dir = await Deno.makeTempDir({ prefix: "coca_print_" });
  try {
    await trainIn(`${dir}/run`, 2);
    const r = await run(["--resume", "--out", `${dir}/run`, "--steps", "3", "--reschedule"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^data: shapes — train 40, val 3, test 8, heldout 8$/m);
    assert.match(r.stderr, /^train: rescheduled: .* from 2 to 3 steps/m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train reports a manifest's split sizes and its skipped rows (file:line: reason)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "coca_manifest_" });
  try {
    const red = new URL("fixtures/data/red_8x8.png", import.meta.url);
    for (let i = 0; i < 10; i++) await Deno.copyFile(red, `${dir}/red${i}.png`);
    const rows = [
      ...Array.from(
        { length: 10 },
        (_, i) => ({ image: `red${i}.png`, caption: `a red square ${i}` }),
      ),
      ...Array.from({ length: 12 }, (_, i) => ({ image: `missing${i}.png`, caption: "gone" })),
    ];
    const manifest = `${dir}/captions.jsonl`;
    await Deno.writeTextFile(manifest, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
    const config = resolveTrainConfig({
      ...tinyConfig(`${dir}/run`, 1),
      data: {
        name: "manifest",
        path: manifest,
        onError: "skip",
        valFraction: 0.2,
        testFraction: 0,
      },
      batchSize: 2,
    } as never);
    let text = "";
    const summary = await train(config, { onData: (d) => text = dataSummaryText(d) });
    summary.model.dispose();
    const lines = text.split("\n");
    const { train: tr, val, test } = summary.dataset.splits;
    assert.equal(tr.length + val.length + test.length, 10);
    assert.equal(
      lines[0],
      `data: manifest ${manifest} — train ${tr.length}, val ${val.length}, test ${test.length}; ` +
        "skipped 12 rows",
    );
    assert.equal(lines.length, 12, text);
    assert.match(lines[1], new RegExp(`^  skipped ${manifest}:11: .*missing0\\.png`));
    assert.equal(lines[11], "  ... and 2 more");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
