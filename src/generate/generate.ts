/**
 * Caption generation for CoCa: greedy decoding, beam search and sampling (temperature,
 * top-k, top-p), with or without a key/value cache.
 *
 * Conventions: every sequence starts with the BOS id (default 1), optionally followed by
 * prompt tokens (`prefix`); a sequence stops when it emits the EOS id (default 2) or after
 * `maxLength` new tokens. The image is encoded once. Each decoding step reads one small
 * tensor back from the device (the chosen ids and their log-probabilities, or the top
 * `beamSize` candidates per row), so the loop also works on backends that cannot read
 * synchronously (WebGPU).
 *
 * @module
 */
import * as tf from "../deps/tf.ts";
import type { CoCa, ImageInput } from "../model/coca.ts";
import { type CaptionDecoder, createCaptionDecoder } from "./decoder.ts";
import { Rng } from "../util/rng.ts";
import { positiveInt } from "../util/validate.ts";
import { z } from "../deps/zod.ts";
import { num, parseConfig, type SameType } from "../schema/format.ts";

/** How the next token is chosen. */
export type DecodeStrategy = "greedy" | "beam" | "sample";

/** The decoding strategies, for validation and command lines. */
export const DECODE_STRATEGIES: readonly DecodeStrategy[] = ["greedy", "beam", "sample"];

/** What {@linkcode generate} returns, one entry per image. */
export interface GenerateResult {
  /** Caption ids per image: the prefix then the generated tokens, without BOS, stopping before EOS. */
  tokens: number[][];
  /** Sum of the model's log-probabilities (temperature 1, unfiltered) of the generated tokens, EOS included. */
  scores: number[];
  /** Whether the caption ended with EOS (false: it ran into `maxLength`). */
  finished: boolean[];
}

const SAMPLING_ONLY = ["topK", "topP", "temperature", "seed"] as const;
const BEAM_ONLY = ["beamSize", "lengthPenalty"] as const;

/**
 * The schema of {@linkcode GenerateOptions} for a model with `numTokens` ids and pad id
 * `padId` (token ids are checked against the vocabulary): type, defaults and checks. Options
 * that do not apply to the chosen strategy (e.g. `topK` with `"greedy"`) are errors.
 *
 * @example
 * ```ts
 * import { generateOptionsSchema } from "./generate.ts";
 * const o = generateOptionsSchema({ numTokens: 100, padId: 0 }).parse({ strategy: "sample", seed: 3 });
 * console.log(o.topP, o.temperature); // 1 1
 * ```
 */
export function generateOptionsSchema(
  model: { numTokens: number; padId: number },
): z.ZodType<ResolvedGenerateOptions, GenerateOptions> {
  return optionsSchema(model);
}

function optionsSchema(model: { numTokens: number; padId: number }) {
  const V = model.numTokens;
  const tokenId = () => {
    const e = { error: `expected {path} to be a token id in [0, ${V})` };
    return z.number(e).int(e).min(0, e).max(V - 1, e);
  };
  return z.strictObject({
    maxLength: num.positiveInt().optional()
      .describe("Most new tokens per caption (EOS included), a positive integer; default 32."),
    strategy: z.enum(DECODE_STRATEGIES as [DecodeStrategy, ...DecodeStrategy[]], {
      error: `expected {path} to be one of ${DECODE_STRATEGIES.join(", ")}`,
    }).optional().describe('`"greedy"` (default), `"beam"` or `"sample"`.'),
    beamSize: num.positiveInt().max(V, { error: `expected {path} <= numTokens ${V}` }).optional()
      .describe("Beam search: hypotheses kept per image, `1 <= beamSize <= numTokens`; default 4."),
    lengthPenalty: num.finite().optional().describe(
      "Beam search: hypotheses are ranked by `sum log-prob / length ** lengthPenalty`, where " +
        "`length` counts the generated tokens including EOS (prompt tokens excluded). `0` ranks " +
        "by the raw sum (favours short captions), `1` (default) by the mean log-prob per token.",
    ),
    topK: num.positiveInt().optional()
      .describe("Sampling: keep only the `topK` most likely tokens (integer >= 1); default: all."),
    topP: z.number({ error: "expected {path} in (0, 1]" })
      .gt(0, { error: "expected {path} in (0, 1]" })
      .max(1, { error: "expected {path} in (0, 1]" }).optional().describe(
        "Sampling: keep the smallest set of most likely tokens whose mass reaches `topP`, in (0, 1]; default 1.",
      ),
    temperature: z.number({ error: "expected {path} to be a finite number > 0" })
      .gt(0, { error: "expected {path} to be a finite number > 0" }).optional()
      .describe(
        "Sampling: divide the log-probabilities by this (> 0) before top-k/top-p; default 1.",
      ),
    bosId: tokenId().optional().describe("Begin-of-sequence id; default 1."),
    eosId: tokenId().optional().describe("End-of-sequence id; default 2."),
    padId: tokenId().optional().describe(
      "Fed for sequences that have already finished (their outputs are ignored); default the model's `padId`.",
    ),
    seed: z.number({ error: "expected {path} to be an integer" })
      .int({ error: "expected {path} to be an integer" }).optional().describe(
        "Sampling seed; image `i` of a batch draws from its own stream, so results do not depend on the batch. Default: random.",
      ),
    cache: z.boolean({ error: "expected {path} to be a boolean" }).optional()
      .describe(
        "Use the key/value cache (default true); `false` re-runs the whole prefix every step.",
      ),
    prefix: z.array(tokenId(), { error: "expected {path} to be an array of token ids" })
      .readonly().optional().describe(
        "Prompt token ids placed after BOS for every image (no EOS); returned as part of each caption.",
      ),
  }).superRefine((o, ctx) => {
    const strategy = o.strategy ?? "greedy";
    const misplaced = (keys: readonly string[], only: DecodeStrategy) => {
      for (const k of keys) {
        if ((o as Record<string, unknown>)[k] !== undefined && strategy !== only) {
          ctx.addIssue({
            code: "custom",
            path: [k],
            message: `expected ${k} only with strategy "${only}", found strategy "${strategy}"`,
          });
        }
      }
    };
    misplaced(SAMPLING_ONLY, "sample");
    misplaced(BEAM_ONLY, "beam");
    const eosId = o.eosId ?? 2;
    const at = (o.prefix ?? []).indexOf(eosId);
    if (at >= 0) {
      ctx.addIssue({
        code: "custom",
        path: ["prefix", at],
        message: `expected prefix without the eos id ${eosId}, found it at position ${at}`,
      });
    }
  }).transform((o) => ({
    maxLength: o.maxLength ?? 32,
    strategy: o.strategy ?? "greedy",
    beamSize: o.beamSize ?? 4,
    lengthPenalty: o.lengthPenalty ?? 1,
    topK: o.topK,
    topP: o.topP ?? 1,
    temperature: o.temperature ?? 1,
    bosId: o.bosId ?? 1,
    eosId: o.eosId ?? 2,
    padId: o.padId ?? model.padId,
    seed: o.seed ?? crypto.getRandomValues(new Uint32Array(1))[0],
    cache: o.cache ?? true,
    prefix: o.prefix ?? [],
  }));
}

/** Options of {@linkcode generate}; every field is optional. */
export interface GenerateOptions {
  /** Most new tokens per caption (EOS included), a positive integer; default 32. */
  maxLength?: number;
  /** `"greedy"` (default), `"beam"` or `"sample"`. */
  strategy?: DecodeStrategy;
  /** Beam search: hypotheses kept per image, `1 <= beamSize <= numTokens`; default 4. */
  beamSize?: number;
  /**
   * Beam search: hypotheses are ranked by `sum log-prob / length ** lengthPenalty`, where
   * `length` counts the generated tokens including EOS (prompt tokens excluded). `0` ranks
   * by the raw sum (favours short captions), `1` (default) by the mean log-prob per token.
   */
  lengthPenalty?: number;
  /** Sampling: keep only the `topK` most likely tokens (integer >= 1); default: all. */
  topK?: number;
  /** Sampling: keep the smallest set of most likely tokens whose mass reaches `topP`, in (0, 1]; default 1. */
  topP?: number;
  /** Sampling: divide the log-probabilities by this (> 0) before top-k/top-p; default 1. */
  temperature?: number;
  /** Begin-of-sequence id; default 1. */
  bosId?: number;
  /** End-of-sequence id; default 2. */
  eosId?: number;
  /** Fed for sequences that have already finished (their outputs are ignored); default the model's `padId`. */
  padId?: number;
  /** Sampling seed; image `i` of a batch draws from its own stream, so results do not depend on the batch. Default: random. */
  seed?: number;
  /** Use the key/value cache (default true); `false` re-runs the whole prefix every step. */
  cache?: boolean;
  /** Prompt token ids placed after BOS for every image (no EOS); returned as part of each caption. */
  prefix?: readonly number[];
}

/** {@linkcode GenerateOptions} with every default filled in. */
export type ResolvedGenerateOptions = Required<Omit<GenerateOptions, "topK">> & {
  topK: number | undefined;
};

// The declared types and the schema agree (a compile error otherwise).
const _in: SameType<z.input<ReturnType<typeof optionsSchema>>, GenerateOptions> = true;
const _out: SameType<z.output<ReturnType<typeof optionsSchema>>, ResolvedGenerateOptions> = true;

/**
 * Fill in the defaults of {@linkcode GenerateOptions} and check them against a model with
 * `numTokens` ids and pad id `padId`.
 *
 * @throws {RangeError} naming the option, what was expected and what was found; options that
 *   do not apply to the chosen strategy (e.g. `topK` with `"greedy"`) are errors too.
 * @example
 * ```ts
 * import { resolveGenerateOptions } from "./generate.ts";
 * const o = resolveGenerateOptions({ strategy: "beam" }, { numTokens: 100, padId: 0 });
 * console.log(o.beamSize, o.maxLength); // 4 32
 * ```
 */
export function resolveGenerateOptions(
  options: GenerateOptions,
  model: { numTokens: number; padId: number },
): ResolvedGenerateOptions {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`expected generate options to be an object, found ${options}`);
  }
  const defaults = { numTokens: model.numTokens, padId: model.padId };
  // The default bos/eos/pad ids must fit the vocabulary too.
  const o = parseConfig(generateOptionsSchema(defaults), options, { what: "the generate options" });
  for (const k of ["bosId", "eosId", "padId"] as const) {
    if (!(Number.isInteger(o[k]) && o[k] >= 0 && o[k] < model.numTokens)) {
      throw new RangeError(
        `expected ${k} to be a token id in [0, ${model.numTokens}), found ${o[k]}`,
      );
    }
  }
  return o;
}

/**
 * Generate captions for a batch of images (or precomputed image-encoder tokens).
 *
 * The model is used in evaluation mode for the image (no patch dropout, even if it is in
 * training mode); its weights are not changed. No tensors are left behind.
 *
 * @throws {RangeError} on invalid options (before any compute) or images the model rejects.
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { CoCa, setupBackend, SimpleViT } from "../../mod.ts";
 * import { generate } from "./generate.ts";
 * await setupBackend("cpu");
 * const vit = new SimpleViT({ imageSize: 16, patchSize: 4, dim: 32, depth: 1, heads: 2, mlpDim: 64 });
 * const coca = new CoCa({ dim: 32, numTokens: 50, unimodalDepth: 1, multimodalDepth: 1,
 *   imgEncoder: vit, dimHead: 16, heads: 2, numImgQueries: 4 });
 * const images = tf.zeros([2, 3, 16, 16]) as tf.Tensor4D;
 * const { tokens, scores } = await generate(coca, images, { strategy: "beam", maxLength: 8 });
 * console.log(tokens.length, scores.length); // 2 2
 * ```
 */
export async function generate(
  model: CoCa,
  images: ImageInput,
  options: GenerateOptions = {},
): Promise<GenerateResult> {
  const o = resolveGenerateOptions(options, model.config);
  const imageTokens = encodeImages(model, images);
  try {
    return await decodeResolved(
      (repeat) => createCaptionDecoder(model, imageTokens, { cache: o.cache, repeat }),
      imageTokens.shape[0],
      o,
    );
  } finally {
    imageTokens.dispose();
  }
}

/**
 * Makes the decoder of one {@linkcode decodeCaptions} call: `repeat` copies of each of the
 * `batch` rows side by side (beam search: `beamSize`; otherwise 1), row `i * repeat + j` being
 * copy `j` of item `i`, as {@linkcode createCaptionDecoder} lays them out.
 */
export type DecoderFactory = (repeat: number) => CaptionDecoder;

/**
 * The decoding strategies of {@linkcode generate} (greedy, beam search, sampling) on any source
 * of next-token logits: `decoderFor` makes the {@linkcode CaptionDecoder}, `batch` is the
 * number of captions, and `vocab` the ids the options are checked against. `generate` is this
 * with the model's cached (or naive) decoder over the encoded images; other decoders, such as
 * fixed logits, let the strategies be checked on their own. The decoder is disposed at the end.
 *
 * @throws {RangeError} on invalid options, before the decoder is made.
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { decodeCaptions } from "./generate.ts";
 * // Every step: token 3 is the most likely, then EOS (2).
 * const logits = [0, 0, 1, 2];
 * const r = await decodeCaptions((repeat) => ({
 *   rows: repeat,
 *   length: 0,
 *   next: () => tf.tensor2d([logits], [1, 4]),
 *   reorder: () => {},
 *   dispose: () => {},
 * }), 1, { maxLength: 3 }, { numTokens: 4, padId: 0 });
 * console.log(r.tokens); // [[3, 3, 3]]
 * ```
 */
export async function decodeCaptions(
  decoderFor: DecoderFactory,
  batch: number,
  options: GenerateOptions,
  vocab: { numTokens: number; padId: number },
): Promise<GenerateResult> {
  const o = resolveGenerateOptions(options, vocab);
  positiveInt("batch", batch);
  return await decodeResolved(decoderFor, batch, o);
}

function decodeResolved(
  decoderFor: DecoderFactory,
  batch: number,
  o: ResolvedGenerateOptions,
): Promise<GenerateResult> {
  return o.strategy === "beam"
    ? beamSearch(decoderFor, batch, o)
    : sampleOrGreedy(decoderFor, batch, o);
}

/** The multimodal image tokens `(b, Q, dim)`, computed in evaluation mode. */
function encodeImages(model: CoCa, images: ImageInput): tf.Tensor3D {
  const wasTraining = model.training;
  if (wasTraining) model.eval();
  try {
    const { imageEmbeds, imageTokens } = model.embedImage(images);
    imageEmbeds.dispose();
    return imageTokens;
  } finally {
    if (wasTraining) model.train();
  }
}

/** `[bos, ...prefix]` for each of `rows` rows, row-major. */
function startIds(o: ResolvedGenerateOptions, rows: number): Int32Array {
  const start = [o.bosId, ...o.prefix];
  const ids = new Int32Array(rows * start.length);
  for (let r = 0; r < rows; r++) ids.set(start, r * start.length);
  return ids;
}

/** `sum(oneHot(index) * values)` along the last axis: `values (n, k)`, `index (n,)` -> `(n, 1)`. */
function pickAlong(values: tf.Tensor2D, index: tf.Tensor1D): tf.Tensor2D {
  return tf.oneHot(index, values.shape[1]).toFloat().mul(values).sum(1, true) as tf.Tensor2D;
}

/**
 * One greedy or sampling step on the device: `(rows, 2)` = [chosen id, its log-prob].
 * `u` holds one uniform number in [0, 1) per row (sampling only).
 */
function chooseNext(logits: tf.Tensor2D, o: ResolvedGenerateOptions, u?: Float32Array): tf.Tensor {
  return tf.tidy(() => {
    const [rows, V] = logits.shape;
    const logp = tf.logSoftmax(logits) as tf.Tensor2D;
    let id: tf.Tensor1D;
    if (o.strategy === "greedy" || o.topK === 1) {
      id = tf.topk(logp, 1).indices.reshape([rows]);
    } else {
      const scaled = o.temperature === 1 ? logp : logp.div(o.temperature) as tf.Tensor2D;
      const k = Math.min(o.topK ?? V, V);
      const sorted = k < V || o.topP < 1;
      const top = sorted ? tf.topk(scaled, k) : undefined;
      let probs = tf.softmax(top ? top.values : scaled);
      if (o.topP < 1) {
        // Keep a token when the mass of the more likely ones is still below topP (the first
        // token always stays).
        const before = tf.cumsum(probs, 1).sub(probs);
        probs = probs.mul(before.less(o.topP).toFloat());
      }
      // Inverse CDF: the first index whose cumulative mass exceeds u * total. The cumulative
      // sums are non-decreasing, so that index is the count of entries <= u * total.
      const cdf = tf.cumsum(probs, 1);
      const total = cdf.slice([0, cdf.shape[1]! - 1], [rows, 1]);
      const threshold = tf.tensor2d(u!, [rows, 1]).mul(total);
      const choice = cdf.lessEqual(threshold).toInt().sum(1) as tf.Tensor1D;
      id = top
        ? pickAlong(top.indices.toFloat() as tf.Tensor2D, choice).reshape([rows])
          .toInt() as tf.Tensor1D
        : choice;
    }
    return tf.concat([id.toFloat().reshape([rows, 1]), pickAlong(logp, id)], 1);
  });
}

async function sampleOrGreedy(
  decoderFor: DecoderFactory,
  b: number,
  o: ResolvedGenerateOptions,
): Promise<GenerateResult> {
  const tokens = Array.from({ length: b }, () => [...o.prefix]);
  const scores = new Array<number>(b).fill(0);
  const finished = new Array<boolean>(b).fill(false);
  // Stream i is Rng(seed) for i = 0, so image 0 of a batch matches a one-image call.
  const rngs = Array.from(
    { length: b },
    (_, i) => new Rng((o.seed + Math.imul(i, 0x9e3779b9)) >>> 0),
  );
  const decoder = decoderFor(1);
  try {
    let feed = startIds(o, b), width = 1 + o.prefix.length;
    for (let step = 0; step < o.maxLength; step++) {
      const u = o.strategy === "sample"
        // Below 1 - 2^-22 so that u * total rounds strictly below total in float32.
        ? Float32Array.from(rngs, (r) => Math.min(r.next(), 1 - 2 ** -22))
        : undefined;
      const logits = decoder.next(feed, width);
      const picked = chooseNext(logits, o, u);
      logits.dispose();
      const data = await picked.data();
      picked.dispose();
      feed = new Int32Array(b).fill(o.padId);
      width = 1;
      for (let r = 0; r < b; r++) {
        if (finished[r]) continue;
        const id = data[2 * r], lp = data[2 * r + 1];
        scores[r] += lp;
        if (id === o.eosId) finished[r] = true;
        else {
          tokens[r].push(id);
          feed[r] = id;
        }
      }
      if (finished.every(Boolean)) break;
    }
  } finally {
    decoder.dispose();
  }
  return { tokens, scores, finished };
}

interface Hypothesis {
  tokens: number[];
  /** Sum of log-probs of the generated tokens (-Infinity: an empty slot). */
  score: number;
  /** Generated tokens, EOS included. */
  length: number;
  done: boolean;
}

function rank(h: Hypothesis, lengthPenalty: number): number {
  if (h.score === -Infinity || lengthPenalty === 0 || h.length === 0) return h.score;
  return h.score / h.length ** lengthPenalty;
}

async function beamSearch(
  decoderFor: DecoderFactory,
  b: number,
  o: ResolvedGenerateOptions,
): Promise<GenerateResult> {
  const K = o.beamSize, rows = b * K;
  // Row i * K + j is beam j of image i. Only beam 0 is live at first, so the first step's
  // K best continuations are distinct.
  let beams: Hypothesis[] = Array.from({ length: rows }, (_, r) => ({
    tokens: [...o.prefix],
    score: r % K === 0 ? 0 : -Infinity,
    length: 0,
    done: false,
  }));
  const decoder: CaptionDecoder = decoderFor(K);
  try {
    let feed = startIds(o, rows), width = 1 + o.prefix.length;
    for (let step = 0; step < o.maxLength; step++) {
      const logits = decoder.next(feed, width);
      const top = tf.tidy(() => {
        const { values, indices } = tf.topk(tf.logSoftmax(logits), K);
        return tf.concat([values, indices.toFloat()], 1);
      });
      logits.dispose();
      const data = await top.data();
      top.dispose();
      const next: Hypothesis[] = [];
      const parents = new Int32Array(rows);
      for (let i = 0; i < b; i++) {
        const candidates: { parent: number; h: Hypothesis }[] = [];
        for (let j = 0; j < K; j++) {
          const r = i * K + j, h = beams[r];
          if (h.score === -Infinity) continue;
          if (h.done) {
            candidates.push({ parent: r, h });
            continue;
          }
          for (let c = 0; c < K; c++) {
            const token = data[r * 2 * K + K + c];
            const done = token === o.eosId;
            candidates.push({
              parent: r,
              h: {
                tokens: done ? h.tokens : [...h.tokens, token],
                score: h.score + data[r * 2 * K + c],
                length: h.length + 1,
                done,
              },
            });
          }
        }
        // Stable sort: ties keep the order of (beam, candidate rank).
        candidates.sort((x, y) => {
          const rx = rank(x.h, o.lengthPenalty), ry = rank(y.h, o.lengthPenalty);
          return rx === ry ? 0 : rx > ry ? -1 : 1;
        });
        for (let j = 0; j < K; j++) {
          const c = candidates[j];
          next.push(c.h);
          parents[i * K + j] = c.parent;
        }
      }
      beams = next;
      if (beams.every((h) => h.done) || step === o.maxLength - 1) break;
      if (parents.some((p, r) => p !== r)) decoder.reorder(parents);
      feed = Int32Array.from(beams, (h) => h.done ? o.padId : h.tokens[h.tokens.length - 1]);
      width = 1;
    }
  } finally {
    decoder.dispose();
  }
  // Beams are sorted best first within each image.
  const best = Array.from({ length: b }, (_, i) => beams[i * K]);
  return {
    tokens: best.map((h) => h.tokens),
    scores: best.map((h) => h.score),
    finished: best.map((h) => h.done),
  };
}
