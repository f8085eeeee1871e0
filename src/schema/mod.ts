/**
 * Config schemas' shared part: zod issues in the project's "expected X, found Y" wording and
 * the number checks every config uses. The configs themselves are defined next to their code
 * (`model/config.ts`, `train/config.ts`, `data/config.ts`, `generate/generate.ts`,
 * `sweep/spec.ts`).
 *
 * @module
 */
export * from "./format.ts";
