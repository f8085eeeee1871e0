/**
 * CSV parsing (csv-parse, synchronous API), pinned.
 *
 * Pinned here, not in the import map, so that the module also loads from scripts outside
 * this project (where no deno.json of ours is in effect).
 *
 * @module
 */
export { CsvError, parse } from "npm:csv-parse@7.0.3/sync";
