/**
 * A one-line progress bar for long loops: redrawn in place on a terminal,
 * plain lines (at most one every few seconds) otherwise.
 *
 * @module
 */

import type { TrainProgress } from "../train/trainer.ts";
import { formatDuration } from "../util/duration.ts";

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

/**
 * The text after the bar for a training step: speed, ETA, losses and, when asked, the learning
 * rate.
 *
 * @example
 * ```ts
 * import { trainProgressText } from "./progress.ts";
 * const p = { step: 5, steps: 10, loss: 3, captionLoss: 2, contrastiveLoss: 1, lr: 1e-3,
 *   stepsPerSecond: 2, etaSeconds: 2.5 };
 * trainProgressText(p, { digits: 1 });
 * // "2.00 step/s ETA 3s loss 3.0 (caption 2.0, contrastive 1.0)"
 * ```
 *
 * @param p The trainer's progress report.
 * @param options Digits of the losses (default 3) and whether to show the learning rate.
 * @returns One line of text.
 */
export function trainProgressText(
  p: TrainProgress,
  options: { digits?: number; lr?: boolean } = {},
): string {
  const d = options.digits ?? 3;
  return `${p.stepsPerSecond.toFixed(2)} step/s ETA ${formatDuration(p.etaSeconds)} ` +
    `loss ${p.loss.toFixed(d)} (caption ${p.captionLoss.toFixed(d)}, ` +
    `contrastive ${p.contrastiveLoss.toFixed(d)})` +
    (options.lr ? ` lr ${p.lr.toExponential(2)}` : "");
}
