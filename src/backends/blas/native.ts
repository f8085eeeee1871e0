/**
 * The native host kernels of the `"blas"` backend (`native/coca_kernels.c`): SwiGLU, the
 * attention softmax and its gradient, layer norm, token cross-entropy, AdamW, the rotary
 * embedding, GELU and binary elementwise ops, compiled so that they vectorise, split over the same number of threads as
 * OpenBLAS, and called through `Deno.dlopen` like OpenBLAS. The JavaScript kernels they replace
 * stay as the fallback: without the library (not built, or `COCA_NATIVE=off`) every kernel runs
 * as before.
 *
 * Build: `deno task native` (needs a C compiler; see `native_build.ts`). The library is found at
 * `$COCA_NATIVE` when that is a path, else at {@linkcode defaultNativeLibraryPath} (next to the C
 * source, not in git). A library built from another version of the C source is refused with a
 * reason (its embedded source id differs from the source's {@linkcode nativeSourceId}), so a
 * stale build never runs.
 *
 * @module
 */
import { pinLibrary } from "./openblas.ts";

/** The environment variable: `off` disables the native kernels; a path names the library. */
export const NATIVE_ENV = "COCA_NATIVE";

const SYMBOLS = {
  coca_source_id: { parameters: [], result: "pointer" },
  coca_set_threads: { parameters: ["i32"], result: "i32" },
  coca_get_threads: { parameters: [], result: "i32" },
  coca_exp: { parameters: ["buffer", "buffer", "i64"], result: "void" },
  coca_swiglu: { parameters: ["buffer", "buffer", "i64", "i64"], result: "void" },
  coca_swiglu_grad: { parameters: ["buffer", "buffer", "buffer", "i64", "i64"], result: "void" },
  coca_adamw: {
    parameters: [
      "buffer", // p (updated in place)
      "buffer", // g
      "buffer", // m (updated in place)
      "buffer", // v (updated in place)
      "i64", // n
      "f32", // lr
      "f32", // beta1
      "f32", // beta2
      "f32", // eps
      "f32", // lr * weight decay
      "f32", // bc1
      "f32", // bc2
      "f32", // gradient scale
    ],
    result: "void",
  },
  coca_layernorm: {
    parameters: ["buffer", "buffer", "buffer", "buffer", "i64", "i64", "f32"],
    result: "void",
  },
  coca_layernorm_grad: {
    parameters: [
      "buffer", // x
      "buffer", // scale
      "buffer", // dy
      "buffer", // dx
      "buffer", // dscale
      "buffer", // dshift
      "buffer", // scratch
      "i64", // rows
      "i64", // d
      "f32", // eps
    ],
    result: "void",
  },
  coca_attention_softmax: {
    parameters: ["buffer", "i64", "i64", "f32", "i32", "i64", "buffer", "i64", "i64"],
    result: "void",
  },
  coca_attention_softmax_grad: {
    parameters: ["buffer", "buffer", "i64", "i64", "f32"],
    result: "void",
  },
  coca_nll: { parameters: ["buffer", "buffer", "buffer", "i64", "i64"], result: "void" },
  coca_nll_grad: {
    parameters: ["buffer", "buffer", "buffer", "buffer", "i64", "i64"],
    result: "void",
  },
  coca_gelu: { parameters: ["buffer", "buffer", "buffer", "i64"], result: "void" },
  coca_rotary: {
    parameters: ["buffer", "buffer", "buffer", "buffer", "i64", "i64", "i64", "i32"],
    result: "void",
  },
  coca_binary: {
    parameters: ["i32", "buffer", "i64", "i64", "buffer", "i64", "i64", "buffer", "i64", "i64"],
    result: "i32",
  },
} as const;

/** Binary operations of {@linkcode NativeKernels.binary}, by the C library's numbering. */
export const NATIVE_BINARY_OPS = {
  add: 0,
  sub: 1,
  mul: 2,
  div: 3,
  max: 4,
  min: 5,
  sqdiff: 6,
} as const;

/** AdamW hyper-parameters of one update (see `adamw_kernel.ts`). */
export interface NativeAdamWArgs {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** `lr · weightDecay`. */
  decay: number;
  bc1: number;
  bc2: number;
  gradScale: number;
}

/** The loaded library's kernels; arrays may be `subarray` views. */
export interface NativeKernels {
  /** The library's path. */
  readonly library: string;
  /** Threads the kernels split their work over. */
  threads(): number;
  /** Sets the thread count (at least 1); returns the count in effect. */
  setThreads(n: number): number;
  /** `out[i] = e^x[i]` (the exp every native kernel uses). */
  exp(x: Float32Array, out: Float32Array): void;
  /** `t (rows, 2F)` = `[x, g]` → `out (rows, F)` = `x · g · σ(g)`. */
  swiglu(t: Float32Array, out: Float32Array, rows: number, F: number): void;
  /** The SwiGLU gradient `dt (rows, 2F)` from `t` and `dy (rows, F)`. */
  swigluGrad(t: Float32Array, dy: Float32Array, dt: Float32Array, rows: number, F: number): void;
  /** One AdamW update of `p`, `m` and `v` in place (three distinct arrays; `g` is read). */
  adamw(
    p: Float32Array,
    g: Float32Array,
    m: Float32Array,
    v: Float32Array,
    args: NativeAdamWArgs,
  ): void;
  /** Layer norm of `rows` rows of `d` into `y`. */
  layerNorm(
    x: Float32Array,
    scale: Float32Array,
    shift: Float32Array,
    y: Float32Array,
    rows: number,
    d: number,
    eps: number,
  ): void;
  /** Layer norm gradient: `dx (rows, d)`, `dscale (d)`, `dshift (d)`. */
  layerNormGrad(
    x: Float32Array,
    scale: Float32Array,
    dy: Float32Array,
    dx: Float32Array,
    dscale: Float32Array,
    dshift: Float32Array,
    rows: number,
    d: number,
    eps: number,
  ): void;
  /**
   * Scale, causal mask, bias and softmax of a `(rows, M)` block of scores in place: row `i` sees
   * keys `j < visible0 + i + 1` when `causal`; `bias[i·biasRow + j·biasCol]` is added when given.
   */
  attentionSoftmax(
    p: Float32Array,
    rows: number,
    M: number,
    scale: number,
    causal: boolean,
    visible0: number,
    bias: Float32Array | null,
    biasRow: number,
    biasCol: number,
  ): void;
  /** `dp ← (p ⊙ dp − p · rowsum(p ⊙ dp)) · scale` over `(rows, M)`, in place. */
  attentionSoftmaxGrad(
    dp: Float32Array,
    p: Float32Array,
    rows: number,
    M: number,
    scale: number,
  ): void;
  /** Per-row `logsumexp(x) − x[label]` (0 for a label outside `[0, V)`). */
  nll(logits: Float32Array, labels: Int32Array, out: Float32Array, N: number, V: number): void;
  /** Its gradient, `dy[r] · (softmax(x_r) − onehot)` (a zero row for `dy` 0 or a bad label). */
  nllGrad(
    logits: Float32Array,
    labels: Int32Array,
    dy: Float32Array,
    out: Float32Array,
    N: number,
    V: number,
  ): void;
  /** `out = GELU(x)` (exact, erf form), or with `dy`, `out = dy · GELU'(x)`. */
  gelu(x: Float32Array, dy: Float32Array | null, out: Float32Array): void;
  /**
   * Rotary embedding of `rows` rows of `D` (row `r` at position `r mod L` of the `(L, D)` tables),
   * or with `grad`, its gradient (`t` is then `dy`); see `rotary_kernel.ts`.
   */
  rotary(
    t: Float32Array,
    cos: Float32Array,
    sin: Float32Array,
    out: Float32Array,
    rows: number,
    L: number,
    D: number,
    grad: boolean,
  ): void;
  /**
   * `rows × inner` outputs `out[r·inner + i] = a[r·aRow + i·aStep] op b[r·bRow + i·bStep]`.
   */
  binary(
    op: keyof typeof NATIVE_BINARY_OPS,
    a: Float32Array,
    aRow: number,
    aStep: number,
    b: Float32Array,
    bRow: number,
    bStep: number,
    out: Float32Array,
    rows: number,
    inner: number,
  ): void;
}

/** Result of {@linkcode loadNativeKernels}. */
export type LoadNativeResult =
  | { ok: true; kernels: NativeKernels }
  | { ok: false; reason: string };

/** The C source's URL. */
export const NATIVE_SOURCE_URL: URL = new URL("./native/coca_kernels.c", import.meta.url);

/**
 * Where `deno task native` writes the library by default: `native/libcoca_kernels.so` (`.dylib`
 * on macOS) next to the C source, as a path (undefined when this module is not on the file
 * system, e.g. imported over https).
 *
 * @example
 * ```ts
 * import { defaultNativeLibraryPath } from "./native.ts";
 * console.log(defaultNativeLibraryPath()); // .../src/backends/blas/native/libcoca_kernels.so
 * ```
 */
export function defaultNativeLibraryPath(): string | undefined {
  if (NATIVE_SOURCE_URL.protocol !== "file:") return undefined;
  const ext = Deno.build.os === "darwin" ? "dylib" : "so";
  return decodeURIComponent(
    new URL(`./native/libcoca_kernels.${ext}`, import.meta.url).pathname,
  );
}

/**
 * The id of a C source text: 16 hex digits of its 64-bit FNV-1a hash. The build embeds the
 * source's id in the library; the loader compares it with the source next to it.
 *
 * @example
 * ```ts
 * import { nativeSourceId } from "./native.ts";
 * console.log(nativeSourceId(new TextEncoder().encode("int x;"))); // 16 hex digits
 * ```
 */
export function nativeSourceId(source: Uint8Array): string {
  let h = 0xcbf29ce484222325n;
  const prime = 0x100000001b3n, mask = 0xffffffffffffffffn;
  // 64-bit FNV-1a on BigInt is slow per byte; fold 4 bytes per round instead (still a fine
  // change detector for a source file).
  const n = source.length;
  for (let i = 0; i < n; i += 4) {
    const word = source[i] | (source[i + 1] ?? 0) << 8 | (source[i + 2] ?? 0) << 16 |
      (source[i + 3] ?? 0) << 24;
    h = ((h ^ BigInt(word >>> 0)) * prime) & mask;
  }
  return h.toString(16).padStart(16, "0");
}

function readSourceId(): string | undefined {
  try {
    if (NATIVE_SOURCE_URL.protocol !== "file:") return undefined;
    return nativeSourceId(Deno.readFileSync(NATIVE_SOURCE_URL));
  } catch {
    return undefined;
  }
}

function envValue(): string | undefined {
  try {
    return Deno.env.get(NATIVE_ENV) || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Opens the native kernel library: `opts.path`, else `$COCA_NATIVE` when it is a path, else
 * {@linkcode defaultNativeLibraryPath}. Never throws: `{ok: false, reason}` when
 * `COCA_NATIVE=off`, when there is no library (with the command that builds one), when it
 * cannot be opened (or FFI is not permitted), or when it was built from a different source:
 * the id of the source next to this module when the library is the default one, `sourceId` when
 * given, else not checked. `threads` sets the thread count (default 1).
 *
 * @example
 * ```ts
 * import { loadNativeKernels } from "./native.ts";
 * const r = loadNativeKernels({ threads: 1 });
 * console.log(r.ok ? `native kernels: ${r.kernels.library}` : r.reason);
 * ```
 */
export function loadNativeKernels(
  opts: { path?: string; threads?: number; sourceId?: string } = {},
): LoadNativeResult {
  const env = envValue();
  if (opts.path === undefined && env?.toLowerCase() === "off") {
    return { ok: false, reason: `${NATIVE_ENV}=off` };
  }
  const path = opts.path ?? env ?? defaultNativeLibraryPath();
  if (path === undefined) return { ok: false, reason: "no native library path" };
  try {
    Deno.statSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      return { ok: false, reason: `no native library at ${path} (build it: deno task native)` };
    }
    // No read permission to stat: try to open it anyway.
  }
  let lib: Deno.DynamicLibrary<typeof SYMBOLS>;
  try {
    lib = Deno.dlopen(path, SYMBOLS);
  } catch (e) {
    return { ok: false, reason: `could not open ${path}: ${(e as Error).message}` };
  }
  const idPtr = lib.symbols.coca_source_id();
  const built = idPtr === null ? "" : new Deno.UnsafePointerView(idPtr).getCString();
  const expected = opts.sourceId ??
    (opts.path === undefined && env === undefined ? readSourceId() : undefined);
  if (expected !== undefined && built !== expected) {
    lib.close();
    return {
      ok: false,
      reason: `the native library ${path} was built from another version of coca_kernels.c ` +
        `(source id ${built}, expected ${expected}); rebuild it: deno task native`,
    };
  }
  // Its worker threads must never run in unmapped code (Deno closes handles at exit).
  pinLibrary(path);
  const kernels = wrap(lib, path);
  kernels.setThreads(opts.threads ?? 1);
  return { ok: true, kernels };
}

function wrap(lib: Deno.DynamicLibrary<typeof SYMBOLS>, library: string): NativeKernels {
  const s = lib.symbols;
  let scratch = new Float32Array(0);
  return {
    library,
    threads: () => s.coca_get_threads(),
    setThreads: (n) => s.coca_set_threads(Math.max(1, Math.floor(n))),
    exp: (x, out) => s.coca_exp(x, out, BigInt(Math.min(x.length, out.length))),
    swiglu: (t, out, rows, F) => s.coca_swiglu(t, out, BigInt(rows), BigInt(F)),
    swigluGrad: (t, dy, dt, rows, F) => s.coca_swiglu_grad(t, dy, dt, BigInt(rows), BigInt(F)),
    adamw: (p, g, m, v, a) =>
      s.coca_adamw(
        p,
        g,
        m,
        v,
        BigInt(p.length),
        a.lr,
        a.beta1,
        a.beta2,
        a.eps,
        a.decay,
        a.bc1,
        a.bc2,
        a.gradScale,
      ),
    layerNorm: (x, scale, shift, y, rows, d, eps) =>
      s.coca_layernorm(x, scale, shift, y, BigInt(rows), BigInt(d), eps),
    layerNormGrad: (x, scale, dy, dx, dscale, dshift, rows, d, eps) => {
      // Per-part partial sums of dscale and dshift: at most one part per thread.
      const need = 2 * s.coca_get_threads() * d;
      if (scratch.length < need) scratch = new Float32Array(need);
      s.coca_layernorm_grad(
        x,
        scale,
        dy,
        dx,
        dscale,
        dshift,
        scratch,
        BigInt(rows),
        BigInt(d),
        eps,
      );
    },
    attentionSoftmax: (p, rows, M, scale, causal, visible0, bias, biasRow, biasCol) =>
      s.coca_attention_softmax(
        p,
        BigInt(rows),
        BigInt(M),
        scale,
        causal ? 1 : 0,
        BigInt(visible0),
        bias,
        BigInt(biasRow),
        BigInt(biasCol),
      ),
    attentionSoftmaxGrad: (dp, p, rows, M, scale) =>
      s.coca_attention_softmax_grad(dp, p, BigInt(rows), BigInt(M), scale),
    nll: (logits, labels, out, N, V) => s.coca_nll(logits, labels, out, BigInt(N), BigInt(V)),
    nllGrad: (logits, labels, dy, out, N, V) =>
      s.coca_nll_grad(logits, labels, dy, out, BigInt(N), BigInt(V)),
    gelu: (x, dy, out) => s.coca_gelu(x, dy, out, BigInt(Math.min(x.length, out.length))),
    rotary: (t, cos, sin, out, rows, L, D, grad) =>
      s.coca_rotary(t, cos, sin, out, BigInt(rows), BigInt(L), BigInt(D), grad ? 1 : 0),
    binary: (op, a, aRow, aStep, b, bRow, bStep, out, rows, inner) => {
      s.coca_binary(
        NATIVE_BINARY_OPS[op],
        a,
        BigInt(aRow),
        BigInt(aStep),
        b,
        BigInt(bRow),
        BigInt(bStep),
        out,
        BigInt(rows),
        BigInt(inner),
      );
    },
  };
}

let active: NativeKernels | undefined;
let inactiveReason = "not loaded";

/**
 * Makes `kernels` (or none) the native kernels the blas backend's kernels call; the blas
 * registration does this (see `backend.ts`). `reason`: why there are none.
 *
 * @example
 * ```ts
 * import { setActiveNativeKernels } from "./native.ts";
 * setActiveNativeKernels(undefined, "disabled for this test");
 * ```
 */
export function setActiveNativeKernels(kernels: NativeKernels | undefined, reason = ""): void {
  active = kernels;
  inactiveReason = kernels ? "" : reason;
}

/**
 * The native kernels the blas backend's kernels use now, or undefined (they then run their
 * JavaScript versions).
 *
 * @example
 * ```ts
 * import { activeNativeKernels } from "./native.ts";
 * console.log(activeNativeKernels() ? "native" : "javascript");
 * ```
 */
export function activeNativeKernels(): NativeKernels | undefined {
  return active;
}

/**
 * Why {@linkcode activeNativeKernels} is undefined ("" when it is not).
 *
 * @example
 * ```ts
 * import { nativeKernelsUnavailableReason } from "./native.ts";
 * console.log(nativeKernelsUnavailableReason());
 * ```
 */
export function nativeKernelsUnavailableReason(): string {
  return inactiveReason;
}
