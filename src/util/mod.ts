/**
 * Utilities below every layer: the seeded random number generator.
 *
 * @module
 */
export * from "./rng.ts";
