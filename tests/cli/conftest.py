"""Fixtures for the command-line tests: a store filled by the example sweep."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "dashboard"))
from sweep_example import run_sweep


@pytest.fixture(scope="module")
def sweep_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A file store holding the example sweep (4 trials of project demo, group sweep)."""
    uri = f"file://{tmp_path_factory.mktemp('cli') / 'sweep.json'}"
    run_sweep(uri, trials=4, steps=50)
    return uri
