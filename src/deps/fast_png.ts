/**
 * PNG decoding and encoding (fast-png), pinned.
 *
 * Pinned here, not in the import map, so that the module also loads from scripts outside
 * this project (where no deno.json of ours is in effect).
 *
 * @module
 */
export { decode, encode } from "npm:fast-png@8.0.0";
