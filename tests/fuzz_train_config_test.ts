/**
 * Seeded fuzzing of training configs: valid configs (the tiny test config and the files in
 * `configs/` that are training configs) mutated thousands of times (a value's type changed, huge,
 * negative, NaN-ish or fractional numbers, unknown keys at every level, keys removed, objects moved
 * to the wrong level) go through `resolveTrainConfig`; each is accepted as a config whose numbers
 * are sane, or refused with the project's config error (a RangeError or TypeError in the "expected
 * PATH ..., found ..." or "unknown key(s) in PATH" wording) naming the mutated key's path (or a
 * key of a check across keys). Mutated file texts go through `readTrainConfigFile`, whose errors
 * name the file; a byte-order mark is accepted.
 */
import assert from "node:assert/strict";
import { mulberry32, pick, type RandFn, randInt } from "../src/util/rng.ts";
import { readTrainConfigFile, resolveTrainConfig, type TrainConfig } from "../src/train/config.ts";
import { assertRssBound, TINY_COCA, TINY_VIT } from "./helpers.ts";

const SEED = 20261130;
const CASE_MS = 1000;

const TINY = {
  model: { vit: { ...TINY_VIT, mlpDim: 32 }, coca: { ...TINY_COCA, numTokens: 300 } },
  data: { name: "shapes", trainSize: 40, valSize: 8, testSize: 8, heldoutSize: 8, imageSize: 16 },
  tokenizer: { vocabSize: 300 },
  textLength: 12,
  batchSize: 8,
  steps: 12,
  seed: 3,
  backend: "cpu",
  optimizer: { lr: 1e-3, weightDecay: 0.01, clipNorm: 1 },
  schedule: { warmupSteps: 2, minLrRatio: 0.1 },
  checkpointEvery: 3,
  logEvery: 1,
  outDir: "runs/x",
};

/** The valid starting points: the tiny config and every training config in configs/. */
async function sources(): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [TINY];
  for (const e of Deno.readDirSync(new URL("../configs/", import.meta.url))) {
    if (!e.isFile || !e.name.endsWith(".json")) continue;
    const text = await Deno.readTextFile(new URL(`../configs/${e.name}`, import.meta.url));
    const json = JSON.parse(text);
    try {
      resolveTrainConfig(json);
      out.push(json);
    } catch {
      // a model config or another kind of file
    }
  }
  return out;
}

/** Values a field may be replaced with. */
const ODD: unknown[] = [
  null,
  undefined,
  "5",
  "NaN",
  "1e3",
  "",
  NaN,
  Infinity,
  -Infinity,
  -1,
  -0,
  0,
  0.5,
  1,
  2,
  1e308,
  -1e308,
  2 ** 31,
  2 ** 53 + 2,
  Number.MAX_VALUE,
  Number.MIN_VALUE,
  true,
  [],
  [1, 2],
  {},
  { name: "shapes" },
  "cpu",
  "auto",
  "shapes",
  "x".repeat(10_000),
];

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Every key path of an object (objects only). */
function paths(o: unknown, prefix: string[] = []): string[][] {
  if (!isObj(o)) return [];
  return Object.entries(o).flatMap(([k, v]) => [[...prefix, k], ...paths(v, [...prefix, k])]);
}

/** Object paths (including the root, []) where a key can be added. */
function objectPaths(o: unknown, prefix: string[] = []): string[][] {
  if (!isObj(o)) return [];
  return [prefix, ...Object.entries(o).flatMap(([k, v]) => objectPaths(v, [...prefix, k]))];
}

function at(o: Obj, path: string[]): Obj {
  let cur = o;
  for (const k of path) cur = cur[k] as Obj;
  return cur;
}

/** One mutation; returns the key paths an error may name for it. */
function mutate(rand: RandFn, config: Obj): string[] {
  const all = paths(config);
  const path = pick(rand, all);
  const parent = at(config, path.slice(0, -1)), key = path[path.length - 1];
  const named = [path.join(".")];
  switch (randInt(rand, 7)) {
    case 0:
    case 1: // a value of another type, or a huge, negative, NaN-ish or fractional number
      parent[key] = structuredClone(pick(rand, ODD));
      return named;
    case 2: { // a number nudged
      const v = parent[key];
      if (typeof v === "number") {
        parent[key] = pick(rand, [v + 1, v - 1, -v, v * 1e9, v + 0.5, v / 3, 2 ** 53 - v]);
      }
      return named;
    }
    case 3: { // an unknown key at some level
      const where = pick(rand, objectPaths(config));
      const name = pick(rand, ["stepz", "trainSise", "lr", "model", "extra", "__proto__", "dim"]);
      const target = at(config, where);
      if (Object.hasOwn(target, name)) return named;
      Object.defineProperty(target, name, {
        value: pick(rand, ODD),
        enumerable: true,
        writable: true,
        configurable: true,
      });
      return [where.length ? where.join(".") : "the config", [...where, name].join(".")];
    }
    case 4: // a key removed
      delete parent[key];
      return [...named, path.slice(0, -1).join(".") || "the config"];
    case 5: { // a value moved to another level (wrong nesting)
      // Somewhere outside the moved value (else the config would contain itself).
      const where = pick(
        rand,
        objectPaths(config).filter((w) => path.some((k, j) => w[j] !== k)),
      );
      const target = at(config, where);
      const v = parent[key];
      delete parent[key];
      if (!Object.hasOwn(target, key)) target[key] = v;
      return [...named, [...where, key].join("."), where.join(".") || "the config"];
    }
    default: { // an object replaced by its own content one level down, or wrapped
      const v = parent[key];
      parent[key] = isObj(v) && rand() < 0.5 ? Object.values(v)[0] : { [key]: v };
      return named;
    }
  }
}

/** Paths named by the checks across keys (which may follow from any change). */
/**
 * The model's own checks across its keys (`src/model/config.ts`) name the key without the
 * `model.vit.` / `model.coca.` prefix: accepted as they are.
 */
const MODEL_CROSS =
  /^expected (patchSize to divide imageSize|ViT dim to be divisible by 4|dimHead to be even|padId in \[0, )/;
const CROSS = [
  "model.coca.imageDim",
  "tokenizer.vocabSize",
  "model.coca.padId",
  "model.coca",
  "model.vit",
];

function checkAccepted(c: TrainConfig, label: string): void {
  const int = (v: unknown, min: number) => Number.isSafeInteger(v) && (v as number) >= min;
  assert.ok(int(c.steps, 1) && int(c.batchSize, 2) && int(c.seed, 0), `${label}: ${c.steps}`);
  assert.ok(int(c.textLength, 3) && int(c.logEvery, 1) && int(c.evalEvery, 0), label);
  assert.ok(int(c.checkpointEvery, 0) && int(c.tokenizer.vocabSize, 260), label);
  for (const v of Object.values(c.optimizer)) assert.ok(Number.isFinite(v) && v >= 0, label);
  assert.ok(int(c.schedule.warmupSteps, 0), label);
  assert.ok(c.schedule.minLrRatio >= 0 && c.schedule.minLrRatio <= 1, label);
  assert.ok(typeof c.outDir === "string" && c.outDir.length > 0, label);
  assert.ok(isObj(c.model.vit) && isObj(c.model.coca) && isObj(c.data), label);
}

function checkRefused(e: unknown, named: string[], label: string): void {
  assert.ok(
    e instanceof RangeError || e instanceof TypeError,
    `${label}: expected the config error (RangeError/TypeError), found ${e}`,
  );
  const m = e.message;
  assert.match(m, /^(expected|unknown key)/, `${label}: ${m}`);
  assert.doesNotMatch(m, /Cannot (read|convert)|is not a function|of undefined/, `${label}: ${m}`);
  // The issue names a key path: the mutated one, one around it, or a key of a cross check.
  const names = [...named, ...named.map((n) => n.split(".").slice(0, -1).join(".")), ...CROSS]
    .filter((n) => n !== "");
  assert.ok(
    names.some((n) => m.includes(n)) || MODEL_CROSS.test(m),
    `${label}: expected the error to name one of ${names.join(", ")}, found ${m}`,
  );
}

Deno.test("fuzz train configs: each mutated config is accepted, or refused naming the key path", async () => {
  const rand = mulberry32(SEED);
  const starts = await sources();
  assert.ok(starts.length >= 3, `training configs found: ${starts.length}`);
  const CASES = 15000;
  const seen = { accepted: 0, refused: 0 };
  let slowest = 0;
  const t0 = performance.now();
  for (let i = 0; i < CASES; i++) {
    assertRssBound(i, "fuzz train configs");
    const config = structuredClone(pick(rand, starts)) as Obj;
    const named: string[] = [];
    for (let k = 1 + randInt(rand, 3); k > 0; k--) named.push(...mutate(rand, config));
    const label = `case ${i} (seed ${SEED}) ${JSON.stringify(config).slice(0, 300)}`;
    const start = performance.now();
    try {
      checkAccepted(resolveTrainConfig(config as never), label);
      seen.accepted++;
    } catch (e) {
      if (e instanceof assert.AssertionError) throw e;
      checkRefused(e, named, label);
      seen.refused++;
    }
    const ms = performance.now() - start;
    slowest = Math.max(slowest, ms);
    assert.ok(ms < CASE_MS, `${label} took ${ms.toFixed(0)} ms`);
  }
  assert.ok(seen.accepted > CASES / 20 && seen.refused > CASES / 3, JSON.stringify(seen));
  console.log(
    `fuzz train configs: ${CASES} cases in ${((performance.now() - t0) / 1000).toFixed(1)} s, ` +
      `${JSON.stringify(seen)}, slowest ${slowest.toFixed(1)} ms`,
  );
});

Deno.test("fuzz train config files: mutated texts are read, or refused naming the file", async () => {
  const rand = mulberry32(SEED + 1);
  const dir = await Deno.makeTempDir({ prefix: "coca_fuzz_cfg_" });
  try {
    const text = JSON.stringify(TINY, null, 2);
    const seen = { accepted: 0, refused: 0 };
    for (let i = 0; i < 400; i++) {
      assertRssBound(i, "fuzz train config files");
      let t = text;
      switch (randInt(rand, 4)) {
        case 0:
          t = t.slice(0, randInt(rand, t.length));
          break;
        case 1: {
          const j = randInt(rand, t.length);
          t = t.slice(0, j) + pick(rand, ['"', "{", "}", "]", ",", ":", "-", "9", "e", ""]) +
            t.slice(j + 1);
          break;
        }
        case 2:
          t = pick(rand, ["\uFEFF", " ", ""]) + t + pick(rand, ["\n", "x", "}"]);
          break;
        default:
          t = pick(rand, ["", "null", "[]", "1", '"x"', "{}"]);
      }
      const path = `${dir}/c${i}.json`;
      await Deno.writeTextFile(path, t);
      try {
        checkAccepted(await readTrainConfigFile(path), `file case ${i}`);
        seen.accepted++;
      } catch (e) {
        if (e instanceof assert.AssertionError) throw e;
        assert.ok(e instanceof Error, `file case ${i}: ${e}`);
        assert.ok(e.message.startsWith(`${path}: `), `file case ${i}: ${e.name}: ${e.message}`);
        seen.refused++;
      }
    }
    assert.ok(seen.accepted > 10 && seen.refused > 100, JSON.stringify(seen));
    // A byte-order mark (as some editors write) is not an error.
    await Deno.writeTextFile(`${dir}/bom.json`, "\uFEFF" + text);
    assert.equal((await readTrainConfigFile(`${dir}/bom.json`)).steps, TINY.steps);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
