// The browser check in a real headless Chromium (`deno task web --check`): the parity fixture
// and greedy captions of the committed checkpoint on webgl and wasm (and webgpu where Chromium
// offers an adapter), captions identical to the same checkpoint under Deno, screenshots not
// blank. Skipped, with a message, where no chromium is installed.
import assert from "node:assert/strict";
import { pngSpread } from "../src/cli/web.ts";

const ROOT = new URL("../", import.meta.url).pathname;

function hasChromium(): boolean {
  try {
    return new Deno.Command("chromium", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

const chromium = hasChromium();
if (!chromium) {
  console.warn("web_test: skipped: no `chromium` on PATH (notebooks/setup.sh installs it)");
}

Deno.test({
  name: "deno task web --check: parity and identical greedy captions in Chromium",
  ignore: !chromium,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const deno = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
    const flags = (deno.tasks.web as string).split(/\s+/).filter((w) => w.startsWith("--allow-"));
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...flags, "src/cli/web.ts", "--check"],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr);
    const last = stdout.trim().split("\n").pop() ?? "";
    let summary: {
      ok: boolean;
      backends: Record<string, { maxRelErr: number; captionsMatch: boolean }>;
    };
    try {
      summary = JSON.parse(last);
    } catch {
      throw new Error(`expected a JSON summary as the last line, found "${last}"\n${stderr}`);
    }
    for (const b of ["webgl", "wasm"]) {
      const r = summary.backends[b];
      assert.ok(r, `expected a result for ${b}, found ${JSON.stringify(summary)}\n${stderr}`);
      assert.ok(r.maxRelErr < 1e-3, `${b}: parity max relative error ${r.maxRelErr}\n${stderr}`);
      assert.ok(r.captionsMatch, `${b}: captions differ from Deno's\n${stderr}`);
    }
    assert.ok(summary.ok, `expected ok, found ${last}\n${stderr}`);
    assert.equal(out.code, 0, stderr);
    for (const b of [...Object.keys(summary.backends), "viewer", "viewer-picked"]) {
      const spread = pngSpread(await Deno.readFile(`${ROOT}out/web-check/${b}.png`));
      assert.ok(spread >= 8, `expected out/web-check/${b}.png not blank, found spread ${spread}`);
    }
  },
});

Deno.test("pngSpread tells a blank image from a drawn one", async () => {
  const { encode } = await import("../src/deps/fast_png.ts");
  const blank = encode({
    width: 8,
    height: 8,
    data: new Uint8Array(8 * 8 * 3).fill(250),
    channels: 3,
  });
  const drawn = new Uint8Array(8 * 8 * 3).fill(250);
  drawn.fill(0, 0, 8 * 4 * 3); // top half black
  assert.equal(pngSpread(blank), 0);
  assert.ok(pngSpread(encode({ width: 8, height: 8, data: drawn, channels: 3 })) > 100);
});
