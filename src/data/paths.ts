/**
 * Data paths in config files: a relative `data.path` (manifest) or emoji `googleDir`,
 * `twitterDir`, `emojibaseDir` is relative to the folder of the config file that names it, not
 * to the working directory. The CLIs that read a config file resolve it with
 * {@linkcode resolveConfigDataPaths} before anything else sees the config.
 *
 * @module
 */
import { dirname, resolve } from "node:path";
import type { DataConfig } from "./config.ts";

/**
 * Resolve a data config's relative file paths against a folder, normally the folder of the
 * config file that names them: a manifest's `path`, and emoji's `googleDir`, `twitterDir` and
 * `emojibaseDir`. Absolute paths are kept; other keys and other datasets are returned as is.
 * The result's paths are absolute (a relative `baseDir` is taken from the working directory), so
 * errors name the file actually read.
 *
 * @example
 * ```ts
 * import { resolveDataPaths } from "./paths.ts";
 * resolveDataPaths({ name: "manifest", path: "data/" }, "/home/me/configs");
 * // { name: "manifest", path: "/home/me/configs/data" }
 * ```
 */
export function resolveDataPaths(data: DataConfig, baseDir: string): DataConfig {
  if (typeof data !== "object" || data === null) return data;
  const at = (p: unknown) => typeof p === "string" && p !== "" ? resolve(baseDir, p) : p;
  if (data.name === "manifest") return { ...data, path: at(data.path) as string };
  if (data.name === "emoji") {
    const out = { ...data };
    for (const key of ["googleDir", "twitterDir", "emojibaseDir"] as const) {
      if (out[key] !== undefined) out[key] = at(out[key]) as string;
    }
    return out;
  }
  return data;
}

/**
 * {@linkcode resolveDataPaths} for a config read from a file: resolves the data config found at
 * `config[...at].data` against the folder of `configFile`, in a copy. Anything that is not
 * shaped like that (not an object, no `data`, an unknown dataset) is returned as is, for the
 * config's own validation to report.
 *
 * @example
 * ```ts
 * import { resolveConfigDataPaths } from "./paths.ts";
 * const text = '{"data": {"name": "manifest", "path": "data/"}}';
 * resolveConfigDataPaths(JSON.parse(text), "/home/me/configs/run.json");
 * // { data: { name: "manifest", path: "/home/me/configs/data" } }
 * ```
 */
export function resolveConfigDataPaths<T>(config: T, configFile: string, at: string[] = []): T {
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === "object" && v !== null && !Array.isArray(v);
  const walk = (node: unknown, keys: string[]): unknown => {
    if (!isObject(node)) return node;
    if (keys.length > 0) {
      const [key, ...rest] = keys;
      return Object.hasOwn(node, key) ? { ...node, [key]: walk(node[key], rest) } : node;
    }
    if (!isObject(node.data)) return node;
    return {
      ...node,
      data: resolveDataPaths(node.data as unknown as DataConfig, dirname(configFile)),
    };
  };
  return walk(config, at) as T;
}
