// The layers of src/ (ARCHITECTURE.md): each folder imports only from the folders listed for it,
// so the import graph has no wrong-way edges and no folder cycles.
import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";

const SRC = new URL("../src/", import.meta.url).pathname;

/** What each folder of src/ may import (besides itself, and src/deps/: the pinned npm packages). */
export const LAYERS: Record<string, string[]> = {
  deps: [],
  util: [],
  schema: [],
  backends: ["util"],
  ops: ["backends", "util"],
  nn: ["ops", "util"],
  model: ["nn", "ops", "util", "schema"],
  weights: ["model", "util"],
  text: ["util"],
  data: ["text", "util", "schema"],
  generate: ["model", "nn", "util", "schema"],
  train: ["model", "weights", "data", "text", "backends", "ops", "util", "schema"],
  eval: ["model", "generate", "data", "text", "util"],
  reference: ["model", "weights", "train", "util"],
  plot: ["util"],
  sweep: ["util", "schema"],
  cli: [
    "util",
    "schema",
    "backends",
    "ops",
    "nn",
    "model",
    "weights",
    "text",
    "data",
    "generate",
    "train",
    "eval",
    "reference",
    "plot",
    "sweep",
  ],
};

/** Relative specifiers of the static and dynamic imports of a file (JSDoc examples excluded). */
function imports(source: string): string[] {
  const code = source.replace(/\/\*\*[\s\S]*?\*\//g, "");
  const found: string[] = [];
  for (const m of code.matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)) found.push(m[1]);
  return found;
}

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) yield* walk(p);
    else if (e.name.endsWith(".ts")) yield p;
  }
}

Deno.test("src/ has one folder per layer and no loose files", async () => {
  const loose: string[] = [];
  for await (const e of Deno.readDir(SRC)) if (e.isFile) loose.push(e.name);
  assert.deepEqual(loose, []);
  for await (const e of Deno.readDir(SRC)) {
    if (e.isDirectory) assert.ok(e.name in LAYERS, `src/${e.name}/ has no entry in LAYERS`);
  }
});

Deno.test("every import of src/ goes to its own folder or one it may use", async () => {
  const wrong: string[] = [];
  for await (const file of walk(SRC)) {
    const from = relative(SRC, file).split("/")[0];
    for (const spec of imports(await Deno.readTextFile(file))) {
      const target = relative(SRC, join(dirname(file), spec));
      const to = target.split("/")[0];
      if (target.startsWith("..")) {
        wrong.push(`src/${relative(SRC, file)} -> ${spec} (outside src/)`);
      } else if (to !== from && to !== "deps" && !LAYERS[from]?.includes(to)) {
        wrong.push(`src/${relative(SRC, file)} -> src/${target}`);
      }
    }
  }
  assert.deepEqual(wrong, [], `wrong-way imports:\n${wrong.join("\n")}`);
});

Deno.test("each folder of src/ has a mod.ts, and the root mod.ts imports only those", async () => {
  for (const folder of Object.keys(LAYERS)) {
    if (folder === "cli" || folder === "deps") continue; // entry points; pinned packages
    const stat = await Deno.stat(join(SRC, folder, "mod.ts")).catch(() => undefined);
    assert.ok(stat?.isFile, `expected src/${folder}/mod.ts`);
  }
  const root = await Deno.readTextFile(new URL("../mod.ts", import.meta.url));
  const deep = imports(root).filter((s) => !/^\.\/src\/[a-z_]+\/mod\.ts$/.test(s));
  assert.deepEqual(deep, [], "mod.ts should re-export the folders' mod.ts files only");
});
