/**
 * Kernels computed on the host over a backend's CPU-side memory, where tfjs's
 * own are missing (wasm: `UnsortedSegmentSum`, the gradient of `gather`) or
 * pathologically slow for CoCa's shapes (cpu-family: `UnsortedSegmentSum` took
 * 15.8 s and `SplitV` 11.3 s of a 29.5 s small-config train step).
 *
 * Rows move with `TypedArray.prototype.set` when long and with a loop when short
 * ({@linkcode copyRows}). On cpu-family backends float32 outputs come
 * from the allocator the backend registers them with (blas: its buffer pool, `blas/buffer_pool.ts`):
 * most of these kernels' time was the page faults of writing fresh memory; wasm's outputs live
 * in wasm memory.
 *
 * @module
 */
import * as tf from "../deps/tf.ts";
import { cpuOutput, cpuValues } from "./cpu_data.ts";

type Values = Float32Array | Int32Array;

/** The typed arrays {@linkcode copyRows} copies between. */
export type RowValues = Float32Array | Int32Array | Uint8Array;

/**
 * Runs at least this long are copied with `set(subarray)`; shorter ones with a loop (creating a
 * subarray costs about as much as copying ~100 floats element by element).
 */
export const SET_MIN_RUN = 128;

/**
 * Copies `rows` runs of `run` elements from `src` (the first at `srcAt`, then every
 * `srcStride`) to `dst` (from `dstAt`, every `dstStride`).
 *
 * @example
 * ```ts
 * import { copyRows } from "./host_kernels.ts";
 * const dst = new Float32Array(4);
 * copyRows(new Float32Array([1, 2, 3, 4, 5, 6]), 1, 3, dst, 0, 2, 2, 2);
 * console.log(dst); // Float32Array [2, 3, 5, 6]
 * ```
 */
export function copyRows(
  src: RowValues,
  srcAt: number,
  srcStride: number,
  dst: RowValues,
  dstAt: number,
  dstStride: number,
  rows: number,
  run: number,
): void {
  if (run >= SET_MIN_RUN) {
    for (let r = 0; r < rows; r++, srcAt += srcStride, dstAt += dstStride) {
      dst.set(src.subarray(srcAt, srcAt + run), dstAt);
    }
    return;
  }
  for (let r = 0; r < rows; r++, srcAt += srcStride, dstAt += dstStride) {
    for (let j = 0; j < run; j++) dst[dstAt + j] = src[srcAt + j];
  }
}

/**
 * Where a cpu-family backend's float32 outputs come from: `alloc(n)` (contents arbitrary: the
 * kernel writes every element) and `allocZeroed(n)`; default `new Float32Array(n)`. The blas
 * backend passes its buffer pool (`blas/buffer_pool.ts`), which is Deno-only, so it is passed in
 * rather than imported here.
 */
export interface HostAllocator {
  alloc(n: number): Float32Array;
  allocZeroed(n: number): Float32Array;
}

const plainAllocator: HostAllocator = {
  alloc: (n) => new Float32Array(n),
  allocZeroed: (n) => new Float32Array(n),
};

/** How a kernel reads inputs and makes outputs on one backend. */
interface HostIO {
  read(backend: unknown, t: tf.TensorInfo): Values;
  /**
   * An output of `shape`; `fill` writes every element of it, except with `zeroed`, where it
   * starts as zeros.
   */
  make(
    backend: unknown,
    shape: number[],
    dtype: tf.DataType,
    fill: (out: Values) => void,
    zeroed?: boolean,
  ): tf.TensorInfo;
}

const wasmIO: HostIO = {
  read: (b, t) => (b as { readSync(id: unknown): Values }).readSync(t.dataId),
  make: (b, shape, dtype, fill, zeroed) => {
    const be = b as {
      makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
      typedArrayFromHeap(info: tf.TensorInfo): Values;
    };
    const out = be.makeOutput(shape, dtype);
    const values = be.typedArrayFromHeap(out);
    if (zeroed) values.fill(0);
    fill(values);
    return out;
  },
};

const cpuIO = (mem: HostAllocator): HostIO => ({
  read: cpuValues,
  make: (b, shape, dtype, fill, zeroed) => {
    const size = shape.reduce((a, c) => a * c, 1);
    const values = dtype === "int32"
      ? new Int32Array(size)
      : zeroed
      ? mem.allocZeroed(size)
      : mem.alloc(size);
    fill(values);
    return cpuOutput(b, shape, values, dtype);
  },
});

function unsortedSegmentSum(io: HostIO): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
    const { numSegments } = attrs as unknown as { numSegments: number };
    const xv = io.read(backend, x), ids = io.read(backend, segmentIds);
    const rows = ids.length;
    const inner = rows === 0 ? 0 : xv.length / rows;
    const outShape = [numSegments, ...x.shape.slice(segmentIds.shape.length)];
    return io.make(backend, outShape, x.dtype, (out) => {
      for (let r = 0; r < rows; r++) {
        const s = ids[r];
        if (s < 0 || s >= numSegments) continue;
        const src = r * inner, dst = s * inner;
        for (let j = 0; j < inner; j++) out[dst + j] += xv[src + j];
      }
    }, true);
  };
}

function splitV(io: HostIO): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: tf.TensorInfo };
    const { numOrSizeSplits, axis } = attrs as unknown as {
      numOrSizeSplits: number | number[];
      axis: number;
    };
    const ax = tf.util.parseAxisParam(axis, x.shape)[0];
    const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, ax);
    const xv = io.read(backend, x);
    const outer = x.shape.slice(0, ax).reduce((a, c) => a * c, 1);
    const inner = x.shape.slice(ax + 1).reduce((a, c) => a * c, 1);
    const rowLen = x.shape[ax] * inner;
    let offset = 0;
    return sizes.map((s) => {
      const at = offset;
      offset += s;
      const shape = [...x.shape];
      shape[ax] = s;
      return io.make(backend, shape, x.dtype, (out) => {
        const run = s * inner;
        copyRows(xv, at * inner, rowLen, out, 0, run, outer, run);
      });
    });
  };
}

function slice(io: HostIO): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: tf.TensorInfo };
    const { begin, size } = attrs as unknown as {
      begin: number | number[];
      size: number | number[];
    };
    const [b, z] = tf.slice_util.parseSliceParams(x, begin, size);
    const xv = io.read(backend, x);
    const rank = x.shape.length;
    const strides = new Array<number>(rank).fill(1);
    for (let i = rank - 2; i >= 0; i--) strides[i] = strides[i + 1] * x.shape[i + 1];
    // Fold trailing dims that are taken whole into one contiguous run.
    let k = rank - 1;
    let run = rank ? z[k] : 1;
    while (k > 0 && z[k] === x.shape[k] && b[k] === 0) {
      k--;
      run *= z[k];
    }
    return io.make(backend, z, x.dtype, (out) => {
      if (rank === 0) {
        out[0] = xv[0];
        return;
      }
      if (out.length === 0) return; // the odometer below would never finish
      const idx = new Array<number>(k).fill(0);
      let dst = 0;
      for (;;) {
        let src = b[k] * strides[k];
        for (let i = 0; i < k; i++) src += (b[i] + idx[i]) * strides[i];
        copyRows(xv, src, 0, out, dst, 0, 1, run);
        dst += run;
        let d = k - 1;
        while (d >= 0 && ++idx[d] === z[d]) idx[d--] = 0;
        if (d < 0) break;
      }
    });
  };
}

function concat(io: HostIO): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const xs = inputs as unknown as tf.TensorInfo[];
    const { axis } = attrs as unknown as { axis: number };
    const first = xs[0];
    const ax = tf.util.parseAxisParam(axis, first.shape)[0];
    const outer = first.shape.slice(0, ax).reduce((a, c) => a * c, 1);
    const inner = first.shape.slice(ax + 1).reduce((a, c) => a * c, 1);
    const outShape = [...first.shape];
    outShape[ax] = xs.reduce((a, x) => a + x.shape[ax], 0);
    const rowOut = outShape[ax] * inner;
    const parts = xs.map((x) => ({ values: io.read(backend, x), run: x.shape[ax] * inner }));
    return io.make(backend, outShape, first.dtype, (out) => {
      let at = 0;
      for (const { values, run } of parts) {
        copyRows(values, 0, run, out, at, rowOut, outer, run);
        at += run;
      }
    });
  };
}

function tile(io: HostIO): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: tf.TensorInfo };
    const { reps } = attrs as unknown as { reps: number[] };
    const xv = io.read(backend, x);
    const rank = x.shape.length;
    const outShape = x.shape.map((d, i) => d * reps[i]);
    return io.make(backend, outShape, x.dtype, (out) => {
      if (out.length === 0) return; // a zero in reps (x itself may be non-empty)
      // Build the result from the innermost axis outwards: tile each axis in place.
      out.set(xv, 0);
      let block = 1; // elements of the current (already tiled) suffix per outer index
      let outerIn = x.shape.reduce((a, c) => a * c, 1);
      for (let ax = rank - 1; ax >= 0; ax--) {
        const rowIn = x.shape[ax] * block; // one row of this axis before tiling it
        outerIn /= x.shape[ax];
        const rowOut = rowIn * reps[ax];
        // Rows are laid out contiguously; expand from the last row backwards.
        for (let o = outerIn - 1; o >= 0; o--) {
          const src = o * rowIn;
          const dst = o * rowOut;
          if (dst !== src) out.copyWithin(dst, src, src + rowIn);
          for (let r = 1; r < reps[ax]; r++) out.copyWithin(dst + r * rowIn, dst, dst + rowIn);
        }
        block = rowOut;
      }
    });
  };
}

const done = new Set<string>();

/**
 * Register the host kernels for a backend: `wasm` gets `UnsortedSegmentSum`;
 * cpu-family backends (`blas`) get `UnsortedSegmentSum`, `SplitV`, `Slice`, `Tile` and
 * `Concat`, their float32 outputs from `allocator` (cpu-family only; default: fresh arrays).
 * Idempotent; replaces existing kernels of those names.
 *
 * @example
 * ```ts
 * import { registerHostKernels } from "./host_kernels.ts";
 * registerHostKernels("wasm");
 * ```
 */
export function registerHostKernels(
  backendName: string,
  kind: "wasm" | "cpu" = "cpu",
  allocator: HostAllocator = plainAllocator,
): void {
  if (done.has(backendName)) return;
  done.add(backendName);
  const io = kind === "wasm" ? wasmIO : cpuIO(allocator);
  const kernels: [string, tf.KernelFunc][] = kind === "wasm"
    ? [["UnsortedSegmentSum", unsortedSegmentSum(io)]]
    : [
      ["UnsortedSegmentSum", unsortedSegmentSum(io)],
      ["SplitV", splitV(io)],
      ["Slice", slice(io)],
      ["Tile", tile(io)],
      ["Concat", concat(io)],
    ];
  for (const [kernelName, kernelFunc] of kernels) {
    if (tf.getKernel(kernelName, backendName)) tf.unregisterKernel(kernelName, backendName);
    tf.registerKernel({ kernelName, backendName, kernelFunc });
  }
}
