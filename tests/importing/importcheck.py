"""Shared checks of the importer tests: read the imported trials back and run ``track import``."""

from __future__ import annotations

import math
import subprocess
import sys
from typing import Any

from track.persistence import get_protocol
from track.structure import Trial


def imported(uri: str) -> dict[str, tuple[Trial, dict[str, list[list[Any]]]]]:
    """Every trial of the store, with its full series, by the source run key it was imported from."""
    store = get_protocol(uri)
    try:
        out = {}
        for trial in store.fetch_trials(None, with_metrics=False):
            out[trial.metadata["imported_from"]["run"]] = (trial, store.get_trial_metrics(trial))
        return out
    finally:
        store.close()


def same_points(got: list[list[Any]], expected: list[tuple[Any, float, float]]) -> bool:
    """Point by point: same steps and values, wall times equal within float precision."""
    if len(got) != len(expected):
        return False
    for (step, value, when), (xstep, xvalue, xwhen) in zip(
        sorted(got, key=lambda p: (p[0], p[2])),
        sorted(expected, key=lambda p: (p[0], p[2])),
        strict=True,
    ):
        if step != xstep or not math.isclose(value, xvalue, rel_tol=1e-6, abs_tol=1e-7):
            return False
        if not math.isclose(when, xwhen, rel_tol=0, abs_tol=1e-3):
            return False
    return True


def track_import(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``track import ARGS`` in a real subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "track.cli", "import", *args], capture_output=True, text=True
    )
