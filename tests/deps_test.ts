// src/ imports its npm packages through src/deps/ (pinned npm: specifiers, so the module loads
// without our import map); tests, benchmarks and experiments use deno.json's import map. Both
// must name the same versions, or the project would load two copies of a package.
import assert from "node:assert/strict";
import { PINNED_FILES } from "../src/deps/npm_files.ts";

const DEPS = new URL("../src/deps/", import.meta.url);
const importMap: Record<string, string> =
  JSON.parse(Deno.readTextFileSync(new URL("../deno.json", import.meta.url))).imports;

Deno.test("src/deps/ pins the versions deno.json's import map names", () => {
  const pinned = new Map<string, string>();
  for (const e of Deno.readDirSync(DEPS)) {
    const text = Deno.readTextFileSync(new URL(e.name, DEPS));
    for (const m of text.matchAll(/"npm:((?:@[^/"]+\/)?[^@/"]+)@([^/"]+)/g)) pinned.set(m[1], m[2]);
  }
  for (const [name, version] of Object.entries(PINNED_FILES)) pinned.set(name, version);
  assert.ok(pinned.size >= 10, `expected the pins of src/deps/, found ${pinned.size}`);
  for (const [name, version] of pinned) {
    assert.equal(importMap[name], `npm:${name}@${version}`, `deno.json's pin of ${name}`);
  }
});

/** Specifiers of static imports/re-exports and dynamic imports that are neither relative nor node:. */
function bareImports(source: string): string[] {
  const code = source.replace(/\/\*\*[\s\S]*?\*\//g, "");
  const specs = [
    ...code.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s*"([^"]+)"/gm),
    ...code.matchAll(/^\s*import\s*"([^"]+)"/gm),
    ...code.matchAll(/\bimport\(\s*"([^"]+)"\s*\)/g),
  ].map((m) => m[1]);
  return specs.filter((s) => !s.startsWith(".") && !s.startsWith("node:"));
}

Deno.test("src/ and mod.ts import npm packages only through src/deps/", () => {
  const wrong: string[] = [];
  const walk = (dir: URL, rel: string) => {
    for (const e of Deno.readDirSync(dir)) {
      if (e.isDirectory) walk(new URL(`${e.name}/`, dir), `${rel}${e.name}/`);
      else if (e.name.endsWith(".ts") && rel !== "src/deps/") {
        const code = Deno.readTextFileSync(new URL(e.name, dir)).replace(/\/\*\*[\s\S]*?\*\//g, "");
        for (const spec of bareImports(code)) wrong.push(`${rel}${e.name}: ${spec}`);
      }
    }
  };
  walk(new URL("../src/", import.meta.url), "src/");
  const mod = Deno.readTextFileSync(new URL("../mod.ts", import.meta.url));
  for (const spec of bareImports(mod)) wrong.push(`mod.ts: ${spec}`);
  assert.deepEqual(wrong, []);
});
