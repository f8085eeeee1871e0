/**
 * `emoji`: emoji artwork from two vendors with captions from emojibase.
 *
 * Sources (npm, versions pinned in deno.json):
 * - images: `emoji-datasource-google@16.0.0` (Noto art, Apache-2.0) and
 *   `emoji-datasource-twitter@16.0.0` (Twemoji art, CC-BY-4.0: credit "Twemoji by Twitter,
 *   Inc and other contributors"), per-emoji PNGs at `img/<vendor>/64/<image>`; the package code
 *   and metadata are MIT. Only emoji that both vendors draw natively
 *   (`has_img_google && has_img_twitter`) are used, so no fallback art from another vendor can
 *   slip in. Apple and Facebook art is never used.
 * - text: `emojibase-data@17.0.0` (MIT) `en/data.json` labels and tags, `en/messages.json`
 *   group names. Captions read `"<label>: <tag>, <tag>, <tag>"` (tags already in the label are
 *   left out; `maxTags` sets how many).
 *
 * Splits (cross-style): emoji (not images) are partitioned by a seeded shuffle into disjoint
 * train / val / test sets. `train` and `val` use `trainVendor` art; `test` uses the other
 * vendor's art (new emoji, new style). `extraSplits.crossStyle` holds the other vendor's art of
 * the *train* emoji (style shift only) and `extraSplits.testSameStyle` the train vendor's art of
 * the test emoji (concept shift only).
 *
 * Zero-shot task `group` (e.g. "animals & nature"; the "components" group is excluded).
 * Images are decoded lazily on first access of `example.image` and cached; the transparent
 * background is composited over white; the 64 px art is area-resized to `imageSize`.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { npmPackageUrl, type PinnedPackage } from "../deps/npm_files.ts";
import { decodeImage, toModelImage } from "./image.ts";
import { mulberry32, shuffleInPlace } from "../util/rng.ts";
import type { Dataset, Example, SplitName } from "./types.ts";
import { positiveInt } from "../util/validate.ts";

/** Vendors whose art may be used. */
export const EMOJI_VENDORS = ["google", "twitter"] as const;
/** A usable emoji art vendor. */
export type EmojiVendor = (typeof EMOJI_VENDORS)[number];

/** Prompt templates for the `group` zero-shot task. */
export const EMOJI_PROMPT_TEMPLATES: Readonly<Record<string, string[]>> = {
  group: ["an emoji of {}", "a {} emoji", "an icon from the {} category"],
};

/** Configuration of {@linkcode emojiDataset}; every field is optional. */
export interface EmojiConfig {
  /** Output image side S (default 32). */
  imageSize?: number;
  /** Vendor of the train/val art (default "google"); test uses the other vendor. */
  trainVendor?: EmojiVendor;
  /** Use at most this many emoji (seeded choice; default all ≈ 1900). */
  limit?: number;
  /** Fraction of emoji in val (default 0.1). */
  valFraction?: number;
  /** Fraction of emoji in test (default 0.2). */
  testFraction?: number;
  /** Seed of the emoji partition (default 0). */
  seed?: number;
  /** Tags appended to each caption (default 3). */
  maxTags?: number;
  /** Root folder of emoji-datasource-google (default: resolved from node_modules). */
  googleDir?: string;
  /** Root folder of emoji-datasource-twitter (default: resolved from node_modules). */
  twitterDir?: string;
  /** Root folder of emojibase-data (default: resolved from node_modules). */
  emojibaseDir?: string;
}

interface DatasourceEntry {
  unified: string;
  image: string;
  category?: string;
  has_img_google?: boolean;
  has_img_twitter?: boolean;
}

interface EmojibaseEntry {
  hexcode: string;
  label: string;
  emoji?: string;
  tags?: string[];
  group?: number;
  subgroup?: number;
  order?: number;
}

interface Joined {
  hexcode: string;
  image: string;
  label: string;
  tags: string[];
  group: string;
  subgroup?: string;
  emoji?: string;
  order: number;
}

function packageDir(name: PinnedPackage): string {
  return fileURLToPath(npmPackageUrl(name)).replace(/\/$/, "");
}

async function readJson<T>(path: string): Promise<T> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new Deno.errors.NotFound(
      `expected a JSON file at ${path}, found none (${(e as Error).message})`,
    );
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new SyntaxError(`expected valid JSON in ${path}, found: ${(e as Error).message}`);
  }
}

const normHex = (h: string) => h.toUpperCase().split("-").filter((p) => p !== "FE0F").join("-");

/**
 * Load the emoji dataset (metadata eagerly, images lazily).
 *
 * @example
 * ```ts
 * const ds = await emojiDataset({ limit: 200, imageSize: 32 });
 * ds.splits.train[0].caption; // e.g. "grinning face: cheerful, cheery, grin"
 * ds.classes!.group; // ["smileys & emotion", "people & body", ...]
 * ```
 */
export async function emojiDataset(config: EmojiConfig = {}): Promise<Dataset> {
  const size = config.imageSize ?? 32;
  const trainVendor = config.trainVendor ?? "google";
  const valFraction = config.valFraction ?? 0.1;
  const testFraction = config.testFraction ?? 0.2;
  const maxTags = config.maxTags ?? 3;
  if (!EMOJI_VENDORS.includes(trainVendor)) {
    throw new RangeError(
      `expected trainVendor "google" or "twitter" (Apple/Facebook art is not used), ` +
        `found ${JSON.stringify(trainVendor)}`,
    );
  }
  positiveInt("imageSize", size);
  if (!(valFraction >= 0 && testFraction >= 0 && valFraction + testFraction < 1)) {
    throw new RangeError(
      `expected valFraction, testFraction >= 0 with sum < 1, found ${valFraction} and ${testFraction}`,
    );
  }
  if (config.limit !== undefined) positiveInt("limit", config.limit);
  if (!Number.isInteger(maxTags) || maxTags < 0) {
    throw new RangeError(`expected maxTags to be an integer >= 0, found ${maxTags}`);
  }
  const testVendor: EmojiVendor = trainVendor === "google" ? "twitter" : "google";
  const dirs: Record<EmojiVendor, string> = {
    google: config.googleDir ?? packageDir("emoji-datasource-google"),
    twitter: config.twitterDir ?? packageDir("emoji-datasource-twitter"),
  };
  const baseDir = config.emojibaseDir ?? packageDir("emojibase-data");

  const sources = await readJson<DatasourceEntry[]>(`${dirs.google}/emoji.json`);
  const base = await readJson<EmojibaseEntry[]>(`${baseDir}/en/data.json`);
  const messages = await readJson<{
    groups: { key: string; message: string; order: number }[];
    subgroups: { key: string; message: string; order: number }[];
  }>(`${baseDir}/en/messages.json`);
  if (!Array.isArray(sources) || !Array.isArray(base) || !Array.isArray(messages?.groups)) {
    throw new TypeError(
      `expected emoji.json and en/data.json arrays and en/messages.json groups under ` +
        `${dirs.google} and ${baseDir}, found other shapes`,
    );
  }
  const groupName = new Map(messages.groups.map((g) => [g.order, g.message]));
  const subgroupName = new Map((messages.subgroups ?? []).map((g) => [g.order, g.message]));
  const byHex = new Map(base.map((e) => [normHex(e.hexcode), e]));

  const joined: Joined[] = [];
  for (const s of sources) {
    if (!s.has_img_google || !s.has_img_twitter || s.category === "Component") continue;
    const b = byHex.get(normHex(s.unified));
    if (!b || b.group === undefined || !b.label) continue;
    const group = groupName.get(b.group);
    if (group === undefined || group === "components") continue;
    joined.push({
      hexcode: b.hexcode,
      image: s.image,
      label: b.label,
      tags: b.tags ?? [],
      group,
      subgroup: b.subgroup === undefined ? undefined : subgroupName.get(b.subgroup),
      emoji: b.emoji,
      order: b.order ?? 0,
    });
  }
  joined.sort((a, b) => a.order - b.order || (a.hexcode < b.hexcode ? -1 : 1));
  shuffleInPlace(joined, mulberry32(config.seed ?? 0));
  const chosen = joined.slice(0, config.limit ?? joined.length);
  const nTest = Math.round(chosen.length * testFraction);
  const nVal = Math.round(chosen.length * valFraction);
  const parts = {
    test: chosen.slice(0, nTest),
    val: chosen.slice(nTest, nTest + nVal),
    train: chosen.slice(nTest + nVal),
  };

  const example = (e: Joined, vendor: EmojiVendor): Example => {
    const labelWords = new Set(e.label.toLowerCase().split(/\s+/));
    const tags = e.tags.filter((t) => !labelWords.has(t.toLowerCase())).slice(0, maxTags);
    const path = `${dirs[vendor]}/img/${vendor}/64/${e.image}`;
    const attributes: Record<string, string> = { group: e.group, vendor, hexcode: e.hexcode };
    if (e.subgroup !== undefined) attributes.subgroup = e.subgroup;
    if (e.emoji !== undefined) attributes.emoji = e.emoji;
    let cached: Float32Array | undefined;
    const ex = {
      caption: tags.length > 0 ? `${e.label}: ${tags.join(", ")}` : e.label,
      label: e.group,
      attributes,
    } as Example;
    Object.defineProperty(ex, "image", {
      enumerable: true,
      get(): Float32Array {
        if (cached) return cached;
        let bytes: Uint8Array;
        try {
          bytes = Deno.readFileSync(path);
        } catch (err) {
          throw new Deno.errors.NotFound(
            `expected emoji image ${path} (${e.label}), found none: ${(err as Error).message}`,
          );
        }
        try {
          cached = toModelImage(decodeImage(bytes), size);
        } catch (err) {
          throw new TypeError(
            `expected a decodable PNG at ${path} (${e.label}), found: ${(err as Error).message}`,
          );
        }
        return cached;
      },
    });
    return ex;
  };
  const splits = {} as Record<SplitName, Example[]>;
  splits.train = parts.train.map((e) => example(e, trainVendor));
  splits.val = parts.val.map((e) => example(e, trainVendor));
  splits.test = parts.test.map((e) => example(e, testVendor));
  const groups = [...messages.groups].sort((a, b) => a.order - b.order).map((g) => g.message)
    .filter((g) => g !== "components");
  return {
    name: `emoji-${trainVendor}-to-${testVendor}`,
    imageSize: size,
    splits,
    extraSplits: {
      crossStyle: parts.train.map((e) => example(e, testVendor)),
      testSameStyle: parts.test.map((e) => example(e, trainVendor)),
    },
    classes: { group: groups },
    promptTemplates: EMOJI_PROMPT_TEMPLATES,
  };
}
