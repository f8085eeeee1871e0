/**
 * Compare our CoCa with a parity fixture produced by the PyTorch reference
 * (format: tests/fixtures/README.md): every `output.*` and every `grad.*`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { parseSafetensors, toTensor } from "./weights/safetensors.ts";
import { buildFromReferenceConfig, type ReferenceConfig } from "./weights/reference.ts";
import type { CoCa } from "./coca.ts";

/** One compared tensor. */
export interface ParityRow {
  name: string;
  shape: number[];
  /** `max|ours − ref| / max|ref|`. */
  maxRelErr: number;
  tolerance: number;
  ok: boolean;
}

/** Tolerances of the parity check. */
export const PARITY_TOLERANCE = { output: 1e-4, grad: 1e-3 } as const;

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
 * Run a fixture on the active backend: build the model from its config, load
 * its weights, compute every output and gradient, and compare.
 *
 * @example
 * ```ts
 * import { runParity } from "./parity.ts";
 * const rows = await runParity(await Deno.readFile("tests/fixtures/coca_tiny_a.safetensors"));
 * console.log(rows.every((r) => r.ok));
 * ```
 */
export async function runParity(bytes: Uint8Array): Promise<ParityRow[]> {
  const st = parseSafetensors(bytes);
  const config = JSON.parse(st.metadata.config ?? "null") as ReferenceConfig | null;
  if (!config) throw new Error("fixture has no __metadata__.config");
  const model = buildFromReferenceConfig(config);
  const refs = new Map<string, tf.Tensor>();
  const weights = new Map<string, tf.Tensor>();
  for (const [k, raw] of st.tensors) {
    if (k.startsWith("model.")) weights.set(k.slice(6), toTensor(raw));
    else refs.set(k, toTensor(raw));
  }
  try {
    model.loadStateDict(weights);
    model.eval();
    const text = refs.get("input.text") as tf.Tensor2D;
    const images = refs.get("input.images") as tf.Tensor4D;
    if (!text || !images) throw new Error("fixture lacks input.text or input.images");
    const ours = computeOutputs(model, text, images);
    const rows: ParityRow[] = [];
    for (const [name, ref] of refs) {
      if (name.startsWith("input.")) continue;
      const mine = ours.get(name);
      if (!mine) throw new Error(`fixture has ${name}, which this parity check does not know`);
      rows.push(await compare(name, mine, ref));
    }
    tf.dispose([...ours.values()]);
    return rows;
  } finally {
    tf.dispose([...refs.values(), ...weights.values()]);
    model.dispose();
  }
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

async function compare(name: string, ours: tf.Tensor, ref: tf.Tensor): Promise<ParityRow> {
  const tolerance = name.startsWith("grad.") ? PARITY_TOLERANCE.grad : PARITY_TOLERANCE.output;
  // Scalars: the reference stores a 0-d loss as shape [1]; compare squeezed shapes.
  const a = ours.shape.filter((d) => d !== 1), b = ref.shape.filter((d) => d !== 1);
  const same = ours.size === ref.size && a.length === b.length && a.every((d, i) => d === b[i]);
  const err = same ? maxRelErr(await ours.data(), await ref.data()) : Infinity;
  return { name, shape: [...ref.shape], maxRelErr: err, tolerance, ok: err <= tolerance };
}
