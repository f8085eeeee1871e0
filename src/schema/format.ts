/**
 * Config validation on zod schemas, with the project's error wording: every issue becomes
 * "expected X, found Y" naming the key path (`expected optimizer.lr in [0, 10], found 20`),
 * unknown keys name the known ones (`unknown key(s) in data: "trainSise"; expected some of ...`).
 *
 * A check's own message may hold `{path}`, replaced by the key path, and is then followed by
 * `, found VALUE`; a message without `{path}` is used as it is.
 *
 * @module
 */
import { z } from "../deps/zod.ts";

/**
 * `true` when `A` and `B` accept each other's values and have the same keys: a compile-time
 * check that a schema (`z.input<typeof schema>`) and the type declared for it agree, e.g.
 * `const _same: SameType<z.input<typeof vit>, ViTConfig> = true;`.
 */
export type SameType<A, B> = [A] extends [B]
  ? [B] extends [A] ? [keyof A] extends [keyof B] ? [keyof B] extends [keyof A] ? true
      : false
    : false
  : false
  : false;

/** A zod issue, as reported by `safeParse` with `reportInput`. */
export type Issue = z.core.$ZodIssue;

/** Renders a value for a message: numbers and strings as written, the rest as short JSON. */
export function showValue(v: unknown): string {
  if (v === undefined) return "undefined";
  if (typeof v === "number" || typeof v === "bigint" || typeof v === "boolean") return String(v);
  if (typeof v === "function") return "a function";
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** `a.b[0].c` from an issue path (a key that is not a plain name as `["a.b"]`). */
export function pathText(path: readonly PropertyKey[]): string {
  let s = "";
  for (const p of path) {
    if (typeof p === "number") s += `[${p}]`;
    else if (!/^[A-Za-z_$][\w$]*$/.test(String(p))) s += `[${JSON.stringify(String(p))}]`;
    else s += s ? `.${String(p)}` : String(p);
  }
  return s;
}

type Def = { type: string; [k: string]: unknown };
const defOf = (s: unknown): Def => (s as { _zod: { def: Def } })._zod.def;

/** The schema reached from `schema` by following `path` through `input` (for known keys). */
function schemaAt(schema: unknown, path: readonly PropertyKey[], input: unknown): unknown {
  let s = schema;
  let v = input;
  let i = 0;
  for (let guard = 0; guard < 1000; guard++) {
    const d = defOf(s);
    if (["optional", "default", "prefault", "nullable", "readonly", "catch"].includes(d.type)) {
      s = d.innerType;
    } else if (d.type === "pipe") {
      s = d.in;
    } else if (d.type === "union") {
      const options = d.options as unknown[];
      const disc = d.discriminator as string | undefined;
      const tag = disc && v && typeof v === "object" ? (v as Record<string, unknown>)[disc] : {};
      const shapeOf = (o: unknown) =>
        defOf(o).type === "object" ? defOf(o).shape as Record<string, unknown> : undefined;
      const keys = v && typeof v === "object" ? Object.keys(v) : [];
      // The option the value names (discriminator), else the one knowing most of its keys.
      s = (disc
        ? options.find((o) => {
          const t = shapeOf(o)?.[disc];
          return t !== undefined && (defOf(t).values as unknown[] | undefined)?.includes(tag);
        })
        : options.map((o) => ({ o, n: keys.filter((k) => k in (shapeOf(o) ?? {})).length }))
          .sort((a, b) => b.n - a.n)[0]?.o) ?? options[0];
    } else if (i === path.length) {
      return s;
    } else if (d.type === "object") {
      const key = path[i++];
      s = (d.shape as Record<string, unknown>)[key as string];
      v = v && typeof v === "object" ? (v as Record<PropertyKey, unknown>)[key] : undefined;
      if (s === undefined) return undefined;
    } else if (d.type === "array" || d.type === "record" || d.type === "tuple") {
      const key = path[i++];
      s = d.type === "array"
        ? d.element
        : d.type === "record"
        ? d.valueType
        : (d.items as unknown[])[key as number];
      v = v && typeof v === "object" ? (v as Record<PropertyKey, unknown>)[key] : undefined;
      if (s === undefined) return undefined;
    } else {
      return undefined;
    }
  }
  return undefined;
}

/** The keys an object schema (reached by `path`) knows. */
function knownKeys(schema: unknown, path: readonly PropertyKey[], input: unknown): string[] {
  const s = schemaAt(schema, path, input);
  return s && defOf(s).type === "object" ? Object.keys(defOf(s).shape as object) : [];
}

function article(what: string): string {
  return /^[aeiou]/.test(what) ? `an ${what}` : `a ${what}`;
}

/**
 * One issue as "expected X, found Y". `what` names the whole value (used when the path is
 * empty, e.g. `"the config"`); `prefix` is put before every path (e.g. `"data."`).
 */
export function formatIssue(
  issue: Issue,
  options: { schema?: unknown; input?: unknown; what?: string; prefix?: string } = {},
): string {
  const path = pathText(issue.path);
  const where = path ? `${options.prefix ?? ""}${path}` : options.what ?? "the value";
  const found = "input" in issue ? showValue(issue.input) : "undefined";
  const msg = issue.message;
  if (msg.includes("{path}")) return `${msg.replaceAll("{path}", where)}, found ${found}`;
  if (issue.code === "custom" || msg.startsWith("expected ") || msg.startsWith("unknown ")) {
    return msg;
  }
  switch (issue.code) {
    case "unrecognized_keys": {
      const known = options.schema ? knownKeys(options.schema, issue.path, options.input) : [];
      return `unknown key(s) in ${where}: ${issue.keys.map((k) => `"${k}"`).join(", ")}${
        known.length ? `; expected some of ${known.join(", ")}` : ""
      }`;
    }
    case "invalid_union": {
      const u = issue as unknown as { discriminator?: string; options?: unknown[] };
      if (u.discriminator && u.options) {
        const opts = u.options.map((o) => JSON.stringify(o));
        const list = opts.length > 1
          ? `${opts.slice(0, -1).join(", ")} or ${opts[opts.length - 1]}`
          : opts.join("");
        const obj = "input" in issue ? issue.input : undefined;
        const tag = obj && typeof obj === "object"
          ? (obj as Record<string, unknown>)[u.discriminator]
          : obj;
        return `expected ${where} ${list}, found ${showValue(tag)}`;
      }
      return `expected ${where} to match one of its forms, found ${found}`;
    }
    case "invalid_type":
      return `expected ${where} to be ${article(String(issue.expected))}, found ${found}`;
    case "invalid_value": {
      const vals = issue.values.map((v) => showValue(v)).join(", ");
      return `expected ${where} to be one of ${vals}, found ${found}`;
    }
    case "too_small":
      return `expected ${where} ${issue.inclusive ? ">=" : ">"} ${issue.minimum}${
        issue.origin === "array" || issue.origin === "string" ? " long" : ""
      }, found ${found}`;
    case "too_big":
      return `expected ${where} ${issue.inclusive ? "<=" : "<"} ${issue.maximum}${
        issue.origin === "array" || issue.origin === "string" ? " long" : ""
      }, found ${found}`;
    default:
      return `expected ${where} to be valid (${msg}), found ${found}`;
  }
}

/** How {@linkcode parseConfig} names and reports what it checks. */
export interface ParseConfigOptions {
  /** What the whole value is, for messages about it (default `"the config"`). */
  what?: string;
  /** Put before every key path (e.g. `"data."` when the value is a part of a larger config). */
  prefix?: string;
  /** Builds the error thrown (default `RangeError`). */
  error?: (message: string) => Error;
}

/**
 * Parse `input` with `schema`, throwing one error whose message lists every issue in the
 * project's wording, joined by "; " (unknown keys first; checks across keys only when the
 * keys themselves are fine).
 *
 * @throws {RangeError} (or `options.error`'s) naming each key path, what was expected and what
 *   was found.
 * @example
 * ```ts
 * import { z } from "zod";
 * import { parseConfig } from "./format.ts";
 * const schema = z.strictObject({ lr: z.number().min(0).max(10).default(1e-3) });
 * console.log(parseConfig(schema, {}).lr); // 0.001
 * try {
 *   parseConfig(schema, { lr: 20, lrr: 1 });
 * } catch (e) {
 *   console.log((e as Error).message);
 *   // unknown key(s) in the config: "lrr"; expected some of lr; expected lr <= 10, found 20
 * }
 * ```
 */
export function parseConfig<S extends z.ZodType>(
  schema: S,
  input: unknown,
  options: ParseConfigOptions = {},
): z.output<S> {
  const r = schema.safeParse(input, { reportInput: true });
  if (r.success) return r.data;
  // Unknown keys first; the checks across keys (custom issues) only when nothing else is wrong,
  // since they may follow from a value already reported.
  const plain = r.error.issues.filter((i) => i.code !== "custom");
  const issues = (plain.length ? plain : r.error.issues).sort((a, b) =>
    Number(b.code === "unrecognized_keys") - Number(a.code === "unrecognized_keys")
  );
  const what = options.what ?? "the config";
  const message = issues
    .map((issue) => formatIssue(issue, { schema, input, what, prefix: options.prefix }))
    .join("; ");
  throw (options.error ?? ((m: string) => new RangeError(m)))(message);
}

/** The number checks of {@linkcode num}. */
export interface NumberChecks {
  /** An integer `>= min` (`"to be an integer >= 0"`). */
  int(min: number): z.ZodNumber;
  /** An integer >= 0 (`"to be a non-negative integer"`). */
  nonNegativeInt(): z.ZodNumber;
  /** An integer >= 1 (`"to be a positive integer"`). */
  positiveInt(): z.ZodNumber;
  /** A finite number. */
  finite(): z.ZodNumber;
  /** A finite number in `[min, max]` (`max` may be `Infinity`). */
  range(min: number, max?: number): z.ZodNumber;
}

/**
 * Number checks with the project's wording, for schemas: each puts the same message on the
 * type check and on every bound, so any failure reads "expected PATH ..., found VALUE".
 *
 * @example
 * ```ts
 * import { num, parseConfig } from "./format.ts";
 * import { z } from "zod";
 * parseConfig(z.strictObject({ steps: num.int(1) }), { steps: 10 }); // { steps: 10 }
 * ```
 */
export const num: NumberChecks = {
  /** An integer `>= min` (`"to be an integer >= 0"`). */
  int(min: number): z.ZodNumber {
    const e = { error: `expected {path} to be an integer >= ${min}` };
    return z.number(e).int(e).min(min, e);
  },
  /** An integer >= 0 (`"to be a non-negative integer"`). */
  nonNegativeInt(): z.ZodNumber {
    const e = { error: "expected {path} to be a non-negative integer" };
    return z.number(e).int(e).min(0, e);
  },
  /** An integer >= 1 (`"to be a positive integer"`). */
  positiveInt(): z.ZodNumber {
    const e = { error: "expected {path} to be a positive integer" };
    return z.number(e).int(e).min(1, e);
  },
  /** A finite number. */
  finite(): z.ZodNumber {
    return z.number({ error: "expected {path} to be a finite number" });
  },
  /** A finite number in `[min, max]` (`max` may be `Infinity`). */
  range(min: number, max = Infinity): z.ZodNumber {
    const e = { error: `expected {path} in [${min}, ${max}]` };
    const n = z.number(e).min(min, e);
    return Number.isFinite(max) ? n.max(max, e) : n;
  },
};
