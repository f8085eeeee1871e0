/**
 * Fused layer norm for the webgpu backend, under the blas kernels' names, so
 * `src/ops/layer_norm.ts` picks it up unchanged.
 *
 * `CocaLayerNorm`: inputs `x (..., d)`, `scale (d)`, `shift (d)`, attr `eps` →
 * `y = (x - mean) / sqrt(var + eps) · scale + shift` (biased variance): one dispatch, one
 * workgroup per row (mean, then the variance as the mean square of `x - mean`, then the
 * normalised, scaled and shifted row).
 *
 * `CocaLayerNormGrad`: inputs `x`, `scale`, `dy` → `[dx, dscale, dshift]` in two dispatches:
 * `dx = rstd (dy·g - mean(dy·g) - x̂ mean(dy·g·x̂))` with the rows' mean and `rstd` on the side
 * (a workgroup per row), then `dscale = Σ_rows dy·x̂` and `dshift = Σ_rows dy` from them (a
 * workgroup per 16 columns), both through `runMultiOutput` (several outputs per dispatch).
 *
 * @module
 */
import * as tf from "../../deps/tf.ts";
import { rowProgram, rowWorkgroupSize, runProgram, workgroupReduceWgsl } from "./program.ts";
import { bindingsWgsl, MULTI_HEADER, runMultiOutput } from "./multi_output.ts";

/** The row statistics: one workgroup per row writes `[mean, 1/sqrt(var + eps)]`. */
const STATS_BODY = `
  fn rowStats(row : i32, tid : i32) -> vec2<f32> {
    let cols = uniforms.cols;
    let base = min(row, uniforms.rows - 1) * cols;
    var s = 0.0;
    for (var j = tid; j < cols; j = j + WG) {
      s = s + x[base + j];
    }
    let mean = wgSum(tid, s) / f32(cols);
    var q = 0.0;
    for (var j = tid; j < cols; j = j + WG) {
      let c = x[base + j] - mean;
      q = q + c * c;
    }
    let variance = wgSum(tid, q) / f32(cols);
    return vec2<f32>(mean, 1.0 / sqrt(variance + uniforms.eps));
  }
`;

const FORWARD = `${STATS_BODY}
  fn main(index : i32) {
    let row = index / WG;
    let tid = i32(localId.x);
    let st = rowStats(row, tid);
    if (row < uniforms.rows) {
      let cols = uniforms.cols;
      let base = row * cols;
      for (var j = tid; j < cols; j = j + WG) {
        result[base + j] = (x[base + j] - st.x) * st.y * scale[j] + shift[j];
      }
    }
  }
`;

/** `dx` and the rows' `[mean, rstd]`, one workgroup per row. */
const gradDx = (wg: number) => `
  ${
  bindingsWgsl(
    ["dx", "stats"],
    [["x", "f32"], ["scale", "f32"], ["dy", "f32"]],
    "rows : i32, cols : i32, eps : f32",
  )
}
  ${workgroupReduceWgsl(wg)}
  ${STATS_BODY}
  @compute @workgroup_size(${wg})
  fn main(${MULTI_HEADER}) {
    let row = i32(wid.y * nwg.x + wid.x);
    let tid = i32(lid.x);
    let cols = uniforms.cols;
    let base = min(row, uniforms.rows - 1) * cols;
    let st = rowStats(row, tid);
    let mean = st.x;
    let rstd = st.y;
    var sg = 0.0;
    var sgx = 0.0;
    for (var j = tid; j < cols; j = j + WG) {
      let gy = dy[base + j] * scale[j];
      sg = sg + gy;
      sgx = sgx + gy * (x[base + j] - mean) * rstd;
    }
    let meanG = wgSum(tid, sg) / f32(cols);
    let meanGX = wgSum(tid, sgx) / f32(cols);
    if (row < uniforms.rows) {
      for (var j = tid; j < cols; j = j + WG) {
        let xh = (x[base + j] - mean) * rstd;
        dx[base + j] = rstd * (dy[base + j] * scale[j] - meanG - xh * meanGX);
      }
      if (tid == 0) {
        stats[2 * row] = mean;
        stats[2 * row + 1] = rstd;
      }
    }
  }
`;

/** Columns per workgroup of the column sums, and threads per column (rows r, r + 16, ...). */
const TILE = 16;

/**
 * `dscale = Σ_rows dy · x̂` and `dshift = Σ_rows dy`: a workgroup of 16 × 16 threads per 16
 * adjacent columns (adjacent threads read adjacent values of a row), each thread summing every
 * 16th row, then a tree over the 16 partial sums of a column.
 */
const GRAD_COLUMNS = `
  ${
  bindingsWgsl(
    ["dscale", "dshift"],
    [["x", "f32"], ["dy", "f32"], ["stats", "f32"]],
    "rows : i32, cols : i32, eps : f32",
  )
}
  var<workgroup> partA : array<f32, ${TILE * TILE}>;
  var<workgroup> partB : array<f32, ${TILE * TILE}>;
  @compute @workgroup_size(${TILE}, ${TILE})
  fn main(${MULTI_HEADER}) {
    let tile = i32(wid.y * nwg.x + wid.x);
    let cx = i32(lid.x);
    let ly = i32(lid.y);
    let cols = uniforms.cols;
    let col = tile * ${TILE} + cx;
    let c = min(col, cols - 1);
    var a = 0.0;
    var b = 0.0;
    for (var r = ly; r < uniforms.rows; r = r + ${TILE}) {
      let d = dy[r * cols + c];
      a = a + d * (x[r * cols + c] - stats[2 * r]) * stats[2 * r + 1];
      b = b + d;
    }
    partA[ly * ${TILE} + cx] = a;
    partB[ly * ${TILE} + cx] = b;
    workgroupBarrier();
    for (var s = ${TILE / 2}; s > 0; s = s / 2) {
      if (ly < s) {
        partA[ly * ${TILE} + cx] = partA[ly * ${TILE} + cx] + partA[(ly + s) * ${TILE} + cx];
        partB[ly * ${TILE} + cx] = partB[ly * ${TILE} + cx] + partB[(ly + s) * ${TILE} + cx];
      }
      workgroupBarrier();
    }
    if (ly == 0 && col < cols) {
      dscale[col] = partA[cx];
      dshift[col] = partB[cx];
    }
  }
`;

const UNIFORMS = "rows : i32, cols : i32, eps : f32,";

function sizes(x: tf.TensorInfo, eps: number) {
  const cols = x.shape[x.shape.length - 1];
  const rows = x.shape.reduce((a, b) => a * b, 1) / cols;
  const uniforms = [
    { type: "int32" as const, data: [rows] },
    { type: "int32" as const, data: [cols] },
    { type: "float32" as const, data: [eps] },
  ];
  return { rows, cols, uniforms };
}

/**
 * Register `CocaLayerNorm` and `CocaLayerNormGrad` for webgpu (idempotent).
 *
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-webgpu";
 * import { registerWebGPULayerNorm } from "./layernorm.ts";
 * registerWebGPULayerNorm();
 * ```
 */
export function registerWebGPULayerNorm(): void {
  if (tf.getKernel("CocaLayerNorm", "webgpu")) return;
  tf.registerKernel({
    kernelName: "CocaLayerNorm",
    backendName: "webgpu",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, scale, shift } = inputs as Record<"x" | "scale" | "shift", tf.TensorInfo>;
      const { eps } = attrs as unknown as { eps: number };
      const { rows, cols, uniforms } = sizes(x, eps);
      const wg = rowWorkgroupSize(cols);
      const program = rowProgram(
        "cocaLayerNorm",
        ["x", "scale", "shift"],
        [...x.shape],
        rows,
        wg,
        UNIFORMS,
        FORWARD,
      );
      return runProgram(backend, program, [x, scale, shift], "float32", uniforms);
    },
  });
  tf.registerKernel({
    kernelName: "CocaLayerNormGrad",
    backendName: "webgpu",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, scale, dy } = inputs as Record<"x" | "scale" | "dy", tf.TensorInfo>;
      const { eps } = attrs as unknown as { eps: number };
      const { rows, cols, uniforms } = sizes(x, eps);
      const wg = rowWorkgroupSize(cols);
      const [dx, stats] = runMultiOutput(
        backend,
        { key: `cocaLayerNormDx_${wg}`, code: gradDx(wg), workgroups: rows },
        [x, scale, dy],
        [[...x.shape], [rows, 2]],
        uniforms,
      );
      const [dscale, dshift] = runMultiOutput(
        backend,
        {
          key: "cocaLayerNormDscaleDshift",
          code: GRAD_COLUMNS,
          workgroups: Math.ceil(cols / TILE),
        },
        [x, dy, stats],
        [[cols], [cols]],
        uniforms,
      );
      (backend as tf.KernelBackend).disposeData(stats.dataId);
      return [dx, dscale, dshift];
    },
  });
}
