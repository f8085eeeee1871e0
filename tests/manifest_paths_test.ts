// Data paths resolve against the config file's folder; the committed manifest example loads.
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { resolveConfigDataPaths, resolveDataPaths } from "../src/data/paths.ts";
import { loadDataset } from "../src/data/load.ts";
import { readTrainConfigFile } from "../src/train/config.ts";

const FIX = new URL("./fixtures/data/", import.meta.url).pathname;
const EXAMPLE = new URL("../configs/manifest-example.json", import.meta.url);

/** Run `f` with the working directory set to a fresh empty temp folder, then restore it. */
async function inOtherCwd<T>(f: () => Promise<T>): Promise<T> {
  const before = Deno.cwd();
  const elsewhere = await Deno.makeTempDir();
  Deno.chdir(elsewhere);
  try {
    return await f();
  } finally {
    Deno.chdir(before);
    await Deno.remove(elsewhere, { recursive: true });
  }
}

Deno.test("resolveDataPaths: relative manifest and emoji paths against a folder", () => {
  assert.deepEqual(resolveDataPaths({ name: "manifest", path: "data/" }, "/c/d"), {
    name: "manifest",
    path: "/c/d/data",
  });
  assert.deepEqual(resolveDataPaths({ name: "manifest", path: "../x.csv" }, "/c/d"), {
    name: "manifest",
    path: "/c/x.csv",
  });
  assert.deepEqual(resolveDataPaths({ name: "manifest", path: "/abs/m.jsonl" }, "/c"), {
    name: "manifest",
    path: "/abs/m.jsonl",
  });
  assert.deepEqual(
    resolveDataPaths({ name: "emoji", googleDir: "g", twitterDir: "/t", limit: 3 }, "/c"),
    { name: "emoji", googleDir: "/c/g", twitterDir: "/t", limit: 3 },
  );
  const shapes = { name: "shapes", trainSize: 4 } as const;
  assert.deepEqual(resolveDataPaths(shapes, "/c"), shapes);
  // A relative base folder is taken from the working directory.
  assert.equal(
    (resolveDataPaths({ name: "manifest", path: "m.csv" }, "cfg") as { path: string }).path,
    join(Deno.cwd(), "cfg", "m.csv"),
  );
  // Wrong types are left for the schema to report.
  const bad = { name: "manifest", path: 5 } as unknown as Parameters<typeof resolveDataPaths>[0];
  assert.deepEqual(resolveDataPaths(bad, "/c"), bad);
});

Deno.test("resolveConfigDataPaths: the data config under a key path, in a copy", () => {
  const cfg = { steps: 3, data: { name: "manifest", path: "d" } };
  assert.deepEqual(resolveConfigDataPaths(cfg, "/a/b/run.json"), {
    steps: 3,
    data: { name: "manifest", path: "/a/b/d" },
  });
  assert.equal(cfg.data.path, "d"); // not modified
  const spec = { base: { train: { data: { name: "manifest", path: "m.csv" } } }, seeds: [0] };
  assert.deepEqual(
    resolveConfigDataPaths(spec, "/s/sweep.json", ["base", "train"]).base.train.data.path,
    "/s/m.csv",
  );
  for (const odd of [null, 5, "x", [], { data: null }, { base: 3 }]) {
    assert.deepEqual(resolveConfigDataPaths(odd, "/s/x.json", ["base", "train"]), odd);
  }
});

Deno.test('a config with "path": "data/" loads the manifest next to it, from any cwd', async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/data`);
    await Deno.copyFile(`${FIX}red_8x8.png`, `${dir}/data/red.png`);
    await Deno.writeTextFile(`${dir}/data/captions.csv`, "image,caption\nred.png,a red square\n");
    const base = JSON.parse(await Deno.readTextFile(EXAMPLE));
    const config = { ...base, data: { name: "manifest", path: "data/", testFraction: 0 } };
    delete config.$schema;
    await Deno.writeTextFile(`${dir}/run.json`, JSON.stringify(config));
    await inOtherCwd(async () => {
      const cfg = await readTrainConfigFile(`${dir}/run.json`);
      assert.equal((cfg.data as { path: string }).path, `${dir}/data`);
      const { dataset } = await loadDataset(cfg.data, 32);
      assert.deepEqual(dataset.splits.train.map((e) => e.caption), ["a red square"]);
      // A missing folder is reported with the resolved path, not as written.
      await Deno.writeTextFile(
        `${dir}/gone.json`,
        JSON.stringify({ ...config, data: { name: "manifest", path: "nothing/" } }),
      );
      const gone = await readTrainConfigFile(`${dir}/gone.json`);
      await assert.rejects(
        () => loadDataset(gone.data, 32),
        (e: unknown) => {
          assert.match(String(e), new RegExp(`at ${dir}/nothing, found nothing`));
          return true;
        },
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("configs/manifest-example.json validates and loads its tiny manifest", async () => {
  await inOtherCwd(async () => {
    const cfg = await readTrainConfigFile(EXAMPLE);
    assert.equal(
      (cfg.data as { path: string }).path,
      join(dirname(EXAMPLE.pathname), "examples/tiny-manifest"),
    );
    const { dataset, skipped } = await loadDataset(cfg.data, 32);
    assert.equal(skipped, 0);
    const captions = (s: "train" | "val" | "test") => dataset.splits[s].map((e) => e.caption);
    assert.equal(captions("train").length, 4);
    assert.ok(captions("train").length >= cfg.batchSize, "enough to train one batch");
    assert.deepEqual(captions("val"), [
      "green and white stripes",
      "vertical stripes, green on white",
    ]);
    assert.deepEqual(captions("test"), [
      "a yellow disc on black",
      "a yellow circle, black background",
    ]);
    // The images are not square; "pad" keeps the whole red bar: white margins above and below.
    const red = dataset.splits.train.find((e) => e.caption === "a wide red bar")!.image;
    const S = 32;
    assert.equal(red[0], 1); // top-left red channel: white margin
    assert.equal(red[2 * S * S + (S / 2) * S + S / 2] < -0.5, true); // centre: red (little blue)
  });
});
