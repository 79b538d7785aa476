"""Opens a page in headless Chromium over the DevTools protocol (a pipe, no network, no
extra package): waits for it to load, collects JavaScript errors, takes a screenshot.

Chromium reads protocol messages on its file descriptor 3 and writes replies on 4
(``--remote-debugging-pipe``), each a JSON object ended by a NUL byte.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    # WebGL (plotly's 3D views) without a GPU: the software rasteriser.
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--remote-debugging-pipe",
]


def find_chromium() -> str | None:
    """The path of a Chromium or Chrome executable, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageReport:
    """What the browser saw: errors (exceptions, console errors, failed loads), the
    values of the expressions asked for, and the screenshot's path."""

    errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    screenshot: Path | None = None


class _Pipe:
    def __init__(self, process: subprocess.Popen, write_fd: int, read_fd: int) -> None:
        self.process, self.write_fd, self.read_fd = process, write_fd, read_fd
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.write_fd, json.dumps(message).encode() + b"\0")
        return self.next_id

    def receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("no answer from Chromium")
            chunk = os.read(self.read_fd, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(
        self,
        method: str,
        params: dict | None = None,
        session: str | None = None,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        ident = self.send(method, params, session)
        deadline = time.monotonic() + timeout
        while True:
            message = self.receive(deadline)
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_event(self, name: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == name for e in self.events):
            try:
                self.events.append(self.receive(deadline))
            except TimeoutError:
                return False
        return True


def open_page(
    url: str,
    screenshot: Path,
    *,
    expressions: dict[str, str] | None = None,
    settle: float = 3.0,
    size: tuple[int, int] = (1200, 2400),
    timeout: float = 60.0,
) -> PageReport:
    """Loads ``url``, waits ``settle`` seconds after the load event, evaluates
    ``expressions`` (name -> JavaScript), and saves a full-page PNG screenshot."""
    browser = find_chromium()
    if browser is None:
        raise FileNotFoundError("no chromium executable on PATH")
    profile = tempfile.mkdtemp(prefix="brenier-chromium-")
    to_chrome_r, to_chrome_w = os.pipe()
    from_chrome_r, from_chrome_w = os.pipe()
    command = [
        browser,
        *FLAGS,
        f"--user-data-dir={profile}",
        f"--window-size={size[0]},{size[1]}",
        "about:blank",
    ]

    def pipe_on_3_and_4() -> None:  # in the child, before exec: Chromium's fds 3 and 4
        high_in = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
        high_out = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
        os.dup2(high_in, 3)  # dup2 makes them inheritable; Python's other fds are not
        os.dup2(high_out, 4)

    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        close_fds=False,
        preexec_fn=pipe_on_3_and_4,
    )
    os.close(to_chrome_r)
    os.close(from_chrome_w)
    pipe = _Pipe(process, to_chrome_w, from_chrome_r)
    report = PageReport()
    try:
        _drive(pipe, url, screenshot, expressions or {}, settle, size, timeout, report)
    finally:
        try:
            pipe.send("Browser.close")
            process.wait(timeout=10)
        except Exception:
            process.kill()
            process.wait()
        os.close(to_chrome_w)
        os.close(from_chrome_r)
        shutil.rmtree(profile, ignore_errors=True)
    return report


def _drive(
    pipe: _Pipe,
    url: str,
    screenshot: Path,
    expressions: dict[str, str],
    settle: float,
    size: tuple[int, int],
    timeout: float,
    report: PageReport,
) -> None:
    targets = pipe.call("Target.getTargets")["targetInfos"]
    page = next(t for t in targets if t["type"] == "page")
    session = pipe.call("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True})[
        "sessionId"
    ]
    for domain in ("Page.enable", "Runtime.enable", "Log.enable"):
        pipe.call(domain, session=session)
    pipe.call(
        "Emulation.setDeviceMetricsOverride",
        {"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": False},
        session=session,
    )
    pipe.events.clear()
    pipe.call("Page.navigate", {"url": url}, session=session)
    if not pipe.wait_event("Page.loadEventFired", timeout):
        report.errors.append(f"the page did not finish loading in {timeout:.0f} s")
    time.sleep(settle)
    for name, expression in expressions.items():
        result = pipe.call(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=session
        )
        report.values[name] = result.get("result", {}).get("value")
    shot = pipe.call("Page.captureScreenshot", {"format": "png"}, session=session)
    screenshot.write_bytes(base64.b64decode(shot["data"]))
    report.screenshot = screenshot
    _collect(pipe.events, report)


def _collect(events: list[dict[str, Any]], report: PageReport) -> None:
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text")
            report.errors.append(f"uncaught exception: {text}")
        elif method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            report.console.append(f"{params['type']}: {text}")
            if params["type"] in ("error", "assert"):
                report.errors.append(f"console.{params['type']}: {text}")
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            report.errors.append(f"{entry['source']} error: {entry['text']} {entry.get('url', '')}")
