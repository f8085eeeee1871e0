/**
 * PNG encoding of 8-bit RGB images (with `fast-png`), used to embed images in figures as data URIs.
 *
 * @module
 */

import { encode } from "../deps/fast_png.ts";
import type { Rgb8 } from "./image.ts";

/**
 * Encodes an 8-bit RGB image as a PNG file (colour type 2, no filtering, zlib-compressed) with
 * `fast-png`'s `encode`.
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
  return encode({ data, height, width, depth: 8, channels: 3 });
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
