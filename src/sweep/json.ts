/**
 * JSON helpers used by the sweep runner: a canonical (key-sorted) serialisation for hashing and
 * comparing configs, and a guard for "plain JSON data".
 *
 * @module
 */

/** A value that survives `JSON.stringify` / `JSON.parse` unchanged. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | JsonValue[]
  | { [key: string]: JsonValue };

/** A JSON object. */
export type JsonObject = { [key: string]: JsonValue };

/**
 * Returns true when `value` is plain JSON data: null, booleans, finite numbers, strings, arrays and
 * plain objects of those. `undefined`, `NaN`, `Infinity`, functions, class instances and cycles
 * are rejected.
 *
 * @example
 * ```ts
 * import { isJsonValue } from "./json.ts";
 * isJsonValue({ a: [1, "x", null] }); // true
 * isJsonValue({ a: NaN }); // false
 * ```
 */
export function isJsonValue(value: unknown): value is JsonValue {
  return checkJson(value, new Set());
}

function checkJson(value: unknown, seen: Set<object>): boolean {
  if (value === null) return true;
  switch (typeof value) {
    case "boolean":
    case "string":
      return true;
    case "number":
      return Number.isFinite(value);
    case "object": {
      if (seen.has(value)) return false;
      seen.add(value);
      let ok: boolean;
      if (Array.isArray(value)) {
        ok = value.every((v) => checkJson(v, seen));
      } else {
        ok = isPlainObject(value) &&
          Object.values(value).every((v) => checkJson(v, seen));
      }
      seen.delete(value);
      return ok;
    }
    default:
      return false;
  }
}

/**
 * Returns true for objects created by an object literal, `JSON.parse` or `Object.create(null)`.
 *
 * @example
 * ```ts
 * import { isPlainObject } from "./json.ts";
 * isPlainObject({}); // true
 * isPlainObject([]); // false
 * ```
 */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Serialises JSON data with object keys sorted recursively, so that two structurally equal values
 * always produce the same string (used for trial ids and spec comparison).
 *
 * @example
 * ```ts
 * import { canonicalJson } from "./json.ts";
 * canonicalJson({ b: 1, a: [2, { d: 3, c: 4 }] }); // '{"a":[2,{"c":4,"d":3}],"b":1}'
 * ```
 */
export function canonicalJson(value: unknown): string {
  if (!isJsonValue(value)) {
    throw new TypeError(
      `Expected plain JSON data for canonicalJson, found ${describeValue(value)}`,
    );
  }
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: JsonValue): JsonValue {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    const out: JsonObject = {};
    for (const key of Object.keys(value).sort()) out[key] = sortKeys(value[key]);
    return out;
  }
  return value;
}

/**
 * Deep-copies JSON data (via a JSON round trip).
 *
 * @example
 * ```ts
 * import { cloneJson } from "./json.ts";
 * const a = { x: [1] };
 * const b = cloneJson(a);
 * b.x.push(2); // a.x is still [1]
 * ```
 */
export function cloneJson<T extends JsonValue>(value: T): T {
  return JSON.parse(JSON.stringify(value));
}

/**
 * Short human-readable description of a value's type, for error messages.
 *
 * @example
 * ```ts
 * import { describeValue } from "./json.ts";
 * describeValue([1, 2]); // "array"
 * describeValue(NaN); // "number NaN"
 * ```
 */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number" && !Number.isFinite(value)) return `number ${value}`;
  if (typeof value === "object") {
    return isPlainObject(value) ? "object" : `instance of ${value.constructor?.name ?? "?"}`;
  }
  return typeof value;
}
