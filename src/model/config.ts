/**
 * Typed model configs, with the reference's defaults, validated at the edge.
 * Field names are the reference's constructor arguments in camelCase.
 *
 * @module
 */

/** SimpleViT (with patch dropout) options. */
export interface ViTConfig {
  /** Image side, or `[height, width]`. */
  imageSize: number | [number, number];
  /** Patch side, or `[height, width]`; must divide the image sides. */
  patchSize: number | [number, number];
  /** Token width; divisible by 4 (2-D sin-cos positions). */
  dim: number;
  depth: number;
  heads: number;
  /** Default 64. */
  dimHead?: number;
  mlpDim: number;
  /** Default 3. */
  channels?: number;
  /** Fraction of patches dropped in training, `0 <= p < 1`; default 0.5. */
  patchDropout?: number;
  /** Classification head size; optional (CoCa never uses the head). */
  numClasses?: number;
}

/** CoCa options (the image encoder is passed separately). */
export interface CoCaConfig {
  dim: number;
  numTokens: number;
  unimodalDepth: number;
  multimodalDepth: number;
  /** Default `dim`. */
  dimLatents?: number;
  /** Width of the image encoder's tokens; default `dim`. */
  imageDim?: number;
  /** Default 256. */
  numImgQueries?: number;
  /** Default 64. */
  dimHead?: number;
  /** Default 8. */
  heads?: number;
  /** Default 4. */
  ffMult?: number;
  /** Default 1. */
  captionLossWeight?: number;
  /** Default 1. */
  contrastiveLossWeight?: number;
  /** Default 0. */
  padId?: number;
}

/** A ViT config with every default filled in and sizes as pairs. */
export type ResolvedViTConfig =
  & Required<Omit<ViTConfig, "numClasses" | "imageSize" | "patchSize">>
  & {
    imageSize: [number, number];
    patchSize: [number, number];
    numClasses?: number;
  };

/** A CoCa config with every default filled in. */
export type ResolvedCoCaConfig = Required<CoCaConfig>;

function pair(v: number | [number, number]): [number, number] {
  return Array.isArray(v) ? [v[0], v[1]] : [v, v];
}

function positiveInt(name: string, v: unknown): void {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1) {
    throw new RangeError(`expected ${name} to be a positive integer, found ${JSON.stringify(v)}`);
  }
}

function finite(name: string, v: unknown): void {
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new RangeError(`expected ${name} to be a finite number, found ${JSON.stringify(v)}`);
  }
}

function unknownKeys(name: string, cfg: object, known: string[]): void {
  const extra = Object.keys(cfg).filter((k) => !known.includes(k));
  if (extra.length) {
    throw new RangeError(
      `unknown ${name} option(s) ${extra.map((k) => `"${k}"`).join(", ")}; expected some of ${
        known.join(", ")
      }`,
    );
  }
}

const VIT_KEYS = [
  "imageSize",
  "patchSize",
  "dim",
  "depth",
  "heads",
  "dimHead",
  "mlpDim",
  "channels",
  "patchDropout",
  "numClasses",
];

/**
 * Fill in defaults and check a ViT config.
 *
 * @throws {RangeError} naming the option, what was expected and what was found.
 * @example
 * ```ts
 * import { resolveViTConfig } from "./config.ts";
 * const c = resolveViTConfig({ imageSize: 32, patchSize: 8, dim: 64, depth: 2, heads: 4, mlpDim: 128 });
 * console.log(c.dimHead, c.patchDropout); // 64 0.5
 * ```
 */
export function resolveViTConfig(cfg: ViTConfig): ResolvedViTConfig {
  if (typeof cfg !== "object" || cfg === null) {
    throw new TypeError(`expected a ViT config object, found ${JSON.stringify(cfg)}`);
  }
  unknownKeys("ViT", cfg, VIT_KEYS);
  const imageSize = pair(cfg.imageSize);
  const patchSize = pair(cfg.patchSize);
  imageSize.forEach((v, i) => positiveInt(`imageSize[${i}]`, v));
  patchSize.forEach((v, i) => positiveInt(`patchSize[${i}]`, v));
  for (let i = 0; i < 2; i++) {
    if (imageSize[i] % patchSize[i] !== 0) {
      throw new RangeError(
        `expected patchSize to divide imageSize ${imageSize[i]}, found ${patchSize[i]}`,
      );
    }
  }
  const r: ResolvedViTConfig = {
    imageSize,
    patchSize,
    dim: cfg.dim,
    depth: cfg.depth,
    heads: cfg.heads,
    dimHead: cfg.dimHead ?? 64,
    mlpDim: cfg.mlpDim,
    channels: cfg.channels ?? 3,
    patchDropout: cfg.patchDropout ?? 0.5,
    numClasses: cfg.numClasses,
  };
  for (const k of ["dim", "depth", "heads", "dimHead", "mlpDim", "channels"] as const) {
    positiveInt(k, r[k]);
  }
  if (r.numClasses !== undefined) positiveInt("numClasses", r.numClasses);
  if (r.dim % 4 !== 0) {
    throw new RangeError(
      `expected ViT dim to be divisible by 4 (2-D sin-cos positions), found ${r.dim}`,
    );
  }
  finite("patchDropout", r.patchDropout);
  if (r.patchDropout < 0 || r.patchDropout >= 1) {
    throw new RangeError(`expected patchDropout in [0, 1), found ${r.patchDropout}`);
  }
  return r;
}

const COCA_KEYS = [
  "dim",
  "numTokens",
  "unimodalDepth",
  "multimodalDepth",
  "dimLatents",
  "imageDim",
  "numImgQueries",
  "dimHead",
  "heads",
  "ffMult",
  "captionLossWeight",
  "contrastiveLossWeight",
  "padId",
];

/**
 * Fill in defaults and check a CoCa config.
 *
 * @throws {RangeError} naming the option, what was expected and what was found.
 * @example
 * ```ts
 * import { resolveCoCaConfig } from "./config.ts";
 * const c = resolveCoCaConfig({ dim: 64, numTokens: 97, unimodalDepth: 2, multimodalDepth: 2 });
 * console.log(c.numImgQueries, c.heads); // 256 8
 * ```
 */
export function resolveCoCaConfig(cfg: CoCaConfig): ResolvedCoCaConfig {
  if (typeof cfg !== "object" || cfg === null) {
    throw new TypeError(`expected a CoCa config object, found ${JSON.stringify(cfg)}`);
  }
  unknownKeys("CoCa", cfg, COCA_KEYS);
  const r: ResolvedCoCaConfig = {
    dim: cfg.dim,
    numTokens: cfg.numTokens,
    unimodalDepth: cfg.unimodalDepth,
    multimodalDepth: cfg.multimodalDepth,
    dimLatents: cfg.dimLatents ?? cfg.dim,
    imageDim: cfg.imageDim ?? cfg.dim,
    numImgQueries: cfg.numImgQueries ?? 256,
    dimHead: cfg.dimHead ?? 64,
    heads: cfg.heads ?? 8,
    ffMult: cfg.ffMult ?? 4,
    captionLossWeight: cfg.captionLossWeight ?? 1,
    contrastiveLossWeight: cfg.contrastiveLossWeight ?? 1,
    padId: cfg.padId ?? 0,
  };
  for (
    const k of [
      "dim",
      "numTokens",
      "dimLatents",
      "imageDim",
      "numImgQueries",
      "dimHead",
      "heads",
      "ffMult",
    ] as const
  ) positiveInt(k, r[k]);
  for (const k of ["unimodalDepth", "multimodalDepth"] as const) {
    if (!Number.isInteger(r[k]) || r[k] < 0) {
      throw new RangeError(`expected ${k} to be a non-negative integer, found ${r[k]}`);
    }
  }
  if (r.dimHead % 2 !== 0) {
    throw new RangeError(`expected dimHead to be even (rotary halves), found ${r.dimHead}`);
  }
  finite("captionLossWeight", r.captionLossWeight);
  finite("contrastiveLossWeight", r.contrastiveLossWeight);
  if (!Number.isInteger(r.padId) || r.padId < 0 || r.padId >= r.numTokens) {
    throw new RangeError(`expected padId in [0, ${r.numTokens}), found ${r.padId}`);
  }
  return r;
}
