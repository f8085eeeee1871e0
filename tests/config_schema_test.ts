// One config schema: the JSON Schemas in configs/schema/ are what the zod definitions generate
// (a stale file fails here: run `deno task schemas`), every config file in configs/ names its
// schema and passes it, and the errors keep the "expected X, found Y" wording with the key path.
import assert from "node:assert/strict";
import { CONFIG_DIR, configSchemaFiles, schemaFileFor } from "../src/cli/schemas.ts";
import { checkModelConfig, readTrainConfigFile, resolveTrainConfig } from "../src/train/config.ts";
import { resolveCoCaConfig, resolveViTConfig } from "../src/model/config.ts";
import { loadDataset } from "../src/data/load.ts";

Deno.test("configs/schema/*.schema.json are up to date with the zod definitions", async () => {
  for (const [file, text] of Object.entries(configSchemaFiles())) {
    const committed = await Deno.readTextFile(new URL(file, CONFIG_DIR)).catch(() => "");
    assert.ok(committed === text, `configs/${file} is stale: run deno task schemas`);
  }
});

Deno.test("every config in configs/ names its schema and passes it", async () => {
  const names: string[] = [];
  for await (const e of Deno.readDir(CONFIG_DIR)) {
    if (e.isFile && e.name.endsWith(".json")) names.push(e.name);
  }
  assert.ok(names.includes("shapes-tiny.json") && names.includes("demo.json"), names.join());
  for (const name of names.sort()) {
    const url = new URL(name, CONFIG_DIR);
    const data = JSON.parse(await Deno.readTextFile(url));
    assert.equal(data.$schema, `./${schemaFileFor(name)}`, `${name}: "$schema"`);
    if (name.endsWith(".model.json")) {
      const { vit, coca } = checkModelConfig(data, name);
      resolveViTConfig(vit);
      resolveCoCaConfig(coca);
    } else {
      const cfg = await readTrainConfigFile(url);
      assert.equal("$schema" in cfg, false);
    }
  }
});

Deno.test("config errors name the key path, what was expected and what was found", async () => {
  const base = JSON.parse(await Deno.readTextFile(new URL("shapes-tiny.json", CONFIG_DIR)));
  const cases: [object, RegExp][] = [
    // issue 10: a misspelt data key was silently ignored
    [
      { data: { ...base.data, trainSise: 10 } },
      /: unknown key\(s\) in data: "trainSise"; expected some of name, trainSize, valSize/,
    ],
    [{ optimizer: { lr: 20 } }, /: expected optimizer\.lr in \[0, 10\], found 20$/],
    [
      { data: { name: "manifest", path: "data/", background: [255, 255, 256] } },
      /: expected data\.background\[2\] to be an integer in \[0, 255\], found 256$/,
    ],
    [{ schedule: { warmupSteps: 1.5 } }, /: expected schedule\.warmupSteps to be an integer >= 0/],
    [
      { model: { ...base.model, extra: 1 } },
      /: unknown key\(s\) in model: "extra"; expected some of vit, coca$/,
    ],
    [
      { model: { ...base.model, vit: { ...base.model.vit, depth: 0 } } },
      /: expected model\.vit\.depth to be a positive integer, found 0$/,
    ],
    [
      { model: { ...base.model, vit: { ...base.model.vit, imageSize: [32, "a"] } } },
      /: expected model\.vit\.imageSize to be a positive integer or a pair of them, found \[32,"a"\]$/,
    ],
    [
      { data: { name: "emoji", trainVendor: "apple" } },
      /: expected data\.trainVendor to be one of "google", "twitter", found "apple"$/,
    ],
    [{ outDir: 3 }, /: expected outDir to be a non-empty string, found 3$/],
    [{ $schema: 3 }, /: expected \$schema to be a string, found 3$/],
  ];
  for (const [change, re] of cases) {
    assert.throws(() => resolveTrainConfig({ ...base, ...change }), re, JSON.stringify(change));
  }
  await assert.rejects(
    () => loadDataset({ name: "shapes", trainSise: 3 } as never),
    /^RangeError: unknown key\(s\) in data: "trainSise"/,
  );
  assert.throws(
    () => checkModelConfig({ vit: base.model.vit }, "m.json"),
    /^RangeError: m\.json: expected coca to be an object, found undefined$/,
  );
});
