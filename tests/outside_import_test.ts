/**
 * The README's "From your own script" example, run as a user would: its code block copied into a
 * folder outside the repository (the checkout path substituted), run with `deno run --no-config`
 * and exactly the permission flags of the README's command, on a checkpoint trained here. Its
 * captions must be those of `deno task caption` with the same options.
 */
import assert from "node:assert/strict";
import { resolveTrainConfig, setupBackend, train } from "../mod.ts";
import { TINY_COCA, TINY_VIT } from "./helpers.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const IMAGES = ["red_8x8.png", "blue_8x8.jpg"].map((f) => `${ROOT}tests/fixtures/data/${f}`);

/** The README's subsection: its TypeScript block and the `deno run` line of its sh block. */
async function readmeExample(): Promise<{ code: string; command: string[] }> {
  const readme = await Deno.readTextFile(`${ROOT}README.md`);
  const section = readme.split("\n### From your own script\n")[1]?.split(/\n##? /)[0];
  assert.ok(section, 'expected a "### From your own script" subsection in README.md');
  const code = section.match(/```ts\n([\s\S]*?)```/)?.[1];
  const sh = section.match(/```sh\n([\s\S]*?)```/)?.[1];
  assert.ok(code && sh, "expected a ts and an sh block in README.md's From your own script");
  const line = sh.split("\n").find((l) => l.startsWith("deno run "));
  assert.ok(line, `expected a "deno run" command in README.md, found ${JSON.stringify(sh)}`);
  return { code, command: line.trim().split(/\s+/) };
}

/** A checkpoint folder written by the trainer: a tiny model, two steps on shapes. */
async function trainedCheckpoint(outDir: string): Promise<string> {
  await setupBackend("cpu");
  const summary = await train(resolveTrainConfig({
    model: { vit: TINY_VIT, coca: { ...TINY_COCA, numTokens: 300 } },
    data: { name: "shapes", trainSize: 16, valSize: 4, testSize: 4, heldoutSize: 4, imageSize: 16 },
    tokenizer: { vocabSize: 300 },
    textLength: 12,
    batchSize: 8,
    steps: 2,
    seed: 3,
    backend: "cpu",
    checkpointEvery: 0,
    logEvery: 1,
    outDir,
  } as never));
  summary.model.dispose();
  return `${outDir}/checkpoint`;
}

Deno.test("README: the From your own script example captions images from a folder outside the repo", async () => {
  const { code, command } = await readmeExample();
  assert.ok(
    code.includes('"/path/to/checkout/mod.ts"'),
    "the example imports /path/to/checkout/mod.ts",
  );
  // `deno run FLAGS... caption.ts CHECKPOINT IMAGE`: the flags are what the script may need.
  const flags = command.slice(2).filter((a) => a.startsWith("--"));
  const script = command.slice(2).find((a) => !a.startsWith("--"));
  assert.equal(script, "caption.ts");
  assert.deepEqual(flags.filter((f) => !f.startsWith("--allow-")), [], "only permission flags");

  const work = await Deno.makeTempDir({ prefix: "coca_outside_" });
  assert.ok(!work.startsWith(ROOT), `expected a folder outside ${ROOT}, found ${work}`);
  try {
    const checkpoint = await trainedCheckpoint(`${work}/run`);
    const user = `${work}/mine`;
    await Deno.mkdir(user);
    await Deno.writeTextFile(`${user}/caption.ts`, code.replaceAll("/path/to/checkout/", ROOT));
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-config", "--check", ...flags, "caption.ts", checkpoint, ...IMAGES],
      cwd: user,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    const stdout = dec.decode(out.stdout), stderr = dec.decode(out.stderr);
    assert.equal(out.code, 0, `expected exit 0, found ${out.code}: ${stderr}`);
    assert.ok(stdout.startsWith(`${IMAGES[0]}\t`), stdout);

    // The same captions as the caption CLI with the example's options (beam search, 4 beams);
    // its --json output, since a caption of a barely trained model may hold any character.
    const cli = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        `${ROOT}src/cli/caption.ts`,
        "--backend",
        "wasm",
        "--checkpoint",
        checkpoint,
        "--strategy",
        "beam",
        "--beam",
        "4",
        "--json",
        ...IMAGES,
      ],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(cli.code, 0, dec.decode(cli.stderr));
    const rows = dec.decode(cli.stdout).trimEnd().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(rows.map((r) => r.image), IMAGES);
    assert.equal(stdout, rows.map((r) => `${r.image}\t${r.caption}\n`).join(""));
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});
