/**
 * Training checkpoints: a folder with `config.json`, `weights.safetensors`,
 * `optimizer.safetensors`, `tokenizer.json` and `state.json` (step, data
 * position, RNG state), written atomically: a temporary folder is filled, then
 * swapped in by rename, so a crash leaves either the old or the new checkpoint.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import type { CoCa } from "../model/coca.ts";
import type { AdamW, AdamWState } from "./optimizer.ts";
import type { TrainConfig } from "./config.ts";
import { weightsToBytes } from "../weights/io.ts";
import { parseSafetensors, type RawTensor, serializeSafetensors } from "../weights/safetensors.ts";

/** Where the run is: restored exactly by `--resume`. */
export interface TrainState {
  /** Optimizer steps done. */
  step: number;
  /** Current epoch and the next batch within it. */
  epoch: number;
  batchInEpoch: number;
  /** Patch-dropout generator state. */
  rngState: number;
  /** Training seconds so far (for throughput and ETA). */
  seconds: number;
}

/** File names inside a checkpoint folder. */
export const CHECKPOINT_FILES = {
  config: "config.json",
  weights: "weights.safetensors",
  optimizer: "optimizer.safetensors",
  tokenizer: "tokenizer.json",
  state: "state.json",
} as const;

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

function varNames(model: CoCa): Map<tf.Variable, string> {
  const names = new Map<tf.Variable, string>();
  for (const [k, v] of model.stateDict()) {
    if (!names.has(v as tf.Variable)) names.set(v as tf.Variable, k);
  }
  return names;
}

/**
 * Write a checkpoint folder atomically.
 *
 * @example
 * ```ts ignore
 * await saveCheckpoint("runs/x/checkpoint", { config, model, optimizer, tokenizerJson, state });
 * ```
 */
export async function saveCheckpoint(
  dir: string,
  parts: {
    config: TrainConfig;
    model: CoCa;
    optimizer: AdamW;
    tokenizerJson: unknown;
    state: TrainState;
  },
): Promise<void> {
  const tmp = `${dir}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.mkdir(tmp, { recursive: true });
  const f = CHECKPOINT_FILES;
  await Deno.writeTextFile(`${tmp}/${f.config}`, JSON.stringify(parts.config, null, 2) + "\n");
  await Deno.writeFile(
    `${tmp}/${f.weights}`,
    await weightsToBytes(parts.model, { format: "coca-workbench/1" }),
  );
  const opt = await parts.optimizer.getState();
  const names = varNames(parts.model);
  const raw = new Map<string, RawTensor>();
  parts.optimizer.vars.forEach((v, i) => {
    const name = names.get(v) ?? `param${i}`;
    raw.set(`m.${name}`, {
      dtype: "F32",
      shape: [...v.shape],
      data: new Uint8Array(opt.m[i].buffer),
    });
    raw.set(`v.${name}`, {
      dtype: "F32",
      shape: [...v.shape],
      data: new Uint8Array(opt.v[i].buffer),
    });
  });
  const order = parts.optimizer.vars.map((v, i) => names.get(v) ?? `param${i}`);
  await Deno.writeFile(
    `${tmp}/${f.optimizer}`,
    serializeSafetensors(raw, { step: String(opt.step), order: JSON.stringify(order) }),
  );
  await Deno.writeTextFile(`${tmp}/${f.tokenizer}`, JSON.stringify(parts.tokenizerJson) + "\n");
  await Deno.writeTextFile(`${tmp}/${f.state}`, JSON.stringify(parts.state, null, 2) + "\n");
  // Swap: dir -> dir.old, tmp -> dir, drop dir.old. A crash in between leaves dir.old.
  const old = `${dir}.old`;
  if (await exists(old)) await Deno.remove(old, { recursive: true });
  if (await exists(dir)) await Deno.rename(dir, old);
  await Deno.rename(tmp, dir);
  if (await exists(old)) await Deno.remove(old, { recursive: true });
}

/** A checkpoint read back from disk. */
export interface LoadedCheckpoint {
  /** The folder actually read (the `.old` one after a crash mid-swap). */
  dir: string;
  config: TrainConfig;
  tokenizerJson: unknown;
  state: TrainState;
  weightsPath: string;
}

/**
 * Find and read a checkpoint folder (falls back to `DIR.old` left by a crash
 * during the swap). Returns undefined when there is none.
 *
 * @example
 * ```ts ignore
 * const ckpt = await readCheckpoint("runs/x/checkpoint");
 * ```
 */
export async function readCheckpoint(dir: string): Promise<LoadedCheckpoint | undefined> {
  let at = dir;
  if (!(await exists(`${dir}/${CHECKPOINT_FILES.state}`))) {
    if (await exists(`${dir}.old/${CHECKPOINT_FILES.state}`)) at = `${dir}.old`;
    else return undefined;
  }
  const f = CHECKPOINT_FILES;
  const read = async (name: string) => {
    try {
      return JSON.parse(await Deno.readTextFile(`${at}/${name}`));
    } catch (e) {
      throw new Error(`checkpoint ${at}: cannot read ${name}: ${(e as Error).message}`);
    }
  };
  return {
    dir: at,
    config: await read(f.config),
    tokenizerJson: await read(f.tokenizer),
    state: await read(f.state),
    weightsPath: `${at}/${f.weights}`,
  };
}

/**
 * Restore optimizer moments saved by {@linkcode saveCheckpoint}, matched by parameter name.
 *
 * @example
 * ```ts ignore
 * await loadOptimizerState(`${ckpt.dir}/optimizer.safetensors`, model, optimizer);
 * ```
 */
export async function loadOptimizerState(
  path: string,
  model: CoCa,
  optimizer: AdamW,
): Promise<void> {
  const st = parseSafetensors(await Deno.readFile(path));
  const names = varNames(model);
  const state: AdamWState = { step: Number(st.metadata.step), m: [], v: [] };
  optimizer.vars.forEach((v, i) => {
    const name = names.get(v) ?? `param${i}`;
    for (const which of ["m", "v"] as const) {
      const raw = st.tensors.get(`${which}.${name}`);
      if (!raw) throw new Error(`optimizer state ${path} lacks ${which}.${name}`);
      const copy = raw.data.slice();
      state[which].push(new Float32Array(copy.buffer));
    }
  });
  optimizer.setState(state);
}
