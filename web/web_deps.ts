/**
 * The page's imports: the browser entry (`web.ts`) and tfjs, in one place.
 *
 * @module
 */
export * from "../web.ts";
export * as tf from "../src/deps/tf.ts";
