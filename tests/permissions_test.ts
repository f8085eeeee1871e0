// Each deno task asks only for the permissions it needs, trials get the train task's, and a
// missing permission is a one-line error with exit 2 (no stack trace).
import assert from "node:assert/strict";
import { TRIAL_PERMISSIONS } from "../src/sweep/run.ts";

const ROOT = new URL("../", import.meta.url).pathname;
/** Each task's command. */
const TASKS: Record<string, string> = JSON.parse(
  await Deno.readTextFile(`${ROOT}deno.json`),
).tasks;
const TRAIN = `${ROOT}src/cli/train.ts`;

/** The `--allow-*` / `-A` flags of a `deno run` task, in order. */
function flags(task: string): string[] {
  return TASKS[task].split(/\s+/).filter((w) => w === "-A" || w.startsWith("--allow-"));
}

/** The tasks that run a CLI with `deno run` (not test, bench, check). */
const RUN_TASKS = Object.keys(TASKS).filter((t) => TASKS[t].startsWith("deno run "));

Deno.test("no task but test, bench and bench:report asks for all permissions", () => {
  assert.ok(RUN_TASKS.length >= 10, `expected the CLI tasks, found ${RUN_TASKS.join(", ")}`);
  for (const [task, command] of Object.entries(TASKS)) {
    if (["test", "bench", "bench:report"].includes(task)) continue;
    assert.doesNotMatch(command, /(^|\s)(-A|--allow-all)(\s|$)/, `${task}: ${command}`);
    if (task === "web") continue; // its server: the loopback address only (next test)
    assert.doesNotMatch(command, /--allow-net/, `${task}: ${command}`);
  }
});

Deno.test("the web task serves on 127.0.0.1 only, runs only chromium and deno, writes only out/", () => {
  const f = flags("web");
  assert.ok(f.includes("--allow-net=127.0.0.1"), `web: ${f.join(" ")}`);
  assert.ok(!f.includes("--allow-net"), `web: unscoped --allow-net in ${f.join(" ")}`);
  assert.ok(f.includes("--allow-run=chromium,deno"), `web: ${f.join(" ")}`);
  assert.ok(f.includes("--allow-write=out/"), `web: ${f.join(" ")}`);
  assert.ok(!f.includes("--allow-ffi"), `web: ${f.join(" ")}`);
});

Deno.test("only the tasks that spawn processes get --allow-run, only those that can run blas --allow-ffi", () => {
  const spawn = ["notebooks", "experiment", "exit-stress", "web", "native"];
  const blas = ["demo", "parity", "train", "eval", "caption", "bench:profile", "native"];
  for (const task of RUN_TASKS) {
    if (task === "bench:report") continue; // -A: it runs `deno bench -A` and reads /proc/cpuinfo
    const f = flags(task);
    const run = f.some((x) => x === "--allow-run" || x.startsWith("--allow-run="));
    assert.equal(run, spawn.includes(task), `${task}: ${f.join(" ")}`);
    assert.equal(f.includes("--allow-ffi"), blas.includes(task), `${task}: ${f.join(" ")}`);
  }
});

Deno.test("trials are spawned with exactly the train task's permissions", () => {
  assert.deepEqual(flags("train"), [...TRIAL_PERMISSIONS]);
  assert.ok(!TRIAL_PERMISSIONS.includes("-A") && !TRIAL_PERMISSIONS.includes("--allow-run"));
});

async function run(permissions: string[], args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", ...permissions, TRAIN, ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, err: new TextDecoder().decode(out.stderr) };
}

/** The stderr lines before the usage: exactly one, `train: ...`, and no stack frame anywhere. */
function oneErrorLine(err: string): string {
  assert.doesNotMatch(err, /^\s+at /m, err);
  const lines = err.trimEnd().split("\n");
  const usage = lines.findIndex((l) => l.startsWith("usage: "));
  assert.equal(usage, 1, `expected one error line, then the usage, found:\n${err}`);
  assert.match(lines[0], /^train: /);
  return lines[0];
}

Deno.test("a missing permission is one clear line and exit 2", async () => {
  const config = await Deno.makeTempFile({ suffix: ".json" });
  try {
    const model = JSON.parse(await Deno.readTextFile(`${ROOT}configs/test-tiny.model.json`));
    delete model.$schema;
    model.coca.numTokens = 300;
    const cfg = { model, tokenizer: { vocabSize: 300 }, steps: 1, outDir: `${config}.out` };
    await Deno.writeTextFile(config, JSON.stringify(cfg));
    const [noRead, noEnv, noFfi] = await Promise.all([
      run(["--allow-env"], ["--config", config]),
      run(["--allow-read"], ["--config", config]),
      run(["--allow-read", "--allow-env"], ["--config", config, "--backend", "blas"]),
    ]);
    assert.equal(noRead.code, 2, noRead.err);
    assert.equal(
      oneErrorLine(noRead.err),
      `train: cannot read config ${config}: needs read access to "${config}" (run through deno ` +
        "task, or add --allow-read)",
    );
    assert.equal(noEnv.code, 2, noEnv.err);
    assert.equal(
      oneErrorLine(noEnv.err),
      'train: needs env access to "COCA_BACKEND" (run through deno task, or add --allow-env)',
    );
    // Checked before training starts: one line, not one error per OpenBLAS path tried.
    assert.equal(noFfi.code, 2, noFfi.err);
    assert.match(oneErrorLine(noFfi.err), /^train: needs --allow-ffi to use the blas backend/);
  } finally {
    await Deno.remove(config);
  }
});
