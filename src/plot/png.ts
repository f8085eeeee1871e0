/**
 * A minimal PNG encoder for 8-bit RGB images, used to embed images in figures as data URIs.
 *
 * @module
 */

import { deflateSync } from "node:zlib";
import type { Rgb8 } from "./image.ts";

const CRC_TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, body.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(body, 8);
  view.setUint32(8 + body.length, crc32(out.subarray(4, 8 + body.length)));
  return out;
}

/**
 * Encodes an 8-bit RGB image as a PNG file (colour type 2, no filtering, zlib-compressed).
 *
 * @example Usage
 * ```ts
 * import { encodePng } from "./png.ts";
 * const png = encodePng({ data: new Uint8Array([255, 0, 0]), height: 1, width: 1 });
 * // png starts with the PNG signature 137 80 78 71 13 10 26 10
 * ```
 *
 * @param image Interleaved RGB bytes with its size.
 * @returns The PNG file's bytes.
 */
export function encodePng(image: Rgb8): Uint8Array {
  const { data, height, width } = image;
  if (data.length !== height * width * 3) {
    throw new RangeError(
      `encodePng: expected ${height}×${width}×3 = ${
        height * width * 3
      } bytes, found ${data.length}`,
    );
  }
  const stride = width * 3;
  const raw = new Uint8Array(height * (stride + 1));
  for (let y = 0; y < height; y++) {
    raw[y * (stride + 1)] = 0; // filter type "None"
    raw.set(data.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  }
  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  header.set([8, 2, 0, 0, 0], 8); // bit depth 8, colour type RGB, deflate, no filter, no interlace
  const parts = [
    new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk("IHDR", header),
    chunk("IDAT", new Uint8Array(deflateSync(raw))),
    chunk("IEND", new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/**
 * Encodes an 8-bit RGB image as a `data:image/png;base64,...` URI, as plotly `image` traces
 * accept in their `source` attribute.
 *
 * @example Usage
 * ```ts
 * import { pngDataUri } from "./png.ts";
 * pngDataUri({ data: new Uint8Array([0, 0, 0]), height: 1, width: 1 }).startsWith(
 *   "data:image/png;base64,",
 * ); // true
 * ```
 *
 * @param image Interleaved RGB bytes with its size.
 * @returns The data URI.
 */
export function pngDataUri(image: Rgb8): string {
  const png = encodePng(image);
  let binary = "";
  for (let i = 0; i < png.length; i += 0x8000) {
    binary += String.fromCharCode(...png.subarray(i, i + 0x8000));
  }
  return `data:image/png;base64,${btoa(binary)}`;
}
