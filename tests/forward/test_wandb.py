"""The wandb forwarder in offline mode: read the run file back and compare with track's store."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import run_trial, stepped

pytest.importorskip("wandb", reason="needs wandb (pip install track[wandb])")

from wandb_reader import history


def test_wandb_offline_matches_store(tmp_path: Path) -> None:
    """Every stepped and unstepped point reaches the offline run, at its track step."""
    from track.forward.wandb import STEP_KEY, WandbForwarder

    stored = run_trial(tmp_path, [WandbForwarder(mode="offline", dir=tmp_path)])
    [run_file] = (tmp_path / "wandb").glob("offline-run-*/run-*.wandb")
    rows = history(run_file)
    for name in ("loss", "acc"):
        written = {r[STEP_KEY]: r[name] for r in rows if name in r}
        assert written == stepped(stored, name)
    assert [r["lr_seen"] for r in rows if "lr_seen" in r] == [
        p[1] for p in stored.metrics["lr_seen"]
    ]
