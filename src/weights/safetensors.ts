/**
 * The safetensors format: an 8-byte little-endian header length, a JSON header
 * (`{name: {dtype, shape, data_offsets}, __metadata__?}`), then raw
 * little-endian tensor bytes.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

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

const BYTES: Record<RawTensor["dtype"], number> = {
  F32: 4,
  I32: 4,
  I64: 8,
  F16: 2,
  BF16: 2,
  F64: 8,
  U8: 1,
  BOOL: 1,
};

/**
 * Parse safetensors bytes.
 *
 * @throws {Error} when the header or offsets are inconsistent.
 * @example
 * ```ts
 * import { parseSafetensors } from "./safetensors.ts";
 * const st = parseSafetensors(await Deno.readFile("tests/fixtures/coca_tiny_a.safetensors"));
 * console.log(st.tensors.get("input.text")?.shape); // [3, 10]
 * ```
 */
export function parseSafetensors(bytes: Uint8Array): SafeTensors {
  if (bytes.length < 8) {
    throw new Error(`expected at least 8 bytes of safetensors, found ${bytes.length}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > bytes.length - 8) {
    throw new Error(`safetensors header length ${headerLen} exceeds file size ${bytes.length}`);
  }
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)));
  const base = 8 + headerLen;
  const tensors = new Map<string, RawTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = entry as Record<string, string>;
      continue;
    }
    const { dtype, shape, data_offsets: [start, end] } = entry as {
      dtype: RawTensor["dtype"];
      shape: number[];
      data_offsets: [number, number];
    };
    if (!(dtype in BYTES)) throw new Error(`tensor "${name}": unsupported dtype ${dtype}`);
    const count = shape.reduce((a, b) => a * b, 1);
    if (end - start !== count * BYTES[dtype] || base + end > bytes.length) {
      throw new Error(
        `tensor "${name}": expected ${
          count * BYTES[dtype]
        } bytes for ${dtype}[${shape}], found offsets ${start}..${end}`,
      );
    }
    tensors.set(name, { dtype, shape, data: bytes.slice(base + start, base + end) });
  }
  return { tensors, metadata };
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

/**
 * A raw tensor as a tfjs tensor: floats become float32, integers int32.
 *
 * @example
 * ```ts
 * import { parseSafetensors, toTensor } from "./safetensors.ts";
 * const st = parseSafetensors(await Deno.readFile("tests/fixtures/coca_tiny_a.safetensors"));
 * console.log(toTensor(st.tensors.get("input.text")!).dtype); // "int32"
 * ```
 */
export function toTensor(raw: RawTensor): tf.Tensor {
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
      for (let i = 0; i < n; i++) out[i] = Number(dv.getBigInt64(i * 8, true));
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
    case "U8":
    case "BOOL":
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
