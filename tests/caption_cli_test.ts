import assert from "node:assert/strict";
import {
  CoCa,
  type CoCaConfig,
  saveWeights,
  setupBackend,
  SimpleViT,
  type ViTConfig,
} from "../mod.ts";
import { trainTokenizer } from "../src/text/tokenizer.ts";
import { TINY_COCA, TINY_VIT } from "./helpers.ts";

const CLI = new URL("../src/cli/caption.ts", import.meta.url).pathname;
const DATA = new URL("./fixtures/data/", import.meta.url).pathname;
// The valid images of the fixture folder (corrupt.png and not_an_image.png are broken on purpose).
const IMAGES = ["red_8x8.png", "gray_6x4.png", "half_transparent_4x4.png"].map((f) => DATA + f);

/** A checkpoint directory in the documented format, with a tiny random model. */
async function tinyCheckpoint(): Promise<string> {
  await setupBackend("cpu");
  const tokenizer = trainTokenizer(["a red circle"], { vocabSize: 300 });
  const vit: ViTConfig = TINY_VIT;
  const coca: CoCaConfig = { ...TINY_COCA, numTokens: tokenizer.vocabSize };
  const dir = await Deno.makeTempDir({ prefix: "coca_ckpt_" });
  const model = new CoCa({ ...coca, imgEncoder: new SimpleViT(vit, { seed: 1 }) }, { seed: 1 });
  await saveWeights(model, `${dir}/weights.safetensors`);
  model.dispose();
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify({ model: { vit, coca } }));
  await Deno.writeTextFile(`${dir}/tokenizer.json`, JSON.stringify(tokenizer.toJSON()));
  return dir;
}

Deno.test("caption CLI: images are fitted as the checkpoint's training data was (data.fit, data.background)", async () => {
  const dir = await tinyCheckpoint();
  const { loadCaptionCheckpoint } = await import("../src/cli/caption.ts");
  try {
    let loaded = await loadCaptionCheckpoint(dir);
    assert.deepEqual(loaded.imageOptions, {}); // no data recorded: the defaults (pad on white)
    loaded.model.dispose();
    const config = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
    config.data = { name: "manifest", path: "elsewhere/", fit: "crop", background: [0, 0, 0] };
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
    loaded = await loadCaptionCheckpoint(dir);
    assert.deepEqual(loaded.imageOptions, { fit: "crop", background: [0, 0, 0] });
    loaded.model.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function caption(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, "--backend", "cpu", "--max-length", "4", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code, out: dec.decode(stdout), err: dec.decode(stderr) };
}

Deno.test("caption CLI: one line per image, plain and --json", async () => {
  const dir = await tinyCheckpoint();
  try {
    const plain = await caption("--checkpoint", dir, ...IMAGES);
    assert.equal(plain.code, 0, plain.err);
    const lines = plain.out.trimEnd().split("\n");
    assert.equal(lines.length, IMAGES.length, plain.out);
    lines.forEach((l, i) => assert.ok(l.startsWith(`${IMAGES[i]}\t`), l));

    const json = await caption(
      "--checkpoint",
      dir,
      "--beam",
      "2",
      "--json",
      "--batch-size",
      "2",
      ...IMAGES,
    );
    assert.equal(json.code, 0, json.err);
    const rows = json.out.trimEnd().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(rows.map((r) => r.image), IMAGES);
    for (const r of rows) {
      assert.equal(typeof r.caption, "string");
      assert.ok(r.tokens.length <= 4 && r.score <= 0, JSON.stringify(r));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("caption CLI: clear errors for a missing checkpoint, a bad image and bad flags", async () => {
  const missing = "/nonexistent/coca_checkpoint";
  const a = await caption("--checkpoint", missing, IMAGES[0]);
  assert.equal(a.code, 2);
  assert.match(
    a.err,
    new RegExp(`expected a checkpoint directory .* at ${missing}, found nothing there`),
  );
  assert.equal(a.out, "");

  const dir = await tinyCheckpoint();
  try {
    const corrupt = DATA + "corrupt.png";
    const b = await caption("--checkpoint", dir, IMAGES[0], corrupt);
    assert.equal(b.code, 2);
    assert.match(b.err, new RegExp(`cannot decode image ${corrupt}`));
    assert.equal(b.out, "", "no caption is printed when an image cannot be read");

    const gone = DATA + "no_such_image.png";
    const c = await caption("--checkpoint", dir, gone);
    assert.equal(c.code, 2);
    assert.match(c.err, new RegExp(`cannot read image ${gone}`));

    // A device is refused before any read (Deno.readFile of /dev/zero never returned).
    const zero = await caption("--checkpoint", dir, "/dev/zero");
    assert.equal(zero.code, 2);
    assert.match(
      zero.err,
      /cannot read image \/dev\/zero: expected a regular image file, found a character device/,
    );

    const d = await caption("--checkpoint", dir, "--top-p", "1.5", IMAGES[0]);
    assert.equal(d.code, 2);
    assert.match(d.err, /expected topP in \(0, 1\], found 1.5/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
