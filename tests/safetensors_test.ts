import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { setupBackend } from "../src/backends/setup.ts";
import { CoCa } from "../src/model/coca.ts";
import { loadWeights, weightsToBytes } from "../src/weights/io.ts";
import {
  parseSafetensors,
  type RawTensor,
  readSafetensors,
  SafetensorsError,
  serializeSafetensors,
  toTensor,
} from "../src/weights/safetensors.ts";

await setupBackend("cpu");

/** Little-endian bytes of 16-bit words. */
function words(values: readonly number[]): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  const dv = new DataView(out.buffer);
  values.forEach((v, i) => dv.setUint16(2 * i, v, true));
  return out;
}

function decode(dtype: "F16" | "BF16", bits: readonly number[]): Float32Array {
  const t = toTensor({ dtype, shape: [bits.length], data: words(bits) });
  try {
    assert.equal(t.dtype, "float32");
    return t.dataSync() as Float32Array;
  } finally {
    t.dispose();
  }
}

/** Same number, NaN equal to NaN, and -0 distinct from +0. */
function same(a: number, b: number): boolean {
  return Object.is(a, b);
}

Deno.test("F16: known bit patterns", () => {
  const cases: [number, number][] = [
    [0x3c00, 1],
    [0xc000, -2],
    [0x3555, 0.333251953125], // 1365 / 4096
    [0x7bff, 65504], // largest finite
    [0x0400, 2 ** -14], // smallest normal
    [0x0001, 2 ** -24], // smallest subnormal
    [0x03ff, 1023 * 2 ** -24], // largest subnormal
    [0x8001, -(2 ** -24)],
    [0x0000, 0],
    [0x8000, -0],
    [0x7c00, Infinity],
    [0xfc00, -Infinity],
  ];
  const got = decode("F16", cases.map(([h]) => h));
  cases.forEach(([h, want], i) => assert.ok(same(got[i], want), `0x${h.toString(16)}: ${got[i]}`));
  // Every exponent-31 pattern with a non-zero fraction is NaN, either sign, quiet or signalling.
  for (const v of decode("F16", [0x7e00, 0x7c01, 0xfe00, 0x7fff, 0xffff])) assert.ok(isNaN(v));
});

Deno.test("F16: all 65536 patterns decode as the platform's IEEE half (DataView.getFloat16)", () => {
  const all = Array.from({ length: 65536 }, (_, h) => h);
  const got = decode("F16", all);
  const dv = new DataView(words(all).buffer);
  for (const h of all) {
    const want = dv.getFloat16(2 * h, true);
    if (!same(got[h], want)) assert.fail(`0x${h.toString(16)}: ${got[h]}, expected ${want}`);
  }
});

Deno.test("F16: float32 values that fit in half round-trip; a file with shape and offsets too", () => {
  const values = [0, -0, 1, -2, 0.5, 3.140625, 65504, -65504, 2 ** -14, 2 ** -24, 6e-5, 1e-7];
  const halves = new Float16Array(values); // rounds to nearest half: the reference encoder
  const exact = Array.from(halves);
  const tensors = new Map<string, RawTensor>([
    ["h", { dtype: "F16", shape: [3, 4], data: new Uint8Array(halves.buffer) }],
    ["b", {
      dtype: "BF16",
      shape: [2],
      data: words([0x3f80, 0xc000]),
    }],
  ]);
  const parsed = parseSafetensors(serializeSafetensors(tensors)).tensors;
  const h = toTensor(parsed.get("h")!), b = toTensor(parsed.get("b")!);
  assert.deepEqual(h.shape, [3, 4]);
  const got = Array.from(h.dataSync());
  exact.forEach((v, i) => assert.ok(same(got[i], v), `${values[i]} -> ${got[i]}, expected ${v}`));
  // The values representable in half come back unchanged.
  for (const i of [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]) {
    assert.ok(same(got[i], values[i]), `${values[i]}`);
  }
  assert.deepEqual(Array.from(b.dataSync()), [1, -2]);
  tf.dispose([h, b]);
});

/** BF16 by its definition: 1 sign bit, 8 exponent bits (bias 127), 7 fraction bits. */
function bf16Value(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 7) & 0xff, f = h & 0x7f;
  if (e === 0) return s * (f / 128) * 2 ** -126;
  if (e === 255) return f ? NaN : s * Infinity;
  return s * (1 + f / 128) * 2 ** (e - 127);
}

Deno.test("BF16: known bit patterns", () => {
  const cases: [number, number][] = [
    [0x3f80, 1],
    [0xc000, -2],
    [0x4049, 3.140625],
    [0x477f, 65280], // largest bf16 below 65504 (65504 itself needs 11 significant bits)
    [0x7f7f, (2 - 2 ** -7) * 2 ** 127], // largest finite, 3.3895313892515355e38
    [0x0080, 2 ** -126], // smallest normal
    [0x0001, 2 ** -133], // smallest subnormal
    [0x007f, 127 * 2 ** -133], // largest subnormal
    [0x8000, -0],
    [0x7f80, Infinity],
    [0xff80, -Infinity],
  ];
  const got = decode("BF16", cases.map(([h]) => h));
  cases.forEach(([h, want], i) => assert.ok(same(got[i], want), `0x${h.toString(16)}: ${got[i]}`));
  for (const v of decode("BF16", [0x7fc0, 0x7f81, 0xffc0, 0x7fff])) assert.ok(isNaN(v));
});

Deno.test("BF16: all 65536 patterns decode by the format's definition; float32 upper halves round-trip", () => {
  const all = Array.from({ length: 65536 }, (_, h) => h);
  const got = decode("BF16", all);
  for (const h of all) {
    const want = bf16Value(h);
    if (!same(got[h], want)) assert.fail(`0x${h.toString(16)}: ${got[h]}, expected ${want}`);
  }
  // A float32 whose low 16 bits are zero is exactly its upper half read as BF16.
  const f32 = Float32Array.from([1, -2, 0.15625, 2 ** 100, -3 * 2 ** -133, 2 ** -133, 65280]);
  const u32 = new Uint32Array(f32.buffer);
  assert.ok(u32.every((u) => (u & 0xffff) === 0), "test values fit in bf16");
  const back = decode("BF16", Array.from(u32, (u) => u >>> 16));
  f32.forEach((v, i) => assert.ok(same(back[i], v), `${v} -> ${back[i]}`));
});

// ---- Strict parsing: one test per rule of the format and its reference loader ----

const FILE = "w.safetensors";

/** A file from header text (padded to 8 bytes) and data bytes. */
function fileOf(header: string | unknown, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const text = typeof header === "string" ? header : JSON.stringify(header);
  const json = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** Two F32[2] tensors, a at [0, 8] and b at [8, 16]: 16 bytes of data. */
function twoTensors(
  a: unknown = [0, 8],
  b: unknown = [8, 16],
): Record<string, unknown> {
  return {
    a: { dtype: "F32", shape: [2], data_offsets: a },
    b: { dtype: "F32", shape: [2], data_offsets: b },
  };
}

/** Parsing throws a SafetensorsError naming the file (and the tensor) and matching `re`. */
function rejects(bytes: Uint8Array, re: RegExp, tensor?: string): SafetensorsError {
  let caught: unknown;
  try {
    parseSafetensors(bytes, FILE);
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof SafetensorsError, `expected a SafetensorsError, found ${caught}`);
  assert.ok(caught.message.startsWith(`${FILE}: `), caught.message);
  assert.match(caught.message, re);
  if (tensor !== undefined) {
    assert.equal(caught.tensor, tensor);
    assert.ok(caught.message.includes(`tensor "${tensor}"`), caught.message);
  }
  return caught;
}

const DATA = new Uint8Array(16);

Deno.test("safetensors: a valid file parses; spans may be listed out of order", () => {
  const h = twoTensors();
  const st = parseSafetensors(fileOf({ b: h.b, a: h.a, __metadata__: { k: "v" } }, DATA), FILE);
  assert.deepEqual([...st.tensors.keys()], ["b", "a"]);
  assert.deepEqual(st.metadata, { k: "v" });
  assert.deepEqual(parseSafetensors(fileOf({})).tensors.size, 0);
});

Deno.test("safetensors: negative offsets are rejected", () => {
  rejects(
    fileOf(twoTensors([-8, 0], [8, 16]), DATA),
    /expected data_offsets of two non-negative integers, found an array \[-8,0\]/,
    "a",
  );
});

Deno.test("safetensors: overlapping spans are rejected", () => {
  rejects(
    fileOf(twoTensors([0, 8], [4, 12]), DATA.subarray(0, 12)),
    /expected data_offsets starting at 8.*found \[4, 12\].*overlaps/,
    "b",
  );
});

Deno.test("safetensors: a hole between spans is rejected (the data must be covered exactly)", () => {
  rejects(
    fileOf(twoTensors([0, 8], [12, 20]), new Uint8Array(20)),
    /expected data_offsets starting at 8.*found \[12, 20\].*hole of 4 bytes/,
    "b",
  );
  // Bytes after the last tensor are a hole too.
  rejects(
    fileOf(twoTensors(), new Uint8Array(20)),
    /expected \d+ bytes.*found \d+: 4 bytes after the last tensor/,
  );
});

Deno.test("safetensors: duplicate keys in the header are rejected", () => {
  const a = JSON.stringify(twoTensors().a);
  rejects(
    fileOf(`{"a":${a},"a":${a}}`, new Uint8Array(8)),
    /expected each key once in the header, found "a" twice/,
    "a",
  );
  // Inside an entry, and spelled with an escape.
  rejects(
    fileOf(
      `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"\\u0064type":"F32"}}`,
      new Uint8Array(8),
    ),
    /found "dtype" twice/,
    "a",
  );
  rejects(fileOf(`{"__metadata__":{"k":"1","k":"2"}}`), /found "k" twice/);
});

Deno.test("safetensors: string offsets are rejected", () => {
  rejects(
    fileOf(twoTensors([0, 8], ["8", "16"]), DATA),
    /expected data_offsets of two non-negative integers, found an array \["8","16"\]/,
    "b",
  );
});

Deno.test("safetensors: fractional offsets are rejected", () => {
  rejects(
    fileOf(twoTensors([0, 8.5], [8.5, 16]), DATA),
    /two non-negative integers, found an array \[0,8.5\]/,
    "a",
  );
});

Deno.test("safetensors: a truncated file says truncated, with the sizes", () => {
  const whole = fileOf(twoTensors(), DATA);
  rejects(
    whole.subarray(0, whole.length - 3),
    new RegExp(`truncated: expected ${whole.length} bytes.*found ${whole.length - 3}`),
  );
  rejects(
    whole.subarray(0, 20),
    /truncated: expected at least \d+ bytes \(8 \+ a header of \d+\), found 20/,
  );
  rejects(whole.subarray(0, 5), /truncated: expected at least 8 bytes, found 5/);
});

Deno.test("safetensors: a header that is not a JSON object is rejected", () => {
  for (const h of ["[]", "null", "5", '"x"', "[{}]"]) {
    rejects(fileOf(h), /expected a header that is a JSON object/);
  }
  rejects(fileOf("{not json"), /expected a header of valid JSON, found invalid JSON/);
  const bad = fileOf('{"a":1}   ');
  bad[9] = 0xff;
  rejects(bad, /expected a header of UTF-8 JSON, found bytes that are not valid UTF-8/);
});

Deno.test("safetensors: a null (or non-object) entry is rejected", () => {
  rejects(
    fileOf({ a: null }),
    /expected an object \{dtype, shape, data_offsets\}, found null/,
    "a",
  );
  rejects(fileOf({ a: [1, 2] }), /found an array/, "a");
  rejects(
    fileOf({ a: { dtype: "F32", shape: [0] } }),
    /expected exactly the keys dtype, shape, data_offsets, found dtype, shape/,
    "a",
  );
  rejects(
    fileOf({ a: { dtype: "F32", shape: [0], data_offsets: [0, 0], x: 1 } }),
    /found data_offsets, dtype, shape, x/,
    "a",
  );
});

Deno.test("safetensors: an unknown dtype is rejected", () => {
  rejects(
    fileOf({ a: { dtype: "F8_E4M3", shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)),
    /expected a dtype among F32, .*found the string "F8_E4M3"/,
    "a",
  );
  rejects(
    fileOf({ a: { dtype: "toString", shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)),
    /found the string "toString"/,
    "a",
  );
});

Deno.test("safetensors: shapes must be non-negative integers matching the span", () => {
  rejects(
    fileOf({ a: { dtype: "F32", shape: [-1], data_offsets: [0, 0] } }),
    /expected a shape of non-negative integers, found an array \[-1\]/,
    "a",
  );
  rejects(
    fileOf({ a: { dtype: "F32", shape: ["2"], data_offsets: [0, 8] } }, new Uint8Array(8)),
    /shape of non-negative integers/,
    "a",
  );
  rejects(
    fileOf(twoTensors([0, 4], [4, 12]), new Uint8Array(12)),
    /expected 8 bytes for F32\[2\].*found 4/,
    "a",
  );
  rejects(
    fileOf({ a: { dtype: "F32", shape: [2 ** 52, 2 ** 52], data_offsets: [0, 0] } }),
    /at most 2\^53 bytes/,
    "a",
  );
});

Deno.test("safetensors: __metadata__ must be an object of strings", () => {
  rejects(
    fileOf({ __metadata__: { step: 5 } }),
    /expected __metadata__.step to be a string, found number 5/,
  );
  rejects(
    fileOf({ __metadata__: null }),
    /expected __metadata__ to be an object of strings, found null/,
  );
  rejects(fileOf({ __metadata__: ["x"] }), /found an array/);
});

Deno.test("readSafetensors names the file in its errors", async () => {
  const path = await Deno.makeTempFile({ suffix: ".safetensors" });
  try {
    await Deno.writeFile(path, fileOf({ a: null }));
    await assert.rejects(readSafetensors(path), (e) => {
      assert.ok(e instanceof SafetensorsError);
      assert.ok(e.message.startsWith(`${path}: tensor "a": expected an object`), e.message);
      return true;
    });
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("loading a non-float dtype (I64, I32, U8, BOOL) into float weights is an error", async () => {
  const cfg = {
    dim: 16,
    numTokens: 10,
    unimodalDepth: 1,
    multimodalDepth: 1,
    dimHead: 8,
    heads: 2,
    numImgQueries: 2,
  };
  const model = new CoCa(cfg, { seed: 1 });
  const path = await Deno.makeTempFile({ suffix: ".safetensors" });
  try {
    const good = parseSafetensors(await weightsToBytes(model)).tensors;
    const t = good.get("temperature")!; // F32[] or F32[1]: 4 bytes
    for (const [dtype, size] of [["I64", 8], ["I32", 4], ["U8", 1], ["BOOL", 1]] as const) {
      const n = t.data.length / 4;
      const tensors = new Map(good);
      tensors.set("temperature", { dtype, shape: t.shape, data: new Uint8Array(n * size) });
      await Deno.writeFile(path, serializeSafetensors(tensors));
      await assert.rejects(loadWeights(model, path), (e) => {
        assert.ok(e instanceof SafetensorsError, String(e));
        assert.equal(
          e.message,
          `${path}: tensor "temperature": expected a float dtype (F32, F16, BF16, F64) for weights, found ${dtype}`,
        );
        return true;
      });
    }
    // Ints stay allowed where ints are expected: the fixture's token ids parse as I32.
    const fixture = await readSafetensors("tests/fixtures/coca_tiny_a.safetensors");
    assert.equal(fixture.tensors.get("input.text")?.dtype, "I32");
  } finally {
    model.dispose();
    await Deno.remove(path);
  }
});

Deno.test("toTensor: I64 values outside the int32 range are an error naming the tensor, never wrapped", () => {
  const i64 = (values: readonly bigint[]): RawTensor => {
    const data = new Uint8Array(values.length * 8);
    const dv = new DataView(data.buffer);
    values.forEach((v, i) => dv.setBigInt64(8 * i, v, true));
    return { dtype: "I64", shape: [values.length], data };
  };
  // The ends of the int32 range load exactly.
  const ok = toTensor(i64([-(2n ** 31n), 0n, 2n ** 31n - 1n]), { tensor: "ids" });
  assert.equal(ok.dtype, "int32");
  assert.deepEqual([...ok.dataSync()], [-(2 ** 31), 0, 2 ** 31 - 1]);
  ok.dispose();
  const where = { file: "ids.safetensors", tensor: "input.text" };
  for (const [bad, at] of [[2n ** 31n, 1], [-(2n ** 31n) - 1n, 1], [2n ** 40n + 5n, 1]] as const) {
    // 2^40 + 5 wrapped to 5 before.
    assert.throws(() => toTensor(i64([7n, bad, 3n]), where), (e) => {
      assert.ok(e instanceof SafetensorsError, String(e));
      assert.equal(
        e.message,
        `ids.safetensors: tensor "input.text": expected I64 values in the int32 range ` +
          `[-2147483648, 2147483647] (tfjs has no 64-bit integers), found ${bad} at index ${at}`,
      );
      return true;
    });
  }
  // I32 and U8 always fit; BOOL bytes must be 0 or 1.
  const u8 = toTensor({ dtype: "U8", shape: [2], data: Uint8Array.of(0, 255) });
  assert.deepEqual([...u8.dataSync()], [0, 255]);
  u8.dispose();
  assert.throws(
    () => toTensor({ dtype: "BOOL", shape: [3], data: Uint8Array.of(1, 0, 2) }, where),
    /^SafetensorsError: ids.safetensors: tensor "input.text": expected BOOL values 0 or 1, found 2 at index 2$/,
  );
});
