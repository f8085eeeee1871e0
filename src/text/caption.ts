/**
 * Generated ids → caption text: the one conversion used by evaluation, the caption CLI and the
 * demo.
 *
 * @module
 */
import type { Tokenizer } from "./tokenizer.ts";

/**
 * Caption text of generated ids: stops at the first EOS, drops BOS and pad (and the other
 * special ids, as {@linkcode Tokenizer.decode} does); an id the tokenizer does not know (a model
 * may have more tokens than its tokenizer) becomes U+FFFD.
 *
 * @example
 * ```ts
 * import { Tokenizer } from "./tokenizer.ts";
 * import { captionText } from "./caption.ts";
 * const tok = new Tokenizer([]);
 * captionText(tok, [1, 107, 108, 2, 0, 120]); // "hi"
 * captionText(tok, [107, 100000, 108]); // "h\uFFFDi"
 * ```
 */
export function captionText(tokenizer: Tokenizer, ids: ArrayLike<number>): string {
  let out = "", known: number[] = [];
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (id === tokenizer.eosId) break;
    if (id === tokenizer.bosId || id === tokenizer.padId) continue;
    if (id < tokenizer.vocabSize) known.push(id);
    else {
      out += tokenizer.decode(known) + "\uFFFD";
      known = [];
    }
  }
  return out + tokenizer.decode(known);
}
