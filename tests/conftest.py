"""Fixtures shared by the whole suite.

``store_uri`` parametrizes a test over every store kind, so that one behavioural suite runs
against all of them. Each entry of ``STORE_KINDS`` maps a test id to a function building a
fresh, empty store URI inside the test's temporary folder (and, for databases, a fresh
database that is dropped afterwards). Store modules add their kinds here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


@contextmanager
def _ephemeral(tmp_path: Path) -> Iterator[str]:
    yield "ephemeral:"


@contextmanager
def _file(tmp_path: Path) -> Iterator[str]:
    yield f"file://{tmp_path / 'store.json'}"


@contextmanager
def _pickled(tmp_path: Path) -> Iterator[str]:
    yield f"pickled://{tmp_path / 'store.pkl'}"


#: test id -> context manager yielding a fresh store URI
STORE_KINDS: dict[str, Callable[[Path], contextmanager]] = {
    "ephemeral": _ephemeral,
    "file": _file,
    "pickled": _pickled,
}

#: stores that another process can open (ephemeral lives in one process only)
SHARED_STORE_KINDS = [k for k in STORE_KINDS if k != "ephemeral"]


@pytest.fixture(params=list(STORE_KINDS))
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store of each kind."""
    with STORE_KINDS[request.param](tmp_path) as uri:
        yield uri


@pytest.fixture(params=SHARED_STORE_KINDS)
def shared_store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh store of each kind that several processes can open at once."""
    with STORE_KINDS[request.param](tmp_path) as uri:
        yield uri


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Run each test in its own folder with no TRACK_* or ORION_* variables leaking in."""
    for name in list(os.environ):
        if name.startswith(("TRACK_", "ORION_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
