/**
 * The model viewer page (`deno task web`): load a checkpoint (picked files or a URL), then
 * caption dropped or picked images (greedy and beam, per-token probabilities), retrieve (rank
 * the images for a text; rank captions for an image), and show the pooler's attention over the
 * patches. Plain DOM; the model runs on webgpu, webgl or wasm, whichever starts first.
 *
 * @module
 */
import {
  type CheckpointFromFiles,
  checkpointFromFiles,
  encodeTexts,
  fetchCheckpoint,
  poolAttention,
  type PortableBackend,
  type RgbaImage,
  setupPortableBackend,
} from "./web_deps.ts";
import {
  attentionCanvas,
  type Caption,
  captionImages,
  el,
  fitOf,
  imageCanvas,
  imageSide,
  modelBatch,
  rgbaFromBytes,
} from "./lib.ts";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = $<HTMLParagraphElement>("status");
const bar = $<HTMLProgressElement>("progress");
const backendLine = $<HTMLParagraphElement>("backend");

let checkpoint: CheckpointFromFiles | undefined;
const images: { name: string; rgba: RgbaImage; card: HTMLElement; latent?: Float32Array }[] = [];

function busy(text: string, fraction?: number): void {
  status.textContent = text;
  bar.hidden = false;
  if (fraction === undefined) bar.removeAttribute("value");
  else bar.value = fraction;
}

function idle(text: string): void {
  status.textContent = text;
  bar.hidden = true;
}

function fail(e: unknown): void {
  idle(`error: ${e instanceof Error ? e.message : String(e)}`);
  status.classList.add("error");
}

/** Let the page paint the progress before a long computation. */
const paint = () => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));

async function startBackend(): Promise<void> {
  const wanted = (new URLSearchParams(location.search).get("backend") ?? "auto") as
    | PortableBackend
    | "auto";
  busy(`starting a backend (${wanted === "auto" ? "webgpu, then webgl, then wasm" : wanted})…`);
  const info = await setupPortableBackend(wanted, {
    wasmPaths: "/wasm/",
    onTry: (b) => busy(`trying ${b}…`),
  });
  const failed = Object.entries(info.failures).map(([k, v]) => `${k}: ${v}`).join("; ");
  backendLine.textContent = `backend: ${info.name}` +
    (info.adapter !== undefined
      ? ` — adapter "${info.adapter}"${info.fallbackAdapter ? " (software fallback)" : ""}`
      : "") +
    (failed ? ` — not available: ${failed}` : "");
  idle("backend ready; load a checkpoint");
}

function setCheckpoint(c: CheckpointFromFiles, where: string): void {
  checkpoint?.model.dispose();
  checkpoint = c;
  const m = c.model.config;
  $("checkpoint-info").textContent = `${where}: CoCa dim ${m.dim}, ${m.numTokens} tokens, ` +
    `${imageSide(c.model)}×${imageSide(c.model)} images, vocabulary ${c.tokenizer.vocabSize}`;
  for (const img of images) img.latent = undefined;
  idle("checkpoint loaded");
  for (const img of images) void describe(img);
}

async function loadFromUrl(url: string): Promise<void> {
  busy(`fetching ${url}…`, 0);
  const sizes: Record<string, [number, number | undefined]> = {};
  const c = await fetchCheckpoint(url, (file, got, total) => {
    sizes[file] = [got, total];
    const done = Object.values(sizes).reduce((s, [g]) => s + g, 0);
    const all = Object.values(sizes).reduce((s, [g, t]) => s + (t ?? g), 0);
    busy(`fetching ${url}: ${(done / 1024).toFixed(0)} KiB`, all ? done / all : undefined);
  });
  setCheckpoint(c, url);
}

async function loadFromFiles(files: FileList): Promise<void> {
  const byName = new Map([...files].map((f) => [f.name, f]));
  const need = ["config.json", "weights.safetensors", "tokenizer.json"];
  const missing = need.filter((n) => !byName.has(n));
  if (missing.length) {
    throw new Error(
      `expected the files ${need.join(", ")}, found ${[...byName.keys()].join(", ") || "none"} ` +
        `(missing ${missing.join(", ")})`,
    );
  }
  busy("reading the checkpoint files…");
  const c = checkpointFromFiles({
    config: await byName.get("config.json")!.text(),
    weights: new Uint8Array(await byName.get("weights.safetensors")!.arrayBuffer()),
    tokenizer: await byName.get("tokenizer.json")!.text(),
  }, "picked files");
  setCheckpoint(c, "picked files");
}

function captionLine(label: string, c: Caption): HTMLElement {
  const line = el("p", "caption", el("b", "", `${label}: `));
  for (const p of c.pieces) {
    const span = el("span", "token", p.text);
    span.title = `p = ${p.prob.toFixed(3)}`;
    span.style.setProperty("--p", p.prob.toFixed(3));
    line.append(span, el("sub", "", p.prob.toFixed(2)));
  }
  line.append(el("span", "score", ` (log p ${c.score.toFixed(2)})`));
  return line;
}

async function describe(img: (typeof images)[number]): Promise<void> {
  if (!checkpoint) return;
  const body = img.card.querySelector(".body")!;
  body.replaceChildren(el("p", "note", "computing…"));
  busy(`captioning ${img.name}…`);
  await paint();
  const side = imageSide(checkpoint.model);
  const x = modelBatch([img.rgba], side, fitOf(checkpoint));
  try {
    const [greedy] = await captionImages(checkpoint, x, "greedy");
    const [beam] = await captionImages(checkpoint, x, "beam");
    const att = await poolAttention(checkpoint.model, x);
    const latent = checkpoint.model.encodeImage(x);
    img.latent = Float32Array.from(await latent.data());
    latent.dispose();
    const pixels = Float32Array.from(await x.data());
    const m = att.grid[0] * att.grid[1];
    const holder = el("div", "attention-holder");
    const slider = el("input");
    slider.type = "range";
    slider.min = "0";
    slider.max = String(att.queries - 1);
    slider.value = att.queries > 1 ? "1" : "0";
    const label = el("span", "note");
    const draw = () => {
      const q = Number(slider.value);
      label.textContent = q === 0 ? "query 0 (contrastive)" : `captioning query ${q}`;
      holder.replaceChildren(
        attentionCanvas(pixels, side, att.weights.slice(q * m, (q + 1) * m), att.grid, 160),
      );
    };
    slider.oninput = draw;
    draw();
    body.replaceChildren(
      captionLine("greedy", greedy),
      captionLine("beam 4", beam),
      el("div", "attention-row", holder, el("div", "", "attention over patches ", slider, label)),
    );
    idle(`captioned ${img.name}`);
  } finally {
    x.dispose();
  }
}

async function addImage(name: string, bytes: Uint8Array): Promise<void> {
  const rgba = rgbaFromBytes(bytes);
  const card = el(
    "div",
    "card",
    el("div", "head", imageCanvas(rgba, 128), el("p", "name", name)),
    el("div", "body"),
  );
  $("images").append(card);
  const img = { name, rgba, card };
  images.push(img);
  refreshImageChoice();
  await describe(img);
}

function refreshImageChoice(): void {
  const sel = $<HTMLSelectElement>("rank-image");
  sel.replaceChildren(...images.map((im, i) => {
    const o = el("option", "", im.name);
    o.value = String(i);
    return o;
  }));
}

async function textLatents(texts: string[]): Promise<{ latents: Float32Array; d: number }> {
  const c = checkpoint!;
  const textLength = typeof c.config.textLength === "number" ? c.config.textLength : 16;
  return await encodeTexts(c.model, c.tokenizer, texts, textLength, 32, () => {});
}

function dot(a: Float32Array, b: Float32Array, offset = 0): number {
  let s = 0;
  for (let i = 0; i < b.length; i++) s += a[offset + i] * b[i];
  return s;
}

async function rankImages(): Promise<void> {
  if (!checkpoint) throw new Error("expected a loaded checkpoint, found none");
  const text = $<HTMLInputElement>("query").value.trim();
  if (!text) throw new Error("expected a text to search for, found an empty field");
  if (!images.length) throw new Error("expected some images to rank, found none (drop some)");
  busy("ranking the images…");
  await paint();
  const { latents } = await textLatents([text]);
  const scored = images.filter((i) => i.latent).map((i) => ({
    name: i.name,
    rgba: i.rgba,
    s: dot(latents, i.latent!),
  })).sort((a, b) => b.s - a.s);
  $("image-ranking").replaceChildren(
    ...scored.map((r, k) =>
      el("div", "rank", imageCanvas(r.rgba, 48), ` ${k + 1}. ${r.name} — ${r.s.toFixed(3)}`)
    ),
  );
  idle("ranked the images");
}

async function rankCaptions(): Promise<void> {
  if (!checkpoint) throw new Error("expected a loaded checkpoint, found none");
  const img = images[Number($<HTMLSelectElement>("rank-image").value)];
  if (!img?.latent) throw new Error("expected a captioned image to rank captions for, found none");
  const texts = $<HTMLTextAreaElement>("candidates").value.split("\n").map((t) => t.trim())
    .filter(Boolean);
  if (!texts.length) throw new Error("expected captions to rank (one per line), found none");
  busy("ranking the captions…");
  await paint();
  const { latents, d } = await textLatents(texts);
  // dot(a, b, offset) reads a[offset..]: the i-th text latent against the image latent.
  const scored = texts.map((t, i) => ({ t, s: dot(latents, img.latent!, i * d) }));
  scored.sort((a, b) => b.s - a.s);
  $("caption-ranking").replaceChildren(
    ...scored.map((r, k) => el("div", "rank", `${k + 1}. ${r.t} — ${r.s.toFixed(3)}`)),
  );
  idle("ranked the captions");
}

function guard(f: () => Promise<void>): () => void {
  return () => {
    status.classList.remove("error");
    f().catch(fail);
  };
}

async function addFiles(files: Iterable<File>): Promise<void> {
  for (const f of files) await addImage(f.name, new Uint8Array(await f.arrayBuffer()));
}

function wire(): void {
  $<HTMLButtonElement>("load-url").onclick = guard(() =>
    loadFromUrl($<HTMLInputElement>("checkpoint-url").value)
  );
  const picked = $<HTMLInputElement>("checkpoint-files");
  picked.onchange = guard(() => loadFromFiles(picked.files!));
  const imageInput = $<HTMLInputElement>("image-files");
  imageInput.onchange = guard(() => addFiles(imageInput.files!));
  const drop = $("drop");
  drop.ondragover = (e) => {
    e.preventDefault();
    drop.classList.add("over");
  };
  drop.ondragleave = () => drop.classList.remove("over");
  drop.ondrop = (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    guard(() => addFiles(e.dataTransfer?.files ?? []))();
  };
  $<HTMLButtonElement>("rank-images").onclick = guard(rankImages);
  $<HTMLButtonElement>("rank-captions").onclick = guard(rankCaptions);
}

async function main(): Promise<void> {
  wire();
  await startBackend();
  const params = new URLSearchParams(location.search);
  const served = await fetch("/checkpoint/config.json", { method: "HEAD" }).then((r) => r.ok)
    .catch(() => false);
  if (params.get("autoload") !== "0" && (params.get("checkpoint") || served)) {
    await loadFromUrl(params.get("checkpoint") ?? "/checkpoint/");
  }
  for (const url of (params.get("images") ?? "").split(",").filter(Boolean)) {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`expected ${url} to be served, found HTTP ${res.status}`);
    await addImage(url.split("/").pop()!, new Uint8Array(await res.arrayBuffer()));
  }
  const q = params.get("query");
  if (q && images.length && checkpoint) {
    $<HTMLInputElement>("query").value = q;
    await rankImages();
  }
  document.body.dataset.ready = "1";
}

main().catch((e) => {
  fail(e);
  document.body.dataset.ready = "1";
});
