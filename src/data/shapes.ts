/**
 * `shapes`: the built-in synthetic dataset (no download). Seeded renderings of one or two
 * coloured shapes on a dark background with compositional captions such as
 * "a small red circle left of a large blue square".
 *
 * - 5 shapes × 8 colours × 2 sizes; single shapes sit left/right/top/bottom/centre (±3%
 *   jitter), pairs sit side by side ("left of" / "right of") or stacked ("above" / "below").
 * - Shapes are drawn with 2×2 supersampling (edges get partial coverage).
 * - Held-out colour+shape pairs (default: one per shape) never appear in train, val or test;
 *   `extraSplits.heldout` holds scenes in which at least one object uses a held-out pair.
 * - All splits are disjoint: every scene (objects, sizes, positions, offsets) is generated once.
 * - Zero-shot tasks `shape` and `color` apply to single-shape examples, whose `attributes` carry
 *   `shape`, `color`, `size`, `position` and `count: "1"`; two-shape examples carry
 *   `count: "2"` and `relation`.
 * - Images are `(3, S, S)` float32 in [-1, 1] (`pixel / 255 * 2 - 1`).
 *
 * @module
 */

import { normalizePixel } from "./image.ts";
import { mixSeeds, mulberry32, pick, type RandFn, randInt } from "../util/rng.ts";
import type { Dataset, Example, SplitName } from "./types.ts";

/** Shape names. */
export const SHAPE_NAMES = ["circle", "square", "triangle", "diamond", "cross"] as const;
/** A shape name. */
export type ShapeName = (typeof SHAPE_NAMES)[number];

/** Colour names and their RGB values. */
export const SHAPE_COLORS: Readonly<Record<string, readonly [number, number, number]>> = {
  red: [220, 40, 40],
  green: [40, 170, 60],
  blue: [50, 90, 235],
  yellow: [240, 220, 40],
  purple: [150, 60, 200],
  orange: [245, 140, 20],
  cyan: [40, 205, 215],
  white: [240, 240, 240],
};
/** Colour names, in order. */
export const COLOR_NAMES: readonly string[] = Object.keys(SHAPE_COLORS);

/** Size names. */
export const SIZE_NAMES = ["small", "large"] as const;
/** Position names of single shapes. */
export const POSITION_NAMES = ["left", "right", "top", "bottom", "centre"] as const;

/** Default held-out colour+shape pairs: each shape loses one colour that it has nowhere else. */
export const DEFAULT_HELDOUT_PAIRS: readonly (readonly [string, ShapeName])[] = [
  ["red", "triangle"],
  ["green", "circle"],
  ["blue", "square"],
  ["yellow", "diamond"],
  ["purple", "cross"],
];

/** Prompt templates for the zero-shot tasks. */
export const SHAPES_PROMPT_TEMPLATES: Readonly<Record<string, string[]>> = {
  shape: ["a {}", "a photo of a {}", "a drawing of a {}", "a {} shape"],
  color: ["a {} shape", "a photo of a {} object", "something {}"],
};

/** Configuration of {@linkcode shapesDataset}; every field is optional. */
export interface ShapesConfig {
  /** Training examples (default 2000). */
  trainSize?: number;
  /** Validation examples (default 200). */
  valSize?: number;
  /** Test examples, same distribution as train (default 200). */
  testSize?: number;
  /** Examples with held-out colour+shape pairs in `extraSplits.heldout` (default 200). */
  heldoutSize?: number;
  /** Seed; the same seed gives bit-identical data (default 0). */
  seed?: number;
  /** Image side S in [16, 128] (default 32; 64 also works well). */
  imageSize?: number;
  /** Fraction of single-shape scenes (default 0.5). */
  singleFraction?: number;
  /** Held-out colour+shape pairs (default {@linkcode DEFAULT_HELDOUT_PAIRS}). */
  heldoutPairs?: readonly (readonly [string, string])[];
}

interface Obj {
  shape: ShapeName;
  color: string;
  size: (typeof SIZE_NAMES)[number];
  cx: number;
  cy: number;
}

const BACKGROUND: readonly [number, number, number] = [25, 25, 30];

function inside(shape: ShapeName, u: number, v: number): boolean {
  switch (shape) {
    case "circle":
      return u * u + v * v <= 1;
    case "square":
      return Math.abs(u) <= 0.85 && Math.abs(v) <= 0.85;
    case "triangle":
      return v >= -0.9 && v <= 0.8 && Math.abs(u) <= ((v + 0.9) / 1.7) * 0.95;
    case "diamond":
      return Math.abs(u) + Math.abs(v) <= 1;
    case "cross":
      return (Math.abs(u) <= 0.3 && Math.abs(v) <= 0.95) ||
        (Math.abs(v) <= 0.3 && Math.abs(u) <= 0.95);
  }
}

/** Render objects into a `(3, S, S)` float image. */
function render(objs: readonly Obj[], S: number): Float32Array {
  const rgb = new Float32Array(3 * S * S);
  for (let p = 0; p < S * S; p++) for (let c = 0; c < 3; c++) rgb[c * S * S + p] = BACKGROUND[c];
  for (const o of objs) {
    const r = (o.size === "small" ? 0.11 : 0.2) * S;
    const col = SHAPE_COLORS[o.color];
    const x0 = Math.max(0, Math.floor(o.cx - r - 1));
    const x1 = Math.min(S - 1, Math.ceil(o.cx + r + 1));
    const y0 = Math.max(0, Math.floor(o.cy - r - 1));
    const y1 = Math.min(S - 1, Math.ceil(o.cy + r + 1));
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        let cover = 0;
        for (const sy of [0.25, 0.75]) {
          for (const sx of [0.25, 0.75]) {
            if (inside(o.shape, (x + sx - o.cx) / r, (y + sy - o.cy) / r)) cover += 0.25;
          }
        }
        if (cover === 0) continue;
        const p = y * S + x;
        for (let c = 0; c < 3; c++) {
          rgb[c * S * S + p] = rgb[c * S * S + p] * (1 - cover) + col[c] * cover;
        }
      }
    }
  }
  for (let i = 0; i < rgb.length; i++) rgb[i] = normalizePixel(rgb[i]);
  return rgb;
}

const POSITION_XY: Record<(typeof POSITION_NAMES)[number], [number, number]> = {
  left: [0.27, 0.5],
  right: [0.73, 0.5],
  top: [0.5, 0.27],
  bottom: [0.5, 0.73],
  centre: [0.5, 0.5],
};

const POSITION_PHRASE: Record<(typeof POSITION_NAMES)[number], string> = {
  left: "on the left",
  right: "on the right",
  top: "at the top",
  bottom: "at the bottom",
  centre: "in the centre",
};

function phrase(o: Obj): string {
  return `a ${o.size} ${o.color} ${o.shape}`;
}

interface Scene {
  key: string;
  example: Example;
}

function makeScene(
  rand: RandFn,
  S: number,
  single: boolean,
  pairPool: readonly (readonly [string, ShapeName])[],
  firstPool: readonly (readonly [string, ShapeName])[],
): Scene {
  const jit = Math.max(1, Math.round(0.03 * S));
  const offset = () => randInt(rand, 2 * jit + 1) - jit;
  const obj = (pool: readonly (readonly [string, ShapeName])[], fx: number, fy: number): Obj => {
    const [color, shape] = pick(rand, pool);
    return {
      shape,
      color,
      size: pick(rand, SIZE_NAMES),
      cx: fx * S + offset(),
      cy: fy * S + offset(),
    };
  };
  if (single) {
    const position = pick(rand, POSITION_NAMES);
    const [fx, fy] = POSITION_XY[position];
    const o = obj(firstPool, fx, fy);
    return {
      key: JSON.stringify(["1", o]),
      example: {
        image: render([o], S),
        caption: `${phrase(o)} ${POSITION_PHRASE[position]}`,
        label: o.shape,
        attributes: { shape: o.shape, color: o.color, size: o.size, position, count: "1" },
      },
    };
  }
  const horizontal = rand() < 0.5;
  const a = obj(firstPool, horizontal ? 0.27 : 0.5, horizontal ? 0.5 : 0.27);
  const b = obj(pairPool, horizontal ? 0.73 : 0.5, horizontal ? 0.5 : 0.73);
  // `firstPool` may be the held-out pool: swap sides at random so it is not always first/left.
  if (rand() < 0.5) {
    [a.cx, b.cx] = [b.cx, a.cx];
    [a.cy, b.cy] = [b.cy, a.cy];
  }
  const [first, second] = horizontal
    ? (a.cx < b.cx ? [a, b] : [b, a])
    : (a.cy < b.cy ? [a, b] : [b, a]);
  // `first` is left (or top) of `second`; describe in either direction.
  const forward = rand() < 0.5;
  const relation = horizontal ? (forward ? "left of" : "right of") : (forward ? "above" : "below");
  const caption = forward
    ? `${phrase(first)} ${relation} ${phrase(second)}`
    : `${phrase(second)} ${relation} ${phrase(first)}`;
  return {
    key: JSON.stringify(["2", first, second]),
    example: {
      image: render([first, second], S),
      caption,
      attributes: { count: "2", relation: horizontal ? "horizontal" : "vertical" },
    },
  };
}

function checkCount(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0) {
    throw new RangeError(`expected ${name} to be an integer >= 0, found ${v}`);
  }
}

/**
 * Generate the `shapes` dataset. Deterministic: the same config gives bit-identical data.
 *
 * @example
 * ```ts
 * const ds = shapesDataset({ trainSize: 100, valSize: 10, testSize: 10, seed: 1 });
 * ds.splits.train[0].caption; // e.g. "a small red circle left of a large blue square"
 * ds.splits.train[0].image.length; // 3 * 32 * 32
 * ```
 */
export function shapesDataset(config: ShapesConfig = {}): Dataset {
  const trainSize = config.trainSize ?? 2000;
  const valSize = config.valSize ?? 200;
  const testSize = config.testSize ?? 200;
  const heldoutSize = config.heldoutSize ?? 200;
  const seed = config.seed ?? 0;
  const S = config.imageSize ?? 32;
  const singleFraction = config.singleFraction ?? 0.5;
  checkCount("trainSize", trainSize);
  checkCount("valSize", valSize);
  checkCount("testSize", testSize);
  checkCount("heldoutSize", heldoutSize);
  if (!Number.isInteger(seed)) throw new RangeError(`expected an integer seed, found ${seed}`);
  if (!Number.isInteger(S) || S < 16 || S > 128) {
    throw new RangeError(`expected imageSize to be an integer in [16, 128], found ${S}`);
  }
  if (!(singleFraction >= 0 && singleFraction <= 1)) {
    throw new RangeError(`expected singleFraction in [0, 1], found ${singleFraction}`);
  }
  const heldoutPairs = config.heldoutPairs ?? DEFAULT_HELDOUT_PAIRS;
  const heldKeys = new Set<string>();
  for (const [color, shape] of heldoutPairs) {
    if (!(color in SHAPE_COLORS) || !SHAPE_NAMES.includes(shape as ShapeName)) {
      throw new RangeError(
        `expected held-out pairs of a colour (${COLOR_NAMES.join("/")}) and a shape ` +
          `(${SHAPE_NAMES.join("/")}), found [${color}, ${shape}]`,
      );
    }
    heldKeys.add(`${color} ${shape}`);
  }
  const seen: [string, ShapeName][] = [];
  const held: [string, ShapeName][] = [];
  for (const shape of SHAPE_NAMES) {
    for (const color of COLOR_NAMES) {
      (heldKeys.has(`${color} ${shape}`) ? held : seen).push([color, shape]);
    }
  }
  if (seen.length === 0) throw new RangeError("expected some colour+shape pairs left for training");
  if (held.length === 0 && heldoutSize > 0) {
    throw new RangeError(`expected held-out pairs for heldoutSize ${heldoutSize}, found none`);
  }

  const used = new Set<string>();
  const generate = (count: number, stream: number, heldout: boolean): Example[] => {
    const rand = mulberry32(mixSeeds(seed, stream));
    const out: Example[] = [];
    let attempts = 0;
    while (out.length < count) {
      if (++attempts > 50 * count + 1000) {
        throw new RangeError(
          `expected to find ${count} distinct scenes for split ${stream}, found only ${out.length}`,
        );
      }
      const single = rand() < singleFraction;
      const scene = heldout
        ? makeScene(rand, S, single, [...seen, ...held], held)
        : makeScene(rand, S, single, seen, seen);
      if (used.has(scene.key)) continue;
      used.add(scene.key);
      out.push(scene.example);
    }
    return out;
  };
  const names: SplitName[] = ["train", "val", "test"];
  const sizes = [trainSize, valSize, testSize];
  const splits = {} as Record<SplitName, Example[]>;
  names.forEach((n, i) => (splits[n] = generate(sizes[i], i, false)));
  return {
    name: "shapes",
    imageSize: S,
    splits,
    extraSplits: { heldout: generate(heldoutSize, 3, true) },
    classes: { shape: [...SHAPE_NAMES], color: [...COLOR_NAMES] },
    promptTemplates: SHAPES_PROMPT_TEMPLATES,
  };
}
