/**
 * Save and load CoCa weights as safetensors files with the reference's key names (Deno file I/O;
 * the bytes themselves are made and parsed in `bytes.ts`, which also runs in a browser).
 *
 * @module
 */
import type { CoCa, LoadReport } from "../model/coca.ts";
import { stateDictFromBytes, weightsToBytes } from "./bytes.ts";

export { stateDictFromBytes, weightsToBytes };

/**
 * Write the model's weights to `path` atomically (temp file + rename).
 *
 * @example
 * ```ts
 * import { CoCa } from "../model/coca.ts";
 * import { saveWeights } from "./io.ts";
 * const coca = new CoCa({ dim: 16, numTokens: 10, unimodalDepth: 1, multimodalDepth: 1, dimHead: 8, heads: 2, numImgQueries: 2 });
 * await saveWeights(coca, await Deno.makeTempFile({ suffix: ".safetensors" }));
 * ```
 */
export async function saveWeights(
  model: CoCa,
  path: string,
  metadata: Record<string, string> = {},
): Promise<void> {
  const tmp = `${path}.${crypto.randomUUID()}.tmp`;
  await Deno.writeFile(tmp, await weightsToBytes(model, metadata));
  await Deno.rename(tmp, path);
}

/**
 * Load weights saved by {@linkcode saveWeights} or exported from coca-pytorch's
 * `state_dict()` into the model (strict by default; see `CoCa.loadStateDict`).
 *
 * @throws {SafetensorsError} naming `path` and the tensor when the file is not safetensors or
 *   holds a tensor of a non-float dtype.
 * @example
 * ```ts
 * import { CoCa } from "../model/coca.ts";
 * import { loadWeights, saveWeights } from "./io.ts";
 * const cfg = { dim: 16, numTokens: 10, unimodalDepth: 1, multimodalDepth: 1, dimHead: 8, heads: 2, numImgQueries: 2 };
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * await saveWeights(new CoCa(cfg, { seed: 1 }), path);
 * await loadWeights(new CoCa(cfg, { seed: 2 }), path);
 * ```
 */
export async function loadWeights(
  model: CoCa,
  path: string,
  opts: { strict?: boolean; prefix?: string } = {},
): Promise<LoadReport> {
  const dict = stateDictFromBytes(await Deno.readFile(path), opts.prefix ?? "", path);
  try {
    return model.loadStateDict(dict, { strict: opts.strict });
  } finally {
    for (const t of dict.values()) t.dispose();
  }
}
