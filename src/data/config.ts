/**
 * The data config: which dataset to load (`name`) with the options of its loader, checked by
 * one zod schema ({@linkcode DataConfigSchema}) that the compiler holds to the loaders' types. Unknown keys are
 * errors. The loaders fill in the defaults and check the ranges that depend on each other.
 *
 * @module
 */
import { z } from "../deps/zod.ts";
import { num, type SameType } from "../schema/format.ts";
import { EMOJI_VENDORS, type EmojiConfig } from "./emoji.ts";
import type { ShapesConfig } from "./shapes.ts";
import type { ManifestOptions } from "./manifest.ts";
import { FIT_MODES } from "./image.ts";

const count = (what: string): z.ZodOptional<z.ZodNumber> => num.int(0).optional().describe(what);
const seed = z.number({ error: "expected {path} to be an integer" })
  .int({ error: "expected {path} to be an integer" });
const fraction = (what: string) => num.range(0, 1).optional().describe(what);
const byte = z.number({ error: "expected {path} to be an integer in [0, 255]" }).int({
  error: "expected {path} to be an integer in [0, 255]",
}).min(0, { error: "expected {path} to be an integer in [0, 255]" })
  .max(255, { error: "expected {path} to be an integer in [0, 255]" });
const imageSize = num.positiveInt().optional().describe("Output image side S (default 32).");

/** The built-in synthetic shapes (`src/data/shapes.ts`). */
const shapesSchema = z.strictObject({
  name: z.literal("shapes"),
  trainSize: count("Training examples (default 2000)."),
  valSize: count("Validation examples (default 200)."),
  testSize: count("Test examples, same distribution as train (default 200)."),
  heldoutSize: count("Examples with held-out colour+shape pairs (default 200)."),
  seed: seed.optional().describe("Seed; the same seed gives bit-identical data (default 0)."),
  imageSize: num.positiveInt().optional().describe("Image side S in [16, 128] (default 32)."),
  singleFraction: fraction("Fraction of single-shape scenes (default 0.5)."),
  heldoutPairs: z.array(z.tuple([z.string(), z.string()]).readonly()).readonly().optional()
    .describe("Held-out [colour, shape] pairs (default DEFAULT_HELDOUT_PAIRS)."),
});

/** Emoji art with their names as captions (`src/data/emoji.ts`). */
const emojiSchema = z.strictObject({
  name: z.literal("emoji"),
  imageSize,
  trainVendor: z.enum(EMOJI_VENDORS).optional()
    .describe('Vendor of the train/val art (default "google"); test uses the other vendor.'),
  limit: num.positiveInt().optional()
    .describe("Use at most this many emoji (seeded choice; default all)."),
  valFraction: fraction("Fraction of emoji in val (default 0.1)."),
  testFraction: fraction("Fraction of emoji in test (default 0.2)."),
  seed: seed.optional().describe("Seed of the emoji partition (default 0)."),
  maxTags: num.int(0).optional().describe("Tags appended to each caption (default 3)."),
  googleDir: z.string().optional()
    .describe("Root folder of emoji-datasource-google (relative to the config file's folder)."),
  twitterDir: z.string().optional()
    .describe("Root folder of emoji-datasource-twitter (relative to the config file's folder)."),
  emojibaseDir: z.string().optional()
    .describe("Root folder of emojibase-data (relative to the config file's folder)."),
});

/** Images and captions listed in a manifest (`src/data/manifest.ts`). */
const manifestSchema = z.strictObject({
  name: z.literal("manifest"),
  path: z.string({ error: "expected {path} (a manifest file or folder)" })
    .describe(
      "A manifest file (.jsonl or .csv) or a folder holding captions.jsonl or captions.csv; " +
        "a relative path is relative to the config file's folder.",
    ),
  imageSize,
  onError: z.enum(["skip", "fail"]).optional()
    .describe(
      '"fail" (default): stop at the first bad row; "skip": drop, count and list bad rows.',
    ),
  valFraction: fraction("Fraction of unassigned images that go to val (default 0.1)."),
  testFraction: fraction("Fraction of unassigned images that go to test (default 0.1)."),
  seed: seed.optional().describe("Seed of the split assignment (default 0)."),
  background: z.tuple([byte, byte, byte]).readonly().optional()
    .describe(
      'RGB background (0-255) that transparency is composited over and that fit "pad" fills ' +
        "the margins with (default white [255, 255, 255]).",
    ),
  fit: z.enum(FIT_MODES as ["pad", "crop", "stretch"]).optional()
    .describe(
      'How non-square images become S×S: "pad" (default) scales the longer side to S and ' +
        'centres the image on the background (nothing lost); "crop" centre-crops to a square ' +
        '(loses the ends of the longer side); "stretch" resizes the whole image (distorts).',
    ),
  maxPixels: num.positiveInt().optional()
    .describe("Refuse images declaring more pixels than this, before decoding (default 64e6)."),
  maxBytes: num.positiveInt().optional()
    .describe("Refuse image files larger than this many bytes (default 67108864, 64 MiB)."),
});

/** Which dataset to load, with the options of its loader. */
export type DataConfig =
  | ({ name: "shapes" } & ShapesConfig)
  | ({ name: "emoji" } & EmojiConfig)
  | ({ name: "manifest"; path: string } & ManifestOptions);

// The loaders' option types and the schemas agree (a compile error otherwise).
const _shapes: SameType<z.input<typeof shapesSchema>, { name: "shapes" } & ShapesConfig> = true;
const _emoji: SameType<z.input<typeof emojiSchema>, { name: "emoji" } & EmojiConfig> = true;
const _manifest: SameType<
  z.input<typeof manifestSchema>,
  Omit<{ name: "manifest"; path: string } & ManifestOptions, "name"> & { name: "manifest" }
> = true;

/** {@linkcode DataConfig}'s schema: the checks (the loaders fill in the defaults). */
export const DataConfigSchema: z.ZodType<DataConfig, DataConfig> = z.discriminatedUnion("name", [
  shapesSchema,
  emojiSchema,
  manifestSchema,
]);
