import assert from "node:assert/strict";
import { learningRate, resolveTrainConfig } from "../mod.ts";
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
