// docs/fit.png is what docs/fit_figure.ts draws with the data code (regenerate it when the fit
// code changes: `deno run -A docs/fit_figure.ts`).
import assert from "node:assert/strict";
import { FIGURE_SIZE, fitFigure, trafficLight } from "../docs/fit_figure.ts";
import { toModelImage, toRgbBytes } from "../src/data/image.ts";

Deno.test("docs/fit.png is up to date with docs/fit_figure.ts and the fit code", async () => {
  const committed = await Deno.readFile(new URL("../docs/fit.png", import.meta.url));
  assert.deepEqual(fitFigure(), committed, "run: deno run -A docs/fit_figure.ts");
});

Deno.test("the figure's source shows what each fit mode keeps", () => {
  const src = trafficLight();
  const S = FIGURE_SIZE;
  const at = (img: Uint8Array, x: number, y: number) =>
    Array.from(img.subarray((y * S + x) * 3, (y * S + x) * 3 + 3));
  const crop = toRgbBytes(toModelImage(src, S, { fit: "crop" }), S);
  const pad = toRgbBytes(toModelImage(src, S, { fit: "pad" }), S);
  const red = (p: number[]) => p[0] > 150 && p[1] < 100;
  // Crop keeps only the middle (yellow) light; pad keeps the red one, on a white margin.
  assert.ok(!Array.from({ length: S }, (_, x) => at(crop, x, S / 2)).some(red));
  assert.ok(Array.from({ length: S }, (_, x) => at(pad, x, S / 2)).some(red));
  assert.deepEqual(at(pad, 0, 0), [255, 255, 255]);
  assert.deepEqual(at(pad, S - 1, S - 1), [255, 255, 255]);
});
