import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);

Deno.test("the README starts with the demo and test commands", async () => {
  const readme = await Deno.readTextFile(new URL("README.md", root));
  const firstBlock = readme.match(/```sh\n([\s\S]*?)```/)![1];
  assert.match(firstBlock, /^deno task demo\b/m);
  assert.match(firstBlock, /^deno task test\b/m);
  const tasks = JSON.parse(await Deno.readTextFile(new URL("deno.json", root))).tasks;
  for (const t of ["demo", "test", "parity", "train", "eval", "bench", "notebooks", "check"]) {
    assert.ok(tasks[t], `deno.json has a "${t}" task`);
  }
});

Deno.test("the README's TypeScript quick start runs as written", async () => {
  const readme = await Deno.readTextFile(new URL("README.md", root));
  const code = readme.split("## Quick start in TypeScript")[1].match(/```ts\n([\s\S]*?)```/)![1];
  const file = new URL(`.readme_quickstart_${crypto.randomUUID().slice(0, 8)}.ts`, root);
  await Deno.writeTextFile(file, code);
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", file.pathname],
      env: { COCA_BACKEND: "wasm" },
      cwd: root.pathname,
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.match(stdout, /after one step \d/);
    assert.match(stdout, /\[ 4, 32, 1000 \] \[ 4, 128 \] \[ 4, 128 \] \[ 4, 128 \] \[ 4, 128 \]/);
  } finally {
    await Deno.remove(file);
  }
});
