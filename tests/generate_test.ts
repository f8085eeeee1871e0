import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { setupBackend } from "../src/backends/setup.ts";
import type { CoCa } from "../src/model/coca.ts";
import { type CaptionDecoder, createCaptionDecoder } from "../src/generate/decoder.ts";
import {
  decodeCaptions,
  generate,
  type GenerateOptions,
  resolveGenerateOptions,
} from "../src/generate/generate.ts";
import { backendTest, images, tinyModel } from "./helpers.ts";

const MAX = 8;

/** A tiny random model whose token embedding is wide enough to give varied captions. */
function model(seed = 3): CoCa {
  const m = tinyModel(seed);
  m.tokenEmb.assign(tf.tidy(() => tf.randomNormal(m.tokenEmb.shape, 0, 0.2, "float32", seed)));
  return m;
}

/** Run `fn` twice (the first run fills the rotary/causal-mask caches) and check that the second leaves no tensor behind. */
async function noLeak<T>(fn: () => Promise<T>): Promise<T> {
  await fn();
  const before = tf.memory().numTensors;
  const out = await fn();
  assert.equal(tf.memory().numTensors, before, "generation left tensors behind");
  return out;
}

/** Sum of log p(t_j | BOS, t_<j, image i) from one forward pass. */
function teacherForcedLogProb(m: CoCa, im: tf.Tensor4D, i: number, tokens: number[]): number {
  return tf.tidy(() => {
    const text = tf.tensor2d([[1, ...tokens.slice(0, -1)]], [1, tokens.length], "int32");
    const logp = tf.logSoftmax(m.forward(text, im.slice([i, 0, 0, 0], [1, -1, -1, -1])));
    const picked = tf.oneHot(tf.tensor1d(tokens, "int32"), m.config.numTokens).toFloat()
      .mul(logp.squeeze([0])).sum();
    return picked.dataSync()[0];
  });
}

function maxAbsDiff(a: Float32Array | Int32Array | Uint8Array, b: typeof a): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

// Generation runs on the default backend (blas) as well as the reference cpu and wasm.
const GENERATE_BACKENDS = ["cpu", "wasm", "blas"] as const;

await backendTest(
  "cached greedy decoding equals naive re-running (tokens and logits)",
  GENERATE_BACKENDS,
  async () => {
    const m = model();
    const im = images(3);
    for (const prefix of [[], [7, 9]]) {
      const cached = await noLeak(() => generate(m, im, { maxLength: MAX, prefix }));
      const naive = await noLeak(() => generate(m, im, { maxLength: MAX, prefix, cache: false }));
      assert.deepEqual(cached.tokens, naive.tokens);
      cached.tokens.forEach((t) => assert.deepEqual(t.slice(0, prefix.length), prefix));
      cached.scores.forEach((s, i) => assert.ok(Math.abs(s - naive.scores[i]) < 1e-4));

      // Feed the same tokens step by step to both decoders and compare every logit.
      const { imageTokens, imageEmbeds } = m.embedImage(im);
      const a = createCaptionDecoder(m, imageTokens),
        b = createCaptionDecoder(m, imageTokens, {
          cache: false,
        });
      let feed = new Int32Array(3 * (1 + prefix.length));
      for (let r = 0; r < 3; r++) feed.set([1, ...prefix], r * (1 + prefix.length));
      let width = 1 + prefix.length;
      for (let step = 0; step < MAX - 1; step++) {
        const la = a.next(feed, width), lb = b.next(feed, width);
        const d = maxAbsDiff(await la.data(), await lb.data());
        assert.ok(d < 1e-5, `step ${step}: logits differ by ${d}`);
        tf.dispose([la, lb]);
        feed = Int32Array.from(cached.tokens, (t) => t[prefix.length + step] ?? 0);
        width = 1;
      }
      assert.equal(a.length, b.length);
      a.dispose();
      b.dispose();
      tf.dispose([imageTokens, imageEmbeds]);
    }
    m.dispose();
  },
);

await backendTest(
  "beam 1 and top-k 1 equal greedy; beam cache equals naive",
  GENERATE_BACKENDS,
  async () => {
    const m = model();
    const im = images(2);
    const greedy = await generate(m, im, { maxLength: MAX });
    const beam1 = await noLeak(() =>
      generate(m, im, { maxLength: MAX, strategy: "beam", beamSize: 1 })
    );
    assert.deepEqual(beam1, greedy);
    const top1 = await noLeak(() =>
      generate(m, im, { maxLength: MAX, strategy: "sample", topK: 1, seed: 5 })
    );
    assert.deepEqual(top1.tokens, greedy.tokens);
    top1.scores.forEach((s, i) => assert.ok(Math.abs(s - greedy.scores[i]) < 1e-5));
    const beamOpts: GenerateOptions = { maxLength: MAX, strategy: "beam", beamSize: 3 };
    const beam = await noLeak(() => generate(m, im, beamOpts));
    const beamNaive = await noLeak(() => generate(m, im, { ...beamOpts, cache: false }));
    assert.deepEqual(beam.tokens, beamNaive.tokens);
    // The scores are the log-probs of the returned tokens under teacher forcing.
    for (const r of [greedy, beam]) {
      r.tokens.forEach((t, i) => {
        assert.equal(r.finished[i], false); // no EOS from this random model within MAX tokens
        const want = teacherForcedLogProb(m, im, i, t);
        assert.ok(Math.abs(r.scores[i] - want) < 1e-4, `score ${r.scores[i]} vs ${want}`);
      });
    }
    m.dispose();
  },
);

await backendTest("a batch decodes each image independently", GENERATE_BACKENDS, async () => {
  const m = model();
  const im = images(3, 11);
  for (
    const opts of [
      { maxLength: MAX },
      { maxLength: MAX, strategy: "beam", beamSize: 3 },
      { maxLength: MAX, strategy: "sample", seed: 4, temperature: 2 },
    ] as GenerateOptions[]
  ) {
    const batch = await generate(m, im, opts);
    for (let i = 0; i < 3; i++) {
      const one = tf.tidy(() => im.slice([i, 0, 0, 0], [1, -1, -1, -1]) as tf.Tensor4D);
      // Image i of a batch samples from stream i; a one-image call uses stream 0 = Rng(seed).
      const seed = opts.seed === undefined
        ? undefined
        : (opts.seed + Math.imul(i, 0x9e3779b9)) >>> 0;
      const single = await generate(m, one, seed === undefined ? opts : { ...opts, seed });
      one.dispose();
      assert.deepEqual(single.tokens[0], batch.tokens[i], `${opts.strategy} image ${i}`);
      assert.ok(Math.abs(single.scores[0] - batch.scores[i]) < 1e-4);
    }
  }
  m.dispose();
});

await backendTest(
  "sampling is reproducible with a seed and leaves no tensors",
  GENERATE_BACKENDS,
  async () => {
    const m = model();
    const im = images(2);
    const opts: GenerateOptions = { maxLength: MAX, strategy: "sample", temperature: 2, seed: 9 };
    const a = await noLeak(() => generate(m, im, opts));
    const b = await generate(m, im, opts);
    assert.deepEqual(a, b);
    const other = await generate(m, im, { ...opts, seed: 10 });
    assert.notDeepEqual(other.tokens, a.tokens);
    const nucleus = await noLeak(() =>
      generate(m, im, { maxLength: MAX, strategy: "sample", topP: 0.9, topK: 5, seed: 1 })
    );
    assert.deepEqual(nucleus.tokens.map((t) => t.length), [MAX, MAX]);
    m.dispose();
  },
);

await backendTest("EOS stops a sequence (greedy and beam)", GENERATE_BACKENDS, async () => {
  const m = model();
  const im = images(1);
  const free = await generate(m, im, { maxLength: MAX });
  const t = free.tokens[0];
  const at = t.findIndex((id, i) => i > 0 && !t.slice(0, i).includes(id));
  assert.ok(at > 0, `expected a new token after the first in ${t}`);
  const eosId = t[at];
  const stopped = await generate(m, im, { maxLength: MAX, eosId });
  assert.deepEqual(stopped.tokens[0], t.slice(0, at));
  assert.deepEqual(stopped.finished, [true]);
  const beam1 = await generate(m, im, { maxLength: MAX, eosId, strategy: "beam", beamSize: 1 });
  assert.deepEqual(beam1, stopped);
  const beam = await generate(m, im, { maxLength: MAX, eosId, strategy: "beam", beamSize: 4 });
  if (beam.finished[0]) assert.ok(!beam.tokens[0].includes(eosId));
  m.dispose();
});

/**
 * A {@linkcode CaptionDecoder} whose next-token logits depend only on the last id fed to each
 * row (`script(lastId)`), so that decoding strategies can be checked on known distributions.
 */
class ScriptedDecoder implements CaptionDecoder {
  length = 0;
  #last: number[];
  constructor(public rows: number, readonly script: (last: number) => number[]) {
    this.#last = new Array(rows).fill(-1);
  }
  next(ids: Int32Array, width = 1): tf.Tensor2D {
    this.#last = this.#last.map((_, r) => ids[r * width + width - 1]);
    this.length += width;
    const rows = this.#last.map(this.script);
    return tf.tensor2d(rows.flat(), [this.rows, rows[0].length]);
  }
  reorder(parents: Int32Array): void {
    this.#last = Array.from(parents, (p) => this.#last[p]);
    this.rows = parents.length;
  }
  dispose(): void {}
}

// Ten token ids with these probabilities, by rank: 1 .30, 3 .20, 4 .15, 5 .12, 6 .10, 7 .06,
// 8 .04, 0 .02, 2 (EOS) .005, 9 .005.
const P = [0.02, 0.30, 0.005, 0.20, 0.15, 0.12, 0.10, 0.06, 0.04, 0.005];

await backendTest(
  "top-k, top-p and temperature sampling on a fixed logits row: frequencies over 20000 draws match the renormalised kept distribution, nothing else is drawn",
  GENERATE_BACKENDS,
  async () => {
    const N = 20000;
    const logits = P.map(Math.log);
    const cases: [GenerateOptions, Record<number, number>][] = [
      // The 3 most likely tokens, renormalised (mass .65).
      [{ topK: 3 }, { 1: 0.30 / 0.65, 3: 0.20 / 0.65, 4: 0.15 / 0.65 }],
      // Nucleus 0.7: a token stays while the mass before it is below 0.7: 1 (0), 3 (.30),
      // 4 (.50), 5 (.65); token 6 (.77 before it) and the rest go. Mass .77.
      [{ topP: 0.7 }, { 1: 0.30 / 0.77, 3: 0.20 / 0.77, 4: 0.15 / 0.77, 5: 0.12 / 0.77 }],
      // Top-k first, then the nucleus of the renormalised top 5 (mass .87): 1 (.345), 3 (.575
      // with it) reaches 0.5, so 4 goes: 1 and 3, renormalised over .50.
      [{ topK: 5, topP: 0.5 }, { 1: 0.6, 3: 0.4 }],
      // A nucleus smaller than the top token keeps the top token.
      [{ topP: 0.01 }, { 1: 1 }],
      // Temperature 2 before the filter: probabilities ∝ p^(1/2), top 3.
      [
        { topK: 3, temperature: 2 },
        Object.fromEntries(
          [1, 3, 4].map((
            t,
          ) => [t, Math.sqrt(P[t]) / (Math.sqrt(0.30) + Math.sqrt(0.20) + Math.sqrt(0.15))]),
        ),
      ],
      // No filter: every token, EOS included (a row that draws EOS is finished and empty).
      [{}, Object.fromEntries(P.map((p, t) => [t, p]))],
    ];
    for (const [opts, want] of cases) {
      const r = await decodeCaptions(
        (repeat) => new ScriptedDecoder(N * repeat, () => logits),
        N,
        { strategy: "sample", maxLength: 1, seed: 17, ...opts },
        { numTokens: P.length, padId: 0 },
      );
      const drawn = r.tokens.map((t, i) => r.finished[i] ? 2 : t[0]);
      const counts = new Map<number, number>();
      for (const t of drawn) counts.set(t, (counts.get(t) ?? 0) + 1);
      const what = JSON.stringify(opts);
      for (const t of counts.keys()) assert.ok(t in want, `${what}: drew token ${t}`);
      for (const [t, q] of Object.entries(want)) {
        const f = (counts.get(Number(t)) ?? 0) / N;
        const tol = 5 * Math.sqrt(q * (1 - q) / N) + 1e-9;
        assert.ok(Math.abs(f - q) <= tol, `${what}: token ${t} drawn ${f}, expected ${q} ± ${tol}`);
      }
      // The score is the token's unfiltered log-probability at temperature 1.
      drawn.forEach((t, i) => {
        if (Math.abs(r.scores[i] - Math.log(P[t])) > 1e-5) {
          assert.fail(`${what}: score ${r.scores[i]} for token ${t}, expected ${Math.log(P[t])}`);
        }
      });
    }
  },
);

await backendTest(
  "beam search ranks by sum log-prob / length ** lengthPenalty (a short and a long caption)",
  GENERATE_BACKENDS,
  async () => {
    // After BOS: EOS .3, token 3 .7. After token 3: EOS .25, tokens 4..19 share .75 (.0469
    // each). Two captions finish: [] (EOS first), log-prob log .3 = -1.204 over 1 token, and
    // [3] (3 then EOS), log .7 + log .25 = -1.743 over 2 tokens. Ranked by sum / length^lp:
    //   lp 0: -1.204 vs -1.743       -> []      lp 0.5: -1.204 vs -1.233 -> []
    //   lp 1: -1.204 vs -0.872       -> [3]     lp 2:   -1.204 vs -0.436 -> [3]
    // Every unfinished continuation ([3, x]: log .7 + log .0469 = -3.42) ranks below both.
    const V = 20, off = -30;
    const script = (last: number) =>
      Array.from({ length: V }, (_, t) => {
        if (last === 1) return t === 2 ? Math.log(0.3) : t === 3 ? Math.log(0.7) : off;
        if (last === 3) return t === 2 ? Math.log(0.25) : t >= 4 ? Math.log(0.75 / 16) : off;
        return 0;
      });
    const short = { tokens: [[]], finished: [true], score: Math.log(0.3) };
    const long = { tokens: [[3]], finished: [true], score: Math.log(0.7) + Math.log(0.25) };
    for (
      const [lengthPenalty, want] of [[0, short], [0.5, short], [1, long], [2, long], [
        undefined,
        long,
      ]] as const
    ) {
      const r = await decodeCaptions(
        (repeat) => new ScriptedDecoder(repeat, script),
        1,
        { strategy: "beam", beamSize: 2, maxLength: 4, lengthPenalty },
        { numTokens: V, padId: 0 },
      );
      assert.deepEqual(r.tokens, want.tokens, `lengthPenalty ${lengthPenalty}`);
      assert.deepEqual(r.finished, want.finished);
      assert.ok(Math.abs(r.scores[0] - want.score) < 1e-5, `${r.scores[0]} vs ${want.score}`);
    }
  },
);

Deno.test("generate options are validated with clear errors", async () => {
  await setupBackend("cpu");
  const cfg = { numTokens: 40, padId: 0 };
  const bad: [GenerateOptions, RegExp][] = [
    [{ strategy: "sample", topP: 0 }, /expected topP in \(0, 1\], found 0/],
    [{ strategy: "sample", topP: 1.5 }, /expected topP in \(0, 1\], found 1.5/],
    [{ strategy: "sample", topK: 1.5 }, /expected topK to be a positive integer, found 1.5/],
    [{ strategy: "sample", temperature: 0 }, /expected temperature .* > 0, found 0/],
    [{ strategy: "beam", beamSize: 0 }, /expected beamSize to be a positive integer, found 0/],
    [{ strategy: "beam", beamSize: 41 }, /expected beamSize <= numTokens 40, found 41/],
    [{ maxLength: 0 }, /expected maxLength to be a positive integer, found 0/],
    [{ topK: 3 }, /expected topK only with strategy "sample", found strategy "greedy"/],
    [{ strategy: "sample", beamSize: 2 }, /expected beamSize only with strategy "beam"/],
    [{ strategy: "nucleus" as "sample" }, /expected strategy to be one of greedy, beam, sample/],
    [{ eosId: 40 }, /expected eosId to be a token id in \[0, 40\), found 40/],
    [{ prefix: [5, 2] }, /expected prefix without the eos id 2, found it at position 1/],
    [{ prefix: [5, -1] }, /expected prefix\[1\] to be a token id/],
    [
      { beam: 2 } as GenerateOptions,
      /unknown key\(s\) in the generate options: "beam"; expected some of maxLength/,
    ],
  ];
  for (const [opts, re] of bad) {
    assert.throws(() => resolveGenerateOptions(opts, cfg), re, JSON.stringify(opts));
  }
  const m = model();
  await assert.rejects(() => generate(m, images(1), { maxLength: -1 }), /maxLength/);
  // A model in training mode captions without patch dropout and stays in training mode.
  const evalResult = await generate(m, images(2), { maxLength: 4 });
  m.train();
  assert.deepEqual(await generate(m, images(2), { maxLength: 4 }), evalResult);
  assert.equal(m.training, true);
  m.eval();
  await assert.rejects(
    () => generate(m, images(1, 1, 8), {}),
    /expected images of shape \(b, 3, 16, 16\), found \[1,3,8,8\]/,
  );
  m.dispose();
});
