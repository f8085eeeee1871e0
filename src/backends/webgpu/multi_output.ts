/**
 * One compute dispatch that writes several outputs, for the fused kernels whose results are
 * several tensors (the AdamW update's `p', m', v'`, layer norm's `dx` with its row statistics,
 * `dscale` with `dshift`).
 *
 * tfjs-webgpu's `runWebGPUProgram` binds exactly one output, so these programs are recorded the
 * way it records its own (`recordAndSubmit` of tfjs-backend-webgpu 4.22, which
 * `src/deps/tfjs_webgpu.ts` pins): the backend's device, pipeline cache, uniform buffers, command
 * encoder and compute pass, its deferred-submit batch (`WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE`) and
 * its bookkeeping of the buffers that queued commands use (so a tensor disposed before the queue
 * is submitted keeps its buffer until then). The shader is written whole: outputs at bindings
 * `0..k-1` (`read_write`), inputs after them (`read`), the uniforms last; its entry point is
 * `main` with `@workgroup_size(WG)`, and {@linkcode MULTI_HEADER} gives it the flat workgroup
 * number and thread.
 *
 * @module
 */
import * as tf from "../../deps/tf.ts";
import type { Uniform } from "./program.ts";

/** The parts of tfjs-webgpu's backend that recording a program uses (private in its types). */
interface Internals {
  device: GPUDevice;
  tensorMap: { get(dataId: object): { values: unknown } };
  pipelineCache: Record<string, GPUComputePipeline | Promise<GPUComputePipeline>>;
  commandEncoder: GPUCommandEncoder | null;
  computePassEncoder: GPUComputePassEncoder | null;
  commandQueueOwnedIds: WeakSet<object>;
  dispatchCountInPass: number;
  makeTensorInfo(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  uploadToGPU(dataId: object): void;
  tensorToBinding(t: tf.TensorInfo): GPUBindingResource;
  makeUniforms(uniforms: Uniform[]): GPUBufferBinding;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

/** The builtins every multi-output shader's `main` takes. */
export const MULTI_HEADER = `@builtin(workgroup_id) wid : vec3<u32>,
  @builtin(num_workgroups) nwg : vec3<u32>, @builtin(local_invocation_id) lid : vec3<u32>`;

/**
 * WGSL declarations of a shader's bindings: `outputs` (`array<f32>`, `read_write`), then
 * `inputs` (`[name, "f32" | "i32"]`, read-only), then `uniforms` (a struct's fields, e.g.
 * `"rows : i32, eps : f32"`).
 *
 * @example
 * ```ts
 * import { bindingsWgsl } from "./multi_output.ts";
 * console.log(bindingsWgsl(["outP"], [["p", "f32"]], "n : i32"));
 * ```
 */
export function bindingsWgsl(
  outputs: readonly string[],
  inputs: readonly (readonly [string, "f32" | "i32"])[],
  uniforms: string,
): string {
  const out = outputs.map((name, i) =>
    `@group(0) @binding(${i}) var<storage, read_write> ${name} : array<f32>;`
  );
  const ins = inputs.map(([name, type], i) =>
    `@group(0) @binding(${outputs.length + i}) var<storage, read> ${name} : array<${type}>;`
  );
  return [
    `struct Uniforms { ${uniforms} };`,
    ...out,
    ...ins,
    `@group(0) @binding(${outputs.length + inputs.length}) var<uniform> uniforms : Uniforms;`,
  ].join("\n");
}

/** A program that writes several outputs. */
export interface MultiOutputProgram {
  /** The pipeline cache key: it must change whenever `code` does (sizes are uniforms). */
  key: string;
  /** The whole WGSL module (see {@linkcode bindingsWgsl}, {@linkcode MULTI_HEADER}). */
  code: string;
  /** How many workgroups; more than a dispatch dimension allows are laid out in 2-D. */
  workgroups: number;
}

/**
 * Dispatch `program` once on the webgpu `backend`: new float32 tensors of `outputShapes`
 * (bindings `0..k-1`), `inputs` after them, then `uniforms` (scalars and `vec4`s, in the struct's
 * order; at least one).
 * The shader finds its flat workgroup number as `wid.y * nwg.x + wid.x` and must ignore numbers
 * at or past `program.workgroups`. With no workgroups (empty outputs, which must then all be
 * empty) nothing is dispatched.
 *
 * @example
 * ```ts ignore
 * const [p2, m2, v2] = runMultiOutput(backend, program, [p, g, m, v], [p.shape, p.shape, p.shape], uniforms);
 * ```
 */
export function runMultiOutput(
  backend: unknown,
  program: MultiOutputProgram,
  inputs: tf.TensorInfo[],
  outputShapes: number[][],
  uniforms: Uniform[],
): tf.TensorInfo[] {
  if (uniforms.length === 0) {
    throw new RangeError(
      `expected uniforms for ${program.key} (WGSL has no empty struct), found none`,
    );
  }
  const b = backend as Internals;
  const outputs = outputShapes.map((s) => b.makeTensorInfo(s, "float32"));
  if (program.workgroups === 0) {
    // Empty outputs (as runWebGPUProgram makes them): host values, never a GPU buffer.
    for (const o of outputs) b.tensorMap.get(o.dataId).values = new Float32Array(0);
    return outputs;
  }
  for (const t of [...outputs, ...inputs]) b.uploadToGPU(t.dataId);
  let pipeline = b.pipelineCache[program.key];
  if (!pipeline) {
    const module = b.device.createShaderModule({ code: program.code, label: program.key });
    // A shader that does not compile makes its dispatch (and the rest of its command buffer)
    // silently do nothing: say so, once per shader, with the compiler's messages.
    module.getCompilationInfo().then((info) => {
      const errors = info.messages.filter((m) => m.type === "error");
      if (errors.length > 0) {
        console.error(
          `WGSL of ${program.key} does not compile: ${
            errors.map((m) => `line ${m.lineNum}: ${m.message}`).join("; ")
          }`,
        );
      }
    }, () => {});
    pipeline = b.device.createComputePipeline({
      compute: { module, entryPoint: "main" },
      label: program.key,
      layout: "auto",
    });
    b.pipelineCache[program.key] = pipeline;
  }
  if (pipeline instanceof Promise) {
    throw new Error(`expected the pipeline ${program.key} compiled, found a pending compilation`);
  }
  const resources = [...outputs, ...inputs].map((t) => b.tensorToBinding(t));
  resources.push(b.makeUniforms(uniforms));
  const bindGroup = b.device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: resources.map((resource, binding) => ({ binding, resource })),
  });
  for (const t of [...outputs, ...inputs]) b.commandQueueOwnedIds.add(t.dataId);
  b.ensureCommandEncoderReady();
  if (!b.computePassEncoder) b.computePassEncoder = b.commandEncoder!.beginComputePass({});
  const limit = b.device.limits.maxComputeWorkgroupsPerDimension;
  const x = Math.min(program.workgroups, limit), y = Math.ceil(program.workgroups / x);
  b.computePassEncoder.setPipeline(pipeline);
  b.computePassEncoder.setBindGroup(0, bindGroup);
  b.computePassEncoder.dispatchWorkgroups(x, y, 1);
  b.dispatchCountInPass++;
  if (tf.env().getNumber("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE") <= b.dispatchCountInPass) {
    b.endComputePassEncoder();
    b.submitQueue();
  }
  return outputs;
}
