/**
 * The sweep specification: plain data describing a base trial config, the overrides to explore
 * (grid and/or seeded random search) and the seeds to repeat each point with.
 *
 * @module
 */

import {
  describeValue,
  isJsonValue,
  isPlainObject,
  type JsonObject,
  type JsonValue,
} from "./json.ts";
import { splitPath } from "./path.ts";

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

const SPEC_KEYS = [
  "name",
  "description",
  "base",
  "grid",
  "random",
  "seeds",
  "seedPath",
  "allowNewPaths",
];

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
  const fail = (msg: string): never => {
    throw new SweepSpecError(`Invalid sweep spec: ${msg}`);
  };
  if (!isPlainObject(data)) fail(`expected an object, found ${describeValue(data)}`);
  const spec = data as Record<string, unknown>;
  for (const key of Object.keys(spec)) {
    if (!SPEC_KEYS.includes(key)) {
      fail(`unknown field "${key}" (expected one of: ${SPEC_KEYS.join(", ")})`);
    }
  }
  if (typeof spec.name !== "string" || spec.name.trim() === "") {
    fail(`"name" must be a non-empty string, found ${describeValue(spec.name)}`);
  }
  if (spec.description !== undefined && typeof spec.description !== "string") {
    fail(`"description" must be a string, found ${describeValue(spec.description)}`);
  }
  if (!isPlainObject(spec.base) || !isJsonValue(spec.base)) {
    fail(
      `"base" must be a plain JSON object (finite numbers only), found ${describeValue(spec.base)}`,
    );
  }
  const seen = new Set<string>();
  const checkPath = (path: string, field: string) => {
    try {
      splitPath(path);
    } catch (e) {
      fail(`${field}: ${(e as Error).message}`);
    }
    if (seen.has(path)) fail(`${field}: path "${path}" is set more than once`);
    seen.add(path);
  };
  if (spec.grid !== undefined) {
    if (!isPlainObject(spec.grid)) {
      fail(`"grid" must be an object, found ${describeValue(spec.grid)}`);
    }
    for (const [path, values] of Object.entries(spec.grid as Record<string, unknown>)) {
      checkPath(path, `grid`);
      if (!Array.isArray(values) || values.length === 0) {
        fail(`grid["${path}"] must be a non-empty array, found ${describeValue(values)}`);
      }
      const arr = values as unknown[];
      arr.forEach((v, i) => {
        if (!isJsonValue(v)) {
          fail(`grid["${path}"][${i}] must be JSON data, found ${describeValue(v)}`);
        }
      });
      const distinct = new Set(arr.map((v) => JSON.stringify(v)));
      if (distinct.size !== arr.length) fail(`grid["${path}"] contains duplicate values`);
    }
  }
  if (spec.random !== undefined) validateRandom(spec.random, fail, checkPath);
  if (!Array.isArray(spec.seeds) || spec.seeds.length === 0) {
    fail(`"seeds" must be a non-empty array of integers, found ${describeValue(spec.seeds)}`);
  }
  const seeds = spec.seeds as unknown[];
  seeds.forEach((s, i) => {
    if (!Number.isSafeInteger(s)) fail(`seeds[${i}] must be an integer, found ${String(s)}`);
  });
  if (new Set(seeds).size !== seeds.length) fail(`"seeds" contains duplicates`);
  if (spec.seedPath !== undefined && spec.seedPath !== null) {
    if (typeof spec.seedPath !== "string") {
      fail(`"seedPath" must be a string or null, found ${describeValue(spec.seedPath)}`);
    }
    checkPath(spec.seedPath as string, "seedPath");
  }
  const allow = spec.allowNewPaths;
  if (
    allow !== undefined && typeof allow !== "boolean" &&
    !(Array.isArray(allow) && allow.every((p) => typeof p === "string"))
  ) {
    fail(`"allowNewPaths" must be a boolean or an array of paths, found ${describeValue(allow)}`);
  }
  return data as unknown as SweepSpec;
}

function validateRandom(
  random: unknown,
  fail: (msg: string) => never,
  checkPath: (path: string, field: string) => void,
): void {
  if (!isPlainObject(random)) fail(`"random" must be an object, found ${describeValue(random)}`);
  const r = random as Record<string, unknown>;
  for (const key of Object.keys(r)) {
    if (!["samples", "seed", "space"].includes(key)) {
      fail(`unknown field "random.${key}" (expected samples, seed, space)`);
    }
  }
  if (!Number.isSafeInteger(r.samples) || (r.samples as number) < 1) {
    fail(`"random.samples" must be an integer >= 1, found ${String(r.samples)}`);
  }
  if (r.seed !== undefined && !Number.isSafeInteger(r.seed)) {
    fail(`"random.seed" must be an integer, found ${String(r.seed)}`);
  }
  if (!isPlainObject(r.space) || Object.keys(r.space).length === 0) {
    fail(`"random.space" must be a non-empty object, found ${describeValue(r.space)}`);
  }
  for (const [path, dom] of Object.entries(r.space as Record<string, unknown>)) {
    checkPath(path, "random.space");
    const where = `random.space["${path}"]`;
    if (!isPlainObject(dom)) {
      fail(`${where} must be {values} or {min,max}, found ${describeValue(dom)}`);
    }
    const d = dom as Record<string, unknown>;
    if ("values" in d) {
      if (Object.keys(d).length !== 1) fail(`${where} with "values" takes no other field`);
      if (!Array.isArray(d.values) || d.values.length === 0 || !isJsonValue(d.values)) {
        fail(`${where}.values must be a non-empty array of JSON data`);
      }
      continue;
    }
    for (const key of Object.keys(d)) {
      if (!["min", "max", "log", "integer"].includes(key)) {
        fail(`unknown field "${key}" in ${where} (expected values, or min, max, log, integer)`);
      }
    }
    const { min, max, log, integer } = d;
    if (typeof min !== "number" || typeof max !== "number" || !isFinite(min) || !isFinite(max)) {
      fail(`${where} needs finite numbers "min" and "max", found min=${min}, max=${max}`);
    }
    if ((min as number) > (max as number)) fail(`${where}: min ${min} is greater than max ${max}`);
    if (log !== undefined && typeof log !== "boolean") fail(`${where}.log must be a boolean`);
    if (integer !== undefined && typeof integer !== "boolean") {
      fail(`${where}.integer must be a boolean`);
    }
    if (log && (min as number) <= 0) fail(`${where}: log sampling needs min > 0, found ${min}`);
  }
}
