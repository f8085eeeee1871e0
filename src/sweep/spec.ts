/**
 * The sweep specification: plain data describing a base trial config, the overrides to explore
 * (grid and/or seeded random search) and the seeds to repeat each point with.
 *
 * @module
 */

import { z } from "../deps/zod.ts";
import { num, parseConfig, type SameType } from "../schema/format.ts";
import { isJsonValue, isPlainObject, type JsonObject, type JsonValue } from "./json.ts";
import { splitPath } from "./path.ts";
import { type ExecutorSpec, ExecutorSpecSchema } from "./executor.ts";

/** A random-search domain: either a list of choices or a numeric range. */
export type ParamDomain =
  | {
    /** Choose uniformly among these JSON values. */
    values: JsonValue[];
  }
  | {
    /** Lower bound (inclusive). */
    min: number;
    /** Upper bound (inclusive for integers, exclusive for floats). */
    max: number;
    /** Sample uniformly in log space (requires `min > 0`). */
    log?: boolean;
    /** Round to an integer (uniform over `min..max` inclusive, or log-uniform then rounded). */
    integer?: boolean;
  };

/** Seeded random search over a set of dotted config paths. */
export interface RandomSearch {
  /** Number of random points to draw (before de-duplication). */
  samples: number;
  /** Seed of the search itself (not of the trials); default 0. */
  seed?: number;
  /** Domain per dotted config path; paths are sampled in key order. */
  space: Record<string, ParamDomain>;
}

/** A sweep: plain, JSON-serialisable data. */
export interface SweepSpec {
  /** Name of the sweep, stored with every trial. */
  name: string;
  /** Free-form description, stored with the spec. */
  description?: string;
  /** A full trial config; every trial's config is a copy of it with overrides applied. */
  base: JsonObject;
  /** Cartesian grid: dotted path → values. Key order defines order; the last key varies fastest. */
  grid?: Record<string, JsonValue[]>;
  /** Random search, crossed with the grid (each grid point gets every random sample). */
  random?: RandomSearch;
  /** Each point is run once per seed. Must be distinct integers. */
  seeds: number[];
  /**
   * Dotted path where the trial seed is written into the config (created if absent), or `null` to
   * leave the config alone. Default `"seed"`.
   */
  seedPath?: string | null;
  /**
   * Paths that may be set even though they do not exist in `base` (`true` allows any path).
   * Default: none; setting an unknown path is an error naming it.
   */
  allowNewPaths?: boolean | string[];
  /**
   * Where the trials run: `{"kind": "local"}` (subprocesses of the runner, the default) or
   * `{"kind": "slurm", "partition"?, "timeMinutes"?, "cpusPerTask"?, "args"?}` (job arrays). The
   * runner's `executor` option wins over this.
   */
  executor?: ExecutorSpec;
}

/** Thrown when a sweep spec is malformed. */
export class SweepSpecError extends Error {
  /**
   * @param message what was expected and what was found
   */
  constructor(message: string) {
    super(message);
    this.name = "SweepSpecError";
  }
}

const jsonValue = z.custom<JsonValue>((v) => isJsonValue(v), {
  error: "expected {path} to be JSON data (finite numbers only)",
});

const domainSchema = z.union([
  z.strictObject({
    values: z.array(jsonValue).min(1).describe("Choose uniformly among these JSON values."),
  }),
  z.strictObject({
    min: num.finite().describe("Lower bound (inclusive)."),
    max: num.finite().describe("Upper bound (inclusive for integers, exclusive for floats)."),
    log: z.boolean().optional().describe("Sample uniformly in log space (requires `min > 0`)."),
    integer: z.boolean().optional().describe("Round to an integer."),
  }),
], { error: "expected {path} to be {values: [...]} or {min, max, log?, integer?}" });

const intError = { error: "expected {path} to be an integer" };

const specSchema = z.strictObject({
  name: z.string({ error: "expected {path} to be a non-empty string" })
    .regex(/\S/, { error: "expected {path} to be a non-empty string" }),
  description: z.string().optional(),
  base: z.custom<JsonObject>((v) => isPlainObject(v) && isJsonValue(v), {
    error: "expected {path} to be a plain JSON object (finite numbers only)",
  }),
  grid: z.record(
    z.string(),
    z.array(jsonValue, { error: "expected {path} to be a non-empty array" })
      .min(1, { error: "expected {path} to be a non-empty array" }),
  ).optional(),
  random: z.strictObject({
    samples: num.positiveInt(),
    seed: z.number(intError).int(intError).optional(),
    space: z.record(z.string(), domainSchema),
  }).optional(),
  seeds: z.array(z.number(intError).int(intError), {
    error: "expected {path} to be a non-empty array of integers",
  }).min(1, { error: "expected {path} to be a non-empty array of integers" }),
  seedPath: z.string().nullable().optional(),
  allowNewPaths: z.union([z.boolean(), z.array(z.string())], {
    error: "expected {path} to be a boolean or an array of paths",
  }).optional(),
  executor: ExecutorSpecSchema.optional(),
}).superRefine((spec, ctx) => {
  const issue = (path: (string | number)[], message: string) =>
    ctx.addIssue({ code: "custom", path, message });
  const seen = new Set<string>();
  const checkPath = (path: string, where: (string | number)[], field: string) => {
    try {
      splitPath(path);
    } catch (e) {
      issue(where, `${field}: ${(e as Error).message}`);
    }
    if (seen.has(path)) issue(where, `${field}: path "${path}" is set more than once`);
    seen.add(path);
  };
  for (const [path, values] of Object.entries(spec.grid ?? {})) {
    checkPath(path, ["grid", path], "grid");
    const distinct = new Set(values.map((v) => JSON.stringify(v)));
    if (distinct.size !== values.length) {
      issue(["grid", path], `expected distinct values in grid["${path}"], found duplicates`);
    }
  }
  if (spec.random) {
    const space = Object.entries(spec.random.space);
    if (space.length === 0) {
      issue(["random", "space"], "expected random.space to be a non-empty object, found {}");
    }
    for (const [path, dom] of space) {
      checkPath(path, ["random", "space", path], "random.space");
      if ("values" in dom) continue;
      const where = `random.space["${path}"]`;
      if (dom.min > dom.max) {
        issue(
          ["random", "space", path],
          `expected ${where}.min <= max ${dom.max}, found ${dom.min}`,
        );
      }
      if (dom.log && dom.min <= 0) {
        issue(
          ["random", "space", path],
          `expected ${where}.min > 0 for log sampling, found ${dom.min}`,
        );
      }
    }
  }
  if (new Set(spec.seeds).size !== spec.seeds.length) {
    issue(["seeds"], `expected seeds to be distinct, found ${JSON.stringify(spec.seeds)}`);
  }
  if (typeof spec.seedPath === "string") checkPath(spec.seedPath, ["seedPath"], "seedPath");
});

// The declared type and the schema agree (a compile error otherwise).
const _spec: SameType<z.input<typeof specSchema>, SweepSpec> = true;

/** {@linkcode SweepSpec}'s schema: its checks. */
export const SweepSpecSchema: z.ZodType<SweepSpec, SweepSpec> = specSchema;

/**
 * Validates untrusted data (e.g. a parsed JSON file) as a {@linkcode SweepSpec}, throwing a
 * {@linkcode SweepSpecError} that names the offending field. Returns the same object, typed.
 *
 * @example
 * ```ts
 * import { validateSweepSpec } from "./spec.ts";
 * const spec = validateSweepSpec({
 *   name: "lr",
 *   base: { optim: { lr: 1e-3 } },
 *   grid: { "optim.lr": [1e-3, 3e-4] },
 *   seeds: [0, 1],
 * });
 * ```
 */
export function validateSweepSpec(data: unknown): SweepSpec {
  parseConfig(SweepSpecSchema, data, {
    what: "the sweep spec",
    error: (message) => new SweepSpecError(`Invalid sweep spec: ${message}`),
  });
  return data as SweepSpec;
}
