/**
 * CoCa weights as safetensors bytes, with the reference's key names: no file I/O, so it runs in
 * a browser too (`src/weights/io.ts` adds reading and writing files under Deno).
 *
 * @module
 */
import type * as tf from "../deps/tf.ts";
import type { CoCa } from "../model/coca.ts";
import {
  FLOAT_DTYPES,
  fromTensor,
  parseSafetensors,
  type RawTensor,
  SafetensorsError,
  serializeSafetensors,
  toTensor,
} from "./safetensors.ts";

/**
 * The model's state dict as safetensors bytes (the tied `to_logits.1.weight`
 * stored once, as `token_emb.weight`, like the reference fixture).
 *
 * @example
 * ```ts
 * import { CoCa } from "../model/coca.ts";
 * import { weightsToBytes } from "./bytes.ts";
 * const coca = new CoCa({ dim: 16, numTokens: 10, unimodalDepth: 1, multimodalDepth: 1, dimHead: 8, heads: 2, numImgQueries: 2 });
 * console.log((await weightsToBytes(coca)).length > 0); // true
 * ```
 */
export async function weightsToBytes(
  model: CoCa,
  metadata: Record<string, string> = {},
  prefix = "",
): Promise<Uint8Array> {
  const raw = new Map<string, RawTensor>();
  for (const [k, t] of model.stateDict()) {
    if (k === "to_logits.1.weight") continue;
    raw.set(prefix + k, await fromTensor(t));
  }
  return serializeSafetensors(raw, metadata);
}

/**
 * The tensors of safetensors bytes whose names start with `prefix`, prefix removed: float
 * weights, so a tensor of a non-float dtype (I64, I32, U8, BOOL) is an error.
 * The caller owns (and must dispose) the returned tensors.
 *
 * @param file the file the bytes came from, named in every error.
 * @throws {SafetensorsError} when the bytes are not safetensors or a tensor is not float.
 * @example
 * ```ts
 * import { stateDictFromBytes } from "./bytes.ts";
 * const sd = stateDictFromBytes(
 *   await (await fetch(new URL("../../tests/fixtures/coca_tiny_a.safetensors", import.meta.url))).bytes(),
 *   "model.",
 * );
 * console.log(sd.has("token_emb.weight")); // true
 * ```
 */
export function stateDictFromBytes(
  bytes: Uint8Array,
  prefix = "",
  file?: string,
): Map<string, tf.Tensor> {
  const chosen = [...parseSafetensors(bytes, file).tensors].filter(([k]) => k.startsWith(prefix));
  for (const [k, raw] of chosen) {
    if (!FLOAT_DTYPES.includes(raw.dtype)) {
      throw new SafetensorsError(
        `expected a float dtype (${FLOAT_DTYPES.join(", ")}) for weights, found ${raw.dtype}`,
        { file, tensor: k },
      );
    }
  }
  return new Map(
    chosen.map(([k, raw]) => [k.slice(prefix.length), toTensor(raw, { file, tensor: k })]),
  );
}
