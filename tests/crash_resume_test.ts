/**
 * Double-crash test of checkpoint saving: a tiny training run (cpu) is killed at each phase of
 * `saveCheckpoint` (through the `COCA_CRASH_AT=PHASE:N` test hook, which exits with 137 as a
 * SIGKILL would), resumed and killed again at the same phase, resumed and killed a third time at the
 * next phase (so every phase is also followed by a crash at a different one), then resumed to the
 * end; it must end with exactly the weights, optimizer state and loss curve of an uninterrupted run,
 * and leave no temporary folders (nor the killed runs' train.lock) behind.
 */
import assert from "node:assert/strict";
import { CRASH_PHASES } from "../src/train/checkpoint.ts";
import { TINY_COCA, TINY_VIT } from "./helpers.ts";

const CLI = new URL("../src/cli/train.ts", import.meta.url).pathname;
const STEPS = 4;

function tinyConfig() {
  return {
    model: { vit: { ...TINY_VIT, mlpDim: 32 }, coca: { ...TINY_COCA, numTokens: 300 } },
    data: { name: "shapes", trainSize: 16, valSize: 4, testSize: 4, heldoutSize: 4, imageSize: 16 },
    tokenizer: { vocabSize: 300 },
    textLength: 12,
    batchSize: 4,
    steps: STEPS,
    seed: 5,
    backend: "cpu",
    checkpointEvery: 1,
    logEvery: 1,
    outDir: "unused",
  };
}

async function train(args: string[], crashAt?: string) {
  const env: Record<string, string> = crashAt ? { COCA_CRASH_AT: crashAt } : {};
  const res = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: res.code, stderr: new TextDecoder().decode(res.stderr) };
}

function trainLosses(text: string): [number, number][] {
  return text.trim().split("\n").map((l) => JSON.parse(l)).filter((l) => l.split === "train")
    .map((l) => [l.step, l.loss]);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

Deno.test("killed twice in a row at every phase of a checkpoint save, then at the next phase, a run resumes to the exact weights", async () => {
  const dir = await Deno.makeTempDir({ prefix: "coca_crash_" });
  try {
    const cfg = `${dir}/config.json`;
    await Deno.writeTextFile(cfg, JSON.stringify(tinyConfig()));
    const full = await train(["--config", cfg, "--out", `${dir}/full`]);
    assert.equal(full.code, 0, full.stderr);
    const weights = await Deno.readFile(`${dir}/full/checkpoint/weights.safetensors`);
    const optimizer = await Deno.readFile(`${dir}/full/checkpoint/optimizer.safetensors`);
    const losses = trainLosses(await Deno.readTextFile(`${dir}/full/metrics.jsonl`));
    assert.equal(losses.length, STEPS);

    const check = async (phase: string, next: string) => {
      const out = `${dir}/${phase}`;
      // First crash: the second time the phase is reached (a checkpoint already exists).
      const a = await train(["--config", cfg, "--out", out], `${phase}:2`);
      assert.equal(a.code, 137, `${phase}: first run should crash\n${a.stderr}`);
      // Second crash: in the very next save after resuming.
      const b = await train(["--resume", "--out", out], `${phase}:1`);
      assert.equal(b.code, 137, `${phase}: resumed run should crash\n${b.stderr}`);
      // Third crash, at another phase, in the next save again; each killed run left its lock.
      const b2 = await train(["--resume", "--out", out], `${next}:1`);
      assert.equal(b2.code, 137, `${phase}, then ${next}: resumed run should crash\n${b2.stderr}`);
      assert.match(b2.stderr, /took over the stale lock/);
      const c = await train(["--resume", "--out", out]);
      assert.equal(c.code, 0, `${phase}: final resume\n${c.stderr}`);
      assert.ok(
        sameBytes(await Deno.readFile(`${out}/checkpoint/weights.safetensors`), weights),
        `${phase}: final weights differ from the uninterrupted run's`,
      );
      assert.ok(
        sameBytes(await Deno.readFile(`${out}/checkpoint/optimizer.safetensors`), optimizer),
        `${phase}: optimizer state differs`,
      );
      assert.deepEqual(
        trainLosses(await Deno.readTextFile(`${out}/metrics.jsonl`)),
        losses,
        `${phase}: loss curve (each step once)`,
      );
      const left = [...Deno.readDirSync(out)].map((e) => e.name).sort();
      assert.deepEqual(left, ["checkpoint", "metrics.jsonl"], `${phase}: leftovers ${left}`);
    };
    // Two phases at a time (each a chain of four processes), to stay near a minute.
    const queue = CRASH_PHASES.map((p, i) => [p, CRASH_PHASES[(i + 1) % CRASH_PHASES.length]]);
    const lane = async () => {
      for (let p = queue.shift(); p !== undefined; p = queue.shift()) await check(p[0], p[1]);
    };
    await Promise.all([lane(), lane()]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
