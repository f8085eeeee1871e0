/**
 * Writes the four small non-square PNGs of this example manifest (captions.csv names them).
 *
 * Run from the repository root: `deno run -A configs/examples/tiny-manifest/make.ts`
 *
 * @module
 */
import { encodePng } from "../../../src/plot/png.ts";

type Paint = (x: number, y: number) => [number, number, number];

function image(width: number, height: number, paint: Paint): Uint8Array {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set(paint(x, y), (y * width + x) * 3);
  }
  return encodePng({ width, height, data });
}

const WHITE: [number, number, number] = [255, 255, 255];
const inside = (x: number, lo: number, hi: number) => x >= lo && x < hi;
const files: Record<string, Uint8Array> = {
  // A wide red bar on white, 48×16.
  "red_bar.png": image(
    48,
    16,
    (x, y) => inside(x, 4, 44) && inside(y, 4, 12) ? [220, 30, 30] : WHITE,
  ),
  // A tall blue bar on white, 16×48.
  "blue_bar.png": image(
    16,
    48,
    (x, y) => inside(x, 4, 12) && inside(y, 4, 44) ? [30, 60, 220] : WHITE,
  ),
  // Green and white vertical stripes, 40×20.
  "green_stripes.png": image(40, 20, (x) => Math.floor(x / 5) % 2 ? WHITE : [30, 160, 60]),
  // A yellow disc on black, 36×24.
  "yellow_disc.png": image(
    36,
    24,
    (x, y) => (x + 0.5 - 18) ** 2 + (y + 0.5 - 12) ** 2 < 81 ? [240, 210, 40] : [0, 0, 0],
  ),
};
const dir = new URL("./", import.meta.url);
for (const [name, png] of Object.entries(files)) await Deno.writeFile(new URL(name, dir), png);
