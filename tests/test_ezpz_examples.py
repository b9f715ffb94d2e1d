"""The examples of the ezpz.tracker documentation (seed 004), run as written with track's imports.

Each example's code is copied verbatim (only ``ezpz.tracker`` reads ``track.tracker``, and the
seed's ``WandbBackend(...)`` placeholder gets a project name); wandb runs offline, so nothing
needs a network or a GPU. The outputs are read back with wandb's record format and ``csv``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from optional import require

require("wandb", reason="needs wandb (pip install track[wandb])")
require("torch")

import torch  # noqa: E402

from forward.wandb_reader import history, run_file, run_record  # noqa: E402


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """wandb writes its run files locally, as ``WANDB_MODE=offline`` does for any script."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    for name in ("EZPZ_TRACKER_BACKENDS", "WB_PROJECT", "WANDB_PROJECT", "WB_PROJECT_NAME"):
        monkeypatch.delenv(name, raising=False)


def wandb_file(folder: Path) -> Path:
    """The one offline run file under ``folder``, complete."""
    return run_file(folder)


def csv_table(folder: Path) -> list[list[str]]:
    """``metrics.csv`` of ``folder``, header first."""
    with (folder / "metrics.csv").open(newline="") as file:
        return list(csv.reader(file))


def test_setup_tracker_example() -> None:
    """The module example: wandb and metrics.csv (``step`` plus one column per metric) get both values."""
    from track.tracker import setup_tracker

    tracker = setup_tracker(
        project_name="my-project",
        backends="wandb,csv",
        outdir="outputs/run-001",
    )
    tracker.log({"loss": 0.42, "lr": 1e-4})
    tracker.finish()

    run_file = wandb_file(Path("outputs/run-001"))
    assert run_record(run_file)["project"] == "my-project"
    assert [(r["loss"], r["lr"]) for r in history(run_file) if "loss" in r] == [(0.42, 1e-4)]
    assert csv_table(Path("outputs/run-001")) == [["step", "loss", "lr"], ["", "0.42", "0.0001"]]


def test_tracker_of_backends_example() -> None:
    """The Tracker example: a WandbBackend and a CSVBackend built directly both get the loss."""
    from track.tracker import CSVBackend, Tracker, WandbBackend

    tracker = Tracker([WandbBackend(project_name="my-project"), CSVBackend("./logs")])
    tracker.log({"loss": 0.5})
    tracker.finish()

    run_file = wandb_file(Path("."))
    assert run_record(run_file)["project"] == "my-project"
    assert [r["loss"] for r in history(run_file) if "loss" in r] == [0.5]
    assert csv_table(Path("logs")) == [["step", "loss"], ["", "0.5"]]


def test_get_backend_watch_example() -> None:
    """The get_backend example: watch(model, log="all") hooks the model and training still runs."""
    from track.tracker import setup_tracker

    tracker = setup_tracker(project_name="my-project", backends="wandb", outdir="out")
    model = torch.nn.Linear(4, 1)

    wb = tracker.get_backend("wandb")
    if wb is not None:
        wb.watch(model, log="all")

    assert wb is not None and tracker.wandb_run is not None
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for step in range(3):
        loss = model(torch.ones(8, 4)).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        tracker.log({"loss": loss.item()}, step=step)
    tracker.finish()
    assert len([r for r in history(wandb_file(Path("out"))) if "loss" in r]) == 3
