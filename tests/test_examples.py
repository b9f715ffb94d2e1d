"""The example training script runs end to end on each store and stores what it logged."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from track import Status
from track.client import DEFAULT_URI
from track.persistence import get_protocol

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "train_mlp.py"
EPOCHS = 6


STORES = ["ephemeral", "file", "default", "sqlite"]


def store_args(kind: str, tmp_path: Path) -> tuple[list[str], str | None]:
    """Command-line arguments choosing the store, and the URI to read it back (None: cannot)."""
    uris = {
        "ephemeral": "ephemeral:",
        "file": f"file://{tmp_path / 'runs.json'}",
        "sqlite": f"sqlite:///{tmp_path / 'runs.db'}",
    }
    if kind == "default":
        return [], DEFAULT_URI  # relative URIs resolve in tmp_path, the test's working folder
    return ["--store", uris[kind]], None if kind == "ephemeral" else uris[kind]


def printed_report(stdout: str) -> dict[str, Any]:
    """The report the script prints last: from the line holding a lone ``{`` to the end."""
    lines = stdout.splitlines()
    return json.loads("\n".join(lines[lines.index("{") :]))


@pytest.mark.parametrize("kind", STORES)
def test_train_mlp_example(kind: str, tmp_path: Path) -> None:
    """train_mlp.py completes, prints a short report and stores every epoch and batch."""
    extra, uri = store_args(kind, tmp_path)
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), "--epochs", str(EPOCHS), "--samples", "1000", *extra],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr

    report = printed_report(done.stdout)
    assert report["status"] == {"name": "Completed", "value": 302}
    assert report["parameters"] == {
        "lr": 0.5,
        "epochs": EPOCHS,
        "batch_size": 64,
        "hidden": 32,
        "seed": 0,
        "samples": 1000,
    }
    assert report["metrics"]["val_acc"]["count"] == EPOCHS  # the short report is a digest
    assert report["metrics"]["val_acc"]["step"] == EPOCHS - 1
    assert report["metrics"]["batch_loss"]["count"] == EPOCHS * 13
    assert report["chronos"]["batch_time"]["count"] == EPOCHS * 13
    if uri is None:
        return

    store = get_protocol(uri)
    [trial] = store.fetch_trials({"project_id": "examples"})
    assert trial.status is Status.Completed
    assert trial.tags == {"model": "mlp", "data": "two_moons"}
    assert trial.metadata["train_size"] == 800
    assert [p[0] for p in trial.metrics["val_loss"]] == list(range(EPOCHS))
    assert len(trial.metrics["batch_loss"]) == EPOCHS * 13
    accuracy = [p[1] for p in trial.metrics["val_acc"]]
    assert accuracy[-1] > 0.8
    assert len(store.fetch_groups({"name": "mlp_two_moons"})) == 1
    store.close()
