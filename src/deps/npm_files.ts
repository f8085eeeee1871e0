/**
 * Where the files of a pinned npm package lie on disk, for packages whose files (not modules)
 * are read: tfjs-backend-wasm's `.wasm` binaries, plotly.js, the emoji art.
 *
 * Inside this project `import.meta.resolve` gives a `file:` URL into `node_modules/`. From a
 * script outside the project (no deno.json of ours in effect) it gives an `npm:` URL instead,
 * so the lookup falls back to this checkout's `node_modules/`, then to Deno's global npm cache
 * (`$DENO_DIR/npm/registry.npmjs.org/NAME/VERSION/`).
 *
 * @module
 */

/** The npm packages whose files are read, with their pinned versions (deno.json agrees). */
export const PINNED_FILES = {
  "@tensorflow/tfjs-backend-wasm": "4.22.0",
  "plotly.js-dist-min": "4.1.2",
  "emoji-datasource-google": "16.0.0",
  "emoji-datasource-twitter": "16.0.0",
  "emojibase-data": "17.0.0",
} as const;

/** A package of {@linkcode PINNED_FILES}. */
export type PinnedPackage = keyof typeof PINNED_FILES;

function exists(url: URL): boolean {
  try {
    Deno.statSync(url);
    return true;
  } catch {
    return false;
  }
}

function denoDir(): string | undefined {
  try {
    const env = Deno.env.get("DENO_DIR");
    if (env) return env;
    const xdg = Deno.env.get("XDG_CACHE_HOME");
    if (xdg) return `${xdg}/deno`;
    const home = Deno.env.get("HOME");
    return home ? `${home}/.cache/deno` : undefined;
  } catch {
    return undefined; // no --allow-env: only the first two places are looked at
  }
}

/**
 * The root folder of a pinned package, as a `file:` URL ending in "/".
 *
 * @example
 * ```ts
 * import { npmPackageUrl } from "./npm_files.ts";
 * const plotly = new URL("plotly.min.js", npmPackageUrl("plotly.js-dist-min"));
 * ```
 * @throws {Deno.errors.NotFound} when none of the three places holds the package.
 */
export function npmPackageUrl(name: PinnedPackage): URL {
  const version = PINNED_FILES[name];
  const tried: string[] = [];
  const resolved = import.meta.resolve(`npm:${name}@${version}/package.json`);
  if (resolved.startsWith("file:")) return new URL("./", resolved);
  tried.push(resolved);
  const local = new URL(`../../node_modules/${name}/`, import.meta.url);
  if (exists(new URL("package.json", local))) return local;
  tried.push(local.href);
  const cache = denoDir();
  if (cache) {
    const global = new URL(`file://${cache}/npm/registry.npmjs.org/${name}/${version}/`);
    if (exists(new URL("package.json", global))) return global;
    tried.push(global.href);
  }
  throw new Deno.errors.NotFound(
    `expected npm package ${name}@${version} on disk (run \`deno install\` in the project, or ` +
      `import the module once so Deno caches it), found it in none of: ${tried.join(", ")}`,
  );
}
