/**
 * Expansion of a {@linkcode SweepSpec} into an ordered, deterministic list of trials.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { canonicalJson, cloneJson, type JsonObject, type JsonValue } from "./json.ts";
import { ConfigPathError, setPath, splitPath } from "./path.ts";
import { type RandFn, seededRng } from "../util/rng.ts";
import { type ParamDomain, type SweepSpec, SweepSpecError, validateSweepSpec } from "./spec.ts";

/** One trial of a sweep: a full config plus the overrides and seed that produced it. */
export interface Trial {
  /**
   * Stable id derived only from the overrides and the seed: a readable slug plus a 10-hex-digit
   * hash, e.g. `"lr=0.001_depth=2_s0-3f2a9c01be"`. Safe as a directory name.
   */
  id: string;
  /** Position in the expanded sweep (0-based). */
  index: number;
  /** The base config with overrides (and the seed, see `seedPath`) applied. */
  config: JsonObject;
  /** Dotted path → value, in spec order (grid paths first, then random paths). */
  overrides: Record<string, JsonValue>;
  /** The trial seed. */
  seed: number;
}

/**
 * Expands a sweep into trials. Order: grid points (cartesian product, last grid key varying
 * fastest), each crossed with the random samples in draw order, each repeated for every seed
 * (seed varying fastest). Random samples that duplicate an earlier sample are dropped, so a
 * random search over a small discrete space may yield fewer than `samples` points. Random floats
 * are rounded to 6 significant digits so ids and configs stay readable.
 *
 * Throws {@linkcode SweepSpecError} for a malformed spec or an override path missing from `base`
 * (unless listed in `allowNewPaths`).
 *
 * @example
 * ```ts
 * import { expandSweep } from "./expand.ts";
 * const trials = expandSweep({
 *   name: "lr",
 *   base: { optim: { lr: 1e-3 }, steps: 100 },
 *   grid: { "optim.lr": [1e-3, 3e-4] },
 *   seeds: [0, 1],
 * });
 * trials.length; // 4
 * trials[1].config; // { optim: { lr: 0.001 }, steps: 100, seed: 1 }
 * ```
 */
export function expandSweep(spec: SweepSpec): Trial[] {
  validateSweepSpec(spec);
  const gridPoints = expandGrid(spec.grid ?? {});
  const randomPoints = spec.random
    ? sampleRandom(spec.random.space, spec.random.samples, spec.random.seed ?? 0)
    : [{}];
  const allow = spec.allowNewPaths ?? false;
  const allowed = (path: string) =>
    allow === true || (Array.isArray(allow) && allow.includes(path));
  const seedPath = spec.seedPath === undefined ? "seed" : spec.seedPath;

  const trials: Trial[] = [];
  for (const g of gridPoints) {
    for (const r of randomPoints) {
      const overrides: Record<string, JsonValue> = { ...g, ...r };
      for (const seed of spec.seeds) {
        const config = cloneJson(spec.base);
        for (const [path, value] of Object.entries(overrides)) {
          try {
            setPath(config, path, cloneJson(value), { create: allowed(path) });
          } catch (e) {
            if (!(e instanceof ConfigPathError)) throw e;
            const field = spec.grid && path in spec.grid ? "grid" : "random.space";
            throw new SweepSpecError(
              `Invalid sweep spec "${spec.name}": ${field} path "${path}" cannot be set: ${e.message}` +
                ` (add it to "allowNewPaths" to create it)`,
            );
          }
        }
        if (seedPath !== null) setPath(config, seedPath, seed, { create: true });
        trials.push({
          id: trialId(overrides, seed),
          index: trials.length,
          config,
          overrides,
          seed,
        });
      }
    }
  }
  return trials;
}

/**
 * The stable trial id for a set of overrides and a seed (see {@linkcode Trial.id}). Key order of
 * `overrides` changes the slug but not the hash.
 *
 * @example
 * ```ts
 * import { trialId } from "./expand.ts";
 * trialId({ "optim.lr": 0.001 }, 0); // "lr=0.001_s0-" + 10 hex digits
 * ```
 */
export function trialId(overrides: Record<string, JsonValue>, seed: number): string {
  const hash = createHash("sha256")
    .update(canonicalJson({ overrides, seed }))
    .digest("hex")
    .slice(0, 10);
  const parts = Object.entries(overrides).map(([path, value]) => {
    const segs = splitPath(path);
    return `${segs[segs.length - 1]}=${slugValue(value)}`;
  });
  parts.push(`s${seed}`);
  let slug = parts.join("_").replace(/[^A-Za-z0-9._=+-]+/g, "-");
  if (slug.length > 60) slug = slug.slice(0, 60);
  return `${slug}-${hash}`;
}

function slugValue(value: JsonValue): string {
  if (value === null || typeof value !== "object") return String(value);
  return Array.isArray(value) ? value.map(slugValue).join("x") : "obj";
}

function expandGrid(grid: Record<string, JsonValue[]>): Record<string, JsonValue>[] {
  let points: Record<string, JsonValue>[] = [{}];
  for (const [path, values] of Object.entries(grid)) {
    const next: Record<string, JsonValue>[] = [];
    for (const p of points) for (const v of values) next.push({ ...p, [path]: v });
    points = next;
  }
  return points;
}

function sampleRandom(
  space: Record<string, ParamDomain>,
  samples: number,
  seed: number,
): Record<string, JsonValue>[] {
  const rng = seededRng(seed);
  const out: Record<string, JsonValue>[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < samples; i++) {
    const point: Record<string, JsonValue> = {};
    for (const [path, dom] of Object.entries(space)) point[path] = sampleDomain(dom, rng);
    const key = canonicalJson(point);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(point);
  }
  return out;
}

function sampleDomain(dom: ParamDomain, rng: RandFn): JsonValue {
  if ("values" in dom) return dom.values[Math.floor(rng() * dom.values.length)];
  const { min, max, log = false, integer = false } = dom;
  if (integer && !log) {
    const lo = Math.ceil(min), hi = Math.floor(max);
    if (lo > hi) throw new SweepSpecError(`Integer range [${min}, ${max}] contains no integer`);
    return lo + Math.floor(rng() * (hi - lo + 1));
  }
  const u = rng();
  const x = log
    ? Math.exp(Math.log(min) + u * (Math.log(max) - Math.log(min)))
    : min + u * (max - min);
  if (integer) return Math.min(Math.floor(max), Math.max(Math.ceil(min), Math.round(x)));
  return Number(x.toPrecision(6));
}
