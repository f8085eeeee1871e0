/**
 * JSON helpers used by the sweep runner: a canonical (key-sorted) serialisation for hashing and
 * comparing configs, a deep copy and value descriptions for errors. The JSON type and guards are
 * `src/util/json.ts`'s, re-exported here.
 *
 * @module
 */

import { isJsonValue, isPlainObject, type JsonObject, type JsonValue } from "../util/json.ts";

export { isJsonValue, isPlainObject, type JsonObject, type JsonValue };

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
