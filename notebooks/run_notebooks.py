#!/usr/bin/env python3
"""Execute the project's Jupyter notebooks with the Deno kernel and check what they show.

For every notebook (default: notebooks/*.ipynb):

1. execute it with nbclient, keeping the iopub channel open for late outputs after the kernel
   reports `idle` (the Deno 2.x kernel sends `status: idle` before some display messages);
   any cell error fails the notebook;
2. require at least one `application/vnd.plotly.v1+json` output, unless the notebook's metadata
   has `"coca": {"expect_plotly": false}`;
3. write the executed notebook (in place, or into --output-dir);
4. export it to HTML with nbconvert and open the HTML in headless Chromium (Chrome DevTools
   protocol over --remote-debugging-pipe, standard library only): every plotly output must have
   been drawn (a `.js-plotly-plot` element with an `svg.main-svg`), and a full-page PNG
   screenshot is saved next to the HTML.

Exit status 0 when every notebook passed, 1 otherwise. Needs Debian's jupyter-nbconvert,
python3-nbclient, jupyter-client and chromium (see notebooks/setup.sh), `deno` on PATH and
JUPYTER_PATH including notebooks/jupyter (set here when missing).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionComplete, CellExecutionError
from nbclient.util import ensure_async
from nbconvert import HTMLExporter

PLOTLY_MIME = "application/vnd.plotly.v1+json"
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


class LateOutputClient(NotebookClient):
    """An nbclient that keeps collecting a cell's outputs after the kernel reports idle.

    After the `status: idle` message of a cell, messages belonging to that cell are still
    processed until `late_output_grace` seconds pass without any iopub message.
    """

    late_output_grace: float = 1.0

    async def _async_poll_output_msg(self, parent_msg_id, cell, cell_index):
        await super()._async_poll_output_msg(parent_msg_id, cell, cell_index)
        assert self.kc is not None
        while True:
            try:
                msg = await ensure_async(
                    self.kc.iopub_channel.get_msg(timeout=self.late_output_grace)
                )
            except Empty:
                return
            if msg["parent_header"].get("msg_id") != parent_msg_id:
                continue
            try:
                self.process_message(msg, cell, cell_index)
            except CellExecutionComplete:
                pass  # a repeated idle: keep waiting for silence


@dataclass
class Result:
    """The outcome of one notebook."""

    notebook: Path
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    plotly_outputs: int = 0
    plots_drawn: int | None = None
    html: Path | None = None
    screenshot: Path | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors


def plotly_outputs(nb) -> int:
    """Counts outputs that carry the plotly MIME type."""
    return sum(
        1
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if PLOTLY_MIME in out.get("data", {})
    )


def expects_plotly(nb) -> bool:
    return nb.metadata.get("coca", {}).get("expect_plotly", True) is not False


def find_chromium(explicit: str | None) -> str | None:
    if explicit:
        return explicit
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Cdp:
    """A minimal Chrome DevTools protocol client over --remote-debugging-pipe (fds 3 and 4)."""

    def __init__(self, chromium: str, user_data_dir: str):
        to_child_r, self._to_child_w = os.pipe()
        self._from_child_r, from_child_w = os.pipe()

        def setup_fds():
            # In the child: copy both ends above 9 first, so placing them on 3 and 4 cannot
            # overwrite one with the other, then place them where Chromium expects them.
            high_in = fcntl.fcntl(to_child_r, fcntl.F_DUPFD_CLOEXEC, 10)
            high_out = fcntl.fcntl(from_child_w, fcntl.F_DUPFD_CLOEXEC, 10)
            os.dup2(high_in, 3)
            os.dup2(high_out, 4)

        args = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            f"--user-data-dir={user_data_dir}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=setup_fds,
            close_fds=False,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no answer from chromium over the DevTools pipe")
            ready, _, _ = select.select([self._from_child_r], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self._from_child_r, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 30.0) -> dict:
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_child_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method} failed: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str, timeout: float) -> dict | None:
        deadline = time.monotonic() + timeout
        for i, event in enumerate(self.events):
            if event.get("method") == method:
                return self.events.pop(i)
        while True:
            try:
                event = self._read_message(deadline)
            except TimeoutError:
                return None
            if event.get("method") == method:
                return event
            self.events.append(event)

    def close(self):
        try:
            self.send("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._from_child_r)
        os.close(self._to_child_w)


PAGE_STATE_JS = """JSON.stringify({
  plots: document.querySelectorAll('.js-plotly-plot').length,
  drawn: Array.from(document.querySelectorAll('.js-plotly-plot'))
    .filter(el => el.querySelector('svg.main-svg')).length,
  failed: document.body ? document.body.innerText.includes('plotly.js did not load') : false,
  width: document.documentElement.scrollWidth,
  height: document.documentElement.scrollHeight,
})"""


def check_page(chromium: str, html: Path, png: Path, expected: int, timeout: float,
               width: int) -> tuple[dict, list[str]]:
    """Loads `html`, waits until `expected` plots are drawn, saves a full-page screenshot."""
    with tempfile.TemporaryDirectory(prefix="coca-chromium-") as profile:
        cdp = Cdp(chromium, profile)
        try:
            target = cdp.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = cdp.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
                "sessionId"
            ]
            cdp.send("Page.enable", session=session)
            cdp.send("Runtime.enable", session=session)
            cdp.send(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False},
                session=session,
            )
            cdp.send("Page.navigate", {"url": html.resolve().as_uri()}, session=session)
            cdp.wait_event("Page.loadEventFired", timeout)
            deadline = time.monotonic() + timeout
            def page_state() -> dict:
                reply = cdp.send(
                    "Runtime.evaluate",
                    {"expression": PAGE_STATE_JS, "returnByValue": True},
                    session=session,
                )
                return json.loads(reply["result"]["value"])

            while True:
                state = page_state()
                if state["drawn"] >= expected or state["failed"] or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            time.sleep(0.5)  # let plotly finish transitions before the screenshot
            state = page_state()
            height = max(300, min(int(state["height"]), 16000))
            cdp.send(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                session=session,
            )
            time.sleep(0.3)
            shot = cdp.send(
                "Page.captureScreenshot",
                {"format": "png", "captureBeyondViewport": True},
                session=session,
                timeout=60,
            )
            png.write_bytes(base64.b64decode(shot["data"]))
            exceptions = [
                e["params"]["exceptionDetails"].get("exception", {}).get("description")
                or e["params"]["exceptionDetails"].get("text", "?")
                for e in cdp.events
                if e.get("method") == "Runtime.exceptionThrown"
            ]
            return state, [str(x).splitlines()[0] for x in exceptions]
        finally:
            cdp.close()


def is_stream_corruption(error: BaseException) -> bool:
    """Whether an error means the kernel's ZMQ message stream was corrupted, not the code failed.

    The Deno 2.9 kernel writes iopub messages from two tasks without a lock; when their frames
    interleave, jupyter_client rejects the result ("Invalid Signature") or cannot parse it.
    """
    text = str(error)
    return (
        (isinstance(error, ValueError) and ("Signature" in text or "Unsigned Message" in text))
        or isinstance(error, (json.JSONDecodeError, UnicodeDecodeError))
    )


def execute(path: Path, args, result: Result):
    """Executes the notebook with a fresh kernel; re-runs it when the kernel's stream broke."""
    for attempt in range(1, args.retries + 2):
        nb = nbformat.read(path, as_version=4)
        kernel = nb.metadata.get("kernelspec", {}).get("name", "deno")
        client = LateOutputClient(
            nb,
            timeout=args.timeout,
            iopub_timeout=max(30, int(args.grace * 4)),
            kernel_name=kernel,
            resources={"metadata": {"path": str(path.parent)}},
            record_timing=False,
        )
        client.late_output_grace = args.grace
        try:
            client.execute()
        except CellExecutionError as error:
            result.errors.append(f"cell error: {str(error).strip().splitlines()[-1]}")
        except Exception as error:  # kernel start failures, timeouts, dead kernels, bad frames
            message = f"{type(error).__name__}: {error}"
            if is_stream_corruption(error) and attempt <= args.retries:
                result.warnings.append(
                    f"attempt {attempt}: the kernel's message stream was corrupted ({message}; "
                    "a known Deno kernel race on iopub); re-running with a fresh kernel"
                )
                continue
            result.errors.append(message)
        return nb
    raise AssertionError("unreachable")


def run_notebook(path: Path, args, chromium: str | None) -> Result:
    result = Result(notebook=path)
    start = time.monotonic()
    nb = execute(path, args, result)

    out_path = Path(args.output_dir) / path.name if args.output_dir else path
    out_path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out_path)

    result.plotly_outputs = plotly_outputs(nb)
    if expects_plotly(nb) and result.plotly_outputs == 0:
        result.errors.append(
            f"expected at least one {PLOTLY_MIME} output, found none "
            '(set metadata "coca": {"expect_plotly": false} to opt out)'
        )

    artifacts = Path(args.artifacts)
    artifacts.mkdir(parents=True, exist_ok=True)
    body, _ = HTMLExporter().from_notebook_node(nb)
    result.html = artifacts / f"{path.stem}.html"
    result.html.write_text(body, encoding="utf-8")

    if chromium is not None:
        result.screenshot = artifacts / f"{path.stem}.png"
        try:
            state, exceptions = check_page(
                chromium, result.html, result.screenshot, result.plotly_outputs,
                args.page_timeout, args.width,
            )
            result.plots_drawn = state["drawn"]
            if state["failed"]:
                result.errors.append("page says plotly.js did not load")
            if state["drawn"] < result.plotly_outputs:
                result.errors.append(
                    f"expected {result.plotly_outputs} drawn plotly figure(s) in the HTML, "
                    f"found {state['drawn']} with svg.main-svg"
                )
            result.warnings.extend(f"page exception: {e}" for e in exceptions)
        except Exception as error:
            result.errors.append(f"browser check failed: {type(error).__name__}: {error}")
    result.seconds = time.monotonic() - start
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="notebooks to run (default: notebooks/*.ipynb)")
    parser.add_argument("--output-dir", help="write executed notebooks here instead of in place")
    parser.add_argument("--artifacts", default=str(ROOT / "out" / "notebooks"),
                        help="where HTML exports and screenshots go (default: out/notebooks)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    parser.add_argument("--grace", type=float, default=1.0,
                        help="seconds of iopub silence that end a cell after idle (default 1)")
    parser.add_argument("--retries", type=int, default=2,
                        help="re-runs of a notebook whose kernel message stream got corrupted "
                             "(default 2)")
    parser.add_argument("--page-timeout", type=float, default=30.0,
                        help="seconds to wait for plots to draw in Chromium (default 30)")
    parser.add_argument("--width", type=int, default=1280, help="screenshot width (default 1280)")
    parser.add_argument("--chromium", help="Chromium binary (default: found on PATH)")
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium check")
    args = parser.parse_args(argv)

    kernels = str(HERE / "jupyter")
    paths = os.environ.get("JUPYTER_PATH", "").split(os.pathsep)
    if kernels not in paths:
        os.environ["JUPYTER_PATH"] = os.pathsep.join([kernels] + [p for p in paths if p])
    if shutil.which("deno") is None:
        print("run_notebooks: expected `deno` on PATH for the kernel, found none", file=sys.stderr)
        return 1

    notebooks = [Path(p) for p in args.notebooks] or sorted(HERE.glob("*.ipynb"))
    if not notebooks:
        print(f"run_notebooks: expected notebooks in {HERE}, found none", file=sys.stderr)
        return 1
    chromium = None
    if not args.no_browser:
        chromium = find_chromium(args.chromium)
        if chromium is None:
            print("run_notebooks: expected chromium on PATH (notebooks/setup.sh installs it), "
                  "found none; use --no-browser to skip the page check", file=sys.stderr)
            return 1

    results = []
    for path in notebooks:
        print(f"running {path} ...", flush=True)
        result = run_notebook(path.resolve(), args, chromium)
        results.append(result)
        drawn = "-" if result.plots_drawn is None else result.plots_drawn
        status = "ok" if result.ok else "FAILED"
        print(f"  {status}: {result.plotly_outputs} plotly output(s), {drawn} drawn, "
              f"{result.seconds:.1f}s; html {result.html}; png {result.screenshot}", flush=True)
        for message in result.errors:
            print(f"  error: {message}", flush=True)
        for message in result.warnings:
            print(f"  warning: {message}", flush=True)

    failed = sum(not r.ok for r in results)
    print(f"notebooks: {len(results) - failed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
