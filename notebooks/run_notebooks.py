#!/usr/bin/env python3
"""Execute the project's Jupyter notebooks with the Deno kernel and check what they show.

For every notebook (default: notebooks/*.ipynb):

1. execute it with nbclient, keeping the iopub channel open for late outputs after the kernel
   reports `idle` (the Deno 2.x kernel sends `status: idle` before some display messages);
   any cell error fails the notebook;
2. require at least one `application/vnd.plotly.v1+json` output, unless the notebook's metadata
   has `"coca": {"expect_plotly": false}`;
3. write the executed notebook (in place, or into --output-dir);
4. export it to HTML with nbconvert and load the HTML in headless Chromium with Chromium's own
   command-line modes (no DevTools client): `--dump-dom` after a `--virtual-time-budget` gives
   the rendered DOM, in which every plotly output must have been drawn (a `.js-plotly-plot`
   element with an `svg.main-svg`); uncaught page exceptions (Chromium's console log) are
   reported as warnings; `--screenshot` saves a full-page PNG next to the HTML.

Exit status 0 when every notebook passed, 1 otherwise. Needs Debian's jupyter-nbconvert,
python3-nbclient, jupyter-client and chromium (see notebooks/setup.sh), `deno` on PATH and
JUPYTER_PATH including notebooks/jupyter (set here when missing).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
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


CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
]

# Added to the page copy that is dumped: keeps the page's height on <html data-coca-height>,
# which --dump-dom then shows (the full-page screenshot's height).
HEIGHT_PROBE = (
    "<script>setInterval(() => document.documentElement.setAttribute('data-coca-height', "
    "document.documentElement.scrollHeight), 50);</script>"
)

UNCAUGHT = re.compile(r':CONSOLE[^\]]*\] "(Uncaught [^\n]*?)", source: ')


class PlotlyDom(HTMLParser):
    """Counts `.js-plotly-plot` elements of a dumped DOM and those holding an `svg.main-svg`."""

    def __init__(self):
        super().__init__()
        self.plots = 0
        self.drawn = 0
        self.failed = False
        self.height = 0
        self._divs = 0  # open <div> elements
        self._plot_at: int | None = None  # div depth of the plot being read
        self._plot_drawn = False
        self._in_script = 0

    def handle_starttag(self, tag, attrs):
        classes = (dict(attrs).get("class") or "").split()
        if tag == "html":
            self.height = int(dict(attrs).get("data-coca-height") or 0)
        elif tag in ("script", "style"):
            self._in_script += 1
        elif tag == "div":
            self._divs += 1
            if self._plot_at is None and "js-plotly-plot" in classes:
                self.plots += 1
                self._plot_at = self._divs
                self._plot_drawn = False
        elif tag == "svg" and "main-svg" in classes and self._plot_at is not None:
            if not self._plot_drawn:
                self.drawn += 1
            self._plot_drawn = True

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._in_script = max(0, self._in_script - 1)
        elif tag == "div":
            if self._plot_at == self._divs:
                self._plot_at = None
            self._divs -= 1

    def handle_data(self, data):
        if not self._in_script and "plotly.js did not load" in data:
            self.failed = True


def run_chromium(chromium: str, args: list[str], timeout: float) -> tuple[str, str]:
    """Runs headless Chromium with a fresh profile; returns its stdout and stderr."""
    with tempfile.TemporaryDirectory(prefix="coca-chromium-") as profile:
        proc = subprocess.run(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
        )
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-3:])
        raise RuntimeError(f"chromium exited with status {proc.returncode}: {tail}")
    return proc.stdout, proc.stderr


def check_page(chromium: str, html: Path, png: Path, expected: int, timeout: float,
               width: int) -> tuple[dict, list[str]]:
    """Loads `html` in headless Chromium, counts its drawn plots, saves a full-page screenshot.

    The page gets `timeout` seconds of virtual time (it runs faster than that when idle) to
    draw its `expected` plots before the DOM is dumped.
    """
    budget = f"--virtual-time-budget={int(timeout * 1000)}"
    limit = timeout + 120  # wall clock: Chromium's start plus the page's real work
    with tempfile.TemporaryDirectory(prefix="coca-page-") as tmp:
        probe = Path(tmp) / html.name
        text = html.read_text(encoding="utf-8")
        head = text.find("<head>")
        at = head + len("<head>") if head >= 0 else 0
        probe.write_text(text[:at] + HEIGHT_PROBE + text[at:], encoding="utf-8")
        dom, log = run_chromium(
            chromium, [f"--window-size={width},900", budget, "--dump-dom", probe.as_uri()], limit
        )
    parsed = PlotlyDom()
    parsed.feed(dom)
    parsed.close()
    state = {"plots": parsed.plots, "drawn": parsed.drawn, "failed": parsed.failed,
             "height": parsed.height}
    if parsed.plots == 0 and expected > 0 and "<body" not in dom:
        raise RuntimeError("chromium dumped no DOM")
    height = max(300, min(parsed.height or 900, 16000))
    png.unlink(missing_ok=True)
    run_chromium(
        chromium,
        [f"--window-size={width},{height}", budget, f"--screenshot={png.resolve()}",
         html.resolve().as_uri()],
        limit,
    )
    if not png.is_file():
        raise RuntimeError(f"chromium wrote no screenshot at {png}")
    exceptions = UNCAUGHT.findall(log)
    return state, exceptions


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
                        help="virtual seconds Chromium gives a page to draw its plots (default 30)")
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
