/**
 * The browser check (`deno task web --check` opens `check.html?backend=NAME` in headless
 * Chromium): on the named backend, run the PyTorch parity fixture and greedy-caption the check
 * images with the served checkpoint, show them, and write the results as JSON into
 * `<pre id="result">` for the server to read back (`--dump-dom`).
 *
 * @module
 */
import {
  type CheckpointFromFiles,
  fetchCheckpoint,
  poolAttention,
  type PortableBackend,
  runParity,
  setupPortableBackend,
} from "./web_deps.ts";
import {
  attentionCanvas,
  captionImages,
  el,
  fitOf,
  imageCanvas,
  imageSide,
  modelBatch,
  rgbaFromBytes,
} from "./lib.ts";

/** What the check page reports (the `<pre id="result">` JSON). */
export interface CheckResult {
  /** The backend asked for. */
  backend: string;
  /** The backend that ran (empty when none started). */
  ran: string;
  /** The WebGPU adapter, when webgpu ran. */
  adapter?: string;
  /** Largest relative error over the parity fixture's outputs and gradients. */
  maxRelErr: number;
  /** Whether every parity row was within its tolerance. */
  parityOk: boolean;
  /** Greedy caption ids per check image. */
  captions: number[][];
  /** Caption texts. */
  texts: string[];
  /** Milliseconds for parity and for captions. */
  ms: { parity: number; captions: number };
  /** What failed, if anything. */
  error?: string;
}

const status = document.getElementById("status")!;
const out = document.getElementById("result")!;
const panel = document.getElementById("panel")!;

async function bytes(url: string): Promise<Uint8Array> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`expected ${url} to be served, found HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

async function main(): Promise<CheckResult> {
  const params = new URLSearchParams(location.search);
  const backend = params.get("backend") ?? "auto";
  const images = (params.get("images") ?? "").split(",").filter(Boolean);
  const result: CheckResult = {
    backend,
    ran: "",
    maxRelErr: NaN,
    parityOk: false,
    captions: [],
    texts: [],
    ms: { parity: 0, captions: 0 },
  };
  try {
    status.textContent = `starting ${backend}…`;
    const info = await setupPortableBackend(backend as PortableBackend, { wasmPaths: "/wasm/" });
    result.ran = info.name;
    if (info.adapter !== undefined) result.adapter = info.adapter;
    status.textContent = `parity fixture on ${info.name}…`;
    let t = performance.now();
    const rows = await runParity(await bytes("/fixtures/parity.safetensors"));
    result.ms.parity = Math.round(performance.now() - t);
    result.maxRelErr = Math.max(...rows.map((r) => r.maxRelErr));
    result.parityOk = rows.every((r) => r.ok);
    status.textContent = "captions…";
    t = performance.now();
    const ckpt: CheckpointFromFiles = await fetchCheckpoint("/checkpoint/");
    const side = imageSide(ckpt.model);
    const rgba = await Promise.all(images.map(async (u) => rgbaFromBytes(await bytes(u))));
    const x = modelBatch(rgba, side, fitOf(ckpt));
    try {
      const caps = await captionImages(ckpt, x, "greedy");
      result.captions = caps.map((c) => c.tokens);
      result.texts = caps.map((c) => c.text);
      result.ms.captions = Math.round(performance.now() - t);
      const att = await poolAttention(ckpt.model, x);
      const pixels = await x.data() as Float32Array;
      const m = att.grid[0] * att.grid[1];
      panel.append(el("h2", "", `${info.name}${info.adapter ? ` (${info.adapter})` : ""}`));
      rgba.forEach((img, i) => {
        const pix = pixels.slice(i * 3 * side * side, (i + 1) * 3 * side * side);
        // Query 1: the first captioning query (query 0 is the contrastive embedding).
        const w = att.weights.slice((i * att.queries + 1) * m, (i * att.queries + 2) * m);
        panel.append(
          el(
            "div",
            "card",
            imageCanvas(img, 96),
            attentionCanvas(pix, side, w, att.grid, 96),
            el("p", "caption", caps[i].text || "(empty)"),
          ),
        );
      });
    } finally {
      x.dispose();
      ckpt.model.dispose();
    }
    panel.append(
      el(
        "p",
        "note",
        `parity max relative error ${result.maxRelErr.toExponential(2)} ` +
          `(${result.parityOk ? "within" : "OUTSIDE"} tolerance)`,
      ),
    );
  } catch (e) {
    result.error = e instanceof Error ? `${e.message}` : String(e);
  }
  status.textContent = result.error ? `failed: ${result.error}` : "done";
  return result;
}

main().then((r) => {
  out.textContent = JSON.stringify(r);
  out.dataset.done = "1";
});
