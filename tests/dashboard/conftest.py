"""Fixtures for the dashboard tests: a store filled by a real run, a running ``track ui``, a browser."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from optional import require, unavailable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sweep_example import run_sweep
from uiprocess import PASSWORD, USER, running_ui

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


@pytest.fixture(scope="module")
def example_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A file store holding the example sweep (4 trials, 200 steps each)."""
    uri = f"file://{tmp_path_factory.mktemp('ui') / 'sweep.json'}"
    run_sweep(uri)
    return uri


@pytest.fixture(scope="module")
def served(example_store: str) -> Iterator[str]:
    """The base URL of ``track ui`` serving the example store, from the real console script."""
    with running_ui(example_store) as url:
        yield url


@pytest.fixture(scope="module")
def users_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A users file (as ``track users add`` writes it) holding :data:`USER`."""
    from track.server.auth import save_user

    path = tmp_path_factory.mktemp("users") / "users.toml"
    save_user(str(path), USER, PASSWORD)
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Headless Debian chromium driven by Playwright (skipped without it, unless CI=true)."""
    if not os.path.exists(CHROMIUM):
        unavailable(f"{CHROMIUM} is missing: apt-get install -y chromium")
    playwright_api = require("playwright.sync_api")
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
