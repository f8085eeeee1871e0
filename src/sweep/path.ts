/**
 * Dotted config paths (`"model.text.depth"`, `"schedule.0.lr"`): reading and writing nested values
 * in plain JSON configs.
 *
 * @module
 */

import { isPlainObject } from "./json.ts";

/** Thrown when a dotted path cannot be resolved or written. */
export class ConfigPathError extends Error {
  /** The dotted path that failed. */
  readonly path: string;
  /**
   * @param path the dotted path that failed
   * @param message what was expected and what was found
   */
  constructor(path: string, message: string) {
    super(message);
    this.name = "ConfigPathError";
    this.path = path;
  }
}

/**
 * Splits a dotted path into segments, rejecting empty segments.
 *
 * @example
 * ```ts
 * import { splitPath } from "./path.ts";
 * splitPath("model.text.depth"); // ["model", "text", "depth"]
 * ```
 */
export function splitPath(path: string): string[] {
  const parts = path.split(".");
  if (path.length === 0 || parts.some((p) => p.length === 0)) {
    throw new ConfigPathError(
      path,
      `Expected a dotted path like "a.b.c" with non-empty segments, found "${path}"`,
    );
  }
  return parts;
}

/**
 * Reads the value at a dotted path; arrays are indexed by numeric segments. Returns `undefined`
 * when any segment is missing.
 *
 * @example
 * ```ts
 * import { getPath } from "./path.ts";
 * getPath({ model: { dims: [8, 16] } }, "model.dims.1"); // 16
 * getPath({ model: {} }, "model.depth"); // undefined
 * ```
 */
export function getPath(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const key of splitPath(path)) {
    if (Array.isArray(cur) && /^\d+$/.test(key)) {
      cur = cur[Number(key)];
    } else if (isPlainObject(cur) && Object.hasOwn(cur, key)) {
      cur = cur[key];
    } else {
      return undefined;
    }
  }
  return cur;
}

/**
 * Returns true when every segment of `path` exists in `obj` (the final value may be `null`).
 *
 * @example
 * ```ts
 * import { hasPath } from "./path.ts";
 * hasPath({ a: { b: null } }, "a.b"); // true
 * hasPath({ a: { b: null } }, "a.c"); // false
 * ```
 */
export function hasPath(obj: unknown, path: string): boolean {
  let cur: unknown = obj;
  for (const key of splitPath(path)) {
    if (Array.isArray(cur) && /^\d+$/.test(key) && Number(key) < cur.length) {
      cur = cur[Number(key)];
    } else if (isPlainObject(cur) && Object.hasOwn(cur, key)) {
      cur = cur[key];
    } else {
      return false;
    }
  }
  return true;
}

/**
 * Writes `value` at a dotted path, mutating `obj`. By default every segment must already exist,
 * so a typo such as `"modle.depth"` fails with an error naming the path and the keys that do
 * exist. With `create: true`, missing object keys (and intermediate objects) are created.
 *
 * @example
 * ```ts
 * import { setPath } from "./path.ts";
 * const cfg = { optim: { lr: 1e-3 } };
 * setPath(cfg, "optim.lr", 3e-4); // cfg.optim.lr === 3e-4
 * setPath(cfg, "optim.beta2", 0.98, { create: true });
 * ```
 */
export function setPath(
  obj: Record<string, unknown>,
  path: string,
  value: unknown,
  options: { create?: boolean } = {},
): void {
  const parts = splitPath(path);
  let cur: unknown = obj;
  for (let i = 0; i < parts.length; i++) {
    const key = parts[i];
    const last = i === parts.length - 1;
    const where = parts.slice(0, i).join(".") || "<root>";
    if (Array.isArray(cur)) {
      if (!/^\d+$/.test(key) || Number(key) >= cur.length) {
        throw new ConfigPathError(
          path,
          `Config path "${path}" does not exist: "${where}" is an array of length ${cur.length}, ` +
            `found index "${key}"`,
        );
      }
      if (last) cur[Number(key)] = value;
      else cur = cur[Number(key)];
      continue;
    }
    if (!isPlainObject(cur)) {
      throw new ConfigPathError(
        path,
        `Config path "${path}" does not exist: expected an object at "${where}", found ${
          cur === null ? "null" : typeof cur
        }`,
      );
    }
    if (!Object.hasOwn(cur, key)) {
      if (!options.create) {
        const known = Object.keys(cur);
        throw new ConfigPathError(
          path,
          `Config path "${path}" does not exist in the base config: no key "${key}" at "${where}"` +
            ` (keys there: ${known.length ? known.join(", ") : "none"})`,
        );
      }
      if (!last) cur[key] = {};
    }
    if (last) cur[key] = value;
    else cur = cur[key];
  }
}
