/**
 * `deno task web [--port N] [--checkpoint DIR]`: build the browser bundle (`web/app.ts`,
 * `web/check.ts` → `out/web/dist/`) and serve the model viewer on 127.0.0.1 with the
 * checkpoint folder's three files under `/checkpoint/` and tfjs-backend-wasm's `.wasm` files
 * under `/wasm/` (everything local: it works offline).
 *
 * `deno task web --check [--chromium PATH] [--checkpoint DIR]` instead runs the browser check
 * in headless Chromium: the PyTorch parity fixture and greedy captions of the committed
 * checkpoint (`tests/fixtures/web-checkpoint`) on webgl and wasm (and webgpu where Chromium
 * offers an adapter with `--enable-unsafe-webgpu`), the captions compared with the same
 * checkpoint under Deno; screenshots go to `out/web-check/` and must not be blank. Its last
 * line is `{"ok": bool, "backends": {"<name>": {"maxRelErr": number, "captionsMatch": bool}}}`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import * as tf from "../deps/tf.ts";
import { decode as decodePng } from "../deps/fast_png.ts";
import { npmPackageUrl } from "../deps/npm_files.ts";
import { setupBackend } from "../backends/setup.ts";
import { loadCheckpoint } from "../train/checkpoint.ts";
import { decodeImage, toModelImage } from "../data/image.ts";
import { generate } from "../generate/generate.ts";
import type { SimpleViT } from "../model/vit.ts";
import { errorMessage, exitOnUncaught, runCli, UsageError } from "./main.ts";

/** The usage lines printed by `--help` and after argument errors. */
export const WEB_USAGE: string =
  "usage: deno task web [--port N] [--checkpoint DIR]   (serve the viewer on 127.0.0.1)\n" +
  "       deno task web --check [--checkpoint DIR] [--chromium PATH]   (the browser check)";

const ROOT = new URL("../../", import.meta.url);
const OUT = new URL("out/web/", ROOT);
const SHOTS = new URL("out/web-check/", ROOT);
/** The one-step parity fixture of `tests/parity_test.ts`. */
const PARITY_FIXTURE = new URL("tests/fixtures/coca_tiny_a.safetensors", ROOT);
/** The committed checkpoint the check captions with. */
export const CHECK_CHECKPOINT = "tests/fixtures/web-checkpoint";
/** The check images (committed fixtures: PNG and JPEG, square and not, with transparency). */
const CHECK_IMAGES = ["red_8x8.png", "blue_8x8.jpg", "gray_6x4.png", "half_transparent_4x4.png"];
const CHECKPOINT_FILES = ["config.json", "weights.safetensors", "tokenizer.json"];
const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  json: "application/json",
  wasm: "application/wasm",
  png: "image/png",
  jpg: "image/jpeg",
  safetensors: "application/octet-stream",
};

/** Bundle the two pages with `deno bundle --platform browser`; returns the bundles' sizes. */
async function build(): Promise<Record<string, number>> {
  await Deno.mkdir(new URL("dist/", OUT), { recursive: true });
  const sizes: Record<string, number> = {};
  for (const page of ["app", "check"]) {
    const out = new URL(`dist/${page}.js`, OUT);
    const p = await new Deno.Command("deno", {
      args: ["bundle", "--platform", "browser", "--minify", "-o", out.pathname, `web/${page}.ts`],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!p.success) {
      throw new Error(
        `expected deno bundle of web/${page}.ts to succeed, found exit ${p.code}: ${
          new TextDecoder().decode(p.stderr).trim()
        }`,
      );
    }
    sizes[page] = (await Deno.stat(out)).size;
  }
  return sizes;
}

/** What a request path maps to on disk, or undefined (404). */
function route(path: string, checkpoint: string | undefined): URL | undefined {
  const name = path.split("/").pop() ?? "";
  if (name.includes("..") || name.startsWith(".")) return undefined;
  if (path === "/" || path === "/index.html") return new URL("web/index.html", ROOT);
  if (path === "/check.html" || path === "/style.css") return new URL(`web${path}`, ROOT);
  if (/^\/dist\/(app|check)\.js$/.test(path)) return new URL(path.slice(1), OUT);
  if (/^\/wasm\/[\w-]+\.wasm$/.test(path)) {
    return new URL(`dist/${name}`, npmPackageUrl("@tensorflow/tfjs-backend-wasm"));
  }
  if (checkpoint && path === `/checkpoint/${name}` && CHECKPOINT_FILES.includes(name)) {
    return new URL(`${checkpoint.replace(/\/*$/, "/")}${name}`, new URL(`file://${Deno.cwd()}/`));
  }
  if (path === "/fixtures/parity.safetensors") return PARITY_FIXTURE;
  if (path === `/fixtures/images/${name}` && CHECK_IMAGES.includes(name)) {
    return new URL(`tests/fixtures/data/${name}`, ROOT);
  }
  return undefined;
}

/** Start the server on 127.0.0.1 (`port` 0: any free port). */
function serve(port: number, checkpoint: string | undefined): Deno.HttpServer {
  return Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, async (req) => {
    const path = new URL(req.url).pathname;
    const file = route(path, checkpoint);
    if (!file) return new Response(`not found: ${path}`, { status: 404 });
    try {
      const body = await Deno.readFile(file);
      const ext = path === "/" ? "html" : path.split(".").pop() ?? "";
      const headers = {
        "content-type": TYPES[ext] ?? "application/octet-stream",
        "content-length": String(body.length),
        "cache-control": "no-store",
      };
      return new Response(req.method === "HEAD" ? null : body, { headers });
    } catch (e) {
      return new Response(`cannot read ${path}: ${errorMessage(e)}`, { status: 404 });
    }
  });
}

/** Greedy caption ids of the check images with the checkpoint under Deno (tfjs cpu). */
async function denoCaptions(checkpoint: string): Promise<number[][]> {
  await setupBackend("cpu");
  const { model } = await loadCheckpoint(checkpoint, { modelOnly: true });
  try {
    const side = (model.imgEncoder as SimpleViT).config.imageSize[0];
    const data = new Float32Array(CHECK_IMAGES.length * 3 * side * side);
    for (const [i, name] of CHECK_IMAGES.entries()) {
      const rgba = decodeImage(await Deno.readFile(new URL(`tests/fixtures/data/${name}`, ROOT)));
      data.set(toModelImage(rgba, side), i * 3 * side * side);
    }
    const x = tf.tensor4d(data, [CHECK_IMAGES.length, 3, side, side]);
    try {
      // The same options as the page (web/lib.ts captionImages, greedy).
      return (await generate(model, x, { strategy: "greedy", maxLength: 24 })).tokens;
    } finally {
      x.dispose();
    }
  } finally {
    model.dispose();
  }
}

/** A page's outcome in Chromium: what it wrote into `<pre id="result">`, and its status line. */
interface PageRun {
  /** The text of `<pre id="result">`, or "" when the page did not finish in time. */
  result: string;
  /** The page's status line at the end. */
  status: string;
  /** Whether the page reached `done` in time. */
  reached: boolean;
  /** With `pick`: whether the page reached its `done` after the files were set. */
  picked?: boolean;
}

/**
 * Open `url` in headless Chromium and drive it through the DevTools protocol (a WebSocket on
 * 127.0.0.1): wait, in real time, until `done` (a JS expression) is true or `timeoutMs` passes,
 * then save a PNG screenshot to `shot` and read `<pre id="result">`. (`--dump-dom` with
 * `--virtual-time-budget` cannot wait for WebGL/WebGPU readbacks: their polling spends the
 * virtual budget before the GPU answers.)
 */
async function runPage(
  bin: string,
  url: string,
  opts: {
    webgpu: boolean;
    shot: URL;
    done: string;
    timeoutMs: number;
    /** Then set these files into the file input `selector` and wait until `done`. */
    pick?: { selector: string; files: string[]; done: string };
  },
): Promise<PageRun> {
  await Deno.mkdir(OUT, { recursive: true });
  const profile = await Deno.makeTempDir({ dir: OUT.pathname, prefix: "chromium-" });
  const child = new Deno.Command(bin, {
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu-sandbox",
      "--no-first-run",
      "--disable-extensions",
      "--window-size=1000,760",
      `--user-data-dir=${profile}`,
      "--remote-debugging-address=127.0.0.1",
      "--remote-debugging-port=0",
      ...(opts.webgpu ? ["--enable-unsafe-webgpu"] : []),
      "about:blank",
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const killer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs + 60_000);
  let ws: WebSocket | undefined;
  try {
    const endpoint = await devtoolsEndpoint(child.stderr, bin);
    ws = new WebSocket(endpoint);
    const cdp = cdpClient(ws);
    await new Promise((ok, no) => {
      ws!.onopen = ok;
      ws!.onerror = () => no(new Error(`expected a DevTools WebSocket at ${endpoint}`));
    });
    const { targetId } = await cdp.send("Target.createTarget", { url }) as { targetId: string };
    const { sessionId } = await cdp.send("Target.attachToTarget", {
      targetId,
      flatten: true,
    }) as { sessionId: string };
    const evaluate = async (expression: string): Promise<unknown> => {
      const r = await cdp.send("Runtime.evaluate", { expression, returnByValue: true }, sessionId);
      return (r as { result?: { value?: unknown } }).result?.value;
    };
    const until = Date.now() + opts.timeoutMs;
    const wait = async (done: string) => {
      let ok = false;
      while (Date.now() < until && !(ok = (await evaluate(`!!(${done})`)) === true)) {
        await new Promise((r) => setTimeout(r, 250));
      }
      return ok;
    };
    const ready = await wait(opts.done);
    let picked: boolean | undefined;
    if (opts.pick && ready) {
      const { root } = await cdp.send("DOM.getDocument", {}, sessionId) as {
        root: { nodeId: number };
      };
      const { nodeId } = await cdp.send("DOM.querySelector", {
        nodeId: root.nodeId,
        selector: opts.pick.selector,
      }, sessionId) as { nodeId: number };
      await cdp.send("DOM.setFileInputFiles", { files: opts.pick.files, nodeId }, sessionId);
      picked = await wait(opts.pick.done);
    }
    const shot = await cdp.send("Page.captureScreenshot", { format: "png" }, sessionId) as {
      data: string;
    };
    await Deno.writeFile(opts.shot, Uint8Array.from(atob(shot.data), (c) => c.charCodeAt(0)));
    const result = String(await evaluate(`document.getElementById("result")?.textContent ?? ""`));
    const status = String(await evaluate(`document.getElementById("status")?.textContent ?? ""`));
    await cdp.send("Browser.close", {}).catch(() => {});
    return { result, status, reached: ready, picked };
  } finally {
    ws?.close();
    clearTimeout(killer);
    try {
      child.kill("SIGKILL");
    } catch {
      // already exited
    }
    await child.status;
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
}

/** The `ws://` address Chromium prints on stderr ("DevTools listening on ..."). */
async function devtoolsEndpoint(stderr: ReadableStream<Uint8Array>, bin: string): Promise<string> {
  let text = "";
  const decoder = new TextDecoder();
  const reader = stderr.getReader();
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    const m = /DevTools listening on (ws:\/\/\S+)/.exec(text);
    if (m) {
      // Keep draining stderr so that Chromium never blocks on a full pipe.
      (async () => {
        while (!(await reader.read()).done) { /* drain */ }
      })().catch(() => {});
      return m[1];
    }
  }
  throw new Error(
    `expected ${bin} to print "DevTools listening on ws://...", found: ${text.trim().slice(-300)}`,
  );
}

/** A minimal DevTools protocol client: numbered requests, replies matched by id. */
function cdpClient(ws: WebSocket): {
  send(method: string, params: unknown, sessionId?: string): Promise<unknown>;
} {
  let next = 1;
  const pending = new Map<number, { ok: (v: unknown) => void; no: (e: Error) => void }>();
  ws.onmessage = (e) => {
    const msg = JSON.parse(String(e.data));
    const p = msg.id !== undefined ? pending.get(msg.id) : undefined;
    if (!p) return;
    pending.delete(msg.id);
    if (msg.error) p.no(new Error(`DevTools: ${msg.error.message}`));
    else p.ok(msg.result);
  };
  ws.onclose = () => {
    for (const p of pending.values()) p.no(new Error("DevTools: the connection closed"));
    pending.clear();
  };
  return {
    send(method: string, params: unknown, sessionId?: string): Promise<unknown> {
      const id = next++;
      ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
      return new Promise((ok, no) => pending.set(id, { ok, no }));
    },
  };
}

/**
 * The standard deviation of a PNG's luminance (0..255): near 0 for a blank screenshot.
 *
 * @example
 * ```ts ignore
 * console.log(pngSpread(await Deno.readFile("out/web-check/wasm.png")));
 * ```
 */
export function pngSpread(bytes: Uint8Array): number {
  const img = decodePng(bytes);
  const ch = img.channels;
  let n = 0, sum = 0, sq = 0;
  for (let i = 0; i + 2 < img.data.length; i += ch) {
    const y = 0.299 * img.data[i] + 0.587 * img.data[i + 1] + 0.114 * img.data[i + 2];
    n++;
    sum += y;
    sq += y * y;
  }
  const mean = sum / n;
  return Math.sqrt(Math.max(0, sq / n - mean * mean));
}

/** One backend's line of the summary. */
interface BackendSummary {
  maxRelErr: number;
  captionsMatch: boolean;
  parityOk: boolean;
  ran: string;
  adapter?: string;
  screenshot: string;
  screenshotSpread: number;
  seconds: number;
  error?: string;
}

/**
 * How long a page may compute (real time). WebGL on SwiftShader took 50-90 s for the check page
 * on a loaded 2-core machine; the margin is for CI running the other tests beside it.
 */
const PAGE_TIMEOUT_MS = 240_000;

/** Least luminance spread (0..255) of a screenshot that is not blank. */
const MIN_SPREAD = 8;

async function check(bin: string, checkpoint: string): Promise<number> {
  const t0 = performance.now();
  const sizes = await build();
  console.error(`web: bundles built (app ${sizes.app} bytes, check ${sizes.check} bytes)`);
  const expected = await denoCaptions(checkpoint);
  await Deno.mkdir(SHOTS, { recursive: true });
  const server = serve(0, checkpoint);
  const base = `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}`;
  const images = CHECK_IMAGES.map((n) => `/fixtures/images/${n}`).join(",");
  const backends: Record<string, BackendSummary> = {};
  let ok = true;
  try {
    for (const backend of ["webgl", "wasm", "webgpu"]) {
      const t = performance.now();
      const url = `${base}/check.html?backend=${backend}&images=${images}`;
      const webgpu = backend === "webgpu";
      const shot = new URL(`${backend}.png`, SHOTS);
      let r: Record<string, unknown>;
      let spread = 0;
      try {
        const page = await runPage(bin, url, {
          webgpu,
          shot,
          done: `document.getElementById("result")?.dataset.done`,
          timeoutMs: PAGE_TIMEOUT_MS,
        });
        if (!page.result) {
          throw new Error(
            `expected the check page to write its result within ${
              PAGE_TIMEOUT_MS / 1000
            } s, found none (status: ${page.status})`,
          );
        }
        r = JSON.parse(page.result);
        spread = pngSpread(await Deno.readFile(shot));
      } catch (e) {
        r = { error: errorMessage(e), ran: "", maxRelErr: NaN, parityOk: false, captions: [] };
      }
      if (webgpu && r.ran !== "webgpu") {
        console.error(`web: webgpu skipped: Chromium offered no adapter (${r.error ?? "none"})`);
        continue;
      }
      const captionsMatch = JSON.stringify(r.captions) === JSON.stringify(expected);
      const line: BackendSummary = {
        maxRelErr: r.maxRelErr as number,
        captionsMatch,
        parityOk: r.parityOk === true,
        ran: String(r.ran),
        screenshot: shot.pathname.slice(ROOT.pathname.length),
        screenshotSpread: Math.round(spread * 10) / 10,
        seconds: Math.round((performance.now() - t) / 100) / 10,
      };
      if (r.adapter !== undefined) line.adapter = String(r.adapter);
      if (r.error !== undefined) line.error = String(r.error);
      if (!captionsMatch) {
        console.error(
          `web: ${backend}: captions differ: browser ${JSON.stringify(r.captions)}, Deno ${
            JSON.stringify(expected)
          }`,
        );
      }
      ok &&= line.parityOk && captionsMatch && line.ran === backend && spread >= MIN_SPREAD &&
        line.error === undefined;
      backends[backend] = line;
      console.error(`web: ${backend}: ${JSON.stringify(line)}`);
    }
    // The viewer page itself, with the checkpoint loaded, images captioned and a retrieval.
    const viewer = new URL("viewer.png", SHOTS);
    const q = encodeURIComponent("a red square");
    const served = await runPage(bin, `${base}/?backend=wasm&images=${images}&query=${q}`, {
      webgpu: false,
      shot: viewer,
      // Captions (greedy, beam) under each image, and the images ranked for the query.
      done: `document.body.dataset.ready && ` +
        `document.querySelectorAll("#images .caption").length >= ${2 * CHECK_IMAGES.length} && ` +
        `document.querySelectorAll("#image-ranking .rank").length === ${CHECK_IMAGES.length}`,
      timeoutMs: PAGE_TIMEOUT_MS,
    });
    const spread = pngSpread(await Deno.readFile(viewer));
    console.error(
      `web: viewer with the served checkpoint: ${
        served.reached ? "captioned and ranked" : `not done (${served.status})`
      }, screenshot spread ${spread.toFixed(1)}`,
    );
    ok &&= served.reached && spread >= MIN_SPREAD;
    // The viewer again, the checkpoint now picked through the file input (as a user would).
    const pickedShot = new URL("viewer-picked.png", SHOTS);
    const dir = new URL(`${checkpoint.replace(/\/*$/, "/")}`, new URL(`file://${Deno.cwd()}/`));
    const picked = await runPage(bin, `${base}/?backend=wasm&autoload=0&images=${images}`, {
      webgpu: false,
      shot: pickedShot,
      done: "document.body.dataset.ready",
      timeoutMs: PAGE_TIMEOUT_MS,
      pick: {
        selector: "#checkpoint-files",
        files: CHECKPOINT_FILES.map((f) => new URL(f, dir).pathname),
        // Two captions (greedy, beam) under each check image.
        done:
          `document.getElementById("checkpoint-info").textContent.startsWith("picked files") && ` +
          `document.querySelectorAll("#images .caption").length >= ${2 * CHECK_IMAGES.length}`,
      },
    });
    const pickedSpread = pngSpread(await Deno.readFile(pickedShot));
    console.error(
      `web: viewer with picked files: ${
        picked.picked ? "captioned" : `not done (${picked.status})`
      }` +
        `, screenshot spread ${pickedSpread.toFixed(1)}`,
    );
    ok &&= picked.picked === true && pickedSpread >= MIN_SPREAD;
  } finally {
    await server.shutdown();
  }
  ok &&= "webgl" in backends && "wasm" in backends;
  console.error(`web: check took ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const summary = Object.fromEntries(
    Object.entries(backends).map(([k, v]) => [k, {
      maxRelErr: v.maxRelErr,
      captionsMatch: v.captionsMatch,
    }]),
  );
  console.log(JSON.stringify({ ok, backends: summary }));
  return ok ? 0 : 1;
}

/**
 * Run the `web` command with `args`; resolves with the exit code.
 *
 * @example
 * ```ts ignore
 * import { webMain } from "./web.ts";
 * Deno.exit(await webMain(["--check"]));
 * ```
 */
export async function webMain(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: "string" },
      checkpoint: { type: "string" },
      check: { type: "boolean" },
      chromium: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: false,
  });
  if (values.help) {
    console.log(WEB_USAGE);
    return 0;
  }
  if (values.checkpoint !== undefined) {
    for (const f of CHECKPOINT_FILES) {
      try {
        await Deno.stat(`${values.checkpoint}/${f}`);
      } catch {
        throw new UsageError(
          `expected a checkpoint folder with ${CHECKPOINT_FILES.join(", ")} at ` +
            `${values.checkpoint}, found no ${f}`,
        );
      }
    }
  }
  if (values.check) {
    return await check(values.chromium ?? "chromium", values.checkpoint ?? CHECK_CHECKPOINT);
  }
  const port = Number(values.port ?? 8000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`expected --port to be an integer in [0, 65535], found ${values.port}`);
  }
  const sizes = await build();
  const server = serve(port, values.checkpoint);
  console.log(
    `web: bundle ${(sizes.app / 1024).toFixed(0)} KiB; serving http://127.0.0.1:${
      (server.addr as Deno.NetAddr).port
    }/` +
      (values.checkpoint ? ` with ${values.checkpoint} under /checkpoint/` : "") +
      " (Ctrl-C stops)",
  );
  await server.finished;
  return 0;
}

if (import.meta.main) {
  exitOnUncaught("web", WEB_USAGE);
  Deno.exit(await runCli("web", WEB_USAGE, webMain));
}
