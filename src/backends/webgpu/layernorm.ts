/**
 * Fused layer norm for the webgpu backend, under the blas kernels' names, so
 * `src/ops/layer_norm.ts` picks it up unchanged.
 *
 * `CocaLayerNorm`: inputs `x (..., d)`, `scale (d)`, `shift (d)`, attr `eps` →
 * `y = (x - mean) / sqrt(var + eps) · scale + shift` (biased variance): one dispatch, one
 * workgroup per row (mean, then the variance as the mean square of `x - mean`, then the
 * normalised, scaled and shifted row).
 *
 * `CocaLayerNormGrad`: inputs `x`, `scale`, `dy` → `[dx, dscale, dshift]` in four dispatches:
 * the rows' mean and `1/std` (`(rows, 2)`), then `dx = rstd (dy·g - mean(dy·g) - x̂ mean(dy·g·x̂))`
 * (a workgroup per row), then `dscale = Σ_rows dy·x̂` and `dshift = Σ_rows dy` (a workgroup per
 * column each; `runWebGPUProgram` writes one output per dispatch).
 *
 * @module
 */
import * as tf from "../../deps/tf.ts";
import { rowProgram, rowWorkgroupSize, runProgram } from "./program.ts";

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

const STATS = `${STATS_BODY}
  fn main(index : i32) {
    let row = index / WG;
    let tid = i32(localId.x);
    let st = rowStats(row, tid);
    if (row < uniforms.rows && tid == 0) {
      result[2 * row] = st.x;
      result[2 * row + 1] = st.y;
    }
  }
`;

const DX = `
  fn main(index : i32) {
    let row = index / WG;
    let tid = i32(localId.x);
    let cols = uniforms.cols;
    let r = min(row, uniforms.rows - 1);
    let base = r * cols;
    let mean = stats[2 * r];
    let rstd = stats[2 * r + 1];
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
        result[base + j] = rstd * (dy[base + j] * scale[j] - meanG - xh * meanGX);
      }
    }
  }
`;

/** `Σ_rows dy · x̂` (`withXhat`) or `Σ_rows dy` for one column per workgroup. */
const columnSum = (withXhat: boolean) => `
  fn main(index : i32) {
    let col = index / WG;
    let tid = i32(localId.x);
    let cols = uniforms.cols;
    let c = min(col, cols - 1);
    var s = 0.0;
    for (var r = tid; r < uniforms.rows; r = r + WG) {
      ${
  withXhat
    ? "s = s + dy[r * cols + c] * (x[r * cols + c] - stats[2 * r]) * stats[2 * r + 1];"
    : "s = s + dy[r * cols + c];"
}
    }
    let total = wgSum(tid, s);
    if (col < cols && tid == 0) {
      result[col] = total;
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
      const stats = runProgram(
        backend,
        rowProgram("cocaLayerNormStats", ["x"], [rows, 2], rows, wg, UNIFORMS, STATS),
        [x],
        "float32",
        uniforms,
      );
      const dx = runProgram(
        backend,
        rowProgram(
          "cocaLayerNormDx",
          ["x", "scale", "dy", "stats"],
          [...x.shape],
          rows,
          wg,
          UNIFORMS,
          DX,
        ),
        [x, scale, dy, stats],
        "float32",
        uniforms,
      );
      const colWg = rowWorkgroupSize(rows);
      const dscale = runProgram(
        backend,
        rowProgram(
          "cocaLayerNormDscale",
          ["x", "dy", "stats"],
          [cols],
          cols,
          colWg,
          UNIFORMS,
          columnSum(true),
        ),
        [x, dy, stats],
        "float32",
        uniforms,
      );
      const dshift = runProgram(
        backend,
        rowProgram("cocaLayerNormDshift", ["dy"], [cols], cols, colWg, UNIFORMS, columnSum(false)),
        [dy],
        "float32",
        uniforms,
      );
      (backend as tf.KernelBackend).disposeData(stats.dataId);
      return [dx, dscale, dshift];
    },
  });
}
