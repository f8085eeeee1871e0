/**
 * Training-trajectory parity: replay K AdamW steps of the PyTorch reference
 * (`coca-trajectory-fixture/1`, see README.md, "Weights") with this project's own
 * {@linkcode AdamW} and {@linkcode trainStep}, and compare every step's loss and global gradient
 * norm and every weight after the last step.
 *
 * What a fixture carries is read, not assumed: the model config, the initial weights, each
 * step's batch and learning rate, and the optimizer's betas, eps, weight decay (on parameters
 * with ndim >= 2 only, as the reference's two parameter groups) and clip norm.
 *
 * @module
 */
import * as tf from "../deps/tf.ts";
import { AdamW } from "../train/optimizer.ts";
import { trainStep } from "../train/step.ts";
import type { SafeTensors } from "../weights/safetensors.ts";
import type { CoCa } from "../model/coca.ts";
import { SimpleViT } from "../model/vit.ts";
import {
  compareTensors,
  FixtureError,
  fixtureTensor,
  modelFromFixture,
  type ParityRow,
  readFixture,
} from "./parity.ts";

/** `__metadata__.format` of a trajectory fixture. */
export const TRAJECTORY_FORMAT = "coca-trajectory-fixture/1";

/**
 * Tolerances of trajectory parity (relative). The float32 floor against float64 is about 1.6e-7
 * (loss), 6.7e-7 (grad norm) and 7.7e-5 (final weights).
 */
export const TRAJECTORY_TOLERANCE = { loss: 1e-5, gradNorm: 1e-4, final: 1e-3 } as const;

/** The optimizer settings of a trajectory fixture (`__metadata__.optimizer`). */
export interface TrajectoryOptimizer {
  beta1: number;
  beta2: number;
  eps: number;
  /** Decoupled weight decay of parameters with ndim >= 2 (others get none). */
  weightDecay: number;
  /** Global-norm clipping threshold; `null` when the fixture does not clip. */
  clipNorm: number | null;
  /** Number of steps K. */
  steps: number;
}

/** Progress of {@linkcode runTrajectory}: called after every step. */
export type TrajectoryProgress = (
  step: number,
  steps: number,
  result: { loss: number; gradNorm: number },
) => void;

/**
 * Read and check `__metadata__.optimizer` of a trajectory fixture.
 *
 * @throws {FixtureError} naming the field, what was expected and what was found.
 * @example
 * ```ts
 * import { readTrajectoryOptimizer } from "./trajectory.ts";
 * const opt = readTrajectoryOptimizer(JSON.stringify({
 *   name: "AdamW", betas: [0.9, 0.98], eps: 1e-8, weight_decay: 0.05, decay: "ndim>=2",
 *   clip_norm: 0.5, steps: 12,
 * }));
 * console.log(opt.beta2, opt.clipNorm); // 0.98 0.5
 * ```
 */
export function readTrajectoryOptimizer(json: string | undefined): TrajectoryOptimizer {
  if (typeof json !== "string") {
    throw new FixtureError("expected __metadata__.optimizer (JSON) in a trajectory fixture");
  }
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json);
  } catch (e) {
    throw new FixtureError(`__metadata__.optimizer is not JSON: ${(e as Error).message}`);
  }
  if (typeof o !== "object" || o === null || Array.isArray(o)) {
    throw new FixtureError(`expected __metadata__.optimizer to be an object, found ${json}`);
  }
  const bad = (field: string, expected: string) =>
    new FixtureError(
      `expected optimizer ${field} to be ${expected}, found ${JSON.stringify(o[field])}`,
    );
  const known = ["name", "betas", "eps", "weight_decay", "decay", "clip_norm", "steps"];
  const extra = Object.keys(o).filter((k) => !known.includes(k));
  if (extra.length) {
    throw new FixtureError(
      `unknown optimizer field(s) ${extra.join(", ")}; expected some of ${known.join(", ")}`,
    );
  }
  if (o.name !== undefined && o.name !== "AdamW") throw bad("name", '"AdamW"');
  if (o.decay !== undefined && o.decay !== "ndim>=2") throw bad("decay", '"ndim>=2"');
  const betas = o.betas;
  const unit = (v: unknown) => typeof v === "number" && v >= 0 && v < 1;
  if (!Array.isArray(betas) || betas.length !== 2 || !betas.every(unit)) {
    throw bad("betas", "two numbers in [0, 1)");
  }
  const nonNegative = (field: string, fallback?: number): number => {
    const v = o[field] ?? fallback;
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
      throw bad(field, "a finite number >= 0");
    }
    return v;
  };
  const eps = nonNegative("eps");
  const weightDecay = nonNegative("weight_decay", 0);
  let clipNorm: number | null = null;
  if (o.clip_norm !== undefined && o.clip_norm !== null) {
    if (typeof o.clip_norm !== "number" || !(o.clip_norm > 0)) throw bad("clip_norm", "> 0");
    clipNorm = o.clip_norm;
  }
  const steps = o.steps;
  if (typeof steps !== "number" || !Number.isInteger(steps) || steps < 1) {
    throw bad("steps", "a positive integer");
  }
  return { beta1: betas[0], beta2: betas[1], eps, weightDecay, clipNorm, steps };
}

/**
 * Replay a trajectory fixture on the active backend and compare: rows `step.<k>.loss`,
 * `step.<k>.grad_norm` for every step, then `final.<key>` for every weight.
 *
 * @param fixture the fixture's bytes or its parsed tensors.
 * @throws {FixtureError} when the fixture is malformed (nothing is left allocated).
 * @example
 * ```ts
 * import { runTrajectory } from "./trajectory.ts";
 * const rows = await runTrajectory(await Deno.readFile("tests/fixtures/coca_traj_a.safetensors"));
 * console.log(rows.every((r) => r.ok));
 * ```
 */
export async function runTrajectory(
  fixture: Uint8Array | SafeTensors,
  opts: { onStep?: TrajectoryProgress } = {},
): Promise<ParityRow[]> {
  const st = fixture instanceof Uint8Array ? readFixture(fixture) : fixture;
  const settings = readTrajectoryOptimizer(st.metadata.optimizer);
  checkNames(st, settings.steps);
  const model = modelFromFixture(st);
  const optimizer = new AdamW(model.trainableVariables(), {
    beta1: settings.beta1,
    beta2: settings.beta2,
    eps: settings.eps,
    weightDecay: settings.weightDecay,
    decay: (v) => v.rank >= 2,
  });
  try {
    for (let k = 0; k < settings.steps; k++) {
      const checked = readStep(st, k, model); // every batch checked before the first step
      tf.dispose([checked.text, checked.images]);
    }
    model.eval(); // the reference runs in eval mode: patch dropout off, every step deterministic
    const rows: ParityRow[] = [];
    for (let k = 0; k < settings.steps; k++) {
      const { text, images, lr, loss, gradNorm } = readStep(st, k, model);
      let result;
      try {
        result = await trainStep(model, optimizer, text, images, {
          lr,
          // Without clipping, an infinite threshold still measures the norm and scales by 1.
          clipNorm: settings.clipNorm ?? Infinity,
        });
      } finally {
        tf.dispose([text, images]);
      }
      const ours = { loss: result.loss, gradNorm: result.gradNorm ?? NaN };
      rows.push(scalarRow(`step.${k}.loss`, ours.loss, loss, TRAJECTORY_TOLERANCE.loss));
      rows.push(
        scalarRow(`step.${k}.grad_norm`, ours.gradNorm, gradNorm, TRAJECTORY_TOLERANCE.gradNorm),
      );
      opts.onStep?.(k, settings.steps, ours);
    }
    const finals = model.stateDict();
    for (const [name, raw] of st.tensors) {
      if (!name.startsWith("final.")) continue;
      const mine = finals.get(name.slice(6));
      if (!mine) throw new FixtureError(`fixture has ${name}, a weight this model lacks`);
      const ref = fixtureTensor(name, raw);
      try {
        rows.push(await compareTensors(name, mine, ref, TRAJECTORY_TOLERANCE.final));
      } finally {
        ref.dispose();
      }
    }
    return rows;
  } finally {
    optimizer.dispose();
    model.dispose();
  }
}

/** Every name the format allows, every step present, every weight given a final value. */
function checkNames(st: SafeTensors, steps: number): void {
  const perStep = ["text", "images", "lr", "loss", "grad_norm"];
  const unknown: string[] = [];
  for (const name of st.tensors.keys()) {
    if (name.startsWith("model.") || name.startsWith("final.")) continue;
    const m = /^step\.(\d+)\.(\w+)$/.exec(name);
    if (!m || Number(m[1]) >= steps || !perStep.includes(m[2])) unknown.push(name);
  }
  if (unknown.length) {
    throw new FixtureError(
      `unexpected tensor(s) ${unknown.slice(0, 5).join(", ")}${
        unknown.length > 5 ? ` and ${unknown.length - 5} more` : ""
      }; a trajectory of ${steps} steps holds model.*, step.<0..${
        steps - 1
      }>.{${perStep}} and final.*`,
    );
  }
  const missing: string[] = [];
  for (let k = 0; k < steps; k++) {
    for (const p of perStep) if (!st.tensors.has(`step.${k}.${p}`)) missing.push(`step.${k}.${p}`);
  }
  for (const name of st.tensors.keys()) {
    if (name.startsWith("model.") && !st.tensors.has(`final.${name.slice(6)}`)) {
      missing.push(`final.${name.slice(6)}`);
    }
  }
  if (missing.length) {
    throw new FixtureError(
      `expected ${missing.slice(0, 5).join(", ")}${
        missing.length > 5 ? ` and ${missing.length - 5} more` : ""
      } in a trajectory of ${steps} steps, found none`,
    );
  }
}

/** The batch, learning rate and reference numbers of step k, checked against the model. */
function readStep(st: SafeTensors, k: number, model: CoCa) {
  const scalar = (field: string): number => {
    const name = `step.${k}.${field}`;
    const t = fixtureTensor(name, st.tensors.get(name));
    const v = t.dataSync();
    t.dispose();
    if (v.length !== 1 || !Number.isFinite(v[0])) {
      throw new FixtureError(`expected ${name} to be one finite number, found [${v}]`);
    }
    return v[0];
  };
  const lr = scalar("lr"), loss = scalar("loss"), gradNorm = scalar("grad_norm");
  if (lr < 0) throw new FixtureError(`expected step.${k}.lr >= 0, found ${lr}`);
  const text = fixtureTensor(`step.${k}.text`, st.tensors.get(`step.${k}.text`));
  const images = fixtureTensor(`step.${k}.images`, st.tensors.get(`step.${k}.images`));
  if (
    text.rank !== 2 || text.dtype !== "int32" || images.rank !== 4 || images.dtype !== "float32"
  ) {
    const found = `${text.dtype} [${text.shape}] and ${images.dtype} [${images.shape}]`;
    tf.dispose([text, images]);
    throw new FixtureError(
      `expected step.${k}.text (integer, rank 2) and step.${k}.images (float, rank 4), found ${found}`,
    );
  }
  const problem = batchProblem(text, images, model);
  if (problem) {
    tf.dispose([text, images]);
    throw new FixtureError(`step ${k}: ${problem}`);
  }
  return { text: text as tf.Tensor2D, images: images as tf.Tensor4D, lr, loss, gradNorm };
}

/** Why a batch does not fit the model, or undefined when it does. */
function batchProblem(text: tf.Tensor, images: tf.Tensor, model: CoCa): string | undefined {
  const [b, , h, w] = images.shape;
  if (text.shape[0] !== b) {
    return `expected text and images with the same batch size, found [${text.shape}] and [${images.shape}]`;
  }
  if (text.shape[1]! < 2) return `expected text of at least 2 tokens, found [${text.shape}]`;
  const vit = model.imgEncoder instanceof SimpleViT ? model.imgEncoder.config : undefined;
  if (vit) {
    const want = [vit.channels, ...vit.imageSize];
    if (images.shape[1] !== want[0] || h !== want[1] || w !== want[2]) {
      return `expected images of shape [b, ${want}], found [${images.shape}]`;
    }
  }
  const ids = text.dataSync();
  const n = model.config.numTokens;
  const i = ids.findIndex((t) => t < 0 || t >= n);
  if (i >= 0) return `expected token ids in [0, ${n}), found ${ids[i]}`;
  return undefined;
}

function scalarRow(name: string, ours: number, ref: number, tolerance: number): ParityRow {
  const d = Math.abs(ours - ref);
  const err = Number.isNaN(d) ? Infinity : ref !== 0 ? d / Math.abs(ref) : d;
  return { name, shape: [1], maxRelErr: err, tolerance, ok: err <= tolerance };
}
