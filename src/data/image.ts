/**
 * Image decoding, resizing and normalisation shared by every dataset.
 *
 * Conventions (the same everywhere in the workbench):
 * - model images are float32 RGB, channel-first `(3, S, S)`;
 * - a byte value `p` in [0, 255] maps to `x = p / 255 * 2 - 1` (so [-1, 1]);
 * - transparent pixels are composited over a background (white unless told otherwise);
 * - non-square images are centre-cropped to a square first (option `fit: "stretch"` keeps the
 *   whole image and changes its aspect ratio instead);
 * - resizing is separable: area averaging (box filter with fractional pixel coverage) along an
 *   axis that shrinks, bilinear interpolation with half-pixel centres along an axis that grows.
 *
 * PNG is decoded with `fast-png`, JPEG with `jpeg-js`.
 *
 * @module
 */

import { decode as decodePngRaw } from "fast-png";
import { decode as decodeJpegRaw } from "jpeg-js";
import { positiveInt } from "../util/validate.ts";

/** An 8-bit RGBA image, row-major, `width * height * 4` bytes. */
export interface RgbaImage {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** RGBA bytes. */
  data: Uint8Array;
}

/** Options of {@linkcode toModelImage}. */
export interface ToModelImageOptions {
  /** RGB background that transparency is composited over (default white `[255, 255, 255]`). */
  background?: readonly [number, number, number];
  /** `"crop"` (default): centre-crop to a square; `"stretch"`: resize the whole image. */
  fit?: "crop" | "stretch";
}

/**
 * Map a byte value to the model range: `p / 255 * 2 - 1`.
 *
 * @example
 * ```ts
 * normalizePixel(255); // 1
 * normalizePixel(0); // -1
 * ```
 */
export function normalizePixel(p: number): number {
  return (p / 255) * 2 - 1;
}

function isPng(b: Uint8Array): boolean {
  return b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47;
}

function isJpeg(b: Uint8Array): boolean {
  return b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;
}

function pngToRgba(bytes: Uint8Array): RgbaImage {
  const png = decodePngRaw(bytes);
  const { width, height, channels, depth } = png;
  const n = width * height;
  const out = new Uint8Array(n * 4);
  if (png.palette) {
    const pal = png.palette;
    const raw = png.data;
    const perByte = 8 / depth;
    const rowBytes = Math.ceil((width * depth) / 8);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        let idx: number;
        if (depth === 8) idx = raw[y * width + x];
        else {
          const byte = raw[y * rowBytes + Math.floor(x / perByte)];
          const shift = 8 - depth * ((x % perByte) + 1);
          idx = (byte >> shift) & ((1 << depth) - 1);
        }
        const c = pal[idx] ?? [0, 0, 0];
        const o = (y * width + x) * 4;
        out[o] = c[0];
        out[o + 1] = c[1];
        out[o + 2] = c[2];
        out[o + 3] = c.length > 3 ? c[3] : 255;
      }
    }
    return { width, height, data: out };
  }
  const raw = png.data;
  const rowBytes = Math.ceil((width * depth * channels) / 8);
  const sample = (y: number, x: number, c: number): number => {
    const i = x * channels + c;
    if (depth === 8) return raw[y * width * channels + i];
    if (depth === 16) return raw[y * width * channels + i] >> 8;
    // Packed grayscale, 1/2/4 bits.
    const perByte = 8 / depth;
    const byte = raw[y * rowBytes + Math.floor(i / perByte)];
    const shift = 8 - depth * ((i % perByte) + 1);
    const v = (byte >> shift) & ((1 << depth) - 1);
    return Math.round((v * 255) / ((1 << depth) - 1));
  };
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 4;
      if (channels >= 3) {
        out[o] = sample(y, x, 0);
        out[o + 1] = sample(y, x, 1);
        out[o + 2] = sample(y, x, 2);
        out[o + 3] = channels === 4 ? sample(y, x, 3) : 255;
      } else {
        const g = sample(y, x, 0);
        out[o] = out[o + 1] = out[o + 2] = g;
        out[o + 3] = channels === 2 ? sample(y, x, 1) : 255;
      }
    }
  }
  return { width, height, data: out };
}

/**
 * Decode PNG or JPEG bytes (sniffed from the signature) to 8-bit RGBA. Throws on unknown or
 * corrupt data.
 *
 * @example
 * ```ts
 * const img = decodeImage(await Deno.readFile("tests/fixtures/data/red.png"));
 * img.width; // 8
 * ```
 */
export function decodeImage(bytes: Uint8Array): RgbaImage {
  if (isPng(bytes)) return pngToRgba(bytes);
  if (isJpeg(bytes)) {
    const j = decodeJpegRaw(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: 100 });
    return { width: j.width, height: j.height, data: new Uint8Array(j.data) };
  }
  const head = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, "0")).join(" ");
  throw new TypeError(
    `expected a PNG (89 50 4e 47) or JPEG (ff d8 ff) signature, found ${head || "no bytes"}`,
  );
}

/** For each output index, the input indices and weights (summing to 1) along one axis. */
function axisWeights(inSize: number, outSize: number): { idx: number[]; w: number[] }[] {
  const res: { idx: number[]; w: number[] }[] = [];
  const scale = inSize / outSize;
  for (let o = 0; o < outSize; o++) {
    const idx: number[] = [];
    const w: number[] = [];
    if (outSize < inSize) {
      // Area: overlap of [o*scale, (o+1)*scale) with each input pixel [i, i+1).
      const lo = o * scale;
      const hi = lo + scale;
      for (let i = Math.floor(lo); i < Math.min(inSize, Math.ceil(hi)); i++) {
        const cover = Math.min(hi, i + 1) - Math.max(lo, i);
        if (cover > 1e-12) {
          idx.push(i);
          w.push(cover / scale);
        }
      }
    } else {
      // Bilinear with half-pixel centres, clamped at the borders.
      const src = Math.min(Math.max((o + 0.5) * scale - 0.5, 0), inSize - 1);
      const i0 = Math.floor(src);
      const i1 = Math.min(i0 + 1, inSize - 1);
      const f = src - i0;
      idx.push(i0);
      w.push(1 - f);
      if (f > 0) {
        idx.push(i1);
        w.push(f);
      }
    }
    res.push({ idx, w });
  }
  return res;
}

/**
 * Convert an RGBA image to a model image: composite over the background, centre-crop (or
 * stretch) to a square, resize to `size` (area when shrinking, bilinear when enlarging) and
 * normalise to `(3, size, size)` float32 in [-1, 1].
 *
 * @example
 * ```ts
 * const img = { width: 2, height: 2, data: new Uint8Array(16).fill(255) };
 * toModelImage(img, 4); // Float32Array(48) of ones
 * ```
 */
export function toModelImage(
  img: RgbaImage,
  size: number,
  options: ToModelImageOptions = {},
): Float32Array {
  positiveInt("size", size);
  const { width, height, data } = img;
  if (!(width > 0 && height > 0) || data.length !== width * height * 4) {
    throw new RangeError(
      `expected ${width}x${height} RGBA data of ${width * height * 4} bytes, found ${data.length}`,
    );
  }
  const bg = options.background ?? [255, 255, 255];
  let x0 = 0, y0 = 0, w = width, h = height;
  if ((options.fit ?? "crop") === "crop" && width !== height) {
    const s = Math.min(width, height);
    x0 = Math.floor((width - s) / 2);
    y0 = Math.floor((height - s) / 2);
    w = h = s;
  }
  // Composited RGB floats (0..255) of the cropped region, channel-first.
  const rgb = new Float32Array(3 * w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = ((y + y0) * width + (x + x0)) * 4;
      const a = data[o + 3] / 255;
      for (let c = 0; c < 3; c++) rgb[c * w * h + y * w + x] = data[o + c] * a + bg[c] * (1 - a);
    }
  }
  const wx = axisWeights(w, size);
  const wy = axisWeights(h, size);
  // Horizontal pass: (3, h, size).
  const tmp = new Float32Array(3 * h * size);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < h; y++) {
      const row = c * w * h + y * w;
      for (let ox = 0; ox < size; ox++) {
        const { idx, w: ws } = wx[ox];
        let v = 0;
        for (let k = 0; k < idx.length; k++) v += rgb[row + idx[k]] * ws[k];
        tmp[c * h * size + y * size + ox] = v;
      }
    }
  }
  // Vertical pass and normalisation: (3, size, size).
  const out = new Float32Array(3 * size * size);
  for (let c = 0; c < 3; c++) {
    for (let oy = 0; oy < size; oy++) {
      const { idx, w: ws } = wy[oy];
      for (let ox = 0; ox < size; ox++) {
        let v = 0;
        for (let k = 0; k < idx.length; k++) v += tmp[c * h * size + idx[k] * size + ox] * ws[k];
        out[c * size * size + oy * size + ox] = normalizePixel(v);
      }
    }
  }
  return out;
}

/**
 * Inverse of the normalisation for viewing: `(3, S, S)` floats → RGB bytes, row-major
 * interleaved (`S * S * 3`), clamped and rounded.
 *
 * @example
 * ```ts
 * toRgbBytes(new Float32Array(3).fill(1), 1); // Uint8Array [255, 255, 255]
 * ```
 */
export function toRgbBytes(image: Float32Array, size: number): Uint8Array {
  if (image.length !== 3 * size * size) {
    throw new RangeError(
      `expected ${3 * size * size} values for size ${size}, found ${image.length}`,
    );
  }
  const out = new Uint8Array(size * size * 3);
  const plane = size * size;
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) {
      const v = Math.round(((image[c * plane + p] + 1) / 2) * 255);
      out[p * 3 + c] = Math.min(255, Math.max(0, v));
    }
  }
  return out;
}
