/**
 * The zero-shot phase of `evaluate()`. For every task of `dataset.classes`, each class name is put
 * into every template of `dataset.promptTemplates[task]` (`["{}"]` when none are given), the
 * normalised text latents are averaged over templates and renormalised; an image's prediction is
 * the argmax of image·class similarity. Only distinct images whose (first) example carries
 * `attributes[task]` take part. Chance is `1 / classes`; `majority` is the share of the most
 * frequent true class (the accuracy of always guessing it).
 *
 * @module
 */
import { type Dataset, type Example, fillTemplate } from "../data/types.ts";
import type { Tokenizer } from "../text/tokenizer.ts";
import { encodeTexts } from "./encode.ts";
import { zeroShotAccuracy } from "./metrics.ts";
import type { EvaluableModel, ZeroShotReport, ZeroShotTaskReport } from "./types.ts";

/** The class latents of every zero-shot task (computed once, shared by every split). */
export interface PromptLatents {
  /** Per task: `(classes, d)` renormalised mean latents, row-major. */
  byTask: Map<
    string,
    { latents: Float32Array; classes: string[]; templates: number; truncated: number }
  >;
}

/** Encode every task's prompts and average them per class. */
export async function promptLatents(
  model: EvaluableModel,
  dataset: Dataset,
  tokenizer: Tokenizer,
  textLength: number,
  batchSize: number,
  progress: (done: number, total: number) => void,
): Promise<PromptLatents> {
  const byTask: PromptLatents["byTask"] = new Map();
  const tasks = Object.entries(dataset.classes ?? {});
  const prompts: string[] = [];
  const layout: { task: string; classes: string[]; templates: string[]; offset: number }[] = [];
  for (const [task, classes] of tasks) {
    const templates = dataset.promptTemplates?.[task] ?? ["{}"];
    if (classes.length === 0 || templates.length === 0) {
      throw new RangeError(
        `expected zero-shot task "${task}" to have classes and templates, found ${classes.length} ` +
          `classes and ${templates.length} templates`,
      );
    }
    layout.push({ task, classes, templates, offset: prompts.length });
    for (const c of classes) for (const t of templates) prompts.push(fillTemplate(t, c));
  }
  if (prompts.length === 0) return { byTask };
  const { latents, d, truncated } = await encodeTexts(
    model,
    tokenizer,
    prompts,
    textLength,
    batchSize,
    (done) => progress(done, prompts.length),
  );
  for (const { task, classes, templates, offset } of layout) {
    const out = new Float32Array(classes.length * d);
    classes.forEach((_, c) => {
      const row = out.subarray(c * d, (c + 1) * d);
      for (let t = 0; t < templates.length; t++) {
        const p = offset + c * templates.length + t;
        for (let i = 0; i < d; i++) row[i] += latents[p * d + i];
      }
      let norm = 0;
      for (let i = 0; i < d; i++) norm += row[i] * row[i];
      norm = Math.max(Math.sqrt(norm), 1e-12);
      for (let i = 0; i < d; i++) row[i] /= norm;
    });
    const n = classes.length * templates.length;
    const cut = truncated.slice(offset, offset + n).filter(Boolean).length;
    byTask.set(task, { latents: out, classes, templates: templates.length, truncated: cut });
  }
  return { byTask };
}

/**
 * Zero-shot accuracy of a split's distinct images (`firstExample[i]` carries image i's
 * attributes; `imageLatents` is `(images, d)`).
 */
export function zeroShotReport(
  prompts: PromptLatents,
  firstExample: readonly Example[],
  imageLatents: Float32Array,
  d: number,
  split: string,
): ZeroShotReport {
  const tasks: Record<string, ZeroShotTaskReport> = {};
  for (const [task, { latents, classes, templates, truncated }] of prompts.byTask) {
    const rows: number[] = [];
    const labels: number[] = [];
    firstExample.forEach((ex, i) => {
      const value = ex.attributes?.[task];
      if (value === undefined) return;
      const y = classes.indexOf(value);
      if (y < 0) {
        throw new RangeError(
          `expected attribute "${task}" to be one of the task's classes (${classes.join(", ")}), ` +
            `found "${value}" in split "${split}"`,
        );
      }
      rows.push(i);
      labels.push(y);
    });
    const C = classes.length;
    const scores = new Float32Array(rows.length * C);
    rows.forEach((i, r) => {
      for (let c = 0; c < C; c++) {
        let s = 0;
        for (let k = 0; k < d; k++) s += imageLatents[i * d + k] * latents[c * d + k];
        scores[r * C + c] = s;
      }
    });
    const counts = new Array<number>(C).fill(0);
    for (const y of labels) counts[y]++;
    tasks[task] = {
      accuracy: rows.length
        ? zeroShotAccuracy({ data: scores, shape: [rows.length, C] }, labels)
        : null,
      chance: 1 / C,
      majority: rows.length ? Math.max(...counts) / rows.length : null,
      images: rows.length,
      classes: C,
      templates,
      truncatedPrompts: truncated,
    };
  }
  const scored = Object.values(tasks).filter((t) => t.accuracy !== null);
  return {
    tasks,
    mean: scored.length ? scored.reduce((a, t) => a + t.accuracy!, 0) / scored.length : null,
    meanChance: scored.length ? scored.reduce((a, t) => a + t.chance, 0) / scored.length : null,
  };
}
