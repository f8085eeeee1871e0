// Issue 10, fuzz: seeded mutations of the PNG/JPEG fixtures and of small generated images (some
// with tRNS colour keys): bit flips, byte writes, truncation, chunk/segment length changes, huge
// and random dimensions, spliced and inserted bytes. Each case either decodes to an image of the size its header
// declares or fails with an ImageError; no other error type, no slow case, bounded memory.
import assert from "node:assert/strict";
import { encode as encodePng } from "fast-png";
import { encode as encodeJpeg } from "jpeg-js";
import { decodeImage, ImageError, imageHeader } from "../src/data/image.ts";
import { mulberry32 } from "../src/util/rng.ts";

const FIX = new URL("./fixtures/data/", import.meta.url).pathname;
const CASES = 10000;
const SEED = 20261130;
const LIMITS = { maxPixels: 1e6, maxBytes: 1 << 20 };
const MAX_CASE_MS = 2000;
const MAX_RSS = 1.5 * 2 ** 30;

function seeds(): { name: string; bytes: Uint8Array }[] {
  const out: { name: string; bytes: Uint8Array }[] = [];
  for (const name of ["red_8x8.png", "half_transparent_4x4.png", "gray_6x4.png", "blue_8x8.jpg"]) {
    out.push({ name, bytes: Deno.readFileSync(FIX + name) });
  }
  const rand = mulberry32(SEED ^ 1);
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(rand() * 256));
  out.push({
    name: "rgba16.png",
    bytes: encodePng({
      width: 5,
      height: 3,
      channels: 4,
      depth: 16,
      data: Uint16Array.from({ length: 60 }, () => Math.floor(rand() * 65536)),
    }),
  });
  out.push({
    name: "grey-alpha.png",
    bytes: encodePng({ width: 7, height: 2, channels: 2, data: bytes(28) }),
  });
  out.push({
    name: "rgb-noise.png",
    bytes: encodePng({ width: 9, height: 9, channels: 3, data: bytes(243) }),
  });
  // RGB and 8-bit grey with a tRNS colour key inserted after IHDR (CRCs are not checked).
  const withKey = (png: Uint8Array, key: number[]) => {
    const chunk = new Uint8Array(12 + key.length * 2);
    new DataView(chunk.buffer).setUint32(0, key.length * 2);
    chunk.set([0x74, 0x52, 0x4e, 0x53], 4); // "tRNS"
    key.forEach((k, i) => new DataView(chunk.buffer).setUint16(8 + 2 * i, k));
    return new Uint8Array([...png.subarray(0, 33), ...chunk, ...png.subarray(33)]);
  };
  out.push({
    name: "rgb-trns.png",
    bytes: withKey(
      encodePng({ width: 4, height: 4, channels: 3, data: bytes(48).map((x) => x & 1) }),
      [0, 1, 0],
    ),
  });
  out.push({
    name: "grey-trns.png",
    bytes: withKey(
      encodePng({ width: 5, height: 3, channels: 1, data: bytes(15).map((x) => x & 3) }),
      [2],
    ),
  });
  out.push({
    name: "palette.png",
    bytes: encodePng({
      width: 6,
      height: 5,
      channels: 1,
      depth: 8,
      data: Uint8Array.from({ length: 30 }, () => Math.floor(rand() * 4)),
      palette: [[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]],
    }),
  });
  out.push({
    name: "noise_16x12.jpg",
    bytes: new Uint8Array(
      encodeJpeg({ width: 16, height: 12, data: bytes(16 * 12 * 4) }, 60).data,
    ),
  });
  return out;
}

/** Offsets of the PNG chunks' length fields (after the signature). */
function pngChunks(b: Uint8Array): number[] {
  const offs: number[] = [];
  let o = 8;
  while (o + 8 <= b.length && offs.length < 64) {
    offs.push(o);
    o += 12 + new DataView(b.buffer, b.byteOffset).getUint32(o);
  }
  return offs;
}

/** Offsets of the JPEG markers with a length field (ff xx, then 2 bytes). */
function jpegSegments(b: Uint8Array): number[] {
  const offs: number[] = [];
  for (let i = 2; i + 3 < b.length; i++) {
    if (b[i] === 0xff && b[i + 1] >= 0xc0 && b[i + 1] <= 0xfe && b[i + 1] !== 0xd8) offs.push(i);
  }
  return offs;
}

/** One mutation; a structural one that does not fit an already cut-down input flips a bit. */
function mutate(src: Uint8Array, rand: () => number): { bytes: Uint8Array; how: string } {
  try {
    return mutateOnce(src, rand);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    const b = src.slice();
    const at = Math.floor(rand() * b.length);
    b[at] ^= 1;
    return { bytes: b, how: `flip bit at ${at}` };
  }
}

function mutateOnce(src: Uint8Array, rand: () => number): { bytes: Uint8Array; how: string } {
  const int = (n: number) => Math.floor(rand() * n);
  const huge = () =>
    [0, 1, 2, 255, 256, 1000, 1001, 65535, 1 << 16, 30000, 2 ** 31 - 1, 2 ** 32 - 1][int(12)];
  const b = src.slice();
  const v = new DataView(b.buffer);
  const isPng = b[0] === 0x89;
  const kind = int(9);
  switch (kind) {
    case 0: { // bit flips
      const n = 1 + int(8);
      for (let k = 0; k < n; k++) b[int(b.length)] ^= 1 << int(8);
      return { bytes: b, how: `flip ${n} bits` };
    }
    case 1: { // random bytes
      const n = 1 + int(4);
      for (let k = 0; k < n; k++) b[int(b.length)] = int(256);
      return { bytes: b, how: `set ${n} bytes` };
    }
    case 2: { // truncation
      const at = int(b.length);
      return { bytes: b.subarray(0, at), how: `truncate at ${at}` };
    }
    case 3: { // chunk / segment length field
      if (isPng) {
        const offs = pngChunks(b);
        const o = offs[int(offs.length)];
        const value = rand() < 0.5 ? huge() : Math.max(0, v.getUint32(o) + int(9) - 4);
        v.setUint32(o, value >>> 0);
        return { bytes: b, how: `png chunk length at ${o} = ${value}` };
      }
      const offs = jpegSegments(b);
      if (offs.length === 0) return { bytes: b, how: "no segment" };
      const o = offs[int(offs.length)];
      const value = rand() < 0.5 ? huge() & 0xffff : (v.getUint16(o + 2) + int(9) - 4) & 0xffff;
      v.setUint16(o + 2, value);
      return { bytes: b, how: `jpeg segment length at ${o} = ${value}` };
    }
    case 4: { // dimensions
      if (isPng) {
        const w = rand() < 0.5 ? huge() : int(64);
        const h = rand() < 0.5 ? huge() : int(64);
        v.setUint32(16, w >>> 0);
        v.setUint32(20, h >>> 0);
        return { bytes: b, how: `png ${w}x${h}` };
      }
      const sof = jpegSegments(b).find((o) => b[o + 1] === 0xc0 || b[o + 1] === 0xc2);
      if (sof === undefined) return { bytes: b, how: "no sof" };
      const w = (rand() < 0.5 ? huge() : int(64)) & 0xffff;
      const h = (rand() < 0.5 ? huge() : int(64)) & 0xffff;
      v.setUint16(sof + 5, h);
      v.setUint16(sof + 7, w);
      return { bytes: b, how: `jpeg ${w}x${h}` };
    }
    case 5: { // PNG depth / colour type / interlace, JPEG component count / sampling
      if (isPng) {
        const o = 24 + int(5);
        if (o >= b.length) throw new RangeError("short");
        b[o] = [0, 1, 2, 3, 4, 6, 8, 16, 255][int(9)];
        return { bytes: b, how: `ihdr byte ${o} = ${b[o]}` };
      }
      const sof = jpegSegments(b).find((o) => b[o + 1] === 0xc0);
      if (sof === undefined) return { bytes: b, how: "no sof" };
      const o = sof + 9 + int(6);
      if (o >= b.length) throw new RangeError("short");
      b[o] = [0, 1, 2, 3, 4, 0x11, 0x22, 0x44, 0xff][int(9)];
      return { bytes: b, how: `sof byte ${o} = ${b[o]}` };
    }
    case 6: { // splice out a range
      const at = int(b.length), n = 1 + int(16);
      return {
        bytes: new Uint8Array([...b.subarray(0, at), ...b.subarray(at + n)]),
        how: `cut ${n} at ${at}`,
      };
    }
    case 7: { // insert random bytes
      const at = int(b.length), n = 1 + int(16);
      const ins = Uint8Array.from({ length: n }, () => int(256));
      return {
        bytes: new Uint8Array([...b.subarray(0, at), ...ins, ...b.subarray(at)]),
        how: `insert ${n} at ${at}`,
      };
    }
    default: { // duplicate a range (repeated chunks / segments)
      const at = int(b.length), n = 1 + int(64);
      const dup = b.subarray(at, at + n);
      return {
        bytes: new Uint8Array([...b.subarray(0, at + dup.length), ...dup, ...b.subarray(at)]),
        how: `duplicate ${dup.length} at ${at}`,
      };
    }
  }
}

Deno.test(`fuzz: ${CASES} mutated PNG/JPEG files decode to their declared size or throw ImageError`, () => {
  const rand = mulberry32(SEED);
  const inputs = seeds();
  for (const { name, bytes } of inputs) {
    const img = decodeImage(bytes, LIMITS);
    assert.deepEqual(
      [img.width, img.height],
      [imageHeader(bytes).width, imageHeader(bytes).height],
      name,
    );
  }
  const t0 = performance.now();
  let decoded = 0, refused = 0, slowest = 0, maxRss = 0;
  for (let i = 0; i < CASES; i++) {
    const seed = inputs[Math.floor(rand() * inputs.length)];
    // One to three stacked mutations.
    let bytes = seed.bytes;
    const hows: string[] = [];
    const n = 1 + Math.floor(rand() * 3);
    for (let k = 0; k < n && bytes.length > 0; k++) {
      const m = mutate(bytes, rand);
      bytes = m.bytes;
      hows.push(m.how);
    }
    const what = `case ${i} (${seed.name}: ${hows.join(", ")})`;
    const c0 = performance.now();
    try {
      const img = decodeImage(bytes, { ...LIMITS, file: "fuzz" });
      const h = imageHeader(bytes);
      assert.equal(img.width, h.width, what);
      assert.equal(img.height, h.height, what);
      assert.equal(img.data.length, h.width * h.height * 4, what);
      assert.ok(h.width * h.height <= LIMITS.maxPixels, what);
      decoded++;
    } catch (e) {
      if (!(e instanceof ImageError)) {
        assert.fail(`${what}: expected an ImageError, found ${e instanceof Error ? e.stack : e}`);
      }
      assert.match(e.message, /^expected .* found /s, `${what}: ${e.message}`);
      assert.match(e.message, /fuzz/, `${what}: the message names the file`);
      refused++;
    }
    const dt = performance.now() - c0;
    slowest = Math.max(slowest, dt);
    assert.ok(dt < MAX_CASE_MS, `${what}: took ${dt.toFixed(0)} ms`);
    if (i % 100 === 0) {
      maxRss = Math.max(maxRss, Deno.memoryUsage().rss);
      assert.ok(maxRss < MAX_RSS, `${what}: RSS ${(maxRss / 2 ** 20).toFixed(0)} MiB`);
    }
  }
  const total = performance.now() - t0;
  console.log(
    `fuzz: ${CASES} cases in ${(total / 1000).toFixed(1)} s: ${decoded} decoded, ${refused} ` +
      `ImageError; slowest ${slowest.toFixed(0)} ms, max RSS ${(maxRss / 2 ** 20).toFixed(0)} MiB`,
  );
  assert.ok(decoded > 0 && refused > 0);
});
