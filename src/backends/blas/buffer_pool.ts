/**
 * Reuse of big Float32Array output buffers on the `"blas"` backend.
 *
 * Why: the first write to newly allocated memory costs a page fault per 4 KiB page (20-30 µs
 * each in these VMs), and glibc returns big freed blocks to the kernel (`munmap`), so every new
 * multi-MiB kernel output was faulted in again, step after step (`bench/NOTES.md`).
 *
 * How: kernels of the blas backend take their outputs from {@linkcode allocFloat32} (exact
 * length; a pooled buffer has stale contents) or {@linkcode allocFloat32Zeroed}. A buffer the
 * pool handed out goes back to the pool only when all of these hold:
 *
 * - a backend prepared by {@linkcode installBufferRecycling} deleted the last of its data entries
 *   whose values are that buffer or a view of it (reference-counted per `ArrayBuffer` across
 *   `data.set` and `data.delete`, so a `Slice` view or a tensor moved under another id keeps it);
 * - its values were never read out through `readSync` / `read` (`dataSync()`, `data()`,
 *   `array()`, `buffer()`): such an array belongs to its reader from then on;
 * - the pool holds less than its byte budget (`COCA_POOL_MAX_MIB`, default 0: no pooling).
 *
 * A buffer that meets the first two but not the budget is detached (`ArrayBuffer.transfer(0)`),
 * which frees its memory at once instead of at some later garbage collection.
 *
 * Buffers under {@linkcode POOL_MIN_LENGTH} elements are not pooled (they are cheap to allocate).
 * Arrays a user passes to `tf.tensor` are never pooled: only arrays this module created are.
 *
 * @module
 */

/** Buffers shorter than this (elements; 64 KiB of float32) are plain `new Float32Array`. */
export const POOL_MIN_LENGTH = 16384;

/**
 * Default of the most bytes the free lists hold together; a released buffer beyond the budget is
 * freed at once. `COCA_POOL_MAX_MIB` overrides it per process (see {@linkcode poolMaxBytes}).
 *
 * 0: released buffers are freed at once (detached) and glibc, tuned by `malloc.ts`, reuses the
 * memory for any size. Measured on the README-config train step (8 steps, blas): with a 256 MiB
 * pool the peak RSS settled at 5251 MiB and each step still took 80 k page faults; with none, at
 * 4858 MiB and 0-4 k faults a step from step 7 (a 512 MiB pool: 5277 MiB; 1 GiB: over 5.2 GB by
 * step 3). The pool helped when freed buffers waited for the GC; detaching them made it redundant.
 */
export const POOL_MAX_BYTES = 0;

let maxBytes: number | undefined;

function envValue(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // no --allow-env: the default
  }
}

/**
 * The pool's byte budget: `COCA_POOL_MAX_MIB` (a whole number of MiB, 0 = no pooling) when set,
 * read once per process, else {@linkcode POOL_MAX_BYTES}; or what
 * {@linkcode setPoolMaxBytes} set. A malformed value is reported on stderr and ignored.
 *
 * @example
 * ```ts
 * import { poolMaxBytes } from "./buffer_pool.ts";
 * console.log(poolMaxBytes() >= 0); // true
 * ```
 */
export function poolMaxBytes(): number {
  if (maxBytes !== undefined) return maxBytes;
  const raw = envValue("COCA_POOL_MAX_MIB");
  if (raw === undefined) return maxBytes = POOL_MAX_BYTES;
  if (!/^\d+$/.test(raw.trim())) {
    console.warn(
      `blas: expected COCA_POOL_MAX_MIB to be a whole number of MiB, found "${raw}"; using ${
        POOL_MAX_BYTES / 2 ** 20
      }`,
    );
    return maxBytes = POOL_MAX_BYTES;
  }
  return maxBytes = Number(raw.trim()) * 2 ** 20;
}

/**
 * Sets the pool's byte budget for this process (0 turns pooling off); free buffers beyond the
 * new budget are freed at once. Returns the previous budget.
 *
 * @example
 * ```ts
 * import { setPoolMaxBytes } from "./buffer_pool.ts";
 * const before = setPoolMaxBytes(256 * 2 ** 20);
 * setPoolMaxBytes(before);
 * ```
 */
export function setPoolMaxBytes(bytes: number): number {
  if (!Number.isFinite(bytes) || bytes < 0) {
    throw new RangeError(`expected a pool budget >= 0 bytes, found ${bytes}`);
  }
  const before = poolMaxBytes();
  maxBytes = bytes;
  for (const [n, list] of free) {
    while (freeBytes > bytes && list.length) {
      const a = list.pop()!;
      freeBytes -= a.byteLength;
      drop(a.buffer as ArrayBuffer);
    }
    if (!list.length) free.delete(n);
  }
  return before;
}

/** Buffers this module created. */
const owned = new WeakSet<ArrayBuffer>();
/** Buffers read out to user code, never reused. */
const escaped = new WeakSet<ArrayBuffer>();
/** Live data entries on each owned buffer. */
const refs = new WeakMap<ArrayBuffer, number>();
/** Free buffers by length. */
const free = new Map<number, Float32Array[]>();
let freeBytes = 0;
const counters = { allocated: 0, reused: 0, released: 0, dropped: 0 };

function take(n: number): Float32Array | undefined {
  const list = free.get(n);
  const a = list?.pop();
  if (a) {
    freeBytes -= a.byteLength;
    counters.reused++;
  }
  return a;
}

/**
 * A Float32Array of exactly `n` elements for a kernel output; from the pool when one of that
 * length is free, so its contents are arbitrary: the kernel must write every element.
 *
 * @example
 * ```ts
 * import { allocFloat32 } from "./buffer_pool.ts";
 * const out = allocFloat32(4);
 * out.fill(1);
 * console.log(out.length); // 4
 * ```
 */
export function allocFloat32(n: number): Float32Array {
  if (n < POOL_MIN_LENGTH) return new Float32Array(n);
  const a = take(n);
  if (a) return a;
  const fresh = new Float32Array(n);
  owned.add(fresh.buffer as ArrayBuffer);
  counters.allocated++;
  return fresh;
}

/**
 * Whether a kernel may overwrite `values` in place because nothing else can see them: an array
 * this module allocated, spanning its whole buffer, on which exactly one data entry of the
 * backend lives, and never read out to user code (`dataSync()` and the like hand out the array
 * itself on cpu-family backends). The caller must also know that entry is held by one tensor
 * only (the backend's `refCount` of its `dataId` is 1). AdamW updates its state this way.
 *
 * @example
 * ```ts
 * import { allocFloat32, exclusiveArray } from "./buffer_pool.ts";
 * console.log(exclusiveArray(new Float32Array(4))); // false: not allocated here
 * console.log(exclusiveArray(allocFloat32(4))); // false: too small to be tracked
 * ```
 */
export function exclusiveArray(values: Float32Array): boolean {
  const buf = values.buffer as ArrayBuffer;
  return owned.has(buf) && !escaped.has(buf) && refs.get(buf) === 1 &&
    values.byteOffset === 0 && values.byteLength === buf.byteLength;
}

/**
 * Like {@linkcode allocFloat32}, with every element 0.
 *
 * @example
 * ```ts
 * import { allocFloat32Zeroed } from "./buffer_pool.ts";
 * console.log(allocFloat32Zeroed(3)); // Float32Array [0, 0, 0]
 * ```
 */
export function allocFloat32Zeroed(n: number): Float32Array {
  if (n < POOL_MIN_LENGTH) return new Float32Array(n);
  const a = take(n);
  if (a) return a.fill(0);
  return allocFloat32(n);
}

/**
 * Gives a buffer nobody holds back to the allocator now: detaching it (`transfer(0)`) frees its
 * memory at once, where dropping the last reference would leave it to a later garbage
 * collection (meanwhile it counts in the RSS; the README-config train step grew by hundreds of
 * MiB a step that way). Safe for the same reason as reuse: no data entry holds it and it was
 * never read out.
 */
function drop(buf: ArrayBuffer): void {
  counters.dropped++;
  (buf as ArrayBuffer & { transfer?: (n: number) => ArrayBuffer }).transfer?.(0);
}

function bufferOf(values: unknown): ArrayBuffer | undefined {
  if (!(values instanceof Float32Array)) return undefined;
  const buf = values.buffer as ArrayBuffer;
  return owned.has(buf) ? buf : undefined;
}

function addRef(values: unknown): void {
  const buf = bufferOf(values);
  if (buf) refs.set(buf, (refs.get(buf) ?? 0) + 1);
}

function dropRef(values: unknown): void {
  const buf = bufferOf(values);
  if (!buf) return;
  const r = (refs.get(buf) ?? 0) - 1;
  if (r > 0) {
    refs.set(buf, r);
    return;
  }
  refs.delete(buf);
  if (escaped.has(buf)) return;
  if (freeBytes + buf.byteLength > poolMaxBytes()) {
    drop(buf);
    return;
  }
  const whole = new Float32Array(buf);
  let list = free.get(whole.length);
  if (!list) free.set(whole.length, list = []);
  list.push(whole);
  freeBytes += buf.byteLength;
  counters.released++;
}

function markEscaped(values: unknown): void {
  const buf = bufferOf(values);
  if (buf) escaped.add(buf);
}

/** The parts of tfjs's `MathBackendCPU` the recycling hooks into. */
export interface RecyclableBackend {
  data: {
    has(id: object): boolean;
    get(id: object): { values?: unknown } | undefined;
    set(id: object, value: { values?: unknown }): void;
    delete(id: object): boolean;
  };
  readSync(id: object): unknown;
}

const installed = new WeakSet<object>();

/**
 * Makes `backend` give pool buffers back when the last data entry on them is deleted (tfjs's
 * `disposeData` on refcount 0, `dispose(force)`), and keeps any buffer read out through
 * `readSync` (which `read`, `dataSync`, `data`, `buffer` call) out of the pool for good.
 * Idempotent per backend.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { installBufferRecycling } from "./buffer_pool.ts";
 * installBufferRecycling(new tf.MathBackendCPU());
 * ```
 */
export function installBufferRecycling(backend: RecyclableBackend): void {
  if (installed.has(backend)) return;
  installed.add(backend);
  const data = backend.data;
  const set = data.set.bind(data), del = data.delete.bind(data);
  data.set = (id, value) => {
    if (data.has(id)) dropRef(data.get(id)?.values);
    addRef(value?.values);
    set(id, value);
  };
  data.delete = (id) => {
    if (!data.has(id)) return del(id);
    const values = data.get(id)?.values;
    const r = del(id);
    dropRef(values);
    return r;
  };
  const readSync = backend.readSync.bind(backend);
  backend.readSync = (id) => {
    if (data.has(id)) markEscaped(data.get(id)?.values);
    return readSync(id);
  };
}

/**
 * Pool counters since the process started: buffers `allocated` new, `reused` from the pool,
 * `released` back to it, `dropped` (budget full); `freeBytes` held now.
 *
 * @example
 * ```ts
 * import { bufferPoolStats } from "./buffer_pool.ts";
 * console.log(bufferPoolStats().freeBytes >= 0); // true
 * ```
 */
export function bufferPoolStats(): {
  allocated: number;
  reused: number;
  released: number;
  dropped: number;
  freeBytes: number;
} {
  return { ...counters, freeBytes };
}

/**
 * Empties the pool's free lists, freeing their buffers' memory now.
 *
 * @example
 * ```ts
 * import { bufferPoolStats, clearBufferPool } from "./buffer_pool.ts";
 * clearBufferPool();
 * console.log(bufferPoolStats().freeBytes); // 0
 * ```
 */
export function clearBufferPool(): void {
  for (const list of free.values()) for (const a of list) drop(a.buffer as ArrayBuffer);
  free.clear();
  freeBytes = 0;
}
