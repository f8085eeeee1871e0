/**
 * `deno task schemas [--check]`: write the JSON Schemas of the config files in `configs/`
 * (`configs/schema/*.schema.json`), generated from the zod definitions, so editors complete
 * and check the files that name them with `"$schema"`. `--check` writes nothing and exits 1
 * when a committed schema is stale; 2 for a bad flag.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { z } from "../deps/zod.ts";
import { TrainConfigSchema } from "../train/config.ts";
import { ModelConfigSchema } from "../model/config.ts";
import { runCli } from "./main.ts";

/** The folder of the config files, and of their schemas (`schema/`). */
export const CONFIG_DIR: URL = new URL("../../configs/", import.meta.url);

/** Each generated schema file (relative to `configs/`) and the zod schema it comes from. */
export const CONFIG_SCHEMAS: Record<string, { title: string; schema: z.ZodType }> = {
  "schema/train.schema.json": {
    title: "CoCa workbench training config (deno task train --config FILE)",
    schema: TrainConfigSchema,
  },
  "schema/model.schema.json": {
    title: "CoCa workbench model config ({vit, coca})",
    schema: ModelConfigSchema,
  },
};

/** The schema a config file in `configs/` names: `*.model.json` a model, the rest training. */
export function schemaFileFor(name: string): string {
  return name.endsWith(".model.json") ? "schema/model.schema.json" : "schema/train.schema.json";
}

/**
 * The text of each schema file: JSON Schema (draft 2020-12) of what a file may hold (the zod
 * schema's input side: defaults documented, optional keys optional).
 *
 * @example
 * ```ts
 * import { configSchemaFiles } from "./schemas.ts";
 * const files = configSchemaFiles();
 * console.log(Object.keys(files)); // ["schema/train.schema.json", "schema/model.schema.json"]
 * ```
 */
export function configSchemaFiles(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [file, { title, schema }] of Object.entries(CONFIG_SCHEMAS)) {
    const { $schema, ...json } = z.toJSONSchema(schema, {
      io: "input",
      unrepresentable: "any",
      // `.readonly()` types the arrays for TypeScript; a file's values are not read-only.
      override: (ctx) => {
        delete ctx.jsonSchema.readOnly;
      },
    });
    out[file] = JSON.stringify({ $schema, title, ...json }, null, 2) + "\n";
  }
  return out;
}

/** The usage line of `deno task schemas`. */
export const SCHEMAS_USAGE: string = "usage: deno task schemas [--check]";

async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { check: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) {
    console.log(SCHEMAS_USAGE);
    return 0;
  }
  let stale = 0;
  for (const [file, text] of Object.entries(configSchemaFiles())) {
    const url = new URL(file, CONFIG_DIR);
    const old = await Deno.readTextFile(url).catch((e) => {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw e;
    });
    if (old === text) continue;
    if (values.check) {
      console.error(`schemas: configs/${file} is stale; run deno task schemas`);
      stale++;
    } else {
      await Deno.mkdir(new URL(".", url), { recursive: true });
      await Deno.writeTextFile(url, text);
      console.log(`schemas: wrote configs/${file}`);
    }
  }
  return stale ? 1 : 0;
}

if (import.meta.main) Deno.exit(await runCli("schemas", SCHEMAS_USAGE, main));
