/**
 * Your own data: a manifest of `{image, caption}` rows, read from
 * - a JSON Lines file (`.jsonl`): one object per line,
 *   `{"image": "cats/1.png", "caption": "a cat", "split"?: "train", "label"?: "cat",
 *   "attributes"?: {"colour": "black"}}` (blank lines are ignored);
 * - a CSV file (`.csv`) with a header naming at least `image` and `caption` (optional `split`,
 *   `label`); fields may be double-quoted with `""` escapes;
 * - a folder holding image files plus `captions.jsonl` or `captions.csv` (tried in that order).
 *
 * Image paths are relative to the manifest's folder (absolute paths are used as is). PNG and
 * JPEG are supported (see `src/data/image.ts` for resizing and the `[-1, 1]` normalisation).
 * Image files are read with bounds: only regular files (not `/dev/zero`, a pipe or a folder), of
 * at most `maxBytes` (default 64 MiB), declaring at most `maxPixels` (default 64e6) pixels.
 *
 * Splits: a row's `split` field (`train`/`val`/`test`) is honoured; other rows are assigned per
 * distinct image by a seeded shuffle (`testFraction`, then `valFraction`, rest train), so all
 * captions of one image land in the same split and the splits never share an image.
 *
 * Problems (unreadable manifest row, missing file, undecodable image, conflicting splits) are
 * reported with the manifest path and 1-based line: with `onError: "fail"` (default) the first
 * one throws a {@linkcode ManifestError}; with `"skip"` the rows are dropped, counted and listed.
 *
 * @module
 */

import { basename, dirname, isAbsolute, join } from "node:path/posix";
import {
  decodeImage,
  ImageError,
  type ImageLimits,
  readImageFile,
  toModelImage,
  type ToModelImageOptions,
} from "./image.ts";
import { mulberry32, shuffleInPlace } from "../util/rng.ts";
import { type Dataset, type Example, SPLIT_NAMES, type SplitName } from "./types.ts";
import { positiveInt } from "../util/validate.ts";

/** Options of {@linkcode loadManifestDataset}. */
export interface ManifestOptions extends ToModelImageOptions, ImageLimits {
  /** Output image side S (default 32). */
  imageSize?: number;
  /** `"fail"` (default): throw on the first problem; `"skip"`: drop and count bad rows. */
  onError?: "skip" | "fail";
  /** Fraction of distinct images without an explicit split that go to val (default 0.1). */
  valFraction?: number;
  /** Fraction of distinct images without an explicit split that go to test (default 0.1). */
  testFraction?: number;
  /** Seed of the split assignment (default 0). */
  seed?: number;
  /** Dataset name (default: the manifest file name). */
  name?: string;
}

/** One problem found while loading a manifest. */
export interface ManifestIssue {
  /** Manifest file path. */
  path: string;
  /** 1-based line of the row in the manifest. */
  line: number;
  /** The image path as written in the manifest, when known. */
  image?: string;
  /** Full message, starting with `path:line:`. */
  message: string;
}

/**
 * Error thrown for a bad manifest row with `onError: "fail"`.
 *
 * @example
 * ```ts
 * try {
 *   await loadManifestDataset("data/captions.jsonl");
 * } catch (e) {
 *   if (e instanceof ManifestError) console.log(e.path, e.line);
 * }
 * ```
 */
export class ManifestError extends Error {
  /** Manifest file path. */
  readonly path: string;
  /** 1-based line in the manifest. */
  readonly line: number;
  /** Image path as written in the manifest, when known. */
  readonly image?: string;
  /** Wrap an issue. */
  constructor(issue: ManifestIssue) {
    super(issue.message);
    this.name = "ManifestError";
    this.path = issue.path;
    this.line = issue.line;
    this.image = issue.image;
  }
}

/** Result of {@linkcode loadManifestDataset}. */
export interface LoadedManifest {
  /** The dataset (extra splits and zero-shot classes are not set). */
  dataset: Dataset;
  /** Number of rows dropped (always 0 with `onError: "fail"`). */
  skipped: number;
  /** The problems behind the dropped rows. */
  issues: ManifestIssue[];
}

interface Row {
  line: number;
  image: string;
  caption: string;
  split?: SplitName;
  label?: string;
  attributes?: Record<string, string>;
}

type Parsed = { row: Row } | { issue: ManifestIssue };

function checkRow(
  path: string,
  line: number,
  obj: Record<string, unknown>,
): Parsed {
  const issue = (message: string, image?: string): Parsed => ({
    issue: { path, line, image, message: `${path}:${line}: ${message}` },
  });
  if (typeof obj.image !== "string" || obj.image === "") {
    return issue(`expected a non-empty string "image", found ${JSON.stringify(obj.image)}`);
  }
  if (typeof obj.caption !== "string") {
    return issue(`expected a string "caption", found ${JSON.stringify(obj.caption)}`, obj.image);
  }
  const split = obj.split === undefined || obj.split === "" ? undefined : obj.split;
  if (split !== undefined && !SPLIT_NAMES.includes(split as SplitName)) {
    return issue(
      `expected split to be one of ${SPLIT_NAMES.join("/")}, found ${JSON.stringify(split)}`,
      obj.image,
    );
  }
  const row: Row = { line, image: obj.image, caption: obj.caption };
  if (split !== undefined) row.split = split as SplitName;
  if (typeof obj.label === "string" && obj.label !== "") row.label = obj.label;
  if (obj.attributes !== undefined) {
    const a = obj.attributes;
    if (
      typeof a !== "object" || a === null || Array.isArray(a) ||
      !Object.values(a).every((v) => typeof v === "string")
    ) {
      return issue(
        `expected "attributes" to be an object of strings, found ${JSON.stringify(a)}`,
        obj.image,
      );
    }
    row.attributes = { ...(a as Record<string, string>) };
  }
  return { row };
}

function parseJsonl(path: string, text: string): Parsed[] {
  const out: Parsed[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === "") return;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (e) {
      out.push({
        issue: {
          path,
          line,
          message: `${path}:${line}: expected a JSON object with string fields "image" and ` +
            `"caption", found invalid JSON (${(e as Error).message})`,
        },
      });
      return;
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      out.push({
        issue: {
          path,
          line,
          message: `${path}:${line}: expected a JSON object, found ${
            Array.isArray(value) ? "an array" : JSON.stringify(value)
          }`,
        },
      });
      return;
    }
    out.push(checkRow(path, line, value as Record<string, unknown>));
  });
  return out;
}

/** Parse CSV text into records, each with the 1-based line where it starts. */
export function parseCsv(text: string): { line: number; fields: string[] }[] {
  const records: { line: number; fields: string[] }[] = [];
  let fields: string[] = [];
  let field = "";
  let quoted = false;
  let line = 1;
  let start = 1;
  let fieldStarted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else {
        if (ch === "\n") line++;
        field += ch;
      }
      continue;
    }
    if (ch === '"' && !fieldStarted) {
      quoted = true;
      fieldStarted = true;
    } else if (ch === ",") {
      fields.push(field);
      field = "";
      fieldStarted = false;
    } else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      fields.push(field);
      if (fields.length > 1 || fields[0] !== "") records.push({ line: start, fields });
      fields = [];
      field = "";
      fieldStarted = false;
      line++;
      start = line;
    } else {
      field += ch;
      fieldStarted = true;
    }
  }
  if (field !== "" || fields.length > 0 || fieldStarted) {
    fields.push(field);
    records.push({ line: start, fields });
  }
  return records;
}

function parseCsvManifest(path: string, text: string): Parsed[] {
  const records = parseCsv(text);
  if (records.length === 0) {
    throw new ManifestError({
      path,
      line: 1,
      message: `${path}:1: expected a CSV header with "image" and "caption", found an empty file`,
    });
  }
  const header = records[0].fields.map((h) => h.trim());
  for (const col of ["image", "caption"]) {
    if (!header.includes(col)) {
      throw new ManifestError({
        path,
        line: records[0].line,
        message: `${path}:${records[0].line}: expected a CSV header with "image" and "caption", ` +
          `found ${JSON.stringify(header)}`,
      });
    }
  }
  return records.slice(1).map(({ line, fields }) => {
    if (fields.length !== header.length) {
      return {
        issue: {
          path,
          line,
          message: `${path}:${line}: expected ${header.length} CSV fields, found ${fields.length}`,
        },
      };
    }
    const obj: Record<string, unknown> = {};
    header.forEach((h, i) => (obj[h] = fields[i]));
    return checkRow(path, line, obj);
  });
}

async function resolveManifest(path: string): Promise<string> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    throw new Deno.errors.NotFound(
      `expected a manifest file or folder at ${path}, found nothing (${(e as Error).message})`,
    );
  }
  if (!info.isDirectory) return path;
  for (const name of ["captions.jsonl", "captions.csv"]) {
    const candidate = join(path, name);
    try {
      if ((await Deno.stat(candidate)).isFile) return candidate;
    } catch {
      // try the next name
    }
  }
  throw new Deno.errors.NotFound(
    `expected captions.jsonl or captions.csv in folder ${path}, found neither`,
  );
}

/**
 * Load a manifest (JSONL, CSV, or a folder with `captions.jsonl` / `captions.csv`) into a
 * dataset with disjoint train/val/test splits.
 *
 * @example
 * ```ts
 * const { dataset, skipped } = await loadManifestDataset("my-data/", {
 *   imageSize: 64,
 *   onError: "skip",
 * });
 * console.log(dataset.splits.train.length, skipped);
 * ```
 */
export async function loadManifestDataset(
  path: string,
  options: ManifestOptions = {},
): Promise<LoadedManifest> {
  const size = options.imageSize ?? 32;
  const onError = options.onError ?? "fail";
  const valFraction = options.valFraction ?? 0.1;
  const testFraction = options.testFraction ?? 0.1;
  if (onError !== "skip" && onError !== "fail") {
    throw new RangeError(`expected onError "skip" or "fail", found ${JSON.stringify(onError)}`);
  }
  positiveInt("imageSize", size);
  if (!(valFraction >= 0 && testFraction >= 0 && valFraction + testFraction <= 1)) {
    throw new RangeError(
      `expected valFraction, testFraction >= 0 with sum <= 1, found ${valFraction} and ${testFraction}`,
    );
  }
  const file = await resolveManifest(path);
  const text = await Deno.readTextFile(file);
  const parsed = file.toLowerCase().endsWith(".csv")
    ? parseCsvManifest(file, text)
    : parseJsonl(file, text);

  const issues: ManifestIssue[] = [];
  const report = (issue: ManifestIssue) => {
    if (onError === "fail") throw new ManifestError(issue);
    issues.push(issue);
  };
  let rows: Row[] = [];
  for (const p of parsed) {
    if ("issue" in p) report(p.issue);
    else rows.push(p.row);
  }

  // Decode each distinct image once.
  const dir = dirname(file);
  const images = new Map<string, Float32Array>();
  const bad = new Set<string>();
  const kept: Row[] = [];
  for (const row of rows) {
    if (bad.has(row.image)) {
      report({
        path: file,
        line: row.line,
        image: row.image,
        message: `${file}:${row.line}: image "${row.image}" could not be loaded (see earlier row)`,
      });
      continue;
    }
    if (!images.has(row.image)) {
      const abs = isAbsolute(row.image) ? row.image : join(dir, row.image);
      let bytes: Uint8Array;
      try {
        bytes = await readImageFile(abs, options);
      } catch (e) {
        bad.add(row.image);
        report({
          path: file,
          line: row.line,
          image: row.image,
          message: e instanceof ImageError
            ? `${file}:${row.line}: ${e.message}`
            : `${file}:${row.line}: expected a readable image file at ${abs}, ` +
              `found ${e instanceof Deno.errors.NotFound ? "no file" : (e as Error).message}`,
        });
        continue;
      }
      try {
        images.set(row.image, toModelImage(decodeImage(bytes, options), size, options));
      } catch (e) {
        bad.add(row.image);
        report({
          path: file,
          line: row.line,
          image: row.image,
          message: `${file}:${row.line}: expected a decodable PNG or JPEG at ${abs}, ` +
            `found an error: ${(e as Error).message}`,
        });
        continue;
      }
    }
    kept.push(row);
  }
  rows = kept;

  // One split per distinct image.
  const splitOf = new Map<string, SplitName>();
  const firstLine = new Map<string, number>();
  for (const row of rows) {
    if (row.split === undefined) continue;
    const prev = splitOf.get(row.image);
    if (prev !== undefined && prev !== row.split) {
      report({
        path: file,
        line: row.line,
        image: row.image,
        message: `${file}:${row.line}: expected image "${row.image}" to stay in split ` +
          `"${prev}" (line ${firstLine.get(row.image)}), found split "${row.split}"`,
      });
    } else if (prev === undefined) {
      splitOf.set(row.image, row.split);
      firstLine.set(row.image, row.line);
    }
  }
  const unassigned = [...new Set(rows.map((r) => r.image))].filter((im) => !splitOf.has(im));
  shuffleInPlace(unassigned, mulberry32(options.seed ?? 0));
  const nTest = Math.round(unassigned.length * testFraction);
  const nVal = Math.round(unassigned.length * valFraction);
  unassigned.forEach((im, i) =>
    splitOf.set(im, i < nTest ? "test" : i < nTest + nVal ? "val" : "train")
  );

  const splits: Record<SplitName, Example[]> = { train: [], val: [], test: [] };
  for (const row of rows) {
    if (row.split !== undefined && row.split !== splitOf.get(row.image)) continue; // conflicting
    const ex: Example = { image: images.get(row.image)!, caption: row.caption };
    if (row.label !== undefined) ex.label = row.label;
    if (row.attributes !== undefined) ex.attributes = row.attributes;
    splits[splitOf.get(row.image)!].push(ex);
  }
  return {
    dataset: { name: options.name ?? basename(file), imageSize: size, splits },
    skipped: issues.length,
    issues,
  };
}
