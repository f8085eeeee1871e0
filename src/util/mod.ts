/**
 * Utilities below every layer: the seeded random number generator, the duration formatter and
 * shared checks.
 *
 * @module
 */
export * from "./duration.ts";
export * from "./json.ts";
export * from "./rng.ts";
export * from "./validate.ts";
