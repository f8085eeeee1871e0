/**
 * Text helpers for captions and HTML: escaping and word wrapping.
 *
 * @module
 */

const ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/**
 * Escapes `&`, `<`, `>`, `"` and `'` so text can be placed in HTML or in plotly annotation
 * text (which interprets a subset of HTML tags).
 *
 * @example Usage
 * ```ts
 * import { escapeHtml } from "./text.ts";
 * escapeHtml("<unk> & co"); // "&lt;unk&gt; &amp; co"
 * ```
 *
 * @param text Plain text.
 * @returns The escaped text.
 */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

/**
 * Greedily wraps text into lines of at most `width` characters, breaking at spaces (a single
 * word longer than `width` is cut).
 *
 * @example Usage
 * ```ts
 * import { wrapText } from "./text.ts";
 * wrapText("a cat sitting on a mat", 10); // ["a cat", "sitting on", "a mat"]
 * ```
 *
 * @param text The text to wrap.
 * @param width Maximum line length in characters (at least 1).
 * @returns The lines.
 */
export function wrapText(text: string, width: number): string[] {
  if (!(Number.isInteger(width) && width >= 1)) {
    throw new RangeError(`wrapText: expected an integer width >= 1, found ${width}`);
  }
  const lines: string[] = [];
  let line = "";
  for (let word of text.split(/\s+/).filter((w) => w !== "")) {
    while (word.length > width) {
      if (line !== "") lines.push(line);
      lines.push(word.slice(0, width));
      word = word.slice(width);
      line = "";
    }
    if (line === "") line = word;
    else if (line.length + 1 + word.length <= width) line += ` ${word}`;
    else {
      lines.push(line);
      line = word;
    }
  }
  if (line !== "") lines.push(line);
  return lines;
}
