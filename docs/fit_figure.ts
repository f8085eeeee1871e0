/**
 * Draws `docs/fit.png`: one non-square image (a sideways traffic light, 120×40) and what the
 * model sees of it at S = 32 under each `data.fit` mode — `crop`, `pad` (the default) and
 * `stretch` — made by the data code itself (`toModelImage`) and encoded by `src/plot/png.ts`.
 *
 * Run from the repository root: `deno run -A docs/fit_figure.ts` (writes docs/fit.png).
 *
 * @module
 */
import {
  FIT_MODES,
  type FitMode,
  type RgbaImage,
  toModelImage,
  toRgbBytes,
} from "../src/data/image.ts";
import { encodePng } from "../src/plot/png.ts";

/**
 * Model image side used in the figure (the default `imageSize`).
 *
 * @example
 * ```ts
 * FIGURE_SIZE; // 32
 * ```
 */
export const FIGURE_SIZE = 32;

/**
 * The source: a dark 120×40 panel with a red, a yellow and a green light.
 *
 * @example
 * ```ts
 * const { width, height } = trafficLight(); // 120, 40
 * ```
 */
export function trafficLight(): RgbaImage {
  const width = 120, height = 40;
  const data = new Uint8Array(width * height * 4);
  const lights: [number, [number, number, number]][] = [
    [20, [220, 40, 30]],
    [60, [240, 200, 40]],
    [100, [40, 170, 70]],
  ];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let rgb: [number, number, number] = [45, 45, 50];
      for (const [cx, c] of lights) {
        if ((x + 0.5 - cx) ** 2 + (y + 0.5 - 20) ** 2 < 14 ** 2) rgb = c;
      }
      data.set([...rgb, 255], (y * width + x) * 4);
    }
  }
  return { width, height, data };
}

// A 5×7 pixel font for the labels (only the letters used).
const GLYPHS: Record<string, string[]> = {
  A: [".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"],
  C: [".####", "#....", "#....", "#....", "#....", "#....", ".####"],
  D: ["####.", "#...#", "#...#", "#...#", "#...#", "#...#", "####."],
  E: ["#####", "#....", "#....", "####.", "#....", "#....", "#####"],
  F: ["#####", "#....", "#....", "####.", "#....", "#....", "#...."],
  H: ["#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"],
  L: ["#....", "#....", "#....", "#....", "#....", "#....", "#####"],
  O: [".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."],
  P: ["####.", "#...#", "#...#", "####.", "#....", "#....", "#...."],
  R: ["####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"],
  S: [".####", "#....", "#....", ".###.", "....#", "....#", "####."],
  T: ["#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."],
  U: ["#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."],
  "(": ["..#..", ".#...", "#....", "#....", "#....", ".#...", "..#.."],
  ")": ["..#..", "...#.", "....#", "....#", "....#", "...#.", "..#.."],
  " ": [".....", ".....", ".....", ".....", ".....", ".....", "....."],
};

/** An RGB canvas with the few drawing operations the figure needs. */
class Canvas {
  readonly data: Uint8Array;
  constructor(readonly width: number, readonly height: number, fill: number) {
    this.data = new Uint8Array(width * height * 3).fill(fill);
  }
  set(x: number, y: number, rgb: ArrayLike<number>) {
    if (x >= 0 && y >= 0 && x < this.width && y < this.height) {
      this.data.set([rgb[0], rgb[1], rgb[2]], (y * this.width + x) * 3);
    }
  }
  /** Draw an RGB (3 bytes per pixel) image scaled up `k` times (nearest), with a 1 px frame. */
  image(x0: number, y0: number, w: number, h: number, rgb: Uint8Array, k: number) {
    for (let y = -1; y <= h * k; y++) {
      for (let x = -1; x <= w * k; x++) {
        const inside = x >= 0 && y >= 0 && x < w * k && y < h * k;
        const p = (Math.floor(y / k) * w + Math.floor(x / k)) * 3;
        this.set(x0 + x, y0 + y, inside ? rgb.subarray(p, p + 3) : [90, 90, 90]);
      }
    }
  }
  /** Draw text in the 5×7 font at twice its size, centred on `cx`. */
  text(cx: number, y0: number, text: string) {
    const k = 2, advance = 6 * k;
    let x0 = Math.round(cx - (text.length * advance - k) / 2);
    for (const ch of text) {
      const g = GLYPHS[ch];
      if (g === undefined) {
        throw new RangeError(`expected a letter of the figure font, found ${ch}`);
      }
      g.forEach((row, gy) => {
        for (let gx = 0; gx < 5; gx++) {
          if (row[gx] !== "#") continue;
          for (let dy = 0; dy < k; dy++) {
            for (let dx = 0; dx < k; dx++) {
              this.set(x0 + gx * k + dx, y0 + gy * k + dy, [30, 30, 30]);
            }
          }
        }
      });
      x0 += advance;
    }
  }
}

/**
 * The figure as PNG bytes: the source (×2), then crop, pad and stretch at S = 32 (×4).
 *
 * @example
 * ```ts
 * await Deno.writeFile("fit.png", fitFigure());
 * ```
 */
export function fitFigure(): Uint8Array {
  const src = trafficLight();
  const rgb = new Uint8Array(src.width * src.height * 3);
  for (let p = 0; p < src.width * src.height; p++) {
    rgb.set(src.data.subarray(p * 4, p * 4 + 3), p * 3);
  }
  const S = FIGURE_SIZE, k = 4, gap = 24, top = 40;
  const panel = S * k;
  const srcW = src.width * 2, srcH = src.height * 2;
  const canvas = new Canvas(
    gap + srcW + FIT_MODES.length * (gap + panel) + gap,
    top + panel + gap,
    235,
  );
  canvas.text(gap + srcW / 2, 12, "SOURCE");
  canvas.image(gap, top + (panel - srcH) / 2, src.width, src.height, rgb, 2);
  const order: FitMode[] = ["crop", "pad", "stretch"];
  order.forEach((fit, i) => {
    const x0 = gap + srcW + gap + i * (panel + gap);
    const label = fit === "pad" ? "PAD (DEFAULT)" : fit.toUpperCase();
    canvas.text(x0 + panel / 2, 12, label);
    canvas.image(x0, top, S, S, toRgbBytes(toModelImage(src, S, { fit }), S), k);
  });
  return encodePng({ width: canvas.width, height: canvas.height, data: canvas.data });
}

if (import.meta.main) {
  const out = new URL("./fit.png", import.meta.url);
  await Deno.writeFile(out, fitFigure());
  console.log(`wrote ${out.pathname}`);
}
