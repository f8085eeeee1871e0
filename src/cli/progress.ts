/**
 * A one-line progress bar for long loops: redrawn in place on a terminal,
 * plain lines (at most one every few seconds) otherwise.
 *
 * @module
 */

/**
 * `1m05s`, `3h02m`, `42s`.
 *
 * @example
 * ```ts
 * import { formatSeconds } from "./progress.ts";
 * console.log(formatSeconds(65)); // "1m05s"
 * ```
 */
export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return "?";
  s = Math.max(0, Math.round(s));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/**
 * A progress line writer bound to stderr.
 *
 * @example
 * ```ts
 * import { ProgressBar } from "./progress.ts";
 * const bar = new ProgressBar();
 * bar.update(5, 10, "loss 1.23");
 * bar.done();
 * ```
 */
export class ProgressBar {
  readonly #tty: boolean = Deno.stderr.isTerminal();
  #lastPlain = 0;
  readonly #encoder = new TextEncoder();

  /** Draw `done/total` with a suffix. */
  update(done: number, total: number, suffix: string): void {
    const width = 24;
    const filled = Math.round((done / total) * width);
    const bar = `[${"=".repeat(filled)}${filled < width ? ">" : ""}${
      " ".repeat(Math.max(0, width - filled - 1))
    }]`;
    const line = `${String(done).padStart(String(total).length)}/${total} ${bar} ${suffix}`;
    if (this.#tty) {
      Deno.stderr.writeSync(this.#encoder.encode(`\r\x1b[2K${line}`));
    } else if (performance.now() - this.#lastPlain > 5000 || done === total) {
      this.#lastPlain = performance.now();
      Deno.stderr.writeSync(this.#encoder.encode(line + "\n"));
    }
  }

  /** End the line. */
  done(): void {
    if (this.#tty) Deno.stderr.writeSync(this.#encoder.encode("\n"));
  }
}
