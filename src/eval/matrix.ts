/**
 * Score matrices as the metrics take them (nested arrays or flat data plus shape) and the one
 * check of recall/accuracy cut-offs.
 *
 * @module
 */
import { isPositiveInt } from "../util/validate.ts";

/** A dense row-major matrix given either as nested arrays or as flat data plus shape. */
export type Matrix = readonly (readonly number[])[] | {
  data: ArrayLike<number>;
  shape: readonly [number, number];
};

/** A matrix read through one accessor, whatever its storage. */
export interface Dense {
  rows: number;
  cols: number;
  at: (i: number, j: number) => number;
}

/** `m` as a {@linkcode Dense} view; `name` goes into the errors for ragged rows or a bad length. */
export function dense(m: Matrix, name: string): Dense {
  if (Array.isArray(m)) {
    const rows = m.length;
    const cols = rows > 0 ? m[0].length : 0;
    m.forEach((r: readonly number[], i: number) => {
      if (r.length !== cols) {
        throw new RangeError(`expected ${name} rows of length ${cols}, found ${r.length} at ${i}`);
      }
    });
    return { rows, cols, at: (i, j) => m[i][j] };
  }
  const { data, shape } = m as { data: ArrayLike<number>; shape: readonly [number, number] };
  const [rows, cols] = shape;
  if (data.length !== rows * cols) {
    throw new RangeError(
      `expected ${name} data of length ${rows}*${cols}=${rows * cols}, found ${data.length}`,
    );
  }
  return { rows, cols, at: (i, j) => data[i * cols + j] };
}

/** Throws unless every cut-off `k` is a positive integer (the one check of every metric's ks). */
export function checkKs(ks: readonly number[]): void {
  for (const k of ks) {
    if (!isPositiveInt(k)) {
      throw new RangeError(`expected every k to be a positive integer, found ${k}`);
    }
  }
}
