/**
 * Seeded fuzzing of the safetensors parser: valid files (the tiny parity fixture and small
 * synthetic ones) mutated thousands of times (bit flips in header and data, truncation, header
 * length changes, header field swaps, type changes, huge numbers, duplicated keys). Each case
 * either parses to tensors that match their declared shape and dtype, or throws a
 * SafetensorsError naming the file: never another error, never a case slower than a bound.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { setupBackend } from "../src/backends/setup.ts";
import { mulberry32, pick, type RandFn, randInt } from "../src/util/rng.ts";
import { stateDictFromBytes } from "../src/weights/io.ts";
import {
  DTYPE_BYTES,
  parseSafetensors,
  type RawTensor,
  SAFETENSORS_DTYPES,
  SafetensorsError,
  serializeSafetensors,
  toTensor,
} from "../src/weights/safetensors.ts";
import { assertRssBound } from "./helpers.ts";

await setupBackend("cpu");

const SEED = 20261130;
const FILE = "fuzz.safetensors";
/** No single case may take longer (a parse of a few MB takes milliseconds). */
const CASE_MS = 2000;

const SIZE = DTYPE_BYTES;

/** A small valid file: 1..5 tensors of random dtypes and shapes (zero-size dims included). */
function synthetic(rand: RandFn): Uint8Array {
  const tensors = new Map<string, RawTensor>();
  const n = 1 + randInt(rand, 5);
  for (let i = 0; i < n; i++) {
    const dtype = pick(rand, SAFETENSORS_DTYPES);
    const shape = Array.from({ length: randInt(rand, 4) }, () => randInt(rand, 5));
    const count = shape.reduce((a, b) => a * b, 1);
    const data = new Uint8Array(count * SIZE[dtype]).map(() => randInt(rand, 256));
    tensors.set(pick(rand, ["w", "b", "model.x", "é", "a b", `t${i}`]) + i, { dtype, shape, data });
  }
  const metadata: Record<string, string> = rand() < 0.5
    ? {}
    : { format: "fuzz", step: String(randInt(rand, 100)) };
  return serializeSafetensors(tensors, metadata);
}

/** The header text and the data bytes of a valid file. */
function split(bytes: Uint8Array): { text: string; data: Uint8Array } {
  const len = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return {
    text: new TextDecoder().decode(bytes.subarray(8, 8 + len)),
    data: bytes.subarray(8 + len),
  };
}

/** A file from header text and data, with the header's true length (or `len`). */
function join(text: string, data: Uint8Array, len?: bigint): Uint8Array {
  const json = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, len ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** Values a header field may be replaced with: wrong types, huge and odd numbers. */
const ODD_VALUES = [
  "null",
  '"8"',
  "8.5",
  "-1",
  "-0",
  "0",
  "1e400",
  "-1e400",
  "9007199254740993",
  "1e20",
  "18446744073709551615",
  "[]",
  "{}",
  "true",
  '"F32"',
  '"I64"',
  '"F8_E4M3"',
  "[0]",
  "[0,0]",
  "[1,2,3]",
  '["0","4"]',
  "[4,0]",
  "[-4,0]",
  "[0.5,4.5]",
  "[1e300,1e300]",
  "[4294967296,4294967300]",
  '{"dtype":"F32"}',
];

/** One structural mutation of the header object, written back as JSON text. */
function mutateHeader(rand: RandFn, text: string): string {
  const header = JSON.parse(text) as Record<string, unknown>;
  const names = Object.keys(header);
  if (names.length === 0) return "{" + pick(rand, ['"a":null', '"__metadata__":[]', "}"]) + "}";
  const name = pick(rand, names);
  const entry = header[name] as Record<string, unknown>;
  const fields = Object.keys(entry);
  const field = pick(rand, fields.length ? fields : ["dtype"]);
  const other = header[pick(rand, names)] as Record<string, unknown>;
  const raw = (v: string) => `"@@${v}@@"`; // a placeholder replaced by raw JSON text below
  switch (randInt(rand, 10)) {
    case 0: // swap a field between two entries
      [entry[field], other[field]] = [other[field], entry[field]];
      break;
    case 1: { // swap two fields of one entry
      const f2 = pick(rand, fields.length ? fields : ["shape"]);
      [entry[field], entry[f2]] = [entry[f2], entry[field]];
      break;
    }
    case 2: // a field of another type, or a huge or odd number
    case 3:
      entry[field] = raw(pick(rand, ODD_VALUES));
      break;
    case 4: { // an offset or a dimension moved by a little or a lot
      const arr = entry[pick(rand, ["data_offsets", "shape"])];
      if (Array.isArray(arr) && arr.length) {
        const i = randInt(rand, arr.length);
        arr[i] = pick(rand, [
          arr[i] + 1,
          arr[i] - 1,
          arr[i] * 2,
          arr[i] + 2 ** 31,
          2 ** 53,
          -arr[i],
        ]);
      }
      break;
    }
    case 5: // a field removed or one added
      if (rand() < 0.5) delete entry[field];
      else entry[pick(rand, ["extra", "dtype ", "offsets"])] = 1;
      break;
    case 6: // an entry that is not an object
      header[name] = raw(pick(rand, ODD_VALUES));
      break;
    case 7: // a dtype changed
      entry.dtype = pick(rand, [...SAFETENSORS_DTYPES, "F8_E5M2", "f32", "U64", ""]);
      break;
    case 8: // metadata with a non-string value
      header.__metadata__ = rand() < 0.5
        ? { step: raw(pick(rand, ODD_VALUES)) }
        : raw(pick(rand, ODD_VALUES));
      break;
    case 9: { // a duplicated key (JSON.parse would keep the last silently)
      const json = JSON.stringify(header);
      const copy = `${JSON.stringify(name)}:${JSON.stringify(header[name])}`;
      return rand() < 0.5 ? `{${copy},${json.slice(1)}` : `${json.slice(0, -1)},${copy}}`;
    }
  }
  return JSON.stringify(header).replace(/"@@(.*?)@@"/g, (_, v) => v.replaceAll('\\"', '"'));
}

/** One mutation of a valid file. */
function mutate(rand: RandFn, bytes: Uint8Array): Uint8Array {
  const { text, data } = split(bytes);
  const headerEnd = 8 + text.length;
  switch (randInt(rand, 8)) {
    case 0: { // bit flips in the header
      const out = bytes.slice();
      for (let k = 1 + randInt(rand, 4); k > 0; k--) {
        out[8 + randInt(rand, text.length)] ^= 1 << randInt(rand, 8);
      }
      return out;
    }
    case 1: { // bit flips anywhere (mostly data)
      const out = bytes.slice();
      for (let k = 1 + randInt(rand, 8); k > 0; k--) {
        out[randInt(rand, out.length)] ^= 1 << randInt(rand, 8);
      }
      return out;
    }
    case 2: // truncation at a random point (anywhere, or inside the header)
      return bytes.slice(0, randInt(rand, rand() < 0.5 ? bytes.length : headerEnd + 1));
    case 3: { // extra bytes at the end
      const out = new Uint8Array(bytes.length + 1 + randInt(rand, 16));
      out.set(bytes);
      return out;
    }
    case 4: { // the header length field changed
      const out = bytes.slice();
      const len = BigInt(text.length);
      const v = pick(rand, [
        len + 1n,
        len - 1n,
        len + 8n,
        0n,
        2n ** 63n,
        2n ** 64n - 1n,
        BigInt(bytes.length),
        100_000_001n,
      ]);
      new DataView(out.buffer).setBigUint64(0, v < 0n ? 0n : v, true);
      return out;
    }
    case 5: { // a character of the header text changed, the length kept consistent
      const i = randInt(rand, text.length);
      const c = pick(rand, ['"', "{", "}", "[", "]", ",", ":", "-", "0", "9", ".", "e", "\\", ""]);
      return join(text.slice(0, i) + c + text.slice(i + 1), data);
    }
    default: // structural mutations of the header JSON
      return join(mutateHeader(rand, text), data);
  }
}

/** Parse; a success must hold well-formed tensors, a failure must be a SafetensorsError. */
function check(bytes: Uint8Array, toTensors: boolean, label: string): "ok" | "error" {
  let st;
  try {
    st = parseSafetensors(bytes, FILE);
  } catch (e) {
    if (!(e instanceof SafetensorsError)) {
      assert.fail(`${label}: expected a SafetensorsError, found ${e}`);
    }
    assert.ok(e.message.startsWith(`${FILE}: `), `${label}: ${e.message}`);
    assert.match(e.message, /expected .*found/, `${label}: ${e.message}`);
    return "error";
  }
  let total = 0;
  for (const [name, t] of st.tensors) {
    assert.ok(SAFETENSORS_DTYPES.includes(t.dtype), `${label}: ${name} ${t.dtype}`);
    assert.ok(t.shape.every((d) => Number.isSafeInteger(d) && d >= 0), `${label}: ${name}`);
    const count = t.shape.reduce((a, b) => a * b, 1);
    assert.equal(t.data.length, count * SIZE[t.dtype], `${label}: ${name}`);
    total += t.data.length;
    if (toTensors) {
      let x;
      try {
        x = toTensor(t, { file: FILE, tensor: name });
      } catch (e) {
        // Integers tfjs cannot hold (I64 beyond int32, BOOL bytes other than 0/1) are refused.
        assert.ok(
          e instanceof SafetensorsError,
          `${label}: expected a SafetensorsError, found ${e}`,
        );
        assert.ok(["I64", "BOOL"].includes(t.dtype), `${label}: ${e.message}`);
        assert.ok(
          e.message.startsWith(`${FILE}: tensor ${JSON.stringify(name)}: expected`),
          e.message,
        );
        continue;
      }
      assert.deepEqual(x.shape, t.shape, `${label}: ${name}`);
      assert.equal(x.size, count);
      x.dispose();
    }
  }
  assert.ok(total <= bytes.length, label);
  for (const v of Object.values(st.metadata)) assert.equal(typeof v, "string", label);
  return "ok";
}

function run(
  name: string,
  sources: (rand: RandFn) => Uint8Array,
  cases: number,
  toTensors: (i: number) => boolean,
  maxStack: number,
  extra?: (bytes: Uint8Array, label: string) => void,
) {
  Deno.test(`fuzz safetensors: ${name}`, () => {
    const rand = mulberry32(SEED);
    const seen = { ok: 0, error: 0 };
    let slowest = 0;
    for (let i = 0; i < cases; i++) {
      assertRssBound(i, `fuzz safetensors ${name}`);
      let bytes = sources(rand);
      // One to maxStack mutations stacked.
      for (let k = 1 + randInt(rand, maxStack); k > 0; k--) {
        try {
          bytes = mutate(rand, bytes);
        } catch {
          break; // the previous mutation broke the header: mutate no further
        }
      }
      const label = `${name} case ${i} (seed ${SEED})`;
      const t0 = performance.now();
      seen[check(bytes, toTensors(i), label)]++;
      extra?.(bytes, label);
      const ms = performance.now() - t0;
      slowest = Math.max(slowest, ms);
      assert.ok(ms < CASE_MS, `${label} took ${ms.toFixed(0)} ms`);
    }
    // Both outcomes occur: the mutations are neither all harmless nor all fatal.
    assert.ok(seen.ok >= cases / 100 && seen.error > cases / 3, JSON.stringify(seen));
    console.log(
      `${name}: ${cases} cases, ${JSON.stringify(seen)}, slowest ${slowest.toFixed(1)} ms`,
    );
  });
}

run("small synthetic files", synthetic, 4000, () => true, 3);

const fixture = await Deno.readFile(new URL("fixtures/coca_tiny_a.safetensors", import.meta.url));
// A 3.7 MB file: one mutation per case (each copies it), tensors built for one case in 20.
run("the tiny parity fixture", () => fixture, 500, (i) => i % 20 === 0, 1, (bytes, label) => {
  // As weights: only the float model.* tensors may load; anything else is a SafetensorsError.
  if (randInt(mulberry32(bytes.length), 10) !== 0) return;
  try {
    tf.dispose([...stateDictFromBytes(bytes, "model.", FILE).values()]);
  } catch (e) {
    assert.ok(e instanceof SafetensorsError, `${label}: expected a SafetensorsError, found ${e}`);
  }
});
