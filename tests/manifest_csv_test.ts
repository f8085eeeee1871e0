// CSV manifests through csv-parse in strict mode, BOMs, and the list of skipped rows (issue 10).
import assert from "node:assert/strict";
import { loadManifestDataset, ManifestError, parseCsv } from "../src/data/manifest.ts";
import { loadDataset } from "../src/data/load.ts";

const FIX = new URL("./fixtures/data/", import.meta.url).pathname;
const RED = `${FIX}red_8x8.png`;
const BLUE = `${FIX}blue_8x8.jpg`;
const opts = { imageSize: 4, valFraction: 0, testFraction: 0 } as const;

/** Write `text` as `name` in a fresh temp folder and run `f` on its path. */
async function withFile<T>(name: string, text: string, f: (path: string) => Promise<T>) {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/${name}`, text);
    return await f(`${dir}/${name}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Assert that loading `path` throws a ManifestError at `line` whose message matches `re`. */
async function rejectsAt(path: string, line: number, re: RegExp) {
  await assert.rejects(() => loadManifestDataset(path, opts), (e: unknown) => {
    assert.ok(e instanceof ManifestError, `expected a ManifestError, found ${e}`);
    assert.equal(e.path, path);
    assert.equal(e.line, line, e.message);
    assert.ok(e.message.startsWith(`${path}:${line}: expected `), e.message);
    assert.match(e.message, re);
    return true;
  });
}

Deno.test("CSV: an unterminated quote is an error at the line where it opens", async () => {
  const text = `image,caption\n${RED},ok\n${BLUE},"never closed\n${RED},a\n${RED},b\n`;
  await withFile("m.csv", text, (p) => rejectsAt(p, 3, /closing quote.*found the end of the file/));
  // On a later line of a record whose first field is properly quoted over two lines.
  const spans = `image,caption,label\n"${RED}\n",x,"open\n${RED},a,b\n`;
  await withFile("m.csv", spans, (p) => rejectsAt(p, 3, /closing quote/));
  // In skip mode the row is dropped and listed, and the rows after it still load.
  await withFile("m.csv", text, async (p) => {
    const m = await loadManifestDataset(p, { ...opts, onError: "skip" });
    assert.deepEqual(m.dataset.splits.train.map((e) => e.caption), ["ok", "a", "b"]);
    assert.equal(m.skipped, 1);
    assert.deepEqual(m.issues.map((i) => [i.path, i.line]), [[p, 3]]);
    assert.match(m.issues[0].reason, /^expected a closing quote/);
    assert.equal(m.issues[0].message, `${p}:3: ${m.issues[0].reason}`);
  });
});

Deno.test("CSV: a duplicate column name in the header is an error", async () => {
  const text = `image,caption,caption\n${RED},first,second\n`;
  await withFile("m.csv", text, (p) => rejectsAt(p, 1, /distinct CSV column.*"caption".*2 and 3/));
  // Even with onError "skip": without a header nothing can be read.
  await withFile("m.csv", text, async (p) => {
    await assert.rejects(
      () => loadManifestDataset(p, { ...opts, onError: "skip" }),
      ManifestError,
    );
  });
});

Deno.test("CSV: a row with the wrong number of fields is an error with its line", async () => {
  const text = `image,caption\n${RED},ok\n\n${BLUE},"a, b",extra\n${RED}\n`;
  await withFile("m.csv", text, (p) => rejectsAt(p, 4, /expected 2 CSV fields.*found 3/));
  await withFile("m.csv", text, async (p) => {
    const m = await loadManifestDataset(p, { ...opts, onError: "skip" });
    assert.deepEqual(m.issues.map((i) => i.line), [4, 5]);
    assert.match(m.issues[1].reason, /found 1$/);
    assert.deepEqual(m.dataset.splits.train.map((e) => e.caption), ["ok"]);
  });
});

Deno.test("CSV: quotes inside unquoted fields and text after a closing quote are errors", async () => {
  await withFile(
    "m.csv",
    `image,caption\n${RED},ok\n${RED},a "b"\n`,
    (p) => rejectsAt(p, 3, /quote inside an unquoted field/),
  );
  await withFile(
    "m.csv",
    `image,caption\n${RED},"a"b\n`,
    (p) => rejectsAt(p, 2, /after a closing quote/),
  );
  await withFile("m.csv", `image,"cap"tion\n${RED},a\n`, (p) => rejectsAt(p, 1, /CSV header/));
});

Deno.test("CSV and JSONL: a UTF-8 BOM at the start is accepted", async () => {
  const csv = `\uFEFFimage,caption\r\n${RED},"a ""red"" one"\r\n`;
  await withFile("m.csv", csv, async (p) => {
    const m = await loadManifestDataset(p, opts);
    assert.deepEqual(m.dataset.splits.train.map((e) => e.caption), ['a "red" one']);
  });
  const jsonl = `\uFEFF{"image": "${RED}", "caption": "bom"}\n`;
  await withFile("m.jsonl", jsonl, async (p) => {
    const m = await loadManifestDataset(p, opts);
    assert.deepEqual(m.dataset.splits.train.map((e) => e.caption), ["bom"]);
  });
  // Only at the start: elsewhere it is part of the text (a JSON syntax error here).
  await withFile(
    "m.jsonl",
    `{"image": "${RED}", "caption": "a"}\n\uFEFF{}\n`,
    (p) => rejectsAt(p, 2, /invalid JSON/),
  );
});

Deno.test("parseCsv gives start lines and resumes after a problem", () => {
  const { records, problems } = parseCsv('a,b\r\n"x\r\ny",2\r\n\r\n3,"4\n5,6\n');
  assert.deepEqual(records, [
    { line: 1, fields: ["a", "b"] },
    { line: 2, fields: ["x\r\ny", "2"] },
    { line: 6, fields: ["5", "6"] },
  ]);
  assert.deepEqual(problems.map((p) => p.line), [5]);
  const bom = parseCsv("\uFEFFé,ü\n€,\u{1F600}\nz");
  assert.deepEqual(bom.records.map((r) => [r.line, ...r.fields]), [
    [1, "é", "ü"],
    [2, "€", "\u{1F600}"],
    [3, "z"],
  ]);
});

Deno.test("loadDataset passes the skipped rows on (file, line, reason)", async () => {
  const text = `{"image": "${RED}", "caption": "ok"}\n{"image": "nope.png", "caption": "x"}\n`;
  await withFile("m.jsonl", text, async (p) => {
    const loaded = await loadDataset({ name: "manifest", path: p, onError: "skip", ...opts });
    assert.equal(loaded.skipped, 1);
    assert.equal(loaded.skippedRows.length, 1);
    const [row] = loaded.skippedRows;
    assert.deepEqual([row.path, row.line, row.image], [p, 2, "nope.png"]);
    assert.match(row.reason, /^expected a readable image file at .*nope\.png, found no file$/);
  });
});

Deno.test("a manifest path naming a device is refused, not read", async () => {
  await assert.rejects(
    () => loadManifestDataset("/dev/zero", opts),
    /\/dev\/zero:1: expected a manifest file or folder, found a device/,
  );
});
