/**
 * What the viewer page and the check page share: a checkpoint's image side, images as model
 * input, captions with their per-token probabilities, and small DOM helpers.
 *
 * @module
 */
import {
  captionText,
  type CheckpointFromFiles,
  type CoCa,
  decodeImage,
  generate,
  modelImageOptions,
  type RgbaImage,
  SimpleViT,
  tf,
  tokenProbabilities,
  toModelImage,
  type ToModelImageOptions,
} from "./web_deps.ts";
import type { DataConfig } from "../src/data/config.ts";

/**
 * The square side of the images the checkpoint's ViT takes.
 *
 * @throws {RangeError} when the model has no SimpleViT or its images are not square RGB.
 * @example
 * ```ts ignore
 * const side = imageSide(checkpoint.model);
 * ```
 */
export function imageSide(model: CoCa): number {
  const vit = model.imgEncoder;
  if (!(vit instanceof SimpleViT)) {
    throw new RangeError("expected a checkpoint whose image encoder is a SimpleViT, found none");
  }
  const [h, w] = vit.config.imageSize;
  if (h !== w || vit.config.channels !== 3) {
    throw new RangeError(
      `expected a ViT for square RGB images, found imageSize [${h}, ${w}] and ` +
        `${vit.config.channels} channels`,
    );
  }
  return h;
}

/**
 * An image file's bytes (PNG or JPEG) as RGBA, decoded by the project's own decoder (the same
 * pixels as under Deno).
 *
 * @example
 * ```ts ignore
 * const rgba = rgbaFromBytes(new Uint8Array(await file.arrayBuffer()));
 * ```
 */
export function rgbaFromBytes(bytes: Uint8Array): RgbaImage {
  return decodeImage(bytes);
}

/**
 * Images as a model batch `(n, 3, side, side)` in [-1, 1], fitted as `options` say (the
 * checkpoint's `modelImageOptions(config.data)`; default: letterboxed on white).
 *
 * @example
 * ```ts ignore
 * const x = modelBatch([rgba], 32);
 * ```
 */
export function modelBatch(
  images: readonly RgbaImage[],
  side: number,
  options: ToModelImageOptions = {},
): tf.Tensor4D {
  const data = new Float32Array(images.length * 3 * side * side);
  images.forEach((img, i) => data.set(toModelImage(img, side, options), i * 3 * side * side));
  return tf.tensor4d(data, [images.length, 3, side, side]);
}

/**
 * How a checkpoint's images are fitted to its square: as its training data was (`data.fit`,
 * `data.background` of its `config.json`), like the caption command.
 *
 * @example
 * ```ts ignore
 * const x = modelBatch([rgba], side, fitOf(checkpoint));
 * ```
 */
export function fitOf(checkpoint: CheckpointFromFiles): ToModelImageOptions {
  return modelImageOptions(checkpoint.config.data as DataConfig | undefined);
}

/** One generated caption: its ids, text, and the probability of each token (EOS last). */
export interface Caption {
  /** Caption ids (no BOS/EOS). */
  tokens: number[];
  /** The decoded text. */
  text: string;
  /** Each token as text with its probability; EOS last when the caption finished. */
  pieces: { text: string; prob: number }[];
  /** Sum of the log-probabilities (EOS included). */
  score: number;
}

/**
 * Captions for a batch of images, greedy or beam search, with per-token probabilities.
 *
 * @example
 * ```ts ignore
 * const [c] = await captionImages(checkpoint, x, "greedy");
 * ```
 */
export async function captionImages(
  checkpoint: CheckpointFromFiles,
  images: tf.Tensor4D,
  strategy: "greedy" | "beam",
  maxLength = 24,
): Promise<Caption[]> {
  const { model, tokenizer } = checkpoint;
  const g = await generate(
    model,
    images,
    strategy === "beam" ? { strategy, beamSize: 4, maxLength } : { strategy, maxLength },
  );
  const withEos = await tokenProbabilities(model, images, g.tokens, 1, 2);
  return g.tokens.map((tokens, i) => {
    const probs = withEos[i];
    const pieces = tokens.map((t, j) => ({ text: captionText(tokenizer, [t]), prob: probs[j] }));
    if (g.finished[i]) pieces.push({ text: "⏎", prob: probs[tokens.length] });
    return { tokens, text: captionText(tokenizer, tokens), pieces, score: g.scores[i] };
  });
}

/**
 * Create an element with a class and text (or children).
 *
 * @example
 * ```ts ignore
 * document.body.append(el("p", "note", "hello"));
 * ```
 */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  cls = "",
  ...children: (string | Node)[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  e.append(...children);
  return e;
}

/**
 * Draw an RGBA image on a new canvas, scaled up to `px` pixels wide (nearest neighbour).
 *
 * @example
 * ```ts ignore
 * document.body.append(imageCanvas(rgba, 128));
 * ```
 */
export function imageCanvas(img: RgbaImage, px = 128): HTMLCanvasElement {
  const c = el("canvas", "thumb");
  c.width = img.width;
  c.height = img.height;
  const ctx = c.getContext("2d")!;
  ctx.putImageData(new ImageData(new Uint8ClampedArray(img.data), img.width, img.height), 0, 0);
  c.style.width = `${px}px`;
  c.style.height = `${Math.round((px * img.height) / img.width)}px`;
  return c;
}

/**
 * The attention of one image query as a heat map over the patch grid, drawn on top of the model
 * image (`pixels`: `(3, side, side)` in [-1, 1]) on a canvas `px` pixels wide.
 *
 * @example
 * ```ts ignore
 * document.body.append(attentionCanvas(pixels, side, weights.slice(0, 16), [4, 4], 160));
 * ```
 */
export function attentionCanvas(
  pixels: Float32Array,
  side: number,
  weights: ArrayLike<number>,
  grid: [number, number],
  px = 160,
): HTMLCanvasElement {
  const c = el("canvas", "attention");
  c.width = px;
  c.height = px;
  const ctx = c.getContext("2d")!;
  const img = new ImageData(side, side);
  for (let i = 0; i < side * side; i++) {
    for (let ch = 0; ch < 3; ch++) {
      img.data[i * 4 + ch] = Math.round(((pixels[ch * side * side + i] + 1) / 2) * 255);
    }
    img.data[i * 4 + 3] = 255;
  }
  const base = el("canvas");
  base.width = side;
  base.height = side;
  base.getContext("2d")!.putImageData(img, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(base, 0, 0, px, px);
  const [gh, gw] = grid;
  let max = 0;
  for (let i = 0; i < gh * gw; i++) max = Math.max(max, weights[i]);
  for (let r = 0; r < gh; r++) {
    for (let col = 0; col < gw; col++) {
      const v = max > 0 ? weights[r * gw + col] / max : 0;
      ctx.fillStyle = `rgba(255, ${Math.round(80 * (1 - v))}, 0, ${(0.7 * v).toFixed(3)})`;
      ctx.fillRect((col * px) / gw, (r * px) / gh, px / gw, px / gh);
    }
  }
  return c;
}
