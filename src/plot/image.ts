/**
 * Image inputs accepted by the image figures, and their conversion to 8-bit RGB.
 *
 * @module
 */

/**
 * A float image in channels-first layout with values in `[-1, 1]` (the model's input
 * normalisation). `data.length` must be `channels × height × width` with 1 or 3 channels.
 */
export interface ChwImage {
  /** Pixel values, CHW, in `[-1, 1]` (values outside are clamped). */
  data: Float32Array;
  /** Height in pixels. */
  height: number;
  /** Width in pixels. */
  width: number;
}

/**
 * An 8-bit image in row-major interleaved layout (HWC): RGB, RGBA (alpha dropped) or grey.
 * `data.length` must be `height × width × c` with `c` 1, 3 or 4.
 */
export interface RgbImage {
  /** Pixel values, HWC, in `[0, 255]`. */
  data: Uint8Array | Uint8ClampedArray;
  /** Height in pixels. */
  height: number;
  /** Width in pixels. */
  width: number;
}

/** Any image accepted by the image figures: a `Float32Array` is CHW in `[-1, 1]`, bytes are HWC. */
export type ImageInput = ChwImage | RgbImage;

/** An 8-bit RGB image, HWC, 3 bytes per pixel. */
export interface Rgb8 {
  /** `height × width × 3` bytes. */
  data: Uint8Array;
  /** Height in pixels. */
  height: number;
  /** Width in pixels. */
  width: number;
}

/**
 * Converts an {@linkcode ImageInput} to 8-bit RGB: floats map `[-1, 1]` linearly to `[0, 255]`
 * (clamped, NaN → 0); grey is replicated to three channels; alpha is dropped.
 *
 * @example Usage
 * ```ts
 * import { toRgb8 } from "./image.ts";
 * // one grey pixel at -1 (black) and one at 1 (white), CHW with 1 channel
 * const rgb = toRgb8({ data: new Float32Array([-1, 1]), height: 1, width: 2 });
 * // rgb.data → Uint8Array [0, 0, 0, 255, 255, 255]
 * ```
 *
 * @param image The image.
 * @returns The same image as interleaved 8-bit RGB.
 */
export function toRgb8(image: ImageInput): Rgb8 {
  const { data, height, width } = image;
  if (!(Number.isInteger(height) && height > 0 && Number.isInteger(width) && width > 0)) {
    throw new RangeError(
      `toRgb8: expected positive integer height and width, found ${height}×${width}`,
    );
  }
  const pixels = height * width;
  const channels = data.length / pixels;
  const out = new Uint8Array(pixels * 3);
  if (data instanceof Float32Array) {
    if (channels !== 1 && channels !== 3) {
      throw new RangeError(
        `toRgb8: expected a CHW Float32Array of 1×${height}×${width} or 3×${height}×${width} ` +
          `values, found ${data.length} values`,
      );
    }
    for (let p = 0; p < pixels; p++) {
      for (let c = 0; c < 3; c++) {
        const v = data[(channels === 1 ? 0 : c) * pixels + p];
        const byte = Math.round((v + 1) * 127.5);
        out[p * 3 + c] = Number.isNaN(byte) ? 0 : Math.min(255, Math.max(0, byte));
      }
    }
    return { data: out, height, width };
  }
  if (channels !== 1 && channels !== 3 && channels !== 4) {
    throw new RangeError(
      `toRgb8: expected HWC bytes of ${height}×${width}×c with c in {1, 3, 4}, found ` +
        `${data.length} bytes`,
    );
  }
  for (let p = 0; p < pixels; p++) {
    for (let c = 0; c < 3; c++) out[p * 3 + c] = data[p * channels + (channels === 1 ? 0 : c)];
  }
  return { data: out, height, width };
}
