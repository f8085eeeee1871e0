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
import {
  buildModel,
  COMPLETE_MARKER,
  readCheckpoint,
  removeStaleCheckpoints,
  saveCheckpoint,
  validateTrainState,
} from "../src/train/checkpoint.ts";
import { AdamW } from "../src/train/optimizer.ts";
import { resolveTrainConfig } from "../src/train/config.ts";
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

/** A valid training config, as a checkpoint's `config.json` holds it. */
const TRAIN_CONFIG = resolveTrainConfig({
  model: { vit: TINY_VIT, coca: { ...TINY_COCA, numTokens: 300 } },
  tokenizer: { vocabSize: 300 },
});

/** A resumable checkpoint folder as `saveCheckpoint` leaves it (files need not be real). */
async function writeFakeResumable(dir: string, state: unknown, marker = true): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  for (const f of Object.values(CHECKPOINT_FILES)) await Deno.writeTextFile(`${dir}/${f}`, "{}");
  await Deno.writeTextFile(`${dir}/${CHECKPOINT_FILES.config}`, JSON.stringify(TRAIN_CONFIG));
  await Deno.writeTextFile(`${dir}/${CHECKPOINT_FILES.state}`, JSON.stringify(state));
  if (marker) await Deno.writeTextFile(`${dir}/${COMPLETE_MARKER}`, "{}");
}

const STATE = { step: 3, epoch: 0, batchInEpoch: 3, rngState: 12345, seconds: 1.5 };

Deno.test("after two crashes only DIR.old and DIR.tmp-* remain: resume picks the newest complete one and cleans the rest", async () => {
  const root = await Deno.makeTempDir({ prefix: "coca_ckpt_" });
  try {
    const dir = `${root}/checkpoint`;
    await writeFakeResumable(`${dir}.old`, STATE, false); // written before the marker existed
    await writeFakeResumable(`${dir}.tmp-aaaa0001`, { ...STATE, step: 6 }); // complete
    await writeFakeResumable(`${dir}.tmp-aaaa0002`, { ...STATE, step: 9 }, false); // killed mid-way
    const ckpt = await readCheckpoint(dir);
    assert.equal(ckpt?.dir, `${dir}.tmp-aaaa0001`);
    assert.equal(ckpt?.state.step, 6);
    await removeStaleCheckpoints(dir, ckpt?.dir);
    const left = [...Deno.readDirSync(root)].map((e) => e.name).sort();
    assert.deepEqual(left, ["checkpoint.old", "checkpoint.tmp-aaaa0001"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("saveCheckpoint writes a complete marker, keeps no temporaries and records the state", async () => {
  await setupBackend("cpu");
  const root = await Deno.makeTempDir({ prefix: "coca_ckpt_" });
  const model = buildModel({ vit: TINY_VIT, coca: { ...TINY_COCA, numTokens: 300 } }, 1);
  const optimizer = new AdamW(model.trainableVariables(), { lr: 1e-3 });
  try {
    const dir = `${root}/checkpoint`;
    await Deno.mkdir(`${dir}.tmp-deadbeef`); // left by a killed save
    const parts = {
      config: TRAIN_CONFIG,
      model,
      optimizer,
      tokenizerJson: {},
      state: { ...STATE, step: 0, backend: "cpu" },
    };
    await saveCheckpoint(dir, parts);
    await saveCheckpoint(`${dir}/`, parts); // a trailing slash names the same folder
    assert.deepEqual([...Deno.readDirSync(root)].map((e) => e.name), ["checkpoint"]);
    assert.ok((await Deno.stat(`${dir}/${COMPLETE_MARKER}`)).isFile);
    assert.equal((await readCheckpoint(dir))?.state.backend, "cpu");
  } finally {
    optimizer.dispose();
    model.dispose();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("state.json is validated: types, integer ranges, clear errors", async () => {
  const root = await Deno.makeTempDir({ prefix: "coca_ckpt_" });
  try {
    const cases: [unknown, RegExp][] = [
      [{}, /state\.json: expected step to be an integer in \[0, \d+\], found nothing/],
      [{ ...STATE, step: "5" }, /expected step to be an integer .*, found "5"/],
      [{ ...STATE, step: 5.5 }, /expected step to be an integer .*, found 5\.5/],
      [{ ...STATE, step: -1 }, /expected step to be an integer .*, found -1/],
      [{ ...STATE, rngState: 2 ** 40 }, /expected rngState to be an integer in \[0, 4294967295\]/],
      [{ ...STATE, seconds: null }, /expected seconds to be a finite number >= 0, found null/],
      [[1, 2], /expected a JSON object/],
    ];
    for (const [i, [state, error]] of cases.entries()) {
      const dir = `${root}/c${i}`;
      await writeFakeResumable(dir, state);
      await assert.rejects(() => readCheckpoint(dir), error);
    }
    // A torn state.json is reported, not taken for "no checkpoint".
    await writeFakeResumable(`${root}/torn`, STATE, false);
    await Deno.writeTextFile(`${root}/torn/${CHECKPOINT_FILES.state}`, '{"step": 3, "ep');
    await assert.rejects(() => readCheckpoint(`${root}/torn`), /cannot read state\.json/);
    assert.throws(
      () => validateTrainState({ ...STATE, backend: 3 }, "s"),
      /backend to be a string/,
    );
    assert.equal(validateTrainState(STATE, "s").step, 3);
    assert.throws(
      () => validateTrainState({ ...STATE, scheduleSteps: 0 }, "s"),
      /s: expected scheduleSteps to be an integer in \[1, \d+\], found 0/,
    );
    assert.equal(validateTrainState({ ...STATE, scheduleSteps: 250 }, "s").scheduleSteps, 250);
    // config.json is checked as a training config is, naming the file and the key.
    await writeFakeResumable(`${root}/cfg`, STATE);
    await Deno.writeTextFile(
      `${root}/cfg/${CHECKPOINT_FILES.config}`,
      JSON.stringify({ ...TRAIN_CONFIG, batchSize: "8" }),
    );
    await assert.rejects(
      () => readCheckpoint(`${root}/cfg`),
      /cfg\/config\.json: expected batchSize to be an integer >= 2, found "8"/,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("loadCheckpoint reads a complete DIR.tmp-* when two crashes left nothing else", async () => {
  await setupBackend("cpu");
  const root = await Deno.makeTempDir({ prefix: "coca_ckpt_" });
  try {
    const dir = `${root}/checkpoint`;
    await writeCheckpoint(`${dir}.tmp-0000beef`); // no marker: incomplete, never read
    await assert.rejects(() => loadCheckpoint(dir, { modelOnly: true }), /found nothing there/);
    await Deno.writeTextFile(
      `${dir}.tmp-0000beef/${CHECKPOINT_FILES.state}`,
      JSON.stringify(STATE),
    );
    await Deno.writeTextFile(`${dir}.tmp-0000beef/${COMPLETE_MARKER}`, "{}");
    const loaded = await loadCheckpoint(dir, { modelOnly: true });
    assert.equal(loaded.dir, `${dir}.tmp-0000beef`);
    loaded.model.dispose();
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
