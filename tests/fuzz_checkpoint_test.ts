/**
 * Seeded fuzzing of checkpoint folders: the checkpoint of a finished tiny run is copied and mutated
 * (state.json and config.json fields changed in type, made huge, negative, NaN-ish or removed, or
 * the files replaced by garbage; the complete marker removed, garbled or made a folder; weights,
 * optimizer and tokenizer files truncated or bit-flipped; any file removed or replaced by a
 * folder), then read as a resume does (`readCheckpoint`), loaded as evaluation does
 * (`loadCheckpoint`) and, for some cases, resumed for real (`train(..., {resume: true})`). Each
 * either succeeds or throws an error that names the case's checkpoint folder or file, in the
 * project's words: never a raw `TypeError` or `SyntaxError` from the engine, never a case slower
 * than a bound.
 */
import assert from "node:assert/strict";
import { setupBackend } from "../src/backends/setup.ts";
import { mulberry32, pick, type RandFn, randInt } from "../src/util/rng.ts";
import {
  CHECKPOINT_FILES,
  COMPLETE_MARKER,
  loadCheckpoint,
  readCheckpoint,
} from "../src/train/checkpoint.ts";
import { resolveTrainConfig } from "../src/train/config.ts";
import { train } from "../src/train/trainer.ts";
import { assertRssBound, TINY_COCA, TINY_VIT } from "./helpers.ts";

await setupBackend("cpu");

const SEED = 20261130;
/** No case may take longer than this (a tiny checkpoint loads in milliseconds). */
const CASE_MS = 5000;
/** Error texts the JavaScript engine writes, never the project. */
const RAW =
  /Cannot (read|set|destructure|convert)|is not (a function|iterable|defined|a constructor)|of undefined|of null|Invalid (array|typed array) length|byte length of/;

function tinyConfig(outDir: string) {
  return resolveTrainConfig({
    model: { vit: { ...TINY_VIT, mlpDim: 32 }, coca: { ...TINY_COCA, numTokens: 300 } },
    data: { name: "shapes", trainSize: 8, valSize: 2, testSize: 2, heldoutSize: 2, imageSize: 16 },
    tokenizer: { vocabSize: 300 },
    textLength: 12,
    batchSize: 4,
    steps: 2,
    seed: 1,
    backend: "cpu",
    checkpointEvery: 0,
    outDir,
  } as never);
}

/** Values a JSON field may be replaced with. */
const ODD: unknown[] = [
  null,
  "5",
  "NaN",
  "Infinity",
  "-1",
  5.5,
  -1,
  -0,
  0,
  1,
  2 ** 32,
  2 ** 53 + 2,
  1e308,
  -1e308,
  [],
  [1],
  {},
  { step: 1 },
  true,
  "",
  "cpu",
  "x".repeat(1000),
];

/** A path to a field of a JSON object (objects only, at most 3 deep). */
function fieldPaths(o: unknown, prefix: string[] = []): string[][] {
  if (typeof o !== "object" || o === null || Array.isArray(o) || prefix.length >= 3) return [];
  return Object.entries(o).flatMap(([k, v]) => [[...prefix, k], ...fieldPaths(v, [...prefix, k])]);
}

/** One change of a JSON document: a field retyped, removed or added, or the whole replaced. */
function mutateJson(rand: RandFn, text: string): string {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    return text.slice(0, randInt(rand, text.length + 1));
  }
  const paths = fieldPaths(o);
  const r = randInt(rand, 10);
  if (r === 0 || paths.length === 0) {
    return pick(rand, ["", "{", "[]", "null", "1", '"x"', "{}", text.slice(0, text.length >> 1)]);
  }
  const path = pick(rand, paths);
  let parent = o as Record<string, unknown>;
  for (const k of path.slice(0, -1)) parent = parent[k] as Record<string, unknown>;
  const key = path[path.length - 1];
  if (r === 1) delete parent[key];
  else if (r === 2) parent[pick(rand, ["extra", "stepz", "__proto__x"])] = pick(rand, ODD);
  else if (r === 3) {
    const v = parent[key];
    parent[key] = typeof v === "number" ? pick(rand, [v + 1, v - 1, v * 1e6, -v, v + 0.5]) : v;
  } else parent[key] = structuredClone(pick(rand, ODD));
  return JSON.stringify(o, null, 1);
}

function flipBits(rand: RandFn, bytes: Uint8Array, n: number, within = bytes.length): Uint8Array {
  const out = bytes.slice();
  if (!out.length) return out;
  for (let k = 0; k < n; k++) {
    out[randInt(rand, Math.min(within, out.length))] ^= 1 << randInt(rand, 8);
  }
  return out;
}

/** A folder's files as a mutable map (name → bytes, or "dir" for a folder in its place). */
type Files = Map<string, Uint8Array | "dir">;

const JSON_FILES = [CHECKPOINT_FILES.state, CHECKPOINT_FILES.config, CHECKPOINT_FILES.tokenizer];
const BINARY_FILES = [CHECKPOINT_FILES.weights, CHECKPOINT_FILES.optimizer];

function mutate(rand: RandFn, files: Files): string {
  const enc = new TextEncoder(), dec = new TextDecoder();
  const names = [...files.keys()];
  switch (randInt(rand, 8)) {
    case 0:
    case 1: { // a JSON field (state.json twice as often)
      const name = pick(rand, [CHECKPOINT_FILES.state, ...JSON_FILES]);
      const v = files.get(name);
      if (v instanceof Uint8Array) files.set(name, enc.encode(mutateJson(rand, dec.decode(v))));
      return `json ${name}`;
    }
    case 2: { // a binary file truncated
      const name = pick(rand, BINARY_FILES);
      const v = files.get(name);
      if (v instanceof Uint8Array) {
        files.set(name, v.slice(0, randInt(rand, rand() < 0.5 ? 200 : v.length)));
      }
      return `truncate ${name}`;
    }
    case 3: { // bits flipped: in the header (the first bytes) or anywhere
      const name = pick(rand, [...BINARY_FILES, ...JSON_FILES]);
      const v = files.get(name);
      if (v instanceof Uint8Array) {
        files.set(name, flipBits(rand, v, 1 + randInt(rand, 6), rand() < 0.5 ? 400 : v.length));
      }
      return `flip ${name}`;
    }
    case 4: { // the complete marker removed, garbled or made a folder
      const r = randInt(rand, 3);
      if (r === 0) files.delete(COMPLETE_MARKER);
      else if (r === 1) files.set(COMPLETE_MARKER, enc.encode(pick(rand, ["", "{", "x", "[]"])));
      else files.set(COMPLETE_MARKER, "dir");
      return `marker ${r}`;
    }
    case 5: { // a file removed
      const name = pick(rand, names);
      files.delete(name);
      return `remove ${name}`;
    }
    case 6: { // a file replaced by a folder
      const name = pick(rand, names);
      files.set(name, "dir");
      return `folder ${name}`;
    }
    default: { // a file replaced by another one's contents
      const a = pick(rand, names), b = pick(rand, names);
      const va = files.get(a)!, vb = files.get(b)!;
      files.set(a, vb);
      files.set(b, va);
      return `swap ${a} ${b}`;
    }
  }
}

async function writeFiles(dir: string, files: Files): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  for (const [name, v] of files) {
    if (v === "dir") await Deno.mkdir(`${dir}/${name}/inner`, { recursive: true });
    else await Deno.writeFile(`${dir}/${name}`, v);
  }
}

function checkError(e: unknown, caseDir: string, label: string): void {
  assert.ok(e instanceof Error, `${label}: threw a non-Error ${e}`);
  assert.ok(
    e.message.includes(`${caseDir}/checkpoint`),
    `${label}: expected an error naming the checkpoint file, found ${e.name}: ${e.message}`,
  );
  assert.doesNotMatch(e.message, RAW, `${label}: a raw engine error: ${e.name}: ${e.message}`);
}

async function withinBound<T>(label: string, f: () => Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${label}: took over ${CASE_MS} ms`)), CASE_MS);
  });
  try {
    return await Promise.race([f(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("fuzz checkpoints: mutated folders are read, loaded and resumed, or refused naming the file", async () => {
  const root = await Deno.makeTempDir({ prefix: "coca_fuzz_ckpt_" });
  try {
    (await train(tinyConfig(`${root}/base`))).model.dispose();
    const base: Files = new Map();
    for (const e of Deno.readDirSync(`${root}/base/checkpoint`)) {
      base.set(e.name, await Deno.readFile(`${root}/base/checkpoint/${e.name}`));
    }
    const metrics = await Deno.readFile(`${root}/base/metrics.jsonl`);
    const rand = mulberry32(SEED);
    const CASES = 900, RESUME_EVERY = 10;
    const seen = { read: 0, loaded: 0, resumed: 0, refused: 0, none: 0 };
    let slowest = 0;
    const t0 = performance.now();
    for (let i = 0; i < CASES; i++) {
      assertRssBound(i, "fuzz checkpoints");
      const files: Files = new Map(base);
      const what: string[] = [];
      for (let k = 1 + randInt(rand, 3); k > 0; k--) what.push(mutate(rand, files));
      const caseDir = `${root}/c${i}`;
      await writeFiles(`${caseDir}/checkpoint`, files);
      await Deno.writeFile(`${caseDir}/metrics.jsonl`, metrics);
      const label = `case ${i} (seed ${SEED}: ${what.join(", ")})`;
      const start = performance.now();
      await withinBound(label, async () => {
        try {
          const ckpt = await readCheckpoint(`${caseDir}/checkpoint`);
          if (ckpt === undefined) seen.none++;
          else seen.read++;
        } catch (e) {
          checkError(e, caseDir, `${label} readCheckpoint`);
          seen.refused++;
        }
        try {
          (await loadCheckpoint(`${caseDir}/checkpoint`)).model.dispose();
          seen.loaded++;
        } catch (e) {
          checkError(e, caseDir, `${label} loadCheckpoint`);
        }
        if (i % RESUME_EVERY === 0) {
          try {
            (await train(tinyConfig(caseDir), { resume: true })).model.dispose();
            seen.resumed++;
          } catch (e) {
            if (!/cannot resume: no checkpoint in/.test((e as Error).message)) {
              checkError(e, caseDir, `${label} resume`);
            }
          }
        }
      });
      slowest = Math.max(slowest, performance.now() - start);
      await Deno.remove(caseDir, { recursive: true });
    }
    // The mutations are neither all harmless nor all fatal.
    assert.ok(seen.read > CASES / 20 && seen.refused > CASES / 5, JSON.stringify(seen));
    assert.ok(seen.resumed > 0, JSON.stringify(seen));
    console.log(
      `fuzz checkpoints: ${CASES} cases in ${((performance.now() - t0) / 1000).toFixed(1)} s, ` +
        `${JSON.stringify(seen)}, slowest ${slowest.toFixed(0)} ms`,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
