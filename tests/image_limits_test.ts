// Issue 10, images: decompression bombs and oversized files are refused before decoding, files
// are read with a bounded reader (no /dev/zero, pipes or folders), and grey/RGB tRNS colour keys
// make the matching pixels transparent.
import assert from "node:assert/strict";
import { encode as encodePng } from "fast-png";
import {
  decodeImage,
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_PIXELS,
  ImageError,
  imageHeader,
  readImageFile,
  toModelImage,
} from "../src/data/image.ts";
import { loadManifestDataset, ManifestError } from "../src/data/manifest.ts";
import { DataConfigSchema } from "../src/data/config.ts";

const FIX = new URL("./fixtures/data/", import.meta.url).pathname;

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** One PNG chunk: length, type, data, CRC. */
function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  v.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const SIGNATURE = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function ihdr(width: number, height: number, depth: number, colorType: number): Uint8Array {
  const d = new Uint8Array(13);
  const v = new DataView(d.buffer);
  v.setUint32(0, width);
  v.setUint32(4, height);
  d.set([depth, colorType, 0, 0, 0], 8);
  return chunk("IHDR", d);
}

async function zlib(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new CompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** zlib data in one stored (uncompressed) block. */
function storedZlib(raw: Uint8Array): Uint8Array {
  let a = 1, b = 0;
  for (const x of raw) {
    a = (a + x) % 65521;
    b = (b + a) % 65521;
  }
  const n = raw.length;
  const head = new Uint8Array([0x78, 0x01, 0x01, n & 0xff, n >> 8, ~n & 0xff, (~n >> 8) & 0xff]);
  const adler = new Uint8Array(4);
  new DataView(adler.buffer).setUint32(0, ((b << 16) | a) >>> 0);
  return concat(head, raw, adler);
}

/** A PNG with `tRNS` (16-bit big-endian values) inserted right after IHDR. */
function withTrns(png: Uint8Array, values: number[]): Uint8Array {
  const d = new Uint8Array(values.length * 2);
  values.forEach((x, i) => new DataView(d.buffer).setUint16(i * 2, x));
  return concat(png.subarray(0, 33), chunk("tRNS", d), png.subarray(33));
}

/** Assert `fn` throws an ImageError matching `re`, within `ms` milliseconds. */
async function refusedFast(fn: () => unknown, re: RegExp, ms = 1000): Promise<void> {
  const t0 = performance.now();
  await assert.rejects(async () => await fn(), (e) => {
    assert.ok(e instanceof ImageError, `expected an ImageError, found ${e}`);
    assert.match(e.message, re);
    return true;
  });
  const dt = performance.now() - t0;
  assert.ok(dt < ms, `expected a refusal within ${ms} ms, took ${dt.toFixed(0)} ms`);
}

Deno.test("defaults: 64 MP (64e6 pixels) and 64 MiB", () => {
  assert.equal(DEFAULT_MAX_PIXELS, 64e6);
  assert.equal(DEFAULT_MAX_BYTES, 64 * 2 ** 20);
});

Deno.test("a tiny PNG declaring 30000×30000 is refused from its header, fast", async () => {
  // 1-bit grey, a few bytes of IDAT: the bomb ran 4 min to 7.5 GB on the old code.
  const idat = await zlib(new Uint8Array(4096));
  const bomb = concat(
    SIGNATURE,
    ihdr(30000, 30000, 1, 0),
    chunk("IDAT", idat),
    chunk("IEND", new Uint8Array()),
  );
  assert.ok(bomb.length < 200);
  assert.deepEqual(imageHeader(bomb), { format: "png", width: 30000, height: 30000 });
  await refusedFast(
    () => decodeImage(bomb, { file: "bomb.png" }),
    /^expected at most 64 MP \(64000000 pixels\), found 30000×30000 \(900 MP\) in bomb\.png$/,
  );
  // 12000² RGB (accepted after 52 s and 2.7 GB before) is over 64 MP too.
  const rgb = concat(
    SIGNATURE,
    ihdr(12000, 12000, 8, 2),
    chunk("IDAT", idat),
    chunk("IEND", new Uint8Array()),
  );
  await refusedFast(() => decodeImage(rgb), /found 12000×12000 \(144 MP\)$/);
  // The limit is configurable.
  const small = encodePng({ width: 20, height: 10, channels: 3, data: new Uint8Array(600) });
  await refusedFast(
    () => decodeImage(small, { maxPixels: 199, file: "s.png" }),
    /expected at most 0\.0002 MP \(199 pixels\), found 20×10 \(0\.0002 MP\) in s\.png/,
  );
  assert.equal(decodeImage(small, { maxPixels: 200 }).width, 20);
});

Deno.test("a PNG whose data inflates past its declared size is refused", async () => {
  // Declares 8×8 grey (72 bytes of filtered data) but carries 4 MiB of zeros.
  const idat = await zlib(new Uint8Array(4 * 2 ** 20));
  const png = concat(
    SIGNATURE,
    ihdr(8, 8, 8, 0),
    chunk("IDAT", idat),
    chunk("IEND", new Uint8Array()),
  );
  await refusedFast(
    () => decodeImage(png, { file: "z.png" }),
    /expected 72 bytes of PNG image data for 8×8, found more.*in z\.png/,
  );
});

Deno.test("interlaced (Adam7) PNGs within the limits still decode", () => {
  // Built by hand: each pass lists its pixels explicitly, each row a filter byte 0 and samples.
  const passes = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [
    1,
    0,
    2,
    2,
  ], [
    0,
    1,
    1,
    2,
  ]];
  // (fast-png does not decode interlaced 1/2/4-bit images: those are a clear ImageError.)
  for (const [w, h, depth] of [[5, 7, 8], [1, 1, 8], [9, 17, 8], [16, 16, 8]]) {
    const value = (x: number, y: number) => depth === 1 ? (x + y) % 2 : (x * 31 + y * 7) % 256;
    const raw: number[] = [];
    for (const [x0, y0, dx, dy] of passes) {
      for (let y = y0; y < h; y += dy) {
        const xs: number[] = [];
        for (let x = x0; x < w; x += dx) xs.push(value(x, y));
        if (xs.length === 0) break;
        raw.push(0);
        if (depth === 8) raw.push(...xs);
        else {
          for (let i = 0; i < xs.length; i += 8) {
            let byte = 0;
            for (let k = 0; k < 8; k++) byte |= (xs[i + k] ?? 0) << (7 - k);
            raw.push(byte);
          }
        }
      }
    }
    const head = ihdr(w, h, depth, 0);
    head[8 + 12] = 1; // interlace method (IHDR data byte 12); the CRC is not checked
    const png = concat(
      SIGNATURE,
      head,
      chunk("IDAT", storedZlib(new Uint8Array(raw))),
      chunk("IEND", new Uint8Array()),
    );
    const img = decodeImage(png, { file: `adam7-${w}x${h}.png` });
    assert.deepEqual([img.width, img.height], [w, h]);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const v = depth === 1 ? value(x, y) * 255 : value(x, y);
        assert.equal(img.data[(y * w + x) * 4], v, `${w}x${h} depth ${depth} at ${x},${y}`);
      }
    }
  }
});

Deno.test("a JPEG declaring a huge size is refused from its SOF header, fast", async () => {
  const jpg = Deno.readFileSync(FIX + "blue_8x8.jpg");
  let sof = -1;
  for (let i = 2; i < jpg.length - 1; i++) {
    if (jpg[i] === 0xff && jpg[i + 1] === 0xc0) {
      sof = i;
      break;
    }
  }
  assert.ok(sof > 0, "baseline SOF0 in the fixture");
  const huge = jpg.slice();
  new DataView(huge.buffer).setUint16(sof + 5, 60000); // height
  new DataView(huge.buffer).setUint16(sof + 7, 50000); // width
  assert.deepEqual(imageHeader(huge), { format: "jpeg", width: 50000, height: 60000 });
  await refusedFast(
    () => decodeImage(huge, { file: "huge.jpg" }),
    /^expected at most 64 MP \(64000000 pixels\), found 50000×60000 \(3000 MP\) in huge\.jpg$/,
  );
  // 9000² (81 MP) is under jpeg-js's own 100 MP limit but over ours.
  new DataView(huge.buffer).setUint16(sof + 5, 9000);
  new DataView(huge.buffer).setUint16(sof + 7, 9000);
  await refusedFast(() => decodeImage(huge), /found 9000×9000 \(81 MP\)$/);
  // A truncated JPEG is an ImageError too, not jpeg-js's own error.
  await refusedFast(() => decodeImage(jpg.subarray(0, 300), { file: "t.jpg" }), /t\.jpg/);
});

Deno.test("files over the byte limit are refused without reading them whole", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const big = `${dir}/big.png`;
    const red = Deno.readFileSync(FIX + "red_8x8.png");
    Deno.writeFileSync(big, concat(red, new Uint8Array(1000)));
    await refusedFast(
      () => readImageFile(big, { maxBytes: 1000 }),
      new RegExp(
        `^expected a file of at most 1000 bytes, found ${red.length + 1000} bytes in .*big\\.png$`,
      ),
    );
    assert.equal(
      (await readImageFile(big, { maxBytes: red.length + 1000 })).length,
      red.length + 1000,
    );
    await refusedFast(
      () => decodeImage(red, { maxBytes: 10 }),
      /expected at most 10 bytes, found 74 bytes/,
    );
    // Through a manifest, with the limit from the data config.
    await Deno.writeTextFile(`${dir}/m.jsonl`, '{"image": "big.png", "caption": "a"}\n');
    await assert.rejects(
      () => loadManifestDataset(`${dir}/m.jsonl`, { maxBytes: 1000 }),
      (e) =>
        e instanceof ManifestError &&
        /m\.jsonl:1: expected a file of at most 1000 bytes/.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("/dev/zero, a FIFO and a folder are refused fast, also from a manifest", async () => {
  await refusedFast(
    () => readImageFile("/dev/zero"),
    /^expected a regular image file, found a character device at \/dev\/zero$/,
  );
  const dir = await Deno.makeTempDir();
  try {
    await refusedFast(() => readImageFile(dir), /found a directory at /);
    const fifo = `${dir}/pipe.png`;
    const made = await new Deno.Command("mkfifo", { args: [fifo] }).output().catch(() => null);
    if (made?.success) {
      await refusedFast(() => readImageFile(fifo), /found a pipe \(FIFO\) at .*pipe\.png$/);
    }
    await Deno.writeTextFile(`${dir}/m.jsonl`, '{"image": "/dev/zero", "caption": "a"}\n');
    const t0 = performance.now();
    await assert.rejects(
      () => loadManifestDataset(`${dir}/m.jsonl`),
      (e) =>
        e instanceof ManifestError &&
        /m\.jsonl:1: expected a regular image file, found a character device at \/dev\/zero/.test(
          e.message,
        ),
    );
    assert.ok(performance.now() - t0 < 1000);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("grey and RGB tRNS colour keys make matching pixels transparent", () => {
  const alpha = (png: Uint8Array) =>
    Array.from(decodeImage(png).data.filter((_, i) => i % 4 === 3));
  // 8-bit grey: key 20.
  const g8 = encodePng({ width: 3, height: 1, channels: 1, data: new Uint8Array([10, 20, 30]) });
  assert.deepEqual(alpha(g8), [255, 255, 255]);
  assert.deepEqual(alpha(withTrns(g8, [20])), [255, 0, 255]);
  // 16-bit grey: the key is compared at 16 bits (0x1400 matches, 0x14ff does not).
  const g16 = encodePng({
    width: 2,
    height: 1,
    channels: 1,
    depth: 16,
    data: new Uint16Array([0x1400, 0x14ff]),
  });
  assert.deepEqual(alpha(withTrns(g16, [0x1400])), [0, 255]);
  // 8-bit RGB: key (4, 5, 6); (4, 5, 7) stays opaque.
  const rgb = encodePng({
    width: 3,
    height: 1,
    channels: 3,
    data: new Uint8Array([1, 2, 3, 4, 5, 6, 4, 5, 7]),
  });
  assert.deepEqual(alpha(withTrns(rgb, [4, 5, 6])), [255, 0, 255]);
  // 16-bit RGB.
  const rgb16 = encodePng({
    width: 3,
    height: 1,
    channels: 3,
    depth: 16,
    data: new Uint16Array([1, 2, 3, 1000, 2000, 3000, 1000, 2000, 3001]),
  });
  assert.deepEqual(alpha(withTrns(rgb16, [1000, 2000, 3000])), [255, 0, 255]);
  // A 1-pixel RGB image with a key (fast-png alone refuses it: "more alpha values than pixels").
  const one = encodePng({ width: 1, height: 1, channels: 3, data: new Uint8Array([7, 8, 9]) });
  assert.deepEqual(alpha(withTrns(one, [7, 8, 9])), [0]);
  // An invalid tRNS (wrong length, or in an image with an alpha channel) is ignored, as libpng does.
  assert.deepEqual(alpha(withTrns(rgb, [4, 5])), [255, 255, 255]);
  const ga = encodePng({ width: 2, height: 1, channels: 2, data: new Uint8Array([1, 255, 2, 9]) });
  assert.deepEqual(alpha(withTrns(ga, [1])), [255, 9]);
  // Packed 1-bit grey, built by hand: row 0b10100000 → pixels 1, 0, 1, 0; key 0.
  const g1 = concat(
    SIGNATURE,
    ihdr(4, 1, 1, 0),
    chunk("tRNS", new Uint8Array([0, 0])),
    chunk("IDAT", storedZlib(new Uint8Array([0, 0b10100000]))),
    chunk("IEND", new Uint8Array()),
  );
  const img = decodeImage(g1);
  assert.deepEqual(Array.from(img.data), [
    255,
    255,
    255,
    255,
    0,
    0,
    0,
    0,
    255,
    255,
    255,
    255,
    0,
    0,
    0,
    0,
  ]);
  // Composited over the background: a keyed pixel becomes the background colour.
  const model = toModelImage(decodeImage(withTrns(g8, [20])), 1, {
    fit: "stretch",
    background: [255, 0, 0],
  });
  // (10 + 255 + 30) / 3 red, (10 + 0 + 30) / 3 green: the keyed middle pixel counts as red.
  assert.ok(Math.abs(model[0] - ((295 / 3 / 255) * 2 - 1)) < 1e-5, `${model[0]}`);
  assert.ok(Math.abs(model[1] - ((40 / 3 / 255) * 2 - 1)) < 1e-5, `${model[1]}`);
});

Deno.test("palette tRNS alphas are honoured", () => {
  // Built by hand (fast-png's encoder writes palette tRNS out of order).
  const png = concat(
    SIGNATURE,
    ihdr(2, 1, 8, 3),
    chunk("PLTE", new Uint8Array([255, 0, 0, 0, 0, 255])),
    chunk("tRNS", new Uint8Array([255, 0])),
    chunk("IDAT", storedZlib(new Uint8Array([0, 0, 1]))),
    chunk("IEND", new Uint8Array()),
  );
  assert.deepEqual(Array.from(decodeImage(png).data), [255, 0, 0, 255, 0, 0, 255, 0]);
});

Deno.test("the data config takes maxPixels and maxBytes (positive integers)", () => {
  const base = { name: "manifest", path: "x.jsonl" } as const;
  assert.ok(DataConfigSchema.safeParse({ ...base, maxPixels: 1e6, maxBytes: 1 << 20 }).success);
  assert.equal(DataConfigSchema.safeParse({ ...base, maxPixels: 0 }).success, false);
  assert.equal(DataConfigSchema.safeParse({ ...base, maxBytes: 1.5 }).success, false);
});
