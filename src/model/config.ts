/**
 * Typed model configs, with the reference's defaults, validated at the edge. Each config is
 * one zod schema ({@linkcode ViTConfigSchema}, {@linkcode CoCaConfigSchema}) giving its type,
 * defaults and checks. Field names are the reference's constructor arguments in camelCase.
 *
 * @module
 */
import { z } from "../deps/zod.ts";
import { num, parseConfig, type SameType } from "../schema/format.ts";

const size = (
  what: string,
): z.ZodType<number | [number, number], number | [number, number]> =>
  z.union([num.positiveInt(), z.tuple([num.positiveInt(), num.positiveInt()])], {
    error: `expected {path} to be a positive integer or a pair of them`,
  }).describe(what);

const vitSchema = z.strictObject({
  imageSize: size("Image side, or `[height, width]`."),
  patchSize: size("Patch side, or `[height, width]`; must divide the image sides."),
  dim: num.positiveInt().describe("Token width; divisible by 4 (2-D sin-cos positions)."),
  depth: num.positiveInt(),
  heads: num.positiveInt(),
  dimHead: num.positiveInt().default(64).describe("Default 64."),
  mlpDim: num.positiveInt(),
  channels: num.positiveInt().default(3).describe("Default 3."),
  patchDropout: z.number({ error: "expected {path} in [0, 1)" })
    .min(0, { error: "expected {path} in [0, 1)" })
    .lt(1, { error: "expected {path} in [0, 1)" })
    .default(0.5)
    .describe("Fraction of patches dropped in training, `0 <= p < 1`; default 0.5."),
  numClasses: num.positiveInt().optional()
    .describe("Classification head size; optional (CoCa never uses the head)."),
}).superRefine((c, ctx) => {
  const img = pair(c.imageSize);
  const patch = pair(c.patchSize);
  for (let i = 0; i < 2; i++) {
    if (img[i] % patch[i] !== 0) {
      ctx.addIssue({
        code: "custom",
        path: ["patchSize"],
        message: `expected patchSize to divide imageSize ${img[i]}, found ${patch[i]}`,
      });
      return;
    }
  }
  if (c.dim % 4 !== 0) {
    ctx.addIssue({
      code: "custom",
      path: ["dim"],
      message: `expected ViT dim to be divisible by 4 (2-D sin-cos positions), found ${c.dim}`,
    });
  }
});

const cocaSchema = z.strictObject({
  dim: num.positiveInt(),
  numTokens: num.positiveInt(),
  unimodalDepth: num.nonNegativeInt().describe("Unimodal (text) blocks."),
  multimodalDepth: num.nonNegativeInt().describe("Multimodal (cross-attending) blocks."),
  dimLatents: num.positiveInt().optional().describe("Default `dim`."),
  imageDim: num.positiveInt().optional()
    .describe("Width of the image encoder's tokens; default `dim`."),
  numImgQueries: num.positiveInt().default(256).describe("Default 256."),
  dimHead: num.positiveInt().default(64).describe("Default 64; even (rotary halves)."),
  heads: num.positiveInt().default(8).describe("Default 8."),
  ffMult: num.positiveInt().default(4).describe("Default 4."),
  captionLossWeight: num.finite().default(1).describe("Default 1."),
  contrastiveLossWeight: num.finite().default(1).describe("Default 1."),
  padId: z.number().default(0).describe("Default 0; in `[0, numTokens)`."),
}).superRefine((c, ctx) => {
  if (c.dimHead % 2 !== 0) {
    ctx.addIssue({
      code: "custom",
      path: ["dimHead"],
      message: `expected dimHead to be even (rotary halves), found ${c.dimHead}`,
    });
  }
  if (!Number.isInteger(c.padId) || c.padId < 0 || c.padId >= c.numTokens) {
    ctx.addIssue({
      code: "custom",
      path: ["padId"],
      message: `expected padId in [0, ${c.numTokens}), found ${c.padId}`,
    });
  }
}).transform((c) => ({
  ...c,
  dimLatents: c.dimLatents ?? c.dim,
  imageDim: c.imageDim ?? c.dim,
}));

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

/** A ViT config as checked, defaults filled in (sizes as written). */
export type CheckedViTConfig = Omit<ResolvedViTConfig, "imageSize" | "patchSize"> & {
  imageSize: number | [number, number];
  patchSize: number | [number, number];
};

// The declared types and the schemas agree (a compile error otherwise).
const _vitIn: SameType<z.input<typeof vitSchema>, ViTConfig> = true;
const _vitOut: SameType<z.output<typeof vitSchema>, CheckedViTConfig> = true;
const _cocaIn: SameType<z.input<typeof cocaSchema>, CoCaConfig> = true;
const _cocaOut: SameType<z.output<typeof cocaSchema>, ResolvedCoCaConfig> = true;

/** {@linkcode ViTConfig}'s schema: its defaults and checks. */
export const ViTConfigSchema: z.ZodType<CheckedViTConfig, ViTConfig> = vitSchema;

/** {@linkcode CoCaConfig}'s schema: its defaults and checks. */
export const CoCaConfigSchema: z.ZodType<ResolvedCoCaConfig, CoCaConfig> = cocaSchema;

/** A model config file's content (`configs/*.model.json`): the ViT and the CoCa options. */
export interface ModelConfig {
  /** The JSON Schema of the file (ignored). */
  $schema?: string;
  vit: ViTConfig;
  coca: CoCaConfig;
}

/** {@linkcode ModelConfig}'s schema. */
export const ModelConfigSchema: z.ZodType<
  { $schema?: string; vit: CheckedViTConfig; coca: ResolvedCoCaConfig },
  ModelConfig
> = z.strictObject({
  $schema: z.string().optional().describe("The JSON Schema of this file (ignored)."),
  vit: ViTConfigSchema,
  coca: CoCaConfigSchema,
});

function pair(v: number | [number, number]): [number, number] {
  return Array.isArray(v) ? [v[0], v[1]] : [v, v];
}

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
  const r = parseConfig(ViTConfigSchema, cfg, { what: "the ViT config" });
  const out: ResolvedViTConfig = {
    ...r,
    imageSize: pair(r.imageSize),
    patchSize: pair(r.patchSize),
  };
  if (out.numClasses === undefined) delete out.numClasses;
  return out;
}

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
  return parseConfig(CoCaConfigSchema, cfg, { what: "the CoCa config" });
}

/**
 * The side of the square images a ViT config expects (the height of `[height, width]`): what a
 * dataset must be loaded at for this model.
 *
 * @example
 * ```ts
 * import { modelImageSide } from "./config.ts";
 * console.log(modelImageSide({ imageSize: [24, 40], patchSize: 8, dim: 48, depth: 1, heads: 2, mlpDim: 64 })); // 24
 * ```
 */
export function modelImageSide(vit: ViTConfig): number {
  return Array.isArray(vit.imageSize) ? vit.imageSize[0] : vit.imageSize;
}
