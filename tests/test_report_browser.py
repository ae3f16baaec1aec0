"""The goal report in a real browser: Debian's chromium, headless, driven over the DevTools protocol.

The test starts chromium itself, opens a goal page from file://, checks that every chart rendered with its
data points and that the page logged no console errors or exceptions, and saves a screenshot to
test-artifacts/goal_report.png. It skips only when chromium is missing and CI is not set.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from test_goals import make_inputs

from ci_pipeline.goals.progress import build_goal_progress
from ci_pipeline.report import write_report

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
# Generous bounds on waiting for the browser; nothing is asserted about how long it took.
STARTUP_LIMIT_SECONDS = 60
EVENT_LIMIT_SECONDS = 60


def _chromium() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    if os.environ.get("CI"):
        pytest.fail("chromium is missing in CI: .ci/run must install Debian's chromium (apt-get install -y chromium)")
    pytest.skip("chromium is not installed (/usr/bin/chromium) and CI is not set")


class DevTools:
    """A minimal DevTools protocol session on one page target."""

    def __init__(self, websocket_url: str):
        from websockets.sync.client import connect

        self.connection = connect(websocket_url, max_size=64 * 1024 * 1024, open_timeout=EVENT_LIMIT_SECONDS)
        self.next_id = 0
        self.events: list[dict] = []

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        self.connection.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.connection.recv(timeout=EVENT_LIMIT_SECONDS))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise AssertionError(f"{method} failed: {message['error']}")
                return message["result"]
            self.events.append(message)

    def wait_for(self, method: str) -> dict:
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            message = json.loads(self.connection.recv(timeout=EVENT_LIMIT_SECONDS))
            self.events.append(message)
            if message.get("method") == method:
                return message

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"]["value"]

    def close(self) -> None:
        self.connection.close()


def _start_browser(chromium: Path, profile: Path) -> tuple[subprocess.Popen, int]:
    process = subprocess.Popen(
        [str(chromium), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
         "--remote-debugging-port=0", "--remote-allow-origins=*", f"--user-data-dir={profile}",
         "--window-size=1280,1800", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    # With port 0 chromium picks a free port and writes it to DevToolsActivePort in the profile.
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + STARTUP_LIMIT_SECONDS
    while not port_file.exists() or not port_file.read_text().strip():
        if process.poll() is not None:
            raise AssertionError(f"chromium exited early: {process.stderr.read().decode(errors='replace')[-2000:]}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("chromium did not open its DevTools port")
        time.sleep(0.1)
    return process, int(port_file.read_text().split()[0])


def _page_websocket(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=EVENT_LIMIT_SECONDS) as answer:
        targets = json.load(answer)
    return next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")


def _errors(events: list[dict]) -> list[str]:
    found = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            found.append(f"exception: {params['exceptionDetails'].get('text')}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            found.append(f"console.{params['type']}: {params.get('args')}")
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            found.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}")
    return found


def test_goal_report_renders_in_chromium(tmp_path):
    chromium = _chromium()
    indicator_values, survey_results, goals, registry, survey_names = make_inputs(tmp_path)
    progress = build_goal_progress(indicator_values, survey_results, goals, registry, survey_names)
    index = write_report(progress, indicator_values, survey_results, goals, registry, tmp_path / "report",
                         "20250101T000000Z")
    profile = tmp_path / "profile"
    profile.mkdir()
    process, port = _start_browser(chromium, profile)
    try:
        session = DevTools(_page_websocket(port))
        try:
            for domain in ("Page", "Runtime", "Log"):
                session.call(f"{domain}.enable")
            pages = {}
            for page in (index, index.parent / "goal-completion.html"):
                session.events.clear()
                session.call("Page.navigate", url=page.as_uri())
                session.wait_for("Page.loadEventFired")
                pages[page.name] = {
                    "errors": _errors(session.events),
                    "charts": session.evaluate("document.querySelectorAll('svg.chart').length"),
                    "drawn": session.evaluate(
                        "Array.from(document.querySelectorAll('svg.chart'))"
                        ".filter(s => s.getBoundingClientRect().width > 0 && s.getBoundingClientRect().height > 0)"
                        ".length"),
                    "charts_with_points": session.evaluate(
                        "Array.from(document.querySelectorAll('svg.chart'))"
                        ".filter(s => s.querySelectorAll('circle.point').length > 0).length"),
                    "lines": session.evaluate(
                        "Array.from(document.querySelectorAll('svg.chart polyline.series'))"
                        ".filter(l => l.getBBox().width > 0).length"),
                    "title": session.evaluate("document.title"),
                }
            screenshot = session.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        finally:
            session.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=EVENT_LIMIT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(profile, ignore_errors=True)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "goal_report.png").write_bytes(base64.b64decode(screenshot["data"]))

    overview, completion = pages["index.html"], pages["goal-completion.html"]
    assert overview["errors"] == [] and completion["errors"] == []
    assert overview["title"] == "Goals and progress"
    # two indicators x (Oslo + 15 districts); the district without figures has an empty chart
    assert completion["charts"] == 32 and completion["drawn"] == 32
    assert completion["charts_with_points"] == 31
    assert completion["lines"] >= 30
    assert (ARTIFACTS / "goal_report.png").stat().st_size > 10_000
