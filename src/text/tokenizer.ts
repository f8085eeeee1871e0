/**
 * Byte-level BPE tokenizer for captions.
 *
 * Id layout (fixed, independent of the learned merges):
 * - `0` = pad (must equal the model's `padId`), `1` = bos, `2` = eos,
 * - `3 .. 258` = the 256 raw bytes (`byte + 3`),
 * - `259 ..` = learned merges, in the order they were learned.
 *
 * Text is UTF-8 encoded and pre-tokenized GPT-2 style: letters, digits and other symbols form
 * separate pieces, a single leading space attaches to the following piece, and runs of
 * whitespace stay together. Merges never cross piece boundaries. Because every byte has its
 * own id, `decode(encode(s)) === s` for every well-formed string (lone UTF-16 surrogates are not
 * valid Unicode and come back as U+FFFD, as with any UTF-8 round trip).
 *
 * @module
 */

/** Id of the padding token (equals the model's `padId`). */
export const PAD_ID = 0;
/** Id of the begin-of-sequence token. */
export const BOS_ID = 1;
/** Id of the end-of-sequence token. */
export const EOS_ID = 2;
/** Id of byte `0`; byte `b` has id `BYTE_OFFSET + b`. */
export const BYTE_OFFSET = 3;
/** Id of the first learned merge (`3 + 256`). */
export const FIRST_MERGE_ID = BYTE_OFFSET + 256;
/** Format version written by {@linkcode Tokenizer.toJSON}. */
export const TOKENIZER_JSON_VERSION = 1;

/** Largest vocabulary this implementation accepts (pair keys are packed into one number). */
const MAX_VOCAB = 1 << 20;

/**
 * The most bytes all tokens together may stand for (16 MiB). Real vocabularies are far below it
 * (a few bytes a token); it stops a hostile merge list (each merge joining the previous one,
 * n²/2 bytes) from taking unbounded memory and time.
 */
export const MAX_TOKEN_BYTES = 16 * 2 ** 20;

/** The largest tokenizer file {@linkcode readTokenizerFile} reads (256 MiB). */
export const MAX_TOKENIZER_FILE_BYTES = 256 * 2 ** 20;

/**
 * A tokenizer (its JSON, its file or its merge list) that cannot be used: names the file (when
 * known) and the field at fault, what was expected and what was found.
 *
 * @example
 * ```ts
 * import { Tokenizer, TokenizerError } from "./tokenizer.ts";
 * try {
 *   Tokenizer.fromJSON('{"version": 2}', "tok.json");
 * } catch (e) {
 *   console.log(e instanceof TokenizerError, (e as Error).message);
 *   // true tok.json: version: expected tokenizer version 1, found 2
 * }
 * ```
 */
export class TokenizerError extends Error {
  /** The file, when the tokenizer came from one. */
  readonly file?: string;
  /** The field at fault (`version`, `specials.eos`, `merges[3]`, ...), when one is. */
  readonly field?: string;
  constructor(detail: string, opts: { file?: string; field?: string; cause?: unknown } = {}) {
    super(
      `${opts.file ?? "tokenizer JSON"}: ${
        opts.field === undefined ? "" : `${opts.field}: `
      }${detail}`,
      opts.cause === undefined ? undefined : { cause: opts.cause },
    );
    this.name = "TokenizerError";
    this.file = opts.file;
    this.field = opts.field;
  }
}

/** A value as a short text for "found ...": its type and a bounded excerpt. */
function describe(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  const clip = (t: string) => (t.length > 60 ? `${t.slice(0, 57)}...` : t);
  if (Array.isArray(v)) return `an array ${clip(JSON.stringify(v))}`;
  if (typeof v === "object") return `an object ${clip(JSON.stringify(v))}`;
  if (typeof v === "string") return `the string ${clip(JSON.stringify(v))}`;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return `${typeof v} ${clip(String(v))}`;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const JSON_KEYS = ["merges", "specials", "type", "version"];
const SPECIAL_KEYS = ["bos", "eos", "pad"];

/**
 * Pre-tokenizer pattern: an optional space followed by letters (with combining marks), or by
 * digits, or by other non-space symbols; whitespace runs not followed by a non-space; any other
 * whitespace. Every character of the input is covered by exactly one match.
 */
const PIECE_RE = / ?[\p{L}\p{M}]+| ?\p{N}+| ?[^\s\p{L}\p{M}\p{N}]+|\s+(?!\S)|\s+/gu;

/** Options of {@linkcode trainTokenizer}. */
export interface TrainTokenizerOptions {
  /** Total vocabulary size including the 3 specials and 256 bytes; at least 259. */
  vocabSize: number;
  /** Stop merging once the most frequent pair occurs fewer than this many times (default 2). */
  minFrequency?: number;
}

/** Options of {@linkcode Tokenizer.encode}. */
export interface EncodeOptions {
  /** Prepend the bos id (default false). */
  bos?: boolean;
  /** Append the eos id (default false). */
  eos?: boolean;
}

/** Options of {@linkcode Tokenizer.encodeBatch}. */
export interface EncodeBatchOptions {
  /** Row length: rows are right-padded with {@linkcode PAD_ID} or truncated to it. */
  length: number;
  /** Prepend the bos id (default true). */
  bos?: boolean;
  /** Append the eos id (default true); kept as the last token when a row is truncated. */
  eos?: boolean;
}

/** Result of {@linkcode Tokenizer.encodeBatch}: a row-major `(rows, length)` int32 matrix. */
export interface EncodedBatch {
  /** Flat row-major ids, `shape[0] * shape[1]` entries. */
  data: Int32Array;
  /** `[number of texts, length]`. */
  shape: [number, number];
  /** Number of non-pad tokens per row (after truncation). */
  lengths: number[];
  /** Whether each row had to be truncated. */
  truncated: boolean[];
}

/** JSON form written by {@linkcode Tokenizer.toJSON} and read by {@linkcode Tokenizer.fromJSON}. */
export interface TokenizerJSON {
  /** Format version, currently {@linkcode TOKENIZER_JSON_VERSION}. */
  version: number;
  /** Always `"byte-bpe"`. */
  type: "byte-bpe";
  /** Special ids (fixed). */
  specials: { pad: number; bos: number; eos: number };
  /** Learned merges: merge `i` joins ids `[a, b]` into id `259 + i`. */
  merges: [number, number][];
}

function pairKey(a: number, b: number): number {
  return a * MAX_VOCAB + b;
}

/** Split text into pre-tokenization pieces whose concatenation is the text. */
export function pretokenize(text: string): string[] {
  return text.match(PIECE_RE) ?? [];
}

/**
 * A trained byte-level BPE tokenizer. Create one with {@linkcode trainTokenizer} or
 * {@linkcode Tokenizer.fromJSON}.
 *
 * @example
 * ```ts
 * const tok = trainTokenizer(["a red circle", "a blue circle"], { vocabSize: 270 });
 * const ids = tok.encode("a red circle", { bos: true, eos: true });
 * tok.decode(ids); // "a red circle"
 * ```
 */
export class Tokenizer {
  readonly #merges: [number, number][];
  readonly #ranks = new Map<number, number>();
  readonly #bytes: Uint8Array[] = [];
  readonly #cache = new Map<string, number[]>();
  readonly #encoder = new TextEncoder();
  readonly #decoder = new TextDecoder("utf-8", { ignoreBOM: true });

  /**
   * Build from a merge list (validated). Prefer {@linkcode trainTokenizer} or
   * {@linkcode Tokenizer.fromJSON}.
   *
   * @example
   * ```ts
   * const tok = new Tokenizer([[3 + 97, 3 + 98]]); // one merge: "ab"
   * tok.encode("ab"); // [259]
   * ```
   */
  /**
   * @param merges merge `i` joins ids `[a, b]` into id `259 + i`.
   * @param file the file the merges came from, named in errors.
   * @throws {TokenizerError} naming `merges[i]` when a merge is not a pair of known ids, is
   *   repeated, or the tokens grow past {@linkcode MAX_TOKEN_BYTES}.
   */
  constructor(merges: readonly (readonly [number, number])[], file?: string) {
    const fail = (detail: string, field = "merges"): never => {
      throw new TokenizerError(detail, { file, field });
    };
    if (!Array.isArray(merges)) fail(`expected an array of merges, found ${describe(merges)}`);
    if (FIRST_MERGE_ID + merges.length > MAX_VOCAB) {
      fail(`expected at most ${MAX_VOCAB - FIRST_MERGE_ID} merges, found ${merges.length}`);
    }
    // First every merge checked and the token lengths summed (numbers only, so a hostile list
    // is refused before anything big is allocated), then the tokens' bytes built.
    const lengths: number[] = new Array(FIRST_MERGE_ID).fill(1);
    let total = 256;
    for (let i = 0; i < merges.length; i++) {
      const m = merges[i];
      const field = `merges[${i}]`;
      if (!Array.isArray(m) || m.length !== 2) {
        fail(`expected merge ${i} to be a pair of integer ids, found ${describe(m)}`, field);
      }
      const [a, b] = m;
      const id = FIRST_MERGE_ID + i;
      for (const part of [a, b]) {
        if (!Number.isInteger(part) || part < BYTE_OFFSET || part >= id) {
          fail(
            `expected merge ${i} to join ids in [${BYTE_OFFSET}, ${id}), found [${describe(a)}, ${
              describe(b)
            }]`,
            field,
          );
        }
      }
      const key = pairKey(a, b);
      if (this.#ranks.has(key)) {
        fail(
          `expected unique merges, found [${a}, ${b}] twice (merge ${this.#ranks.get(key)} and ` +
            `merge ${i})`,
          field,
        );
      }
      const length = lengths[a] + lengths[b];
      total += length;
      if (total > MAX_TOKEN_BYTES) {
        fail(
          `expected tokens standing for at most ${MAX_TOKEN_BYTES} bytes in all, found more by ` +
            `merge ${i} (its token alone stands for ${length} bytes)`,
          field,
        );
      }
      this.#ranks.set(key, i);
      lengths.push(length);
    }
    for (let b = 0; b < 256; b++) this.#bytes[BYTE_OFFSET + b] = Uint8Array.of(b);
    this.#merges = merges.map(([a, b], i) => {
      const joined = new Uint8Array(lengths[FIRST_MERGE_ID + i]);
      joined.set(this.#bytes[a]);
      joined.set(this.#bytes[b], this.#bytes[a].length);
      this.#bytes[FIRST_MERGE_ID + i] = joined;
      return [a, b];
    });
  }

  /** Total number of ids (specials + 256 bytes + merges). */
  get vocabSize(): number {
    return FIRST_MERGE_ID + this.#merges.length;
  }

  /** The pad id, `0`. */
  get padId(): number {
    return PAD_ID;
  }
  /** The bos id, `1`. */
  get bosId(): number {
    return BOS_ID;
  }
  /** The eos id, `2`. */
  get eosId(): number {
    return EOS_ID;
  }

  /**
   * Encode text to ids (optionally wrapped in bos/eos).
   *
   * @example
   * ```ts
   * const tok = new Tokenizer([]);
   * tok.encode("hi", { eos: true }); // [107, 108, 2]
   * ```
   */
  encode(text: string, options: EncodeOptions = {}): number[] {
    if (typeof text !== "string") {
      throw new TypeError(`expected text to be a string, found ${typeof text}`);
    }
    const out: number[] = [];
    if (options.bos) out.push(BOS_ID);
    for (const piece of pretokenize(text)) {
      for (const id of this.#encodePiece(piece)) out.push(id);
    }
    if (options.eos) out.push(EOS_ID);
    return out;
  }

  #encodePiece(piece: string): number[] {
    const cached = this.#cache.get(piece);
    if (cached) return cached;
    let ids = Array.from(this.#encoder.encode(piece), (b) => b + BYTE_OFFSET);
    while (ids.length > 1) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i + 1 < ids.length; i++) {
        const rank = this.#ranks.get(pairKey(ids[i], ids[i + 1]));
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          best = i;
        }
      }
      if (best < 0) break;
      const [a, b] = this.#merges[bestRank];
      const merged: number[] = [];
      for (let i = 0; i < ids.length; i++) {
        if (i + 1 < ids.length && ids[i] === a && ids[i + 1] === b) {
          merged.push(FIRST_MERGE_ID + bestRank);
          i++;
        } else {
          merged.push(ids[i]);
        }
      }
      ids = merged;
    }
    if (this.#cache.size < 100_000) this.#cache.set(piece, ids);
    return ids;
  }

  /**
   * Decode ids to text, skipping pad/bos/eos.
   *
   * @example
   * ```ts
   * const tok = new Tokenizer([]);
   * tok.decode([1, 107, 108, 2, 0]); // "hi"
   * ```
   */
  decode(ids: ArrayLike<number>): string {
    let total = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new RangeError(
          `expected token ids in [0, ${this.vocabSize}), found ${id} at position ${i}`,
        );
      }
      if (id >= BYTE_OFFSET) total += this.#bytes[id].length;
    }
    const bytes = new Uint8Array(total);
    let at = 0;
    for (let i = 0; i < ids.length; i++) {
      if (ids[i] < BYTE_OFFSET) continue;
      bytes.set(this.#bytes[ids[i]], at);
      at += this.#bytes[ids[i]].length;
    }
    return this.#decoder.decode(bytes);
  }

  /**
   * Encode many texts into a right-padded `(texts.length, length)` int32 matrix. Rows longer than
   * `length` are truncated; when `eos` is requested it stays the last token of a truncated row.
   *
   * @example
   * ```ts
   * const tok = new Tokenizer([]);
   * const { data, shape } = tok.encodeBatch(["a", "bc"], { length: 4 });
   * // shape = [2, 4], data = [1, 100, 2, 0,  1, 101, 102, 2]
   * ```
   */
  encodeBatch(texts: readonly string[], options: EncodeBatchOptions): EncodedBatch {
    const { length } = options;
    const bos = options.bos ?? true;
    const eos = options.eos ?? true;
    const minLength = (bos ? 1 : 0) + (eos ? 1 : 0);
    if (!Number.isInteger(length) || length < Math.max(1, minLength)) {
      throw new RangeError(
        `expected length to be an integer >= ${Math.max(1, minLength)}, found ${length}`,
      );
    }
    const data = new Int32Array(texts.length * length); // zero-filled = PAD_ID
    const lengths: number[] = [];
    const truncated: boolean[] = [];
    texts.forEach((text, row) => {
      let ids = this.encode(text, { bos, eos });
      const cut = ids.length > length;
      if (cut) {
        ids = ids.slice(0, length);
        if (eos) ids[length - 1] = EOS_ID;
      }
      data.set(ids, row * length);
      lengths.push(ids.length);
      truncated.push(cut);
    });
    return { data, shape: [texts.length, length], lengths, truncated };
  }

  /**
   * The bytes that an id stands for (empty for specials).
   *
   * @example
   * ```ts
   * new Tokenizer([]).tokenBytes(3 + 65); // Uint8Array [65]
   * ```
   */
  tokenBytes(id: number): Uint8Array {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new RangeError(`expected a token id in [0, ${this.vocabSize}), found ${id}`);
    }
    return id < BYTE_OFFSET ? new Uint8Array(0) : this.#bytes[id].slice();
  }

  /**
   * Serializable form; `JSON.stringify(tok)` uses it.
   *
   * @example
   * ```ts
   * const tok = new Tokenizer([[3 + 97, 3 + 98]]);
   * const copy = Tokenizer.fromJSON(JSON.stringify(tok));
   * copy.vocabSize === tok.vocabSize; // true
   * ```
   */
  toJSON(): TokenizerJSON {
    return {
      version: TOKENIZER_JSON_VERSION,
      type: "byte-bpe",
      specials: { pad: PAD_ID, bos: BOS_ID, eos: EOS_ID },
      merges: this.#merges.map(([a, b]) => [a, b]),
    };
  }

  /**
   * Rebuild a tokenizer from {@linkcode Tokenizer.toJSON} output (an object or its JSON text),
   * strictly: exactly the keys `version` (1), `type` (`"byte-bpe"`), `specials`
   * (exactly `{pad: 0, bos: 1, eos: 2}`) and `merges` (pairs of known integer ids, each pair
   * once).
   *
   * @param file the file the JSON came from, named in every error.
   * @throws {TokenizerError} naming the file and the field, what was expected and what was found.
   * @example
   * ```ts
   * const tok = Tokenizer.fromJSON({
   *   version: 1,
   *   type: "byte-bpe",
   *   specials: { pad: 0, bos: 1, eos: 2 },
   *   merges: [],
   * });
   * tok.vocabSize; // 259
   * ```
   */
  static fromJSON(json: unknown, file?: string): Tokenizer {
    const fail = (detail: string, field?: string): never => {
      throw new TokenizerError(detail, { file, field });
    };
    let value = json;
    if (typeof json === "string") {
      try {
        value = JSON.parse(json);
      } catch (e) {
        fail(`expected tokenizer JSON text, found unparsable text (${(e as Error).message})`);
      }
    }
    if (!isPlainObject(value)) {
      fail(
        `expected a tokenizer JSON object, found ${
          Array.isArray(value) ? "array" : describe(value)
        }`,
      );
    }
    const obj = value as Record<string, unknown>;
    if (obj.version !== TOKENIZER_JSON_VERSION) {
      fail(
        `expected tokenizer version ${TOKENIZER_JSON_VERSION}, found ${describe(obj.version)}`,
        "version",
      );
    }
    if (obj.type !== "byte-bpe") fail(`expected "byte-bpe", found ${describe(obj.type)}`, "type");
    const keys = Object.keys(obj).sort();
    if (keys.join() !== JSON_KEYS.join()) {
      fail(
        `expected exactly the keys version, type, specials, merges, found ${
          keys.map((k) => JSON.stringify(k)).join(", ")
        }`,
      );
    }
    const sp = obj.specials;
    if (!isPlainObject(sp)) {
      fail(`expected specials {pad: 0, bos: 1, eos: 2}, found ${describe(sp)}`, "specials");
    }
    const special = sp as Record<string, unknown>;
    for (const [k, id] of [["pad", PAD_ID], ["bos", BOS_ID], ["eos", EOS_ID]] as const) {
      if (special[k] !== id) {
        fail(
          `expected specials {pad: 0, bos: 1, eos: 2}, found ${k} ${describe(special[k])}`,
          `specials.${k}`,
        );
      }
    }
    const spKeys = Object.keys(special).sort();
    if (spKeys.join() !== SPECIAL_KEYS.join()) {
      fail(
        `expected specials with exactly the keys pad, bos, eos, found ${
          spKeys.map((k) => JSON.stringify(k)).join(", ")
        }`,
        "specials",
      );
    }
    if (!Array.isArray(obj.merges)) {
      fail(`expected merges to be an array, found ${describe(obj.merges)}`, "merges");
    }
    return new Tokenizer(obj.merges as [number, number][], file);
  }
}

/**
 * Read a tokenizer file written from {@linkcode Tokenizer.toJSON} (e.g. a checkpoint's
 * `tokenizer.json`): a regular file of at most {@linkcode MAX_TOKENIZER_FILE_BYTES}, UTF-8
 * JSON, checked as {@linkcode Tokenizer.fromJSON} does. Every error names `path`.
 *
 * @throws {TokenizerError} naming the file (and the field) when it cannot be read or used.
 * @example
 * ```ts
 * import { readTokenizerFile, trainTokenizer } from "./tokenizer.ts";
 * const path = await Deno.makeTempFile({ suffix: ".json" });
 * await Deno.writeTextFile(path, JSON.stringify(trainTokenizer(["a red circle"], { vocabSize: 270 })));
 * (await readTokenizerFile(path)).decode([1, 100, 2]); // "a"
 * ```
 */
export async function readTokenizerFile(path: string): Promise<Tokenizer> {
  let bytes: Uint8Array;
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) {
      throw new TokenizerError("expected a regular file, found a directory or device", {
        file: path,
      });
    }
    if (info.size > MAX_TOKENIZER_FILE_BYTES) {
      throw new TokenizerError(
        `expected a file of at most ${MAX_TOKENIZER_FILE_BYTES} bytes, found ${info.size}`,
        { file: path },
      );
    }
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof TokenizerError) throw e;
    throw new TokenizerError(`expected a readable tokenizer file, found ${(e as Error).message}`, {
      file: path,
      cause: e,
    });
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new TokenizerError("expected UTF-8 JSON text, found bytes that are not valid UTF-8", {
      file: path,
    });
  }
  return Tokenizer.fromJSON(text, path);
}

/**
 * Learn BPE merges from a caption corpus. Deterministic: ties between equally frequent pairs
 * are broken by the smaller `(left id, right id)`.
 *
 * @example
 * ```ts
 * const tok = trainTokenizer(["a red circle", "a red square"], { vocabSize: 300 });
 * tok.decode(tok.encode("a red square")); // "a red square"
 * ```
 */
export function trainTokenizer(
  corpus: readonly string[],
  options: TrainTokenizerOptions,
): Tokenizer {
  const { vocabSize } = options;
  const minFrequency = options.minFrequency ?? 2;
  if (!Number.isInteger(vocabSize) || vocabSize < FIRST_MERGE_ID || vocabSize > MAX_VOCAB) {
    throw new RangeError(
      `expected vocabSize to be an integer in [${FIRST_MERGE_ID}, ${MAX_VOCAB}], found ${vocabSize}`,
    );
  }
  if (!Number.isInteger(minFrequency) || minFrequency < 1) {
    throw new RangeError(`expected minFrequency to be an integer >= 1, found ${minFrequency}`);
  }
  if (!Array.isArray(corpus)) {
    throw new TypeError(`expected corpus to be an array of strings, found ${typeof corpus}`);
  }

  // Unique pieces with their frequencies.
  const pieceCounts = new Map<string, number>();
  corpus.forEach((text, i) => {
    if (typeof text !== "string") {
      throw new TypeError(`expected corpus[${i}] to be a string, found ${typeof text}`);
    }
    for (const p of pretokenize(text)) pieceCounts.set(p, (pieceCounts.get(p) ?? 0) + 1);
  });
  const encoder = new TextEncoder();
  const words: number[][] = [];
  const freqs: number[] = [];
  for (const [piece, count] of pieceCounts) {
    const ids = Array.from(encoder.encode(piece), (b) => b + BYTE_OFFSET);
    if (ids.length > 1) {
      words.push(ids);
      freqs.push(count);
    }
  }

  // Pair statistics, maintained incrementally.
  const counts = new Map<number, number>();
  const where = new Map<number, Set<number>>();
  const add = (w: number, a: number, b: number, n: number) => {
    const k = pairKey(a, b);
    counts.set(k, (counts.get(k) ?? 0) + n);
    if (n > 0) {
      let s = where.get(k);
      if (!s) where.set(k, s = new Set());
      s.add(w);
    }
  };
  words.forEach((ids, w) => {
    for (let i = 0; i + 1 < ids.length; i++) add(w, ids[i], ids[i + 1], freqs[w]);
  });

  const merges: [number, number][] = [];
  while (FIRST_MERGE_ID + merges.length < vocabSize) {
    let bestKey = -1;
    let bestCount = 0;
    for (const [k, c] of counts) {
      if (c > bestCount || (c === bestCount && c > 0 && k < bestKey)) {
        bestKey = k;
        bestCount = c;
      }
    }
    if (bestKey < 0 || bestCount < minFrequency) break;
    const a = Math.floor(bestKey / MAX_VOCAB);
    const b = bestKey % MAX_VOCAB;
    const id = FIRST_MERGE_ID + merges.length;
    merges.push([a, b]);
    for (const w of where.get(bestKey) ?? []) {
      const ids = words[w];
      const f = freqs[w];
      for (let i = 0; i + 1 < ids.length; i++) add(w, ids[i], ids[i + 1], -f);
      const merged: number[] = [];
      for (let i = 0; i < ids.length; i++) {
        if (i + 1 < ids.length && ids[i] === a && ids[i + 1] === b) {
          merged.push(id);
          i++;
        } else {
          merged.push(ids[i]);
        }
      }
      words[w] = merged;
      for (let i = 0; i + 1 < merged.length; i++) add(w, merged[i], merged[i + 1], f);
    }
    counts.delete(bestKey);
    where.delete(bestKey);
    for (const [k, c] of counts) {
      if (c <= 0) {
        counts.delete(k);
        where.delete(k);
      }
    }
  }
  return new Tokenizer(merges);
}
