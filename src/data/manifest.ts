/**
 * Your own data: a manifest of `{image, caption}` rows, read from
 * - a JSON Lines file (`.jsonl`): one object per line,
 *   `{"image": "cats/1.png", "caption": "a cat", "split"?: "train", "label"?: "cat",
 *   "attributes"?: {"colour": "black"}}` (blank lines are ignored);
 * - a CSV file (`.csv`) with a header naming at least `image` and `caption` (optional `split`,
 *   `label`; other columns are ignored; each name at most once), parsed strictly by csv-parse
 *   (RFC 4180): fields may be double-quoted with `""` escapes and may then span lines, every row
 *   has as many fields as the header, and a quote that is never closed is an error at the line
 *   where it opens;
 * - a folder holding image files plus `captions.jsonl` or `captions.csv` (tried in that order).
 *
 * A UTF-8 byte order mark at the start of either file is ignored.
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
import { CsvError, parse } from "../deps/csv_parse.ts";
import { mulberry32, shuffleInPlace } from "../util/rng.ts";
import { type Dataset, type Example, SPLIT_NAMES, type SplitName } from "./types.ts";
import { positiveInt } from "../util/validate.ts";

/** Options of {@linkcode loadManifestDataset}. */
export interface ManifestOptions extends ToModelImageOptions, ImageLimits {
  /** Output image side S (default 32). */
  imageSize?: number;
  /** `"fail"` (default): throw on the first problem; `"skip"`: drop, count and list bad rows. */
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
  /** What was expected and what was found, without the `path:line:` prefix. */
  reason: string;
  /** Full message: `path:line: reason`. */
  message: string;
}

/** Longest excerpt of a found value quoted in a message. */
const CLIP = 80;

function clip(text: string | undefined): string {
  return text !== undefined && text.length > CLIP ? `${text.slice(0, CLIP)}…` : String(text);
}

function issueAt(path: string, line: number, reason: string, image?: string): ManifestIssue {
  const issue: ManifestIssue = { path, line, reason, message: `${path}:${line}: ${reason}` };
  if (image !== undefined) issue.image = image;
  return issue;
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
  /** The dropped rows (file, line, reason), one per dropped row, in line order. */
  issues: ManifestIssue[];
  /** The manifest file read (a folder's `captions.jsonl` or `captions.csv`). */
  file: string;
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
  const issue = (reason: string, image?: string): Parsed => ({
    issue: issueAt(path, line, reason, image),
  });
  if (typeof obj.image !== "string" || obj.image === "") {
    return issue(`expected a non-empty string "image", found ${clip(JSON.stringify(obj.image))}`);
  }
  if (typeof obj.caption !== "string") {
    return issue(
      `expected a string "caption", found ${clip(JSON.stringify(obj.caption))}`,
      obj.image,
    );
  }
  const split = obj.split === undefined || obj.split === "" ? undefined : obj.split;
  if (split !== undefined && !SPLIT_NAMES.includes(split as SplitName)) {
    return issue(
      `expected split to be one of ${SPLIT_NAMES.join("/")}, found ${clip(JSON.stringify(split))}`,
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
        `expected "attributes" to be an object of strings, found ${clip(JSON.stringify(a))}`,
        obj.image,
      );
    }
    row.attributes = { ...(a as Record<string, string>) };
  }
  return { row };
}

/** Split text into lines the way line numbers count them: `\r\n`, `\n` or a lone `\r`. */
function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === "\n" || (ch === "\r" && text[i + 1] !== "\n")) starts.push(i + 1);
  }
  return starts;
}

/** Drop one leading UTF-8 byte order mark (U+FEFF), as written by some spreadsheet programs. */
function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function parseJsonl(path: string, text: string): Parsed[] {
  const out: Parsed[] = [];
  stripBom(text).split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === "") return;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (e) {
      out.push({
        issue: issueAt(
          path,
          line,
          `expected a JSON object with string fields "image" and "caption", ` +
            `found invalid JSON (${(e as Error).message})`,
        ),
      });
      return;
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      out.push({
        issue: issueAt(
          path,
          line,
          `expected a JSON object, found ${
            Array.isArray(value) ? "an array" : clip(JSON.stringify(value))
          }`,
        ),
      });
      return;
    }
    out.push(checkRow(path, line, value as Record<string, unknown>));
  });
  return out;
}

/** A CSV record with the 1-based line where it starts. */
export interface CsvRecord {
  /** 1-based line of the record's first character (a quoted field may span more lines). */
  line: number;
  /** The fields, unquoted. */
  fields: string[];
}

/** A CSV syntax problem: the 1-based line and what was expected and found. */
export interface CsvProblem {
  /** 1-based line of the problem (of the opening quote, for a quote that is never closed). */
  line: number;
  /** What was expected and what was found, without a `path:line:` prefix. */
  reason: string;
}

/**
 * Parse CSV text strictly with csv-parse (RFC 4180: `,` separators, `"` quotes with `""`
 * escapes, `\n` or `\r\n` line ends; a leading BOM and empty lines are ignored). Each record
 * comes with the line where it starts. A syntax error (an unterminated quote, a quote inside an
 * unquoted field, text after a closing quote) ends the record it is in: it is listed in
 * `problems` with its line, and parsing resumes on the line after it.
 *
 * @example
 * ```ts
 * const { records, problems } = parseCsv('a,b\n"x\ny",2\n3,4');
 * records.map((r) => r.line); // [1, 2, 4]
 * problems.length; // 0
 * ```
 */
export function parseCsv(text: string): { records: CsvRecord[]; problems: CsvProblem[] } {
  text = stripBom(text);
  const starts = lineStarts(text);
  const enc = new TextEncoder();
  const records: CsvRecord[] = [];
  const problems: CsvProblem[] = [];
  // The line holding character `pos` of `text` (binary search over line starts).
  const lineOf = (pos: number): number => {
    let lo = 0, hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid] <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
  // Records start after empty lines; csv-parse reports offsets in UTF-8 bytes.
  const skipBlank = (pos: number): number => {
    while (pos < text.length && (text[pos] === "\n" || text[pos] === "\r")) pos++;
    return pos;
  };
  let from = 0; // character offset where this parse pass starts (a line start)
  while (from < text.length) {
    const chunk = text.slice(from);
    const bytes = enc.encode(chunk);
    // Character offset in `chunk` of a UTF-8 byte offset (offsets only grow: decode the step).
    const dec = new TextDecoder();
    let byteAt = 0, charPos = 0;
    const charAt = (byteOffset: number): number => {
      charPos += dec.decode(bytes.subarray(byteAt, byteOffset)).length;
      byteAt = byteOffset;
      return charPos;
    };
    let recordStart = skipBlank(from);
    try {
      parse(chunk, {
        relax_column_count: true,
        skip_empty_lines: true,
        on_record: (fields: string[], context: { bytes: number }) => {
          records.push({ line: lineOf(recordStart), fields });
          recordStart = skipBlank(from + charAt(context.bytes));
          return null;
        },
      });
      break;
    } catch (e) {
      if (!(e instanceof CsvError)) throw e;
      const open = e.code === "CSV_QUOTE_NOT_CLOSED" ? openQuote(text, recordStart) : -1;
      const line = lineOf(open >= 0 ? open : recordStart);
      problems.push({ line, reason: csvReason(e, open >= 0) });
      from = line < starts.length ? starts[line] : text.length;
    }
  }
  return { records, problems };
}

/** Position of the quote that opens a field and is never closed, scanning from a record start. */
function openQuote(text: string, from: number): number {
  let open = -1;
  let fieldStart = true;
  for (let i = from; i < text.length; i++) {
    const ch = text[i];
    if (open >= 0) {
      if (ch === '"') {
        if (text[i + 1] === '"') i++;
        else {
          open = -1;
          fieldStart = false;
        }
      }
    } else if (ch === '"' && fieldStart) open = i;
    else fieldStart = ch === "," || ch === "\n" || ch === "\r";
  }
  return open;
}

function csvReason(e: Error & { code?: string }, unclosed: boolean): string {
  if (unclosed) {
    return `expected a closing quote " for the field opened here, found the end of the file`;
  }
  switch (e.code) {
    case "INVALID_OPENING_QUOTE":
      return `expected a field either fully quoted or without quotes, found a quote inside an ` +
        `unquoted field (write "" inside a quoted field)`;
    case "CSV_INVALID_CLOSING_QUOTE":
      return `expected a separator or line end after a closing quote, found more text`;
    default:
      return `expected valid CSV, found ${e.message.replace(/ at line \d+/, "")}`;
  }
}

function parseCsvManifest(path: string, text: string): Parsed[] {
  const { records, problems } = parseCsv(text);
  const out: (Parsed & { line: number })[] = problems.map((p) => ({
    line: p.line,
    issue: issueAt(path, p.line, p.reason),
  }));
  const headerProblem = problems.find((p) => records.length === 0 || p.line <= records[0].line);
  if (headerProblem !== undefined) {
    throw new ManifestError(
      issueAt(path, headerProblem.line, `${headerProblem.reason} (in the CSV header)`),
    );
  }
  if (records.length === 0) {
    throw new ManifestError(
      issueAt(path, 1, `expected a CSV header with "image" and "caption", found an empty file`),
    );
  }
  const header = records[0].fields.map((h) => h.trim());
  const headerLine = records[0].line;
  for (const col of ["image", "caption"]) {
    if (!header.includes(col)) {
      throw new ManifestError(
        issueAt(
          path,
          headerLine,
          `expected a CSV header with "image" and "caption", found ${clip(JSON.stringify(header))}`,
        ),
      );
    }
  }
  const seen = new Map<string, number>();
  header.forEach((h, i) => {
    if (seen.has(h)) {
      throw new ManifestError(
        issueAt(
          path,
          headerLine,
          `expected distinct CSV column names, found ${clip(JSON.stringify(h))} as columns ` +
            `${seen.get(h)! + 1} and ${i + 1}`,
        ),
      );
    }
    seen.set(h, i);
  });
  for (const { line, fields } of records.slice(1)) {
    if (fields.length !== header.length) {
      out.push({
        line,
        issue: issueAt(
          path,
          line,
          `expected ${header.length} CSV fields (${header.join(",")}), found ${fields.length}`,
        ),
      });
      continue;
    }
    const obj: Record<string, unknown> = Object.create(null);
    header.forEach((h, i) => (obj[h] = fields[i]));
    out.push({ line, ...checkRow(path, line, obj) });
  }
  return out.sort((a, b) => a.line - b.line);
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
  if (info.isFile) return path;
  if (!info.isDirectory) {
    throw new ManifestError(
      issueAt(path, 1, "expected a manifest file or folder, found a device, pipe or socket"),
    );
  }
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
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    throw new ManifestError(
      issueAt(file, 1, `expected a readable UTF-8 text file, found ${(e as Error).message}`),
    );
  }
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
  const badLine = new Map<string, number>();
  const kept: Row[] = [];
  for (const row of rows) {
    if (bad.has(row.image)) {
      report(issueAt(
        file,
        row.line,
        `expected a loadable image, found image "${row.image}" could not be loaded ` +
          `(see line ${badLine.get(row.image)})`,
        row.image,
      ));
      continue;
    }
    if (!images.has(row.image)) {
      const abs = isAbsolute(row.image) ? row.image : join(dir, row.image);
      let bytes: Uint8Array;
      try {
        bytes = await readImageFile(abs, options);
      } catch (e) {
        bad.add(row.image);
        badLine.set(row.image, row.line);
        report(issueAt(
          file,
          row.line,
          e instanceof ImageError ? e.message : `expected a readable image file at ${abs}, ` +
            `found ${e instanceof Deno.errors.NotFound ? "no file" : (e as Error).message}`,
          row.image,
        ));
        continue;
      }
      try {
        images.set(row.image, toModelImage(decodeImage(bytes, options), size, options));
      } catch (e) {
        bad.add(row.image);
        badLine.set(row.image, row.line);
        report(issueAt(
          file,
          row.line,
          `expected a decodable PNG or JPEG at ${abs}, found an error: ${(e as Error).message}`,
          row.image,
        ));
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
      report(issueAt(
        file,
        row.line,
        `expected image "${row.image}" to stay in split "${prev}" ` +
          `(line ${firstLine.get(row.image)}), found split "${row.split}"`,
        row.image,
      ));
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
  issues.sort((a, b) => a.line - b.line);
  return {
    dataset: { name: options.name ?? basename(file), imageSize: size, splits },
    skipped: issues.length,
    issues,
    file,
  };
}
