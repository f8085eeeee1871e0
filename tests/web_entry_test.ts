// The browser entry (web.ts) reaches no Deno-only code: its runtime import graph (from
// `deno info --json`, type-only imports left out) holds no file that uses `Deno.` or a `node:`
// module outside the few functions listed below, its browser bundle holds neither, and it
// type-checks against the DOM (web/dom.json). Also: the pure helpers it adds (token
// probabilities, the pooler's attention, a checkpoint from its files' contents).
import * as tf from "@tensorflow/tfjs";
import nodeAssert from "node:assert/strict";
import { setupBackend } from "../mod.ts";
import * as web from "../web.ts";
import { images, tinyModel } from "./helpers.ts";

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");

function assert(ok: boolean, message: string): asserts ok {
  nodeAssert.ok(ok, message);
}
function assertEquals<T>(found: T, expected: T, message = "mismatch"): void {
  const [f, e] = [JSON.stringify(found), JSON.stringify(expected)];
  assert(f === e, `${message}: expected ${e}, found ${f}`);
}
function assertAlmostEquals(found: number, expected: number, tol: number): void {
  assert(Math.abs(found - expected) <= tol, `expected ${expected} ± ${tol}, found ${found}`);
}

/**
 * Files of other layers that mix file I/O with the pure code the browser needs, each with the
 * top-level functions that hold their Deno use: web.ts must not export these, the bundle
 * leaves them out (unused), and nothing else in the file may use Deno. An entry whose functions
 * no longer use Deno must go (the test says so).
 */
const KNOWN_MIXED: Record<string, string[]> = {
  "src/text/tokenizer.ts": ["readTokenizerFile"],
  "src/data/image.ts": ["fileKind", "readImageFile"],
  "src/weights/safetensors.ts": ["readSafetensors"],
};

/** Code without comments (strings kept), so that doc examples do not count. */
function stripComments(src: string): string {
  let out = "";
  for (let i = 0; i < src.length;) {
    const c = src[i];
    if (c === "/" && src[i + 1] === "/") {
      while (i < src.length && src[i] !== "\n") i++;
    } else if (c === "/" && src[i + 1] === "*") {
      const end = src.indexOf("*/", i + 2);
      i = end < 0 ? src.length : end + 2;
    } else if (c === '"' || c === "'" || c === "`") {
      let j = i + 1;
      while (j < src.length && src[j] !== c) j += src[j] === "\\" ? 2 : 1;
      out += src.slice(i, j + 1);
      i = j + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** `code` with the named top-level functions removed (deno fmt closes them with "}" at column 0). */
function withoutFunctions(code: string, names: string[], file: string): string {
  for (const name of names) {
    const start = code.search(new RegExp(`^(export )?(async )?function ${name}\\b`, "m"));
    assert(start >= 0, `expected a top-level function ${name} in ${file}, found none`);
    const end = code.indexOf("\n}", start);
    const body = code.slice(start, end + 2);
    assert(
      /\bDeno\./.test(body),
      `${file}: ${name} no longer uses Deno: remove it from KNOWN_MIXED in this test`,
    );
    code = code.slice(0, start) + code.slice(end + 2);
  }
  return code;
}

const DENO_USE = /\bDeno\s*[.[]|["']node:/;

interface InfoModule {
  specifier: string;
  dependencies?: { specifier: string; code?: { specifier: string } }[];
}

async function runtimeGraph(entry: string): Promise<{ files: string[]; specifiers: string[] }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(out.success, `deno info failed: ${new TextDecoder().decode(out.stderr)}`);
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    roots: string[];
    modules: InfoModule[];
  };
  const bySpecifier = new Map(info.modules.map((m) => [m.specifier, m]));
  const seen = new Set<string>();
  const specifiers: string[] = [];
  const queue = [...info.roots];
  while (queue.length) {
    const s = queue.pop()!;
    if (seen.has(s)) continue;
    seen.add(s);
    if (!s.startsWith("file:")) continue; // npm packages: browser builds of tfjs, zod, ...
    for (const d of bySpecifier.get(s)?.dependencies ?? []) {
      specifiers.push(d.specifier);
      if (d.code) queue.push(d.code.specifier);
    }
  }
  const files = [...seen].filter((s) => s.startsWith("file:")).map((s) =>
    decodeURIComponent(new URL(s).pathname).slice(ROOT.length + 1)
  );
  return { files: files.sort(), specifiers };
}

for (const entry of ["web.ts", "web/app.ts", "web/check.ts"]) {
  Deno.test(`${entry}: no reachable file uses Deno or a node: module`, () => noDenoUse(entry));
}

async function noDenoUse(entry: string): Promise<void> {
  const { files, specifiers } = await runtimeGraph(entry);
  assert(files.includes("src/model/coca.ts"), `expected the model in the graph, found ${files}`);
  assertEquals(specifiers.filter((s) => s.startsWith("node:")), [], "node: imports reached");
  const offenders: string[] = [];
  for (const file of files) {
    let code = stripComments(await Deno.readTextFile(`${ROOT}/${file}`));
    if (KNOWN_MIXED[file]) code = withoutFunctions(code, KNOWN_MIXED[file], file);
    const m = code.match(DENO_USE);
    if (m) {
      const line = code.slice(0, m.index).split("\n").length;
      offenders.push(`${file} (code line ${line}: ${code.split("\n")[line - 1].trim()})`);
    }
  }
  assertEquals(offenders, [], `expected no Deno or node: use reachable from ${entry}`);
  const exported = Object.keys(web);
  for (const [file, names] of Object.entries(KNOWN_MIXED)) {
    for (const n of names) {
      assert(!exported.includes(n), `web.ts exports ${n} (${file}), Deno-only`);
    }
  }
}

Deno.test("web.ts: the browser bundle holds no Deno or node: use", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "--platform", "browser", "-o", `${dir}/web.js`, "web.ts"],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert(out.success, `deno bundle failed: ${new TextDecoder().decode(out.stderr)}`);
    const js = await Deno.readTextFile(`${dir}/web.js`);
    assert(js.length > 100_000, `expected a bundle with tfjs in it, found ${js.length} bytes`);
    const deno = js.match(/\bDeno\.[A-Za-z]+/g) ?? [];
    assertEquals(deno, [], "Deno APIs in the browser bundle");
    const node = js.match(/(?:from|import\()\s*["']node:[^"']*["']/g) ?? [];
    assertEquals(node, [], "node: imports in the browser bundle");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// web/dom.json: the DOM libraries, WebGPU's types, and "deno.ns" as well, since type-only
// imports reach files that name Deno's types (blas/openblas.ts, the file readers of the
// KNOWN_MIXED files); what runs in the browser is kept Deno-free by the tests above.
Deno.test("web.ts type-checks against the DOM (web/dom.json)", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["check", "--config", "web/dom.json", "web.ts"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(
    out.success,
    `deno check against the DOM failed:\n${new TextDecoder().decode(out.stderr)}`,
  );
});

Deno.test("tokenProbabilities multiply to the score of a greedy caption", async () => {
  await setupBackend("cpu");
  const model = tinyModel(3);
  const x = images(2, 5);
  try {
    const g = await web.generate(model, x, { strategy: "greedy", maxLength: 6 });
    const withEos = await web.tokenProbabilities(model, x, g.tokens, 1, 2);
    const without = await web.tokenProbabilities(model, x, g.tokens, 1);
    for (let i = 0; i < 2; i++) {
      // EOS closes a finished caption (and counts in its score); an unfinished one ran out.
      const row = g.finished[i] ? withEos[i] : without[i];
      assertEquals(row.length, g.tokens[i].length + (g.finished[i] ? 1 : 0));
      for (const p of row) assert(p > 0 && p <= 1, `expected a probability, found ${p}`);
      assertAlmostEquals(row.reduce((s, p) => s + Math.log(p), 0), g.scores[i], 1e-4);
    }
  } finally {
    x.dispose();
    model.dispose();
  }
});

Deno.test("poolAttention: each query's row is a distribution and depends on the image", async () => {
  await setupBackend("cpu");
  const model = tinyModel(4);
  const size = model.imgEncoder && "config" in model.imgEncoder
    ? model.imgEncoder.config.imageSize[0]
    : 16;
  const flat = tf.ones([1, 3, size, size]) as tf.Tensor4D;
  const x = images(1, 9, size);
  try {
    const same = await web.poolAttention(model, flat);
    const m = same.grid[0] * same.grid[1];
    assertEquals(same.queries, model.config.numImgQueries + 1);
    const varied = await web.poolAttention(model, x);
    for (const att of [same, varied]) {
      for (let q = 0; q < att.queries; q++) {
        const row = att.weights.slice(q * m, (q + 1) * m);
        assertAlmostEquals(row.reduce((s, v) => s + v, 0), 1, 1e-5);
      }
    }
    // Different images give different maps (the attention depends on the pixels).
    const diff = same.weights.reduce((s, v, i) => Math.max(s, Math.abs(v - varied.weights[i])), 0);
    assert(diff > 1e-4, `expected the map to depend on the image, found max difference ${diff}`);
  } finally {
    tf.dispose([flat, x]);
    model.dispose();
  }
});

Deno.test("checkpointFromFiles names the file at fault", async () => {
  await setupBackend("cpu");
  const dir = "tests/fixtures/web-checkpoint";
  const config = await Deno.readTextFile(`${dir}/config.json`);
  const tokenizer = await Deno.readTextFile(`${dir}/tokenizer.json`);
  const weights = await Deno.readFile(`${dir}/weights.safetensors`);
  const ok = web.checkpointFromFiles({ config, weights, tokenizer }, "ckpt/");
  assert(ok.model.config.numTokens >= ok.tokenizer.vocabSize, "expected the vocabulary to fit");
  ok.model.dispose();
  nodeAssert.throws(
    () => web.checkpointFromFiles({ config: "{", weights, tokenizer }, "ckpt"),
    (e) => e instanceof SyntaxError && e.message.includes("ckpt/config.json"),
  );
  nodeAssert.throws(
    () => web.checkpointFromFiles({ config, weights: weights.slice(0, 20), tokenizer }, "ckpt"),
    (e) => e instanceof Error && e.message.includes("ckpt/weights.safetensors"),
  );
});
