/**
 * Compare our CoCa with a fixture produced by the PyTorch reference (formats: README.md,
 * "Weights"). Two kinds: a one-step parity fixture
 * (`coca-parity-fixture/1`: every `output.*` and every `grad.*`) and a training trajectory
 * (`coca-trajectory-fixture/1`: see `trajectory.ts`). {@linkcode runFixture} tells them apart.
 *
 * @module
 */
import * as tf from "../deps/tf.ts";
import {
  parseSafetensors,
  type RawTensor,
  type SafeTensors,
  toTensor,
} from "../weights/safetensors.ts";
import { buildFromReferenceConfig, type ReferenceConfig } from "./config.ts";
import type { CoCa } from "../model/coca.ts";

/** One compared tensor or number. */
export interface ParityRow {
  name: string;
  shape: number[];
  /** `max|ours − ref| / max|ref|`. */
  maxRelErr: number;
  tolerance: number;
  ok: boolean;
}

/** Tolerances of the one-step parity check. */
export const PARITY_TOLERANCE = { output: 1e-4, grad: 1e-3 } as const;

/** `__metadata__.format` of a one-step parity fixture. */
export const PARITY_FORMAT = "coca-parity-fixture/1";

/**
 * A fixture that cannot be used: unreadable, malformed, or not describing a model this port
 * can build. The parity CLI exits with status 2 on it.
 *
 * @example
 * ```ts
 * import { FixtureError, runParity } from "./parity.ts";
 * try {
 *   await runParity(new Uint8Array(3));
 * } catch (e) {
 *   console.log(e instanceof FixtureError); // true
 * }
 * ```
 */
export class FixtureError extends Error {
  override name = "FixtureError";
}

/**
 * `max|a − b| / max|b|` (or the absolute error when `b` is all zeros).
 *
 * @example
 * ```ts
 * import { maxRelErr } from "./parity.ts";
 * console.log(maxRelErr(new Float32Array([1, 2.5]), new Float32Array([1, 2]))); // 0.25
 * ```
 */
export function maxRelErr(ours: ArrayLike<number>, ref: ArrayLike<number>): number {
  let diff = 0, scale = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(ours[i] - ref[i]);
    diff = Number.isNaN(d) ? Infinity : Math.max(diff, d);
    scale = Math.max(scale, Math.abs(ref[i]));
  }
  return scale > 0 ? diff / scale : diff;
}

/**
 * Parse fixture bytes, turning every problem into a {@linkcode FixtureError} that names it.
 *
 * @example
 * ```ts
 * import { readFixture } from "./parity.ts";
 * const st = readFixture(await Deno.readFile("tests/fixtures/coca_tiny_a.safetensors"));
 * console.log(st.metadata.format); // "coca-parity-fixture/1"
 * ```
 */
export function readFixture(bytes: Uint8Array): SafeTensors {
  return asFixtureError("not a readable safetensors file", () => parseSafetensors(bytes));
}

/**
 * Build the model a fixture describes (`__metadata__.config`) and load its `model.*` weights
 * (strict: every key, every shape). The caller disposes the model.
 *
 * @throws {FixtureError} naming what is missing or wrong.
 * @example
 * ```ts
 * import { modelFromFixture, readFixture } from "./parity.ts";
 * const model = modelFromFixture(readFixture(await Deno.readFile("tests/fixtures/coca_tiny_a.safetensors")));
 * console.log(model.config.numTokens); // 97
 * model.dispose();
 * ```
 */
export function modelFromFixture(st: SafeTensors): CoCa {
  const text = st.metadata.config;
  if (typeof text !== "string") {
    throw new FixtureError(
      `expected __metadata__.config (the reference's constructor arguments as JSON), found ${
        text === undefined ? "none" : typeof text
      }`,
    );
  }
  const config = asFixtureError(
    "__metadata__.config is not JSON",
    () => JSON.parse(text) as ReferenceConfig,
  );
  const model = asFixtureError(
    "__metadata__.config does not describe a model",
    () => buildFromReferenceConfig(config),
  );
  const weights = new Map<string, tf.Tensor>();
  try {
    for (const [k, raw] of st.tensors) {
      if (k.startsWith("model.")) weights.set(k.slice(6), fixtureTensor(k, raw));
    }
    if (weights.size === 0) throw new FixtureError("expected model.* weights, found none");
    asFixtureError("model.* weights do not fit the config", () => model.loadStateDict(weights));
    return model;
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    tf.dispose([...weights.values()]);
  }
}

/**
 * One tensor of a fixture as a tfjs tensor.
 *
 * @throws {FixtureError} when it is absent or its data does not match its dtype and shape.
 * @example
 * ```ts
 * import { fixtureTensor, readFixture } from "./parity.ts";
 * const st = readFixture(await Deno.readFile("tests/fixtures/coca_tiny_a.safetensors"));
 * console.log(fixtureTensor("input.text", st.tensors.get("input.text")).shape); // [3, 10]
 * ```
 */
export function fixtureTensor(name: string, raw: RawTensor | undefined): tf.Tensor {
  if (!raw) throw new FixtureError(`expected tensor ${name}, found none`);
  return asFixtureError(`tensor ${name} is malformed`, () => toTensor(raw));
}

/**
 * Run a one-step parity fixture on the active backend: build the model from its config, load
 * its weights, compute every output and gradient, and compare.
 *
 * @throws {FixtureError} when the fixture is malformed.
 * @example
 * ```ts
 * import { runParity } from "./parity.ts";
 * const rows = await runParity(await Deno.readFile("tests/fixtures/coca_tiny_a.safetensors"));
 * console.log(rows.every((r) => r.ok));
 * ```
 */
export async function runParity(bytes: Uint8Array | SafeTensors): Promise<ParityRow[]> {
  const st = bytes instanceof Uint8Array ? readFixture(bytes) : bytes;
  const refs = new Map<string, tf.Tensor>();
  const model = modelFromFixture(st);
  try {
    for (const [k, raw] of st.tensors) {
      if (!k.startsWith("model.")) refs.set(k, fixtureTensor(k, raw));
    }
    model.eval();
    const text = refs.get("input.text");
    const images = refs.get("input.images");
    if (text?.rank !== 2 || text.dtype !== "int32" || images?.rank !== 4) {
      throw new FixtureError(
        `expected input.text (int32, rank 2) and input.images (rank 4), found ${
          describe(text)
        } and ${describe(images)}`,
      );
    }
    const unknown = [...refs.keys()].filter((k) =>
      !k.startsWith("input.") && !k.startsWith("grad.") && !OUTPUTS.includes(k)
    );
    if (unknown.length) {
      throw new FixtureError(
        `fixture has ${unknown.join(", ")}, which this parity check does not know; expected ${
          OUTPUTS.join(", ")
        } and grad.*`,
      );
    }
    const ours = computeOutputs(model, text as tf.Tensor2D, images as tf.Tensor4D);
    try {
      const rows: ParityRow[] = [];
      for (const [name, ref] of refs) {
        if (name.startsWith("input.")) continue;
        const mine = ours.get(name);
        if (!mine) throw new FixtureError(`fixture has ${name}, a parameter this model lacks`);
        rows.push(await compareTensors(name, mine, ref, tolerance(name)));
      }
      return rows;
    } finally {
      tf.dispose([...ours.values()]);
    }
  } finally {
    tf.dispose([...refs.values()]);
    model.dispose();
  }
}

/** The `output.*` names a one-step fixture may hold. */
const OUTPUTS = [
  "output.logits",
  "output.text_embeds",
  "output.image_embeds",
  "output.text_latents",
  "output.image_latents",
  "output.loss",
  "output.caption_loss_unweighted",
  "output.contrastive_loss_unweighted",
];

function tolerance(name: string): number {
  return name.startsWith("grad.") ? PARITY_TOLERANCE.grad : PARITY_TOLERANCE.output;
}

function describe(t: tf.Tensor | undefined): string {
  return t ? `${t.dtype} [${t.shape}]` : "none";
}

function computeOutputs(
  model: CoCa,
  text: tf.Tensor2D,
  images: tf.Tensor4D,
): Map<string, tf.Tensor> {
  const out = new Map<string, tf.Tensor>();
  out.set("output.logits", model.forward(text, images));
  const { textEmbeds, imageEmbeds } = model.embeddings(text, images);
  out.set("output.text_embeds", textEmbeds);
  out.set("output.image_embeds", imageEmbeds);
  out.set("output.text_latents", model.encodeText(text));
  out.set("output.image_latents", model.encodeImage(images));
  const names = new Map<tf.Variable, string>();
  for (const [k, v] of model.stateDict()) {
    if (!names.has(v as tf.Variable)) names.set(v as tf.Variable, k);
  }
  const vars = model.trainableVariables();
  const { value, grads } = tf.variableGrads(() => {
    const l = model.loss(text, images);
    out.set("output.caption_loss_unweighted", tf.keep(l.captionLoss.clone()));
    out.set("output.contrastive_loss_unweighted", tf.keep(l.contrastiveLoss.clone()));
    return l.loss;
  }, vars);
  out.set("output.loss", value);
  for (const v of vars) {
    const name = names.get(v);
    if (name && grads[v.name]) out.set(`grad.${name}`, grads[v.name]);
  }
  return out;
}

/**
 * Compare one tensor with its reference (shapes compared with size-1 dimensions squeezed: the
 * reference stores a 0-d loss as shape [1]). A shape mismatch is an infinite error.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { compareTensors } from "./parity.ts";
 * const row = await compareTensors("x", tf.tensor1d([1, 2]), tf.tensor1d([1, 2.0001]), 1e-3);
 * console.log(row.ok); // true
 * ```
 */
export async function compareTensors(
  name: string,
  ours: tf.Tensor,
  ref: tf.Tensor,
  tolerance: number,
): Promise<ParityRow> {
  const a = ours.shape.filter((d) => d !== 1), b = ref.shape.filter((d) => d !== 1);
  const same = ours.size === ref.size && a.length === b.length && a.every((d, i) => d === b[i]);
  const err = same ? maxRelErr(await ours.data(), await ref.data()) : Infinity;
  return { name, shape: [...ref.shape], maxRelErr: err, tolerance, ok: err <= tolerance };
}

function asFixtureError<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof FixtureError) throw e;
    throw new FixtureError(`${what}: ${e instanceof Error ? e.message : String(e)}`);
  }
}
