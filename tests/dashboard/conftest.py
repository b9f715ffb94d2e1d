"""Fixtures for the dashboard tests: a store filled by a real run, a running ``track ui``, a browser."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sweep_example import run_sweep

HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE.parent.parent / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(url: str, process: subprocess.Popen, deadline: float = 20.0) -> None:
    """Poll ``url`` until it answers, failing if the server exits or the deadline passes."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if process.poll() is not None:
            raise RuntimeError(f"track ui exited: {process.stderr.read().decode()}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {deadline}s")


@pytest.fixture(scope="module")
def example_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A file store holding the example sweep (4 trials, 200 steps each)."""
    uri = f"file://{tmp_path_factory.mktemp('ui') / 'sweep.json'}"
    run_sweep(uri)
    return uri


@pytest.fixture(scope="module")
def served(example_store: str) -> Iterator[str]:
    """The base URL of ``track ui`` serving the example store, from the real console script."""
    port = free_port()
    command = [
        shutil.which("track") or "track",
        "ui",
        "--store",
        example_store,
        "--port",
        str(port),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url + "/api/info", process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Headless Debian chromium driven by Playwright (skipped without it, unless CI=true)."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
        pytest.skip(f"{CHROMIUM} is missing")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    """A fresh page at 1400x900, closed after the test."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    yield context.new_page()
    context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """The folder screenshots go to (gitignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
