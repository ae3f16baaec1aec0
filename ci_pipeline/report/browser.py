"""Headless Chromium driven over the DevTools protocol (a websocket), with no other browser tooling.

The build uses it to print the district profiles to PDF; the tests use it to open the report, run
axe-core and take screenshots. Chromium is found as `chromium` on PATH (Debian's package installs
/usr/bin/chromium); the environment variable CI_PIPELINE_CHROMIUM names another binary, or turns the
browser off when set to "none". Chromium picks a free DevTools port itself (port 0) and writes it into
its profile folder, so runs in parallel never collide.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Self

CHROMIUM_ENV = "CI_PIPELINE_CHROMIUM"
# Generous bounds on waiting for the browser, so a slow machine is not mistaken for a broken browser.
STARTUP_LIMIT_SECONDS = 60
EVENT_LIMIT_SECONDS = 120
A4_INCHES = (8.27, 11.69)


class BrowserError(RuntimeError):
    """Chromium did not start, or a DevTools call failed; the message says which and why."""


def find_chromium(environ: dict[str, str] | None = None) -> Path | None:
    """The Chromium binary to use, or None when there is none (or CI_PIPELINE_CHROMIUM=none)."""
    environ = os.environ if environ is None else environ
    chosen = environ.get(CHROMIUM_ENV)
    if chosen is not None:
        if chosen.strip().lower() in ("", "none", "off"):
            return None
        return Path(chosen) if Path(chosen).is_file() else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return Path(found)
    return Path("/usr/bin/chromium") if Path("/usr/bin/chromium").is_file() else None


def _connect(url: str):
    from websockets.sync.client import connect

    return connect(url, max_size=256 * 1024 * 1024, open_timeout=EVENT_LIMIT_SECONDS)


class Page:
    """One browser tab, driven over its own DevTools websocket; a Browser is its first tab."""

    def __init__(self, connection=None):
        self.events: list[dict[str, Any]] = []
        self._next_id = 0
        self._connection = connection

    def _enable(self) -> None:
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    def _receive(self) -> dict[str, Any]:
        try:
            return json.loads(self._connection.recv(timeout=EVENT_LIMIT_SECONDS))
        except TimeoutError:
            raise BrowserError(f"no answer from Chromium within {EVENT_LIMIT_SECONDS} s") from None

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one DevTools command and return its result (events that arrive meanwhile are kept)."""
        self._next_id += 1
        self._connection.send(json.dumps({"id": self._next_id, "method": method, "params": params}))
        while True:
            message = self._receive()
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise BrowserError(f"{method} failed: {message['error']}")
                return message["result"]
            self.events.append(message)

    def wait_for(self, method: str) -> dict[str, Any]:
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            message = self._receive()
            self.events.append(message)
            if message.get("method") == method:
                return message

    def open(self, url: str) -> None:
        """Navigate and wait until the page (and everything it loads) has loaded."""
        self.events.clear()
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str, await_promise: bool = False) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=await_promise)
        if "exceptionDetails" in result:
            raise BrowserError(f"script failed: {result['exceptionDetails'].get('text')} "
                               f"{result['exceptionDetails'].get('exception', {}).get('description', '')}")
        return result["result"].get("value")

    def print_pdf(self) -> bytes:
        """The open page printed to an A4 PDF, backgrounds included (the page's @page rule sets margins)."""
        result = self.call("Page.printToPDF", printBackground=True, preferCSSPageSize=True,
                           paperWidth=A4_INCHES[0], paperHeight=A4_INCHES[1], displayHeaderFooter=False)
        return base64.b64decode(result["data"])

    def screenshot(self) -> bytes:
        result = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        return base64.b64decode(result["data"])

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and failed loads seen since the page was opened."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(f"exception: {params['exceptionDetails'].get('text')}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(f"console.{params['type']}: {params.get('args')}")
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                found.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}")
        return found


class Browser(Page):
    """One headless Chromium, as a context manager; the browser is its first page (new_page opens more):

        with Browser(path) as browser:
            browser.open(Path("index.html").as_uri())
            browser.evaluate("document.title")
    """

    def __init__(self, chromium: Path, window: tuple[int, int] = (1280, 1800)):
        super().__init__()
        self.chromium = Path(chromium)
        self.window = window
        self._process: subprocess.Popen | None = None
        self._profile: Path | None = None
        self._port: int | None = None
        self._more_pages: list[Page] = []

    def __enter__(self) -> Self:
        self._profile = Path(tempfile.mkdtemp(prefix="ci-pipeline-chromium-"))
        self._process = subprocess.Popen(
            [str(self.chromium), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", "--no-default-browser-check", "--remote-debugging-port=0",
             "--remote-allow-origins=*", f"--user-data-dir={self._profile}",
             f"--window-size={self.window[0]},{self.window[1]}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        try:
            self._port = self._wait_for_port()
            with urllib.request.urlopen(f"http://127.0.0.1:{self._port}/json/list",
                                        timeout=EVENT_LIMIT_SECONDS) as answer:
                targets = json.load(answer)
            self._connection = _connect(next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page"))
            self._enable()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_for_port(self) -> int:
        port_file = self._profile / "DevToolsActivePort"
        deadline = time.monotonic() + STARTUP_LIMIT_SECONDS
        while not port_file.exists() or not port_file.read_text().strip():
            if self._process.poll() is not None:
                error = self._process.stderr.read().decode(errors="replace")[-1500:]
                raise BrowserError(f"{self.chromium} exited at start (code {self._process.returncode}): {error}")
            if time.monotonic() > deadline:
                raise BrowserError(f"{self.chromium} did not open its DevTools port within {STARTUP_LIMIT_SECONDS} s")
            time.sleep(0.05)
        return int(port_file.read_text().split()[0])

    def new_page(self) -> Page:
        """Another tab of this browser, with its own connection (so another thread can drive it)."""
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        page = Page(_connect(f"ws://127.0.0.1:{self._port}/devtools/page/{target}"))
        self._more_pages.append(page)
        page._enable()
        return page

    def __exit__(self, *exc) -> None:
        for page in self._more_pages:
            page._connection.close()
        self._more_pages.clear()
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=EVENT_LIMIT_SECONDS)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            if self._process.stderr:
                self._process.stderr.close()
            self._process = None
        if self._profile is not None:
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None
