// Every CLI answers bad input with one line `NAME: message`, then its usage, no stack trace, and
// exit 2; runtime failures are one line and exit 1; the backend comes from --backend, else
// COCA_BACKEND, else auto. (Parity's 1 for "over tolerance" is tested in trajectory_test.ts.)
import assert from "node:assert/strict";
import { parseArgs } from "node:util";
import { backendChoice, errorMessage, isInputError, runCli, UsageError } from "../src/cli/main.ts";
import { setupBackend } from "../src/backends/setup.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const TASKS: Record<string, string> = JSON.parse(
  await Deno.readTextFile(`${ROOT}deno.json`),
).tasks;

/** `deno run FLAGS SCRIPT` of a task, as arguments of `deno` (the task's own permissions). */
function taskArgs(task: string): string[] {
  const words = TASKS[task].split(/\s+/);
  assert.equal(words[0], "deno");
  return words.slice(1).map((w) => (/\.ts$/.test(w) ? ROOT + w : w));
}

const COMMANDS: Record<string, string[]> = {
  ...Object.fromEntries(
    ["demo", "parity", "train", "eval", "caption", "notebooks", "schemas", "experiment", "native"]
      .map((t) => [t, taskArgs(t)]),
  ),
  "bench:report": taskArgs("bench:report"),
  "exit-stress": taskArgs("exit-stress"),
  sweep_run: [
    "run",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    "--allow-run",
    `${ROOT}src/cli/sweep_run.ts`,
  ],
};

interface Result {
  code: number;
  out: string;
  err: string;
}

async function run(
  command: string[],
  args: string[],
  env: Record<string, string> = {},
): Promise<Result> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [...command.slice(0, 1), "--no-prompt", ...command.slice(1), ...args],
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, out: dec.decode(out.stdout), err: dec.decode(out.stderr) };
}

/** Asserts `NAME: message` as the only line before the usage, and no stack frame; returns it. */
function usageError(name: string, r: Result): string {
  const what = `${name} exit ${r.code}:\n${r.err}`;
  assert.equal(r.code, 2, what);
  assert.doesNotMatch(r.err, /^\s+at /m, what);
  const lines = r.err.trimEnd().split("\n").filter((l) => !/^(Warning|error: XDG)/.test(l));
  assert.ok(lines.length >= 2, what);
  assert.ok(lines[0].startsWith(`${name}: `), what);
  assert.match(lines[1], /^usage: /i, what);
  return lines[0];
}

const missing = "/nonexistent-coca/x";

/** For each CLI: a bad flag, and a bad file (or, where it reads none, a bad value). */
const CASES: [string, string[], string[], RegExp][] = [
  ["demo", ["--bogus"], ["--backend", "gpu"], /expected --backend to be one of .*found "gpu"/],
  ["parity", ["--bogus"], [`${missing}.safetensors`], /cannot read fixture/],
  ["train", ["--bogus"], ["--config", `${missing}.json`], /cannot read config .*No such file/],
  ["eval", ["--bogus"], ["--checkpoint", missing], /cannot load checkpoint/],
  ["caption", ["--bogus"], ["--checkpoint", missing, "a.png"], /cannot load checkpoint/],
  ["notebooks", ["--bogus"], [`${missing}.ipynb`], /expected a notebook file, found no/],
  ["schemas", ["--bogus"], ["extra"], /expected options only, found argument 'extra'/],
  ["native", ["--bogus"], ["extra"], /expected options only, found argument 'extra'/],
  [
    "sweep_run",
    ["--bogus"],
    ["--spec", `${missing}.json`, "--out", `${missing}-out`, "--entry", "x.ts"],
    /cannot read spec/,
  ],
  ["experiment", ["depth", "--bogus"], ["depth", "--backend", "gpu"], /expected --backend/],
  ["bench:report", ["--bogus"], ["--backends", "gpu"], /expected --backends to list/],
  ["exit-stress", ["--bogus"], ["--library", `${missing}.so`], /expected --library to name/],
];

for (const [name, badFlag, badInput, message] of CASES) {
  Deno.test(`${name}: a bad flag and bad input are one line, the usage, exit 2`, async () => {
    const [flag, input] = await Promise.all([
      run(COMMANDS[name], badFlag),
      run(COMMANDS[name], badInput),
    ]);
    assert.match(
      usageError(name, flag),
      new RegExp(`^${name}: expected .*found.*${badFlag.at(-1)}`),
    );
    assert.match(usageError(name, input), message);
  });
}

Deno.test("an unknown COCA_BACKEND is a one-line error naming the variable", async () => {
  const r = await run(COMMANDS.caption, ["--checkpoint", missing, "a.png"], {
    COCA_BACKEND: "gpu",
  });
  assert.equal(
    usageError("caption", r),
    'caption: expected COCA_BACKEND to be one of auto|webgpu|wasm|cpu|blas, found "gpu"',
  );
});

Deno.test("train runs on COCA_BACKEND without --backend; a runtime failure is one line, exit 1", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cli_errors_" });
  try {
    const model = JSON.parse(await Deno.readTextFile(`${ROOT}configs/test-tiny.model.json`));
    delete model.$schema;
    model.coca.numTokens = 300;
    await Deno.writeTextFile(
      `${dir}/config.json`,
      JSON.stringify({
        model,
        data: { name: "shapes", trainSize: 16, valSize: 8, testSize: 8, heldoutSize: 8 },
        tokenizer: { vocabSize: 300 },
        textLength: 8,
        batchSize: 8,
        steps: 1,
        checkpointEvery: 0,
      }),
    );
    const args = ["--config", `${dir}/config.json`, "--out", `${dir}/run`];
    const first = await run(COMMANDS.train, args, { COCA_BACKEND: "wasm" });
    assert.equal(first.code, 0, first.err);
    assert.equal(JSON.parse(first.out.trim().split("\n").at(-1)!).backend, "wasm");
    // The same folder again without --resume: the trainer refuses, a runtime error (exit 1).
    const again = await run(COMMANDS.train, args, { COCA_BACKEND: "wasm" });
    assert.equal(again.code, 1, again.err);
    assert.doesNotMatch(again.err, /^\s+at |usage:/m, again.err);
    const lines = again.err.trimEnd().split("\n").filter((l) => l.startsWith("train: "));
    assert.equal(lines.length, 1, again.err);
    assert.match(lines[0], /already holds a checkpoint/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("backendChoice: the flag, else COCA_BACKEND, else undefined; names the source of a bad name", () => {
  assert.equal(backendChoice("WASM", { COCA_BACKEND: "cpu" }), "wasm");
  assert.equal(backendChoice(undefined, { COCA_BACKEND: "cpu" }), "cpu");
  assert.equal(backendChoice(undefined, { COCA_BACKEND: "" }), undefined);
  assert.equal(backendChoice(undefined, {}), undefined);
  assert.throws(() => backendChoice("gpu", {}), /expected --backend to be one of .* found "gpu"/);
  assert.throws(
    () => backendChoice(undefined, { COCA_BACKEND: "gpu" }),
    (e) => e instanceof UsageError && /expected COCA_BACKEND to be one of/.test(e.message),
  );
});

Deno.test("setupBackend() names COCA_BACKEND when the variable is wrong", async () => {
  Deno.env.set("COCA_BACKEND", "gpu");
  try {
    await assert.rejects(setupBackend(), /expected COCA_BACKEND to be one of .* found "gpu"/);
  } finally {
    Deno.env.delete("COCA_BACKEND");
  }
});

Deno.test("isInputError / errorMessage: which errors are bad input, and their one-line wording", () => {
  const notCapable = new Deno.errors.NotCapable(
    'Requires ffi access to "libopenblas.so.0", run again with the --allow-ffi flag',
  );
  assert.ok(isInputError(notCapable));
  assert.equal(
    errorMessage(notCapable),
    'needs ffi access to "libopenblas.so.0" (run through deno task, or add --allow-ffi)',
  );
  assert.ok(isInputError(new Deno.errors.NotFound("x")));
  const wrapped = new Error(`checkpoint c: cannot read config.json: ${notCapable.message}`);
  assert.ok(isInputError(wrapped));
  assert.equal(
    errorMessage(wrapped),
    'checkpoint c: cannot read config.json: needs ffi access to "libopenblas.so.0" (run through ' +
      "deno task, or add --allow-ffi)",
  );
  const manifest = new Error("bad row");
  manifest.name = "ManifestError";
  assert.ok(isInputError(manifest));
  assert.ok(!isInputError(new TypeError("x is undefined")));
  assert.ok(!isInputError(new Error("out of memory")));
  assert.equal(errorMessage(new Error("two\n  lines")), "two; lines");
  const parse = (args: string[]) => {
    try {
      parseArgs({
        args,
        options: { out: { type: "string" }, help: { type: "boolean", short: "h" } },
      });
    } catch (e) {
      assert.ok(isInputError(e));
      return errorMessage(e);
    }
    assert.fail(`expected ${args.join(" ")} to be refused`);
  };
  assert.equal(parse(["--out"]), "expected a value after --out, found none");
  assert.equal(parse(["--help=yes"]), "expected no value after --help, found one");
  assert.equal(
    parse(["--oot", "x"]),
    "expected an option of the usage below, found unknown option --oot",
  );
  assert.equal(parse(["x"]), "expected options only, found argument 'x'");
});

Deno.test("runCli: 2 and the usage for bad input, 1 and one line for a failure, the code of main", async () => {
  const lines: string[] = [];
  const error = console.error;
  console.error = (...a: unknown[]) => lines.push(a.join(" "));
  try {
    assert.equal(
      await runCli("t", "usage: t", () => {
        throw new UsageError("expected x, found y");
      }, []),
      2,
    );
    assert.deepEqual(lines.splice(0), ["t: expected x, found y", "usage: t"]);
    assert.equal(
      await runCli("t", "usage: t", () => {
        throw new Error("disk on fire");
      }, []),
      1,
    );
    assert.deepEqual(lines.splice(0), ["t: disk on fire"]);
    assert.equal(await runCli("t", "usage: t", () => 7, []), 7);
    assert.equal(await runCli("t", "usage: t", () => {}, []), 0);
    assert.deepEqual(lines, []);
  } finally {
    console.error = error;
  }
});
