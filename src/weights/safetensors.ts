/**
 * The safetensors format: an 8-byte little-endian header length, a JSON header
 * (`{name: {dtype, shape, data_offsets}, __metadata__?}`), then raw
 * little-endian tensor bytes.
 *
 * @module
 */
import * as tf from "../deps/tf.ts";

/** A tensor as plain data: what a safetensors file holds. */
export interface RawTensor {
  dtype: "F32" | "I32" | "I64" | "F16" | "BF16" | "F64" | "U8" | "BOOL";
  shape: number[];
  data: Uint8Array;
}

/** A parsed file: tensors by name and the string metadata. */
export interface SafeTensors {
  tensors: Map<string, RawTensor>;
  metadata: Record<string, string>;
}

/** Bytes per element of each dtype. */
export const DTYPE_BYTES: Readonly<Record<RawTensor["dtype"], number>> = {
  F32: 4,
  I32: 4,
  I64: 8,
  F16: 2,
  BF16: 2,
  F64: 8,
  U8: 1,
  BOOL: 1,
};

/** The dtypes a safetensors file may hold here, with their sizes in bytes. */
export const SAFETENSORS_DTYPES: readonly RawTensor["dtype"][] = Object.keys(
  DTYPE_BYTES,
) as RawTensor["dtype"][];

/** The float dtypes: the only ones that may be loaded into float weights. */
export const FLOAT_DTYPES: readonly RawTensor["dtype"][] = ["F32", "F16", "BF16", "F64"];

/** The largest header the reference loader reads (100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

/**
 * A safetensors file (or bytes) that does not follow the format: names the file (when known),
 * the tensor (when one is at fault), what was expected and what was found.
 *
 * @example
 * ```ts
 * import { parseSafetensors, SafetensorsError } from "./safetensors.ts";
 * try {
 *   parseSafetensors(new Uint8Array(3), "w.safetensors");
 * } catch (e) {
 *   console.log(e instanceof SafetensorsError, (e as Error).message);
 *   // true w.safetensors: truncated: expected at least 8 bytes, found 3
 * }
 * ```
 */
export class SafetensorsError extends Error {
  /** The file, when the bytes came from one. */
  readonly file?: string;
  /** The tensor at fault, when one is. */
  readonly tensor?: string;
  constructor(detail: string, opts: { file?: string; tensor?: string } = {}) {
    super(
      `${opts.file ?? "safetensors"}: ${
        opts.tensor === undefined ? "" : `tensor ${JSON.stringify(opts.tensor)}: `
      }${detail}`,
    );
    this.name = "SafetensorsError";
    this.file = opts.file;
    this.tensor = opts.tensor;
  }
}

/** A value as a short text for "found ..." (type and a bounded excerpt). */
function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return `an array ${clip(JSON.stringify(v))}`;
  if (typeof v === "object") return `an object ${clip(JSON.stringify(v))}`;
  if (typeof v === "string") return `the string ${clip(JSON.stringify(v))}`;
  return `${typeof v} ${clip(String(v))}`;
}

function clip(s: string): string {
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * The first key repeated within one object of valid JSON text, with the key of the object that
 * holds it (undefined at the top level). `JSON.parse` keeps the last value silently.
 */
function duplicateKey(text: string): { key: string; parent?: string } | undefined {
  interface Frame {
    keys?: Set<string>;
    expectKey: boolean;
    name?: string;
    lastKey?: string;
  }
  const stack: Frame[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const top = stack[stack.length - 1];
    if (c === 0x22 /* " */) {
      let j = i + 1;
      while (text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c /* \ */ ? 2 : 1;
      if (top?.keys && top.expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.keys.has(key)) return { key, parent: top.name };
        top.keys.add(key);
        top.lastKey = key;
        top.expectKey = false;
      }
      i = j;
    } else if (c === 0x7b /* { */) {
      stack.push({ keys: new Set(), expectKey: true, name: top?.keys ? top.lastKey : top?.name });
    } else if (c === 0x5b /* [ */) {
      stack.push({ expectKey: false, name: top?.keys ? top.lastKey : top?.name });
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
    } else if (c === 0x2c /* , */ && top?.keys) {
      top.expectKey = true;
    }
  }
  return undefined;
}

const ENTRY_KEYS = ["data_offsets", "dtype", "shape"];

/**
 * Parse safetensors bytes, as strictly as the format's specification and its reference loader:
 * the header is a JSON object (at most {@linkcode MAX_HEADER_BYTES}, valid UTF-8, no duplicate
 * keys); each entry holds exactly `dtype` (a known one), `shape` (non-negative integers) and
 * `data_offsets` (two integers, start ≤ end) whose span is product(shape) × the dtype's size;
 * the spans, in order, cover the data after the header exactly (no overlap, no hole, no
 * trailing bytes); `__metadata__`, when present, is an object of strings.
 *
 * @param file the file the bytes came from, named in every error.
 * @throws {SafetensorsError} naming the file, the tensor, what was expected and what was found.
 * @example
 * ```ts
 * import { parseSafetensors } from "./safetensors.ts";
 * const st = parseSafetensors(await Deno.readFile("tests/fixtures/coca_tiny_a.safetensors"));
 * console.log(st.tensors.get("input.text")?.shape); // [3, 10]
 * ```
 */
export function parseSafetensors(bytes: Uint8Array, file?: string): SafeTensors {
  const fail = (detail: string, tensor?: string): never => {
    throw new SafetensorsError(detail, { file, tensor });
  };
  if (bytes.length < 8) fail(`truncated: expected at least 8 bytes, found ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = view.getBigUint64(0, true);
  if (headerLen > BigInt(MAX_HEADER_BYTES)) {
    fail(`expected a header length of at most ${MAX_HEADER_BYTES} bytes, found ${headerLen}`);
  }
  const base = 8 + Number(headerLen);
  if (base > bytes.length) {
    fail(
      `truncated: expected at least ${base} bytes (8 + a header of ${headerLen}), found ${bytes.length}`,
    );
  }
  let text = "";
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(
      bytes.subarray(8, base),
    );
  } catch {
    fail("expected a header of UTF-8 JSON, found bytes that are not valid UTF-8");
  }
  if (!text.startsWith("{")) {
    fail(`expected a header that is a JSON object (starting with "{"), found ${describe(text)}`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    fail(`expected a header of valid JSON, found invalid JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(header)) {
    fail(`expected a header that is a JSON object, found ${describe(header)}`);
  }
  const dup = duplicateKey(text);
  if (dup) {
    fail(
      `expected each key once in the header, found ${JSON.stringify(dup.key)} twice`,
      dup.parent ?? dup.key,
    );
  }
  const entries = header as Record<string, unknown>;
  const dataLen = bytes.length - base;
  let metadata: Record<string, string> = {};
  const spans: {
    name: string;
    dtype: RawTensor["dtype"];
    shape: number[];
    start: number;
    end: number;
  }[] = [];
  for (const [name, entry] of Object.entries(entries)) {
    if (name === "__metadata__") {
      if (!isPlainObject(entry)) {
        fail(`expected __metadata__ to be an object of strings, found ${describe(entry)}`);
      }
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== "string") {
          fail(`expected __metadata__.${k} to be a string, found ${describe(v)}`);
        }
      }
      metadata = entry as Record<string, string>;
      continue;
    }
    if (!isPlainObject(entry)) {
      fail(`expected an object {dtype, shape, data_offsets}, found ${describe(entry)}`, name);
    }
    const e = entry as Record<string, unknown>;
    const keys = Object.keys(e).sort();
    if (keys.join() !== ENTRY_KEYS.join()) {
      fail(
        `expected exactly the keys dtype, shape, data_offsets, found ${keys.join(", ") || "none"}`,
        name,
      );
    }
    const dtype = e.dtype;
    if (typeof dtype !== "string" || !Object.hasOwn(DTYPE_BYTES, dtype)) {
      fail(
        `expected a dtype among ${SAFETENSORS_DTYPES.join(", ")}, found ${describe(dtype)}`,
        name,
      );
    }
    const shape = e.shape;
    if (
      !Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)
    ) {
      fail(`expected a shape of non-negative integers, found ${describe(shape)}`, name);
    }
    const offsets = e.data_offsets;
    if (
      !Array.isArray(offsets) || offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)
    ) {
      fail(`expected data_offsets of two non-negative integers, found ${describe(offsets)}`, name);
    }
    const [start, end] = offsets as [number, number];
    if (end < start) {
      fail(`expected data_offsets [start, end] with start <= end, found [${start}, ${end}]`, name);
    }
    const size = DTYPE_BYTES[dtype as RawTensor["dtype"]];
    let want = size;
    for (const d of shape as number[]) want *= d;
    if (!Number.isSafeInteger(want)) {
      fail(`expected a shape of at most 2^53 bytes of ${dtype}, found [${shape}]`, name);
    }
    if (want !== end - start) {
      fail(
        `expected ${want} bytes for ${dtype}[${shape}] (product of the shape × ${size}), found ${
          end - start
        } (data_offsets [${start}, ${end}])`,
        name,
      );
    }
    spans.push({ name, dtype: dtype as RawTensor["dtype"], shape: shape as number[], start, end });
  }
  const inOrder = [...spans];
  spans.sort((a, b) => a.start - b.start || a.end - b.end);
  let at = 0;
  for (const s of spans) {
    if (s.start < at) {
      fail(
        `expected data_offsets starting at ${at} (after the previous tensor), found [${s.start}, ${s.end}]: overlaps another tensor`,
        s.name,
      );
    }
    if (s.start > at) {
      fail(
        `expected data_offsets starting at ${at} (after the previous tensor), found [${s.start}, ${s.end}]: a hole of ${
          s.start - at
        } bytes`,
        s.name,
      );
    }
    at = s.end;
  }
  if (at > dataLen) {
    fail(
      `truncated: expected ${
        base + at
      } bytes (8 + a header of ${headerLen} + ${at} of data), found ${bytes.length}`,
    );
  }
  if (at < dataLen) {
    fail(
      `expected ${base + at} bytes (the tensors end at data offset ${at}), found ${bytes.length}: ${
        dataLen - at
      } bytes after the last tensor`,
    );
  }
  const tensors = new Map<string, RawTensor>();
  for (const s of inOrder) {
    tensors.set(s.name, {
      dtype: s.dtype,
      shape: s.shape,
      data: bytes.slice(base + s.start, base + s.end),
    });
  }
  return { tensors, metadata };
}

/**
 * Read and parse a safetensors file; every error names `path`.
 *
 * @throws {SafetensorsError} when the file does not follow the format (and Deno's errors when
 *   it cannot be read).
 * @example
 * ```ts
 * import { readSafetensors } from "./safetensors.ts";
 * const st = await readSafetensors("tests/fixtures/coca_tiny_a.safetensors");
 * console.log(st.metadata.format); // "coca-parity-fixture/1"
 * ```
 */
export async function readSafetensors(path: string): Promise<SafeTensors> {
  return parseSafetensors(await Deno.readFile(path), path);
}

/**
 * Serialise tensors (and string metadata) to safetensors bytes, names sorted.
 *
 * @example
 * ```ts
 * import { parseSafetensors, serializeSafetensors } from "./safetensors.ts";
 * const bytes = serializeSafetensors(new Map([["x", { dtype: "F32", shape: [1], data: new Uint8Array(4) }]]));
 * console.log(parseSafetensors(bytes).tensors.get("x")?.shape); // [1]
 * ```
 */
export function serializeSafetensors(
  tensors: Map<string, RawTensor>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  const names = [...tensors.keys()].sort();
  for (const name of names) {
    const t = tensors.get(name)!;
    header[name] = {
      dtype: t.dtype,
      shape: t.shape,
      data_offsets: [offset, offset + t.data.length],
    };
    offset += t.data.length;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  // Pad the header with spaces so the data starts 8-byte aligned.
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = new TextEncoder().encode(JSON.stringify(header) + " ".repeat(pad));
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const name of names) {
    const d = tensors.get(name)!.data;
    out.set(d, at);
    at += d.length;
  }
  return out;
}

function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** The range of int32, the only integer dtype of tfjs: integer tensors must fit it. */
export const INT32_RANGE: readonly [number, number] = [-(2 ** 31), 2 ** 31 - 1];

/**
 * A raw tensor as a tfjs tensor: floats become float32, integers int32. tfjs has no 64-bit
 * integers, so an I64 value outside {@linkcode INT32_RANGE} is an error (never wrapped), and a
 * BOOL byte must be 0 or 1.
 *
 * @param where the file and tensor the data came from, named in errors.
 * @throws {SafetensorsError} naming the file and tensor, the expected range and the value found.
 * @example
 * ```ts
 * import { parseSafetensors, toTensor } from "./safetensors.ts";
 * const st = parseSafetensors(await Deno.readFile("tests/fixtures/coca_tiny_a.safetensors"));
 * console.log(toTensor(st.tensors.get("input.text")!, { tensor: "input.text" }).dtype); // "int32"
 * ```
 */
export function toTensor(
  raw: RawTensor,
  where: { file?: string; tensor?: string } = {},
): tf.Tensor {
  const n = raw.shape.reduce((a, b) => a * b, 1);
  const buf = raw.data.buffer.slice(raw.data.byteOffset, raw.data.byteOffset + raw.data.byteLength);
  const dv = new DataView(buf);
  switch (raw.dtype) {
    case "F32":
      return tf.tensor(new Float32Array(buf), raw.shape, "float32");
    case "I32":
      return tf.tensor(new Int32Array(buf), raw.shape, "int32");
    case "F64":
      return tf.tensor(Float32Array.from(new Float64Array(buf)), raw.shape, "float32");
    case "I64": {
      const out = new Int32Array(n);
      const [lo, hi] = INT32_RANGE;
      for (let i = 0; i < n; i++) {
        const v = dv.getBigInt64(i * 8, true);
        if (v < lo || v > hi) {
          throw new SafetensorsError(
            `expected I64 values in the int32 range [${lo}, ${hi}] (tfjs has no 64-bit ` +
              `integers), found ${v} at index ${i}`,
            where,
          );
        }
        out[i] = Number(v);
      }
      return tf.tensor(out, raw.shape, "int32");
    }
    case "F16":
    case "BF16": {
      const out = new Float32Array(n);
      const f32 = new DataView(new ArrayBuffer(4));
      for (let i = 0; i < n; i++) {
        const h = dv.getUint16(i * 2, true);
        if (raw.dtype === "F16") out[i] = f16ToF32(h);
        else {
          f32.setUint32(0, h << 16, true);
          out[i] = f32.getFloat32(0, true);
        }
      }
      return tf.tensor(out, raw.shape, "float32");
    }
    case "BOOL": {
      const i = raw.data.findIndex((b) => b > 1);
      if (i >= 0) {
        throw new SafetensorsError(
          `expected BOOL values 0 or 1, found ${raw.data[i]} at index ${i}`,
          where,
        );
      }
      return tf.tensor(Int32Array.from(raw.data), raw.shape, "int32");
    }
    case "U8":
      return tf.tensor(Int32Array.from(raw.data), raw.shape, "int32");
  }
}

/**
 * A tfjs tensor as raw safetensors data (float32 -> F32, int32/bool -> I32).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { fromTensor } from "./safetensors.ts";
 * console.log((await fromTensor(tf.ones([2]))).dtype); // "F32"
 * ```
 */
export async function fromTensor(t: tf.Tensor): Promise<RawTensor> {
  const values = await t.data();
  const data = t.dtype === "float32"
    ? new Float32Array(values as Float32Array)
    : Int32Array.from(values as Int32Array);
  return {
    dtype: t.dtype === "float32" ? "F32" : "I32",
    shape: [...t.shape],
    data: new Uint8Array(data.buffer),
  };
}
