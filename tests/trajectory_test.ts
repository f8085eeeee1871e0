import assert from "node:assert/strict";
import {
  availableBackends,
  BACKENDS,
  parseSafetensors,
  readTrajectoryOptimizer,
  runTrajectory,
  serializeSafetensors,
  setupBackend,
} from "../mod.ts";
import { FixtureError } from "../src/reference/parity.ts";

const FIXTURES = new URL("./fixtures/", import.meta.url);
const traj = {
  // tiny_a, 12 steps, betas (0.9, 0.98), eps 1e-8, weight decay 0.05, clip 0.5 (every step clips)
  a: await Deno.readFile(new URL("coca_traj_a.safetensors", FIXTURES)),
  // another model (non-square images, depths 3/1/3, heads·dim_head ≠ dim, loss weights 1.5/0.25),
  // 9 steps, betas (0.85, 0.995), eps 1e-6, weight decay 0.2, clip 2 (clips steps 0 and 2 only)
  b: await Deno.readFile(new URL("coca_traj_b.safetensors", FIXTURES)),
};
const backends = await availableBackends();

for (const backend of BACKENDS) {
  for (const [name, bytes] of Object.entries(traj)) {
    Deno.test({
      name:
        `trajectory parity on ${backend} (traj_${name}: every step's loss and grad norm, every final weight)`,
      ignore: !backends.includes(backend),
      fn: async () => {
        await setupBackend(backend);
        const st = parseSafetensors(bytes);
        const steps = Number(JSON.parse(st.metadata.optimizer).steps);
        const finals = [...st.tensors.keys()].filter((k) => k.startsWith("final."));
        const seen: number[] = [];
        const rows = await runTrajectory(bytes, { onStep: (k) => seen.push(k) });
        assert.deepEqual(seen, [...Array(steps).keys()]);
        assert.equal(rows.filter((r) => r.name.endsWith(".loss")).length, steps);
        assert.equal(rows.filter((r) => r.name.endsWith(".grad_norm")).length, steps);
        assert.deepEqual(
          rows.filter((r) => r.name.startsWith("final.")).map((r) => r.name).sort(),
          finals.sort(),
        );
        const bad = rows.filter((r) => !r.ok).map((r) => `${r.name}: ${r.maxRelErr}`);
        assert.deepEqual(bad, []);
      },
    });
  }
}

/** traj_a with some tensors replaced and the metadata changed. */
function edited(
  change: { tensors?: Record<string, Float32Array | null>; metadata?: Record<string, string> },
): Uint8Array {
  const st = parseSafetensors(traj.a);
  for (const [k, v] of Object.entries(change.tensors ?? {})) {
    if (v === null) st.tensors.delete(k);
    else st.tensors.set(k, { ...st.tensors.get(k)!, data: new Uint8Array(v.buffer) });
  }
  return serializeSafetensors(st.tensors, { ...st.metadata, ...change.metadata });
}

Deno.test("trajectory parity fails when a step or a final weight is off", async () => {
  await setupBackend(backends.includes("blas") ? "blas" : "cpu");
  const raw = parseSafetensors(traj.a).tensors;
  const f32 = (k: string) => new Float32Array(raw.get(k)!.data.slice().buffer);
  const temperature = f32("final.temperature").map((x) => x * 1.01);
  const loss = f32("step.3.loss").map((x) => x * (1 + 1e-4));
  const rows = await runTrajectory(
    edited({ tensors: { "final.temperature": temperature, "step.3.loss": loss } }),
  );
  assert.deepEqual(rows.filter((r) => !r.ok).map((r) => r.name), [
    "step.3.loss",
    "final.temperature",
  ]);
});

Deno.test("a malformed trajectory fixture is a FixtureError that names the problem", async () => {
  await setupBackend("cpu");
  const cases: [Uint8Array, RegExp][] = [
    [traj.a.slice(0, 5000), /not a readable safetensors file/],
    [edited({ metadata: { optimizer: "{" } }), /optimizer is not JSON/],
    [edited({ metadata: { optimizer: '{"betas":[0.9],"eps":1e-8,"steps":12}' } }), /betas/],
    [edited({ metadata: { optimizer: '{"betas":[0.9,0.98],"eps":1e-8,"steps":13}' } }), /step\.12/],
    [
      edited({
        metadata: { optimizer: '{"betas":[0.9,0.98],"eps":1e-8,"steps":12,"amsgrad":true}' },
      }),
      /unknown optimizer field\(s\) amsgrad/,
    ],
    [edited({ tensors: { "step.4.lr": null } }), /expected step\.4\.lr/],
    [
      edited({ tensors: { "step.2.lr": new Float32Array([NaN]) } }),
      /step\.2\.lr to be one finite number/,
    ],
    [edited({ tensors: { "final.img_queries": null } }), /final\.img_queries/],
    [edited({ metadata: { config: '{"vit":{},"coca":{}}' } }), /does not describe a model/],
  ];
  for (const [bytes, message] of cases) {
    await assert.rejects(runTrajectory(bytes), (e: Error) => {
      assert.ok(e instanceof FixtureError, `expected a FixtureError, found ${e}`);
      assert.match(e.message, message);
      return true;
    });
  }
});

Deno.test("readTrajectoryOptimizer reads what the format carries", () => {
  const o = readTrajectoryOptimizer(JSON.stringify({
    name: "AdamW",
    betas: [0.85, 0.995],
    eps: 1e-6,
    weight_decay: 0.2,
    decay: "ndim>=2",
    clip_norm: null,
    steps: 3,
  }));
  assert.deepEqual(o, {
    beta1: 0.85,
    beta2: 0.995,
    eps: 1e-6,
    weightDecay: 0.2,
    clipNorm: null,
    steps: 3,
  });
  assert.throws(() => readTrajectoryOptimizer(undefined), /expected __metadata__\.optimizer/);
  assert.throws(
    () => readTrajectoryOptimizer('{"betas":[0.9,0.9],"eps":0,"steps":1,"decay":"all"}'),
    /expected optimizer decay to be "ndim>=2", found "all"/,
  );
});

const CLI = new URL("../src/cli/parity.ts", import.meta.url).pathname;

async function parity(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code, out: dec.decode(stdout), err: dec.decode(stderr) };
}

Deno.test("deno task parity: exit 0 / 1 / 2 for both fixture kinds, no stack trace on bad input", async () => {
  const dir = await Deno.makeTempDir({ prefix: "coca_parity_cli_" });
  try {
    const ok = await parity(
      new URL("coca_traj_b.safetensors", FIXTURES).pathname,
      "--backend",
      "cpu",
    );
    assert.equal(ok.code, 0, ok.err);
    const last = JSON.parse(ok.out.trim().split("\n").at(-1)!);
    assert.equal(last.ok, true);
    assert.equal(last.backend, "cpu");
    assert.ok("step.8.grad_norm" in last.maxRelErr && "final.temperature" in last.maxRelErr);
    assert.match(ok.err, /step 9\/9: loss/);

    const raw = parseSafetensors(traj.a).tensors;
    const off = new Float32Array(raw.get("final.temperature")!.data.slice().buffer).map((x) =>
      x + 1
    );
    await Deno.writeFile(
      `${dir}/off.safetensors`,
      edited({ tensors: { "final.temperature": off } }),
    );
    const over = await parity(`${dir}/off.safetensors`, "--backend", "cpu");
    assert.equal(over.code, 1, over.err);
    assert.match(over.out, /final\.temperature\s+\[1\]\s+\S+\s+1e-3\s+NO/);

    const tiny = parseSafetensors(
      await Deno.readFile(new URL("coca_tiny_a.safetensors", FIXTURES)),
    );
    const tinyOk = await parity(
      new URL("coca_tiny_a.safetensors", FIXTURES).pathname,
      "--backend",
      "cpu",
    );
    assert.equal(tinyOk.code, 0, tinyOk.err);
    assert.ok("grad.temperature" in JSON.parse(tinyOk.out.trim().split("\n").at(-1)!).maxRelErr);
    const logits = tiny.tensors.get("output.logits")!;
    const shifted = new Float32Array(logits.data.slice().buffer).map((x) => x + 0.5);
    tiny.tensors.set("output.logits", { ...logits, data: new Uint8Array(shifted.buffer) });
    await Deno.writeFile(
      `${dir}/off_logits.safetensors`,
      serializeSafetensors(tiny.tensors, tiny.metadata),
    );
    const tinyOver = await parity(`${dir}/off_logits.safetensors`, "--backend", "cpu");
    assert.equal(tinyOver.code, 1, tinyOver.err);
    assert.match(tinyOver.out, /output\.logits\s+\[3,10,97\]\s+\S+\s+1e-4\s+NO/);
    tiny.tensors.delete("input.images");
    await Deno.writeFile(
      `${dir}/no_images.safetensors`,
      serializeSafetensors(tiny.tensors, tiny.metadata),
    );
    await Deno.writeFile(`${dir}/truncated.safetensors`, traj.a.slice(0, 1000));
    const bad: [string[], RegExp][] = [
      [[`${dir}/truncated.safetensors`, "--backend", "cpu"], /bad fixture .*truncated/],
      [[`${dir}/no_images.safetensors`, "--backend", "cpu"], /input\.images \(rank 4\)/],
      [[`${dir}/missing.safetensors`], /cannot read fixture/],
      [
        [new URL("coca_traj_a.safetensors", FIXTURES).pathname, "--backend", "tpu"],
        /expected --backend to be one of auto\|webgpu\|wasm\|cpu\|blas, found "tpu"/,
      ],
      [["--bakend", "cpu"], /found unknown option --bakend/],
      [["a.safetensors", "b.safetensors"], /expected one fixture, found 2/],
    ];
    for (const [args, message] of bad) {
      const r = await parity(...args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.err}`);
      assert.match(r.err, message);
      assert.match(r.err, /usage: deno task parity/);
      assert.doesNotMatch(r.err, /\n\s+at /, `a stack trace for ${args.join(" ")}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
