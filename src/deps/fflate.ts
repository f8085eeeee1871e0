/**
 * Streaming zlib inflation (fflate), pinned.
 *
 * Pinned here, not in the import map, so that the module also loads from scripts outside
 * this project (where no deno.json of ours is in effect).
 *
 * @module
 */
export { Unzlib } from "npm:fflate@0.8.3";
