/**
 * Fused token cross-entropy for the webgpu backend, under the blas kernels' names, so
 * `src/ops/nll.ts` (and the caption loss) pick it up unchanged; no `(N, V)` one-hot or
 * log-softmax tensors.
 *
 * `CocaNll`: inputs `logits (N, V)`, int32 `labels (N)` → `log Σ exp(x - max) + max - x[label]`
 * `(N)`, one workgroup per row (max, then the sum of exponentials).
 * `CocaNllGrad`: inputs `logits`, `labels`, `dy (N)` → `(softmax(logits) - onehot(label)) · dy`
 * `(N, V)`, one workgroup per row. As in the blas kernel, a row whose `dy` is 0 (a pad
 * position, masked out by the caption loss) gets a zero gradient without looking at its logits.
 * A label outside `[0, V)` gives what the plain op path gives (its one-hot row is all zeros): a
 * loss of 0 and a zero gradient row (the blas kernel reads out of its row there).
 *
 * @module
 */
import * as tf from "../../deps/tf.ts";
import { rowProgram, rowWorkgroupSize, runProgram } from "./program.ts";

/** The row's max and `Σ exp(x - max)`, every thread of the workgroup taking part. */
const ROW_SOFTMAX = `
  fn rowMaxSum(base : i32, tid : i32) -> vec2<f32> {
    let cols = uniforms.cols;
    var m = -3.402823e+38;
    for (var j = tid; j < cols; j = j + WG) {
      m = max(m, logits[base + j]);
    }
    let rowMax = wgMax(tid, m);
    var s = 0.0;
    for (var j = tid; j < cols; j = j + WG) {
      s = s + exp(logits[base + j] - rowMax);
    }
    return vec2<f32>(rowMax, wgSum(tid, s));
  }
`;

const FORWARD = `${ROW_SOFTMAX}
  fn main(index : i32) {
    let row = index / WG;
    let tid = i32(localId.x);
    let cols = uniforms.cols;
    let r = min(row, uniforms.rows - 1);
    let ms = rowMaxSum(r * cols, tid);
    if (row < uniforms.rows && tid == 0) {
      let label = labels[row];
      if (label >= 0 && label < cols) {
        result[row] = log(ms.y) + ms.x - logits[row * cols + label];
      } else {
        result[row] = 0.0;
      }
    }
  }
`;

const GRAD = `${ROW_SOFTMAX}
  fn main(index : i32) {
    let row = index / WG;
    let tid = i32(localId.x);
    let cols = uniforms.cols;
    let r = min(row, uniforms.rows - 1);
    let base = r * cols;
    let g = dy[r];
    let ms = rowMaxSum(base, tid);
    if (row < uniforms.rows) {
      let label = labels[row];
      let inRange = label >= 0 && label < cols;
      let scale = g / ms.y;
      for (var j = tid; j < cols; j = j + WG) {
        var v = 0.0;
        if (g != 0.0 && inRange) {
          v = exp(logits[base + j] - ms.x) * scale;
          if (j == label) {
            v = v - g;
          }
        }
        result[base + j] = v;
      }
    }
  }
`;

const UNIFORMS = "rows : i32, cols : i32,";

/**
 * Register `CocaNll` and `CocaNllGrad` for webgpu (idempotent).
 *
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-webgpu";
 * import { registerWebGPUXent } from "./xent.ts";
 * registerWebGPUXent();
 * ```
 */
export function registerWebGPUXent(): void {
  if (tf.getKernel("CocaNll", "webgpu")) return;
  const uniforms = (rows: number, cols: number) => [
    { type: "int32" as const, data: [rows] },
    { type: "int32" as const, data: [cols] },
  ];
  tf.registerKernel({
    kernelName: "CocaNll",
    backendName: "webgpu",
    kernelFunc: ({ inputs, backend }) => {
      const { logits, labels } = inputs as { logits: tf.TensorInfo; labels: tf.TensorInfo };
      const [N, V] = logits.shape;
      const program = rowProgram(
        "cocaNll",
        ["logits", "labels"],
        [N],
        N,
        rowWorkgroupSize(V),
        UNIFORMS,
        FORWARD,
      );
      return runProgram(backend, program, [logits, labels], "float32", uniforms(N, V));
    },
  });
  tf.registerKernel({
    kernelName: "CocaNllGrad",
    backendName: "webgpu",
    kernelFunc: ({ inputs, backend }) => {
      const { logits, labels, dy } = inputs as Record<"logits" | "labels" | "dy", tf.TensorInfo>;
      const [N, V] = logits.shape;
      const program = rowProgram(
        "cocaNllGrad",
        ["logits", "labels", "dy"],
        [N, V],
        N,
        rowWorkgroupSize(V),
        UNIFORMS,
        GRAD,
      );
      return runProgram(backend, program, [logits, labels, dy], "float32", uniforms(N, V));
    },
  });
}
