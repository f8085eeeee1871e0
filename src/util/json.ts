/**
 * JSON data: the one type for values that survive `JSON.stringify` / `JSON.parse` unchanged
 * ({@linkcode JsonValue}), and the guards for plain JSON data and plain objects.
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
 * isPlainObject({}); // true
 * isPlainObject([]); // false
 * ```
 */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
