/**
 * Baseline and progressive JPEG decoding (jpeg-js), pinned.
 *
 * Pinned here, not in the import map, so that the module also loads from scripts outside
 * this project (where no deno.json of ours is in effect).
 *
 * @module
 */
export { decode } from "npm:jpeg-js@0.4.4";
