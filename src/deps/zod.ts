/**
 * Schemas (zod 4), pinned.
 *
 * Pinned here, not in the import map, so that the module also loads from scripts outside
 * this project (where no deno.json of ours is in effect).
 *
 * @module
 */
export { z } from "npm:zod@4.6.7";
