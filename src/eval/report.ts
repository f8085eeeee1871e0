/**
 * The text table of an `evaluate()` report (one block per split, chance beside each metric).
 *
 * @module
 */
import type { EvalReport, RetrievalScores } from "./types.ts";

const f3 = (x: number | null | undefined) =>
  x === null || x === undefined || !Number.isFinite(x) ? "  -  " : x.toFixed(3);

/**
 * Render a report as a compact text table (one block per split). Chance levels sit beside
 * each metric.
 *
 * @example
 * ```ts ignore
 * import { evaluate } from "./evaluate.ts";
 * import { formatReport } from "./report.ts";
 * console.log(formatReport(await evaluate(model, dataset, tokenizer, { textLength: 24 })));
 * ```
 */
export function formatReport(report: EvalReport): string {
  const lines: string[] = [];
  for (const s of report.splits) {
    lines.push(
      `${report.dataset} / ${s.split}: ${s.examples} examples, ${s.images} images, ` +
        `${s.distinctCaptions} distinct captions (${s.seconds.toFixed(1)} s)`,
    );
    const cutPrompts = Object.values(s.zeroShot.tasks).reduce((a, t) => a + t.truncatedPrompts, 0);
    if (s.truncatedCaptions || cutPrompts) {
      lines.push(
        `  warning: textLength ${report.textLength} cut ${s.truncatedCaptions} captions and ` +
          `${cutPrompts} zero-shot prompts`,
      );
    }
    const ks = s.retrieval.ks;
    const head = ks.map((k) => `R@${k}`.padStart(6)).join("");
    lines.push(`  retrieval${" ".repeat(24)}${head}   | chance${head}`);
    const row = (name: string, v: RetrievalScores, dir: "imageToText" | "textToImage") =>
      `  ${name.padEnd(33)}${ks.map((k) => f3(v[dir][k]).padStart(6)).join("")}   |       ${
        ks.map((k) => f3(v.chance[dir][k]).padStart(6)).join("")
      }`;
    lines.push(row("image→text (caption-dedup) *", s.retrieval.captionDedup, "imageToText"));
    lines.push(row("text→image (caption-dedup) *", s.retrieval.captionDedup, "textToImage"));
    lines.push(row("image→text (strict)", s.retrieval.strict, "imageToText"));
    lines.push(row("text→image (strict)", s.retrieval.strict, "textToImage"));
    const tasks = Object.entries(s.zeroShot.tasks);
    if (tasks.length) {
      lines.push(`  zero-shot${" ".repeat(24)}   acc chance  major images`);
      for (const [name, t] of tasks) {
        lines.push(
          `  ${name.padEnd(33)}${f3(t.accuracy).padStart(6)} ${f3(t.chance).padStart(6)} ${
            f3(t.majority).padStart(6)
          } ${String(t.images).padStart(6)}`,
        );
      }
      lines.push(
        `  ${"mean".padEnd(33)}${f3(s.zeroShot.mean).padStart(6)} ${
          f3(s.zeroShot.meanChance).padStart(6)
        }`,
      );
    }
    lines.push(
      `  caption loss ${s.loss.captionLoss.toFixed(4)}  perplexity ${
        s.loss.perplexity.toFixed(2)
      } (uniform ${s.loss.uniformPerplexity})  over ${s.loss.tokens} tokens`,
    );
    const c = s.captions;
    if (c.skipped) lines.push(`  captions: skipped (${c.reason})`);
    else {
      lines.push(
        `  captions  BLEU-4 ${f3(c.bleu4)} (chance ${f3(c.chance?.bleu4)})  CIDEr-D ${
          f3(c.ciderD)
        } ` +
          `(chance ${f3(c.chance?.ciderD)})  exact ${f3(c.exactMatch)} (chance ${
            f3(c.chance?.exactMatch)
          })`,
      );
      for (const sm of c.samples) {
        lines.push(`    "${sm.generated}"  ←  "${sm.references.join('" | "')}"`);
      }
    }
  }
  lines.push("  * headline: a caption shared by several images counts as correct for each of them");
  return lines.join("\n");
}
