import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { setupBackend } from "../src/backends/setup.ts";
import {
  parseSafetensors,
  type RawTensor,
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
