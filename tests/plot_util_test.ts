import assert from "node:assert/strict";
import { inflateSync } from "node:zlib";
import { decode } from "fast-png";
import {
  encodePng,
  escapeHtml,
  gridCells,
  markdownToHtml,
  orderKeys,
  pngDataUri,
  toRgb8,
  wrapText,
} from "../src/plot/mod.ts";

Deno.test("toRgb8 maps CHW floats in [-1, 1] to interleaved bytes", () => {
  // 1×2 image, channel planes R = [-1, 1], G = [0, 2], B = [NaN, -3]
  const rgb = toRgb8({ data: new Float32Array([-1, 1, 0, 2, NaN, -3]), height: 1, width: 2 });
  assert.deepEqual([...rgb.data], [0, 128, 0, 255, 255, 0]);
  const grey = toRgb8({ data: new Float32Array([1]), height: 1, width: 1 });
  assert.deepEqual([...grey.data], [255, 255, 255]);
});

Deno.test("toRgb8 keeps HWC bytes, replicates grey and drops alpha", () => {
  const rgba = new Uint8Array([1, 2, 3, 9, 4, 5, 6, 9]);
  assert.deepEqual([...toRgb8({ data: rgba, height: 1, width: 2 }).data], [1, 2, 3, 4, 5, 6]);
  const grey = new Uint8ClampedArray([7, 8]);
  assert.deepEqual([...toRgb8({ data: grey, height: 2, width: 1 }).data], [7, 7, 7, 8, 8, 8]);
  assert.throws(
    () => toRgb8({ data: new Uint8Array(5), height: 1, width: 2 }),
    /c in \{1, 3, 4\}, found 5 bytes/,
  );
  assert.throws(() => toRgb8({ data: new Uint8Array(0), height: 0, width: 2 }), /found 0×2/);
});

Deno.test("encodePng writes a valid RGB PNG whose IDAT inflates to the pixel rows", () => {
  const data = new Uint8Array([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30]);
  const png = encodePng({ data, height: 2, width: 2 });
  assert.deepEqual([...png.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10]);
  const view = new DataView(png.buffer, png.byteOffset);
  assert.equal(new TextDecoder().decode(png.subarray(12, 16)), "IHDR");
  assert.equal(view.getUint32(16), 2); // width
  assert.equal(view.getUint32(20), 2); // height
  assert.deepEqual([...png.subarray(24, 29)], [8, 2, 0, 0, 0]);
  const idatLength = view.getUint32(33);
  assert.equal(new TextDecoder().decode(png.subarray(37, 41)), "IDAT");
  const rows = inflateSync(png.subarray(41, 41 + idatLength));
  assert.deepEqual([...rows], [0, 255, 0, 0, 0, 255, 0, 0, 0, 0, 255, 10, 20, 30]);
  assert.equal(new TextDecoder().decode(png.subarray(png.length - 8, png.length - 4)), "IEND");
  assert.deepEqual([...png.subarray(png.length - 4)], [0xae, 0x42, 0x60, 0x82]); // CRC("IEND")
  assert.throws(() => encodePng({ data, height: 3, width: 2 }), /3×2×3 = 18 bytes, found 12/);
  const uri = pngDataUri({ data, height: 2, width: 2 });
  const decoded = Uint8Array.from(atob(uri.split(",")[1]), (c) => c.charCodeAt(0));
  assert.deepEqual(decoded, png);
});

Deno.test("encodePng round-trips through fast-png's decoder to the same pixels", () => {
  for (const [height, width] of [[1, 1], [5, 7], [64, 33]]) {
    const data = Uint8Array.from({ length: height * width * 3 }, (_, i) => (i * 7919 + 13) % 256);
    const decoded = decode(encodePng({ data, height, width }));
    assert.deepEqual(
      [decoded.width, decoded.height, decoded.depth, decoded.channels],
      [width, height, 8, 3],
    );
    assert.deepEqual(new Uint8Array(decoded.data), data);
    const fromUri = Uint8Array.from(
      atob(pngDataUri({ data, height, width }).split(",")[1]),
      (c) => c.charCodeAt(0),
    );
    assert.deepEqual(new Uint8Array(decode(fromUri).data), data);
  }
});

Deno.test("orderKeys sorts numbers and keeps label order", () => {
  assert.deepEqual(orderKeys([8, 2, 8, 4]), [2, 4, 8]);
  assert.deepEqual(orderKeys(["wasm", "cpu", "wasm", "webgpu"]), ["wasm", "cpu", "webgpu"]);
  assert.deepEqual(orderKeys([2, "x", 1]), [2, "x", 1]);
});

Deno.test("gridCells tiles paper space row-major from the top left", () => {
  const cells = gridCells(2, 2, 0.25, 0);
  assert.deepEqual(cells.map((c) => c.xaxis), ["x", "x2", "x3", "x4"]);
  assert.deepEqual(cells[1].xDomain, [0.5, 1]);
  assert.deepEqual(cells[2].yDomain, [0, 0.375]); // bottom row, caption band 0.125 on top
  assert.equal(cells[0].captionY, 0.875);
  assert.throws(() => gridCells(0, 2, 0), /found 0×2/);
});

Deno.test("wrapText and escapeHtml prepare captions", () => {
  assert.deepEqual(wrapText("a cat  sitting on a mat", 10), ["a cat", "sitting on", "a mat"]);
  assert.deepEqual(wrapText("abcdefghij xy", 4), ["abcd", "efgh", "ij", "xy"]);
  assert.deepEqual(wrapText("   ", 4), []);
  assert.equal(
    escapeHtml(`<a href="x">'&'</a>`),
    "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;",
  );
});

Deno.test("markdownToHtml renders the report subset and escapes everything else", () => {
  const html = markdownToHtml([
    "## Sweep *depth*",
    "",
    "Best R@1 is **0.42** at `depth=4`,",
    "see [notes](./notes.html) or [bad](javascript:alert).",
    "",
    "- one <b>",
    "- two",
    "",
    "1. first",
    "",
    "| depth | R@1 |",
    "|---:|---:|",
    "| 2 | 0.30 |",
    "",
    "```",
    "x < 1 **not bold**",
    "```",
  ].join("\n"));
  assert.equal(
    html,
    [
      "<h2>Sweep <em>depth</em></h2>",
      "<p>Best R@1 is <strong>0.42</strong> at <code>depth=4</code>, see " +
      '<a href="./notes.html">notes</a> or bad.</p>',
      "<ul><li>one &lt;b&gt;</li><li>two</li></ul>",
      "<ol><li>first</li></ol>",
      "<table><thead><tr><th>depth</th><th>R@1</th></tr></thead>" +
      "<tbody><tr><td>2</td><td>0.30</td></tr></tbody></table>",
      "<pre><code>x &lt; 1 **not bold**</code></pre>",
    ].join("\n"),
  );
});
