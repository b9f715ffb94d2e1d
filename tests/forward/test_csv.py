"""The CSV forwarder writes metrics.csv and config.json matching what track stored."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from helpers import PARAMETERS, run_trial, stepped

from track.forward.csv import CSVForwarder


def test_csv_matches_store(tmp_path: Path) -> None:
    """Every point in metrics.csv (``step`` and one column per metric) equals track's stored
    point; config.json is the parameters."""
    out = tmp_path / "csv"
    stored = run_trial(tmp_path, [CSVForwarder(out)])
    with (out / "metrics.csv").open(newline="") as file:
        reader = csv.DictReader(file)
        rows = list(reader)
    assert reader.fieldnames == ["step", "loss", "acc", "lr_seen"]
    for name in ("loss", "acc"):
        written = {int(r["step"]): float(r[name]) for r in rows if r["step"] and r[name]}
        assert written == stepped(stored, name)
    unstepped = [float(r["lr_seen"]) for r in rows if r["lr_seen"]]
    assert unstepped == [p[1] for p in stored.metrics["lr_seen"]]
    assert json.loads((out / "config.json").read_text()) == PARAMETERS


def test_csv_extras(tmp_path: Path) -> None:
    """``extras=True`` adds the time column (track's times) and the uid, name and metadata."""
    out = tmp_path / "csv"
    stored = run_trial(tmp_path, [CSVForwarder(out, extras=True)])
    with (out / "metrics.csv").open(newline="") as file:
        reader = csv.DictReader(file)
        rows = list(reader)
    assert reader.fieldnames == ["step", "time", "loss", "acc", "lr_seen"]
    times = {int(r["step"]): float(r["time"]) for r in rows if r["step"] and r["loss"]}
    assert times == {p[0]: p[2] for p in stored.metrics["loss"]}
    config = json.loads((out / "config.json").read_text())
    assert (config["track_uid"], config["name"]) == (stored.uid, "run")
    assert {k: config[k] for k in PARAMETERS} == PARAMETERS and "metadata" in config


def test_selected_by_environment(tmp_path: Path, monkeypatch) -> None:
    """TRACK_FORWARD=csv turns the CSV forwarder on without code changes."""
    monkeypatch.setenv("TRACK_FORWARD", "csv")
    stored = run_trial(tmp_path, None)
    assert (Path("track-csv") / stored.uid / "metrics.csv").exists()
