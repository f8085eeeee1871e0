import assert from "node:assert/strict";
import {
  CHECKPOINT_FILES,
  type CoCaConfig,
  loadCheckpoint,
  readCheckpointConfig,
  saveWeights,
  setupBackend,
  type ViTConfig,
} from "../mod.ts";
import { buildModel } from "../src/train/checkpoint.ts";
import { trainTokenizer } from "../src/text/tokenizer.ts";
import { TINY_COCA, TINY_VIT } from "./helpers.ts";

/** Writes a model-only checkpoint (config, weights, tokenizer) into `dir`. */
async function writeCheckpoint(dir: string): Promise<void> {
  const tokenizer = trainTokenizer(["a red circle"], { vocabSize: 300 });
  const vit: ViTConfig = TINY_VIT;
  const coca: CoCaConfig = { ...TINY_COCA, numTokens: tokenizer.vocabSize };
  await Deno.mkdir(dir, { recursive: true });
  const model = buildModel({ vit, coca }, 1);
  await saveWeights(model, `${dir}/${CHECKPOINT_FILES.weights}`);
  model.dispose();
  const f = CHECKPOINT_FILES;
  await Deno.writeTextFile(`${dir}/${f.config}`, JSON.stringify({ model: { vit, coca } }));
  await Deno.writeTextFile(`${dir}/${f.tokenizer}`, JSON.stringify(tokenizer.toJSON()));
}

Deno.test("loadCheckpoint and readCheckpointConfig read DIR, or DIR.old after a crash mid-swap", async () => {
  await setupBackend("cpu");
  const root = await Deno.makeTempDir({ prefix: "coca_ckpt_" });
  try {
    const dir = `${root}/checkpoint`;
    // Only DIR.old exists (saveCheckpoint crashed between its two renames).
    await writeCheckpoint(`${dir}.old`);
    const config = await readCheckpointConfig(dir, { modelOnly: true });
    assert.equal(config.model.coca.dim, TINY_COCA.dim);
    const old = await loadCheckpoint(dir, { modelOnly: true });
    assert.equal(old.dir, `${dir}.old`);
    old.model.dispose();
    // DIR itself wins once it is there.
    await writeCheckpoint(dir);
    const now = await loadCheckpoint(dir, { modelOnly: true });
    assert.equal(now.dir, dir);
    now.model.dispose();
    // Neither: the usual error naming DIR.
    await assert.rejects(
      () => loadCheckpoint(`${root}/missing`),
      /expected a checkpoint directory .* at .*missing, found nothing there/,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
