/**
 * Image decoding, resizing and normalisation shared by every dataset.
 *
 * Conventions (the same everywhere in the workbench):
 * - model images are float32 RGB, channel-first `(3, S, S)`;
 * - a byte value `p` in [0, 255] maps to `x = p / 255 * 2 - 1` (so [-1, 1]);
 * - transparent pixels are composited over a background (white unless told otherwise);
 * - non-square images are fitted to the square `(S, S)` by the `fit` mode: `"pad"` (default)
 *   scales the longer side to S and centres the image on the background (letterbox, nothing
 *   lost), `"crop"` centre-crops to a square first, `"stretch"` resizes the whole image and
 *   changes its aspect ratio; square images give the same result under all three;
 * - resizing is separable: area averaging (box filter with fractional pixel coverage) along an
 *   axis that shrinks, bilinear interpolation with half-pixel centres along an axis that grows.
 *
 * PNG is decoded with `fast-png`, JPEG with `jpeg-js`. Before either decoder runs, the size the
 * file declares (PNG `IHDR`, JPEG `SOFn`) is read here and checked against `maxPixels`
 * (default {@linkcode DEFAULT_MAX_PIXELS}), and a PNG's compressed data is inflated in small
 * pieces and refused once it exceeds what the declared size needs, so a decompression bomb is
 * refused before anything large is allocated. {@linkcode readImageFile} reads only regular files
 * of at most `maxBytes` (default {@linkcode DEFAULT_MAX_BYTES}). PNG transparency: alpha channels,
 * palette `tRNS` alphas and grey/RGB `tRNS` colour keys (pixels equal to the key are transparent).
 * Every problem is an {@linkcode ImageError} naming the file when known.
 *
 * @module
 */

import { decode as decodePngRaw } from "../deps/fast_png.ts";
import { decode as decodeJpegRaw } from "../deps/jpeg_js.ts";
// fflate is fast-png's own inflater (the same version).
import { Unzlib } from "../deps/fflate.ts";
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

/** Default pixel limit: 64 MP = 64e6 pixels (decimal megapixels, 10^6 pixels each). */
export const DEFAULT_MAX_PIXELS = 64e6;
/** Default byte limit of an image file: 64 MiB = 64 * 2^20 bytes. */
export const DEFAULT_MAX_BYTES = 64 * 2 ** 20;

/** Limits of {@linkcode decodeImage} and {@linkcode readImageFile}. */
export interface ImageLimits {
  /** Largest declared width × height accepted (default {@linkcode DEFAULT_MAX_PIXELS}, 64e6). */
  maxPixels?: number;
  /** Largest file accepted, in bytes (default {@linkcode DEFAULT_MAX_BYTES}, 64 MiB). */
  maxBytes?: number;
}

/**
 * A file that is not an acceptable image: unknown or corrupt data, over a limit, not a regular
 * file. The message names the file (when known), what was expected and what was found.
 *
 * @example
 * ```ts
 * try {
 *   decodeImage(new Uint8Array([1, 2, 3]), { file: "x.png" });
 * } catch (e) {
 *   if (e instanceof ImageError) console.log(e.file); // "x.png"
 * }
 * ```
 */
export class ImageError extends Error {
  /** The file, when known. */
  readonly file?: string;
  /** `message` is the full text; `file` is kept for callers. */
  constructor(message: string, file?: string) {
    super(message);
    this.name = "ImageError";
    this.file = file;
  }
}

/** Options of {@linkcode decodeImage}. */
export interface DecodeImageOptions extends ImageLimits {
  /** The file the bytes came from, named in errors. */
  file?: string;
}

/** The size an image file declares in its header, read without decoding. */
export interface ImageHeader {
  /** `"png"` or `"jpeg"`. */
  format: "png" | "jpeg";
  /** Declared width in pixels. */
  width: number;
  /** Declared height in pixels. */
  height: number;
}

/** Options of {@linkcode toModelImage}. */
export interface ToModelImageOptions {
  /**
   * RGB background that transparency is composited over and that `fit: "pad"` fills the
   * margins with (default white `[255, 255, 255]`).
   */
  background?: readonly [number, number, number];
  /**
   * How a non-square image becomes square (see {@linkcode FIT_MODES}): `"pad"` (default) scales
   * the longer side to S and centres the image on `background`; `"crop"` centre-crops to a
   * square; `"stretch"` resizes the whole image to S×S.
   */
  fit?: FitMode;
}

/** How a non-square image is fitted to the model's square: letterbox, centre crop or stretch. */
export type FitMode = "pad" | "crop" | "stretch";

/**
 * The fit modes, default first.
 *
 * @example
 * ```ts
 * FIT_MODES[0]; // "pad"
 * ```
 */
export const FIT_MODES: readonly FitMode[] = ["pad", "crop", "stretch"];

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

const where = (file?: string) => (file === undefined ? "" : ` in ${file}`);

function mp(pixels: number): string {
  const v = pixels / 1e6;
  return `${v >= 10 ? Math.round(v) : Number(v.toPrecision(2))} MP`;
}

function u32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

const PNG_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const PNG_DEPTHS: Record<number, number[]> = {
  0: [1, 2, 4, 8, 16],
  2: [8, 16],
  3: [1, 2, 4, 8],
  4: [8, 16],
  6: [8, 16],
};

interface PngInfo {
  width: number;
  height: number;
  depth: number;
  colorType: number;
  interlace: number;
}

function readIhdr(b: Uint8Array, file?: string): PngInfo {
  if (b.length < 33 || u32(b, 8) !== 13 || String.fromCharCode(...b.subarray(12, 16)) !== "IHDR") {
    throw new ImageError(
      `expected a PNG whose first chunk is a 13-byte IHDR, found ${
        b.length < 33 ? `only ${b.length} bytes` : "another chunk"
      }${where(file)}`,
      file,
    );
  }
  const info = {
    width: u32(b, 16),
    height: u32(b, 20),
    depth: b[24],
    colorType: b[25],
    interlace: b[28],
  };
  if (
    info.width === 0 || info.height === 0 || info.width > 2 ** 31 - 1 || info.height > 2 ** 31 - 1
  ) {
    throw new ImageError(
      `expected a PNG width and height in [1, 2^31-1], found ${info.width}×${info.height}${
        where(file)
      }`,
      file,
    );
  }
  if (!(PNG_DEPTHS[info.colorType] ?? []).includes(info.depth)) {
    throw new ImageError(
      `expected a valid PNG colour type and bit depth, found colour type ${info.colorType} ` +
        `with depth ${info.depth}${where(file)}`,
      file,
    );
  }
  if (info.interlace > 1 || b[26] !== 0 || b[27] !== 0) {
    throw new ImageError(
      `expected PNG compression 0, filter 0 and interlace 0 or 1, found ${b[26]}, ${b[27]} ` +
        `and ${info.interlace}${where(file)}`,
      file,
    );
  }
  return info;
}

/** Bytes of filtered image data the declared PNG needs (filter bytes included). */
function pngDataBytes(p: PngInfo): number {
  const bits = PNG_CHANNELS[p.colorType] * p.depth;
  const rows = (w: number, h: number) => (w > 0 && h > 0 ? h * (1 + Math.ceil((w * bits) / 8)) : 0);
  if (p.interlace === 0) return rows(p.width, p.height);
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
  let n = 0;
  for (const [x0, y0, dx, dy] of passes) {
    n += rows(Math.ceil((p.width - x0) / dx), Math.ceil((p.height - y0) / dy));
  }
  return n;
}

/**
 * Walk the PNG chunks (bounds-checked) and inflate the IDAT data in small pieces, refusing data
 * that runs past the end of the file or inflates to more than the declared size needs. Returns the
 * bytes to give fast-png (without a non-palette `tRNS` chunk, which fast-png checks wrongly for
 * images of fewer than 3 pixels and refuses for colour types with alpha) and the grey/RGB colour
 * key that chunk holds (an invalid one is ignored, as libpng does).
 */
function checkPngData(
  b: Uint8Array,
  p: PngInfo,
  file?: string,
): { bytes: Uint8Array; key?: number[] } {
  let trns: { start: number; end: number } | undefined;
  const need = pngDataBytes(p);
  let got = 0;
  let done = false;
  const inflater = new Unzlib((chunk, final) => {
    got += chunk.length;
    if (got > need) {
      throw new ImageError(
        `expected ${need} bytes of PNG image data for ${p.width}×${p.height}, found more ` +
          `(a decompression bomb or corrupt data)${where(file)}`,
        file,
      );
    }
    if (final) done = true;
  });
  let o = 8;
  let sawIend = false;
  let sawIdat = false;
  while (o + 8 <= b.length) {
    const len = u32(b, o);
    const type = String.fromCharCode(...b.subarray(o + 4, o + 8));
    if (len > 2 ** 31 - 1 || o + 12 + len > b.length) {
      throw new ImageError(
        `expected PNG chunk "${type}" at byte ${o} of ${len} bytes within the file, found only ` +
          `${Math.max(0, b.length - o - 12)} (truncated or corrupt)${where(file)}`,
        file,
      );
    }
    if (type === "IDAT") {
      sawIdat = true;
      const data = b.subarray(o + 8, o + 8 + len);
      try {
        for (let i = 0; i < data.length && !done; i += 16384) {
          inflater.push(data.subarray(i, Math.min(data.length, i + 16384)), false);
        }
      } catch (e) {
        if (e instanceof ImageError) throw e;
        throw new ImageError(
          `expected valid zlib data in PNG IDAT, found an error: ${message(e)}${where(file)}`,
          file,
        );
      }
    }
    if (type === "tRNS" && p.colorType !== 3 && trns === undefined) {
      trns = { start: o, end: o + 12 + len };
    }
    o += 12 + len;
    if (type === "IEND") {
      sawIend = true;
      break;
    }
  }
  if (!sawIend || !sawIdat) {
    throw new ImageError(
      `expected PNG IDAT and IEND chunks, found ${sawIdat ? "no IEND" : "no IDAT"} ` +
        `(truncated or corrupt)${where(file)}`,
      file,
    );
  }
  if (trns === undefined) return { bytes: b };
  const stripped = new Uint8Array(b.length - (trns.end - trns.start));
  stripped.set(b.subarray(0, trns.start));
  stripped.set(b.subarray(trns.end), trns.start);
  const n = PNG_CHANNELS[p.colorType];
  const len = trns.end - trns.start - 12;
  if ((n !== 1 && n !== 3) || len !== 2 * n) return { bytes: stripped };
  const at = trns.start + 8;
  const key = Array.from({ length: n }, (_, i) => (b[at + 2 * i] << 8) | b[at + 2 * i + 1]);
  return { bytes: stripped, key };
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function readJpegHeader(b: Uint8Array, file?: string): { width: number; height: number } {
  let o = 2;
  while (o < b.length) {
    if (b[o] !== 0xff) {
      throw new ImageError(
        `expected a JPEG marker (ff) at byte ${o}, found ${b[o].toString(16)}${where(file)}`,
        file,
      );
    }
    while (o < b.length && b[o] === 0xff) o++;
    if (o >= b.length) break;
    const m = b[o++];
    if (m === 0xd8 || m === 0x01 || (m >= 0xd0 && m <= 0xd7)) continue;
    if (m === 0xd9 || m === 0xda) break;
    if (o + 2 > b.length) break;
    const len = (b[o] << 8) | b[o + 1];
    if (len < 2) break;
    const isSof = m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;
    if (isSof) {
      if (o + 7 > b.length) break;
      const height = (b[o + 3] << 8) | b[o + 4];
      const width = (b[o + 5] << 8) | b[o + 6];
      if (width === 0 || height === 0) {
        throw new ImageError(
          `expected a JPEG frame of non-zero width and height, found ${width}×${height}${
            where(file)
          }`,
          file,
        );
      }
      return { width, height };
    }
    o += len;
  }
  throw new ImageError(
    `expected a JPEG frame header (SOFn) before the scan data, found none (truncated or corrupt)${
      where(file)
    }`,
    file,
  );
}

/**
 * The format and size an image declares (PNG `IHDR`, JPEG `SOFn`), read without decoding.
 * Throws an {@linkcode ImageError} on an unknown signature or a malformed header.
 *
 * @example
 * ```ts
 * const h = imageHeader(await Deno.readFile("tests/fixtures/data/red_8x8.png"));
 * h.width; // 8
 * ```
 */
export function imageHeader(bytes: Uint8Array, file?: string): ImageHeader {
  if (isPng(bytes)) {
    const { width, height } = readIhdr(bytes, file);
    return { format: "png", width, height };
  }
  if (isJpeg(bytes)) return { format: "jpeg", ...readJpegHeader(bytes, file) };
  const head = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, "0")).join(" ");
  throw new ImageError(
    `expected a PNG (89 50 4e 47) or JPEG (ff d8 ff) signature, found ${head || "no bytes"}${
      where(file)
    }`,
    file,
  );
}

function pngToRgba(bytes: Uint8Array, key?: readonly number[]): RgbaImage {
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
  // The stored sample at the file's bit depth (what a tRNS colour key is compared with).
  const rawSample = (y: number, x: number, c: number): number => {
    const i = x * channels + c;
    if (depth >= 8) return raw[y * width * channels + i];
    // Packed grayscale, 1/2/4 bits.
    const perByte = 8 / depth;
    const byte = raw[y * rowBytes + Math.floor(i / perByte)];
    const shift = 8 - depth * ((i % perByte) + 1);
    return (byte >> shift) & ((1 << depth) - 1);
  };
  const to8 = (v: number): number =>
    depth === 8 ? v : depth === 16 ? v >> 8 : Math.round((v * 255) / ((1 << depth) - 1));
  // `key`: the tRNS colour key of a grey (1 value) or RGB (3 values) image, from checkPngData.
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 4;
      if (channels >= 3) {
        const r = rawSample(y, x, 0), g = rawSample(y, x, 1), b = rawSample(y, x, 2);
        out[o] = to8(r);
        out[o + 1] = to8(g);
        out[o + 2] = to8(b);
        out[o + 3] = channels === 4
          ? to8(rawSample(y, x, 3))
          : key !== undefined && r === key[0] && g === key[1] && b === key[2]
          ? 0
          : 255;
      } else {
        const v = rawSample(y, x, 0);
        out[o] = out[o + 1] = out[o + 2] = to8(v);
        out[o + 3] = channels === 2
          ? to8(rawSample(y, x, 1))
          : key !== undefined && v === key[0]
          ? 0
          : 255;
      }
    }
  }
  return { width, height, data: out };
}

/**
 * Decode PNG or JPEG bytes (sniffed from the signature) to 8-bit RGBA. The declared size is
 * checked against `maxPixels` (default 64e6) and the byte count against `maxBytes` (default
 * 64 MiB) before decoding. Every failure (unknown or corrupt data, a limit) is an
 * {@linkcode ImageError}; the result always has the size the header declares.
 *
 * @example
 * ```ts
 * const img = decodeImage(await Deno.readFile("tests/fixtures/data/red_8x8.png"));
 * img.width; // 8
 * ```
 */
export function decodeImage(bytes: Uint8Array, options: DecodeImageOptions = {}): RgbaImage {
  const { file } = options;
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  if (bytes.length > maxBytes) {
    throw new ImageError(
      `expected at most ${maxBytes} bytes, found ${bytes.length} bytes${where(file)}`,
      file,
    );
  }
  const header = imageHeader(bytes, file);
  const { width, height } = header;
  if (width * height > maxPixels) {
    throw new ImageError(
      `expected at most ${mp(maxPixels)} (${maxPixels} pixels), found ${width}×${height} ` +
        `(${mp(width * height)})${where(file)}`,
      file,
    );
  }
  let img: RgbaImage;
  try {
    if (header.format === "png") {
      const checked = checkPngData(bytes, readIhdr(bytes, file), file);
      img = pngToRgba(checked.bytes, checked.key);
    } else {
      const j = decodeJpegRaw(bytes, {
        useTArray: true,
        formatAsRGBA: true,
        maxResolutionInMP: maxPixels / 1e6,
        maxMemoryUsageInMB: Math.max(64, Math.ceil((maxPixels * 12) / 2 ** 20)),
      });
      img = { width: j.width, height: j.height, data: new Uint8Array(j.data) };
    }
  } catch (e) {
    if (e instanceof ImageError) throw e;
    throw new ImageError(
      `expected a decodable ${header.format.toUpperCase()}, found an error: ${message(e)}${
        where(file)
      }`,
      file,
    );
  }
  if (img.width !== width || img.height !== height || img.data.length !== width * height * 4) {
    throw new ImageError(
      `expected a decoded ${width}×${height} image as the header declares, found ` +
        `${img.width}×${img.height} with ${img.data.length} bytes${where(file)}`,
      file,
    );
  }
  return img;
}

function fileKind(info: Deno.FileInfo): string {
  if (info.isDirectory) return "a directory";
  if (info.isFifo) return "a pipe (FIFO)";
  if (info.isCharDevice) return "a character device";
  if (info.isBlockDevice) return "a block device";
  if (info.isSocket) return "a socket";
  return "not a regular file";
}

/**
 * Read an image file with bounds: only a regular file (a directory, device such as `/dev/zero`,
 * pipe or socket is refused without reading), of at most `maxBytes` (default 64 MiB; at most
 * `maxBytes + 1` bytes are ever read). Refusals are {@linkcode ImageError}s; a missing file is
 * `Deno.errors.NotFound`.
 *
 * @example
 * ```ts
 * const bytes = await readImageFile("tests/fixtures/data/red_8x8.png", { maxBytes: 1 << 20 });
 * decodeImage(bytes, { file: "tests/fixtures/data/red_8x8.png" });
 * ```
 */
export async function readImageFile(path: string, limits: ImageLimits = {}): Promise<Uint8Array> {
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_BYTES;
  const tooBig = (n: string) =>
    new ImageError(`expected a file of at most ${maxBytes} bytes, found ${n} in ${path}`, path);
  // stat before open: opening a FIFO for reading blocks until a writer comes.
  const before = await Deno.stat(path);
  if (!before.isFile) {
    throw new ImageError(
      `expected a regular image file, found ${fileKind(before)} at ${path}`,
      path,
    );
  }
  if (before.size > maxBytes) throw tooBig(`${before.size} bytes`);
  using f = await Deno.open(path, { read: true });
  const info = await f.stat();
  if (!info.isFile) {
    throw new ImageError(`expected a regular image file, found ${fileKind(info)} at ${path}`, path);
  }
  if (info.size > maxBytes) throw tooBig(`${info.size} bytes`);
  const buf = new Uint8Array(Math.min(info.size, maxBytes) + 1);
  let n = 0;
  while (true) {
    if (n === buf.length) {
      if (n > maxBytes) throw tooBig("more (it grew while being read)");
      break;
    }
    const r = await f.read(buf.subarray(n));
    if (r === null) break;
    n += r;
  }
  return buf.subarray(0, n);
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
 * Convert an RGBA image to a model image: composite over the background, fit to a square
 * (`fit`: letterbox `"pad"` by default, centre `"crop"` or `"stretch"`), resize (area when
 * shrinking, bilinear when enlarging) and normalise to `(3, size, size)` float32 in [-1, 1].
 * With `"pad"`, a `w×h` image with `w > h` is resized to `size × round(h * size / w)` (at least
 * 1) and centred vertically (extra row at the bottom), the rest filled with `background`.
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
  const fit = options.fit ?? "pad";
  if (!FIT_MODES.includes(fit)) {
    throw new RangeError(`expected fit ${FIT_MODES.join(", ")}, found ${JSON.stringify(fit)}`);
  }
  let x0 = 0, y0 = 0, w = width, h = height;
  if (fit === "crop" && width !== height) {
    const s = Math.min(width, height);
    x0 = Math.floor((width - s) / 2);
    y0 = Math.floor((height - s) / 2);
    w = h = s;
  }
  // The resized content is tw×th, placed at (ox, oy) of the size×size output.
  let tw = size, th = size;
  if (fit === "pad" && width !== height) {
    if (width > height) th = Math.max(1, Math.round((height * size) / width));
    else tw = Math.max(1, Math.round((width * size) / height));
  }
  const ox = Math.floor((size - tw) / 2);
  const oy = Math.floor((size - th) / 2);
  // Composited RGB floats (0..255) of the cropped region, channel-first.
  const rgb = new Float32Array(3 * w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = ((y + y0) * width + (x + x0)) * 4;
      const a = data[o + 3] / 255;
      for (let c = 0; c < 3; c++) rgb[c * w * h + y * w + x] = data[o + c] * a + bg[c] * (1 - a);
    }
  }
  const wx = axisWeights(w, tw);
  const wy = axisWeights(h, th);
  // Horizontal pass: (3, h, tw).
  const tmp = new Float32Array(3 * h * tw);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < h; y++) {
      const row = c * w * h + y * w;
      for (let x = 0; x < tw; x++) {
        const { idx, w: ws } = wx[x];
        let v = 0;
        for (let k = 0; k < idx.length; k++) v += rgb[row + idx[k]] * ws[k];
        tmp[c * h * tw + y * tw + x] = v;
      }
    }
  }
  // Background (seen only with "pad"), then the vertical pass and normalisation.
  const out = new Float32Array(3 * size * size);
  for (let c = 0; c < 3; c++) {
    out.fill(normalizePixel(bg[c]), c * size * size, (c + 1) * size * size);
  }
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < th; y++) {
      const { idx, w: ws } = wy[y];
      for (let x = 0; x < tw; x++) {
        let v = 0;
        for (let k = 0; k < idx.length; k++) v += tmp[c * h * tw + idx[k] * tw + x] * ws[k];
        out[c * size * size + (y + oy) * size + (x + ox)] = normalizePixel(v);
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
