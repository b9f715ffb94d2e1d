"""The CSV forwarder writes metrics.csv and config.json matching what track stored."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from helpers import PARAMETERS, run_trial, stepped

from track.forward.csv import CSVForwarder


def test_csv_matches_store(tmp_path: Path) -> None:
    """Every stepped point in metrics.csv equals track's stored point; config.json has the parameters."""
    out = tmp_path / "csv"
    stored = run_trial(tmp_path, [CSVForwarder(out)])
    rows = list(csv.DictReader((out / "metrics.csv").open(newline="")))
    for name in ("loss", "acc"):
        written = {int(r["step"]): float(r[name]) for r in rows if r["step"] and r[name]}
        assert written == stepped(stored, name)
    unstepped = [float(r["lr_seen"]) for r in rows if r["lr_seen"]]
    assert unstepped == [p[1] for p in stored.metrics["lr_seen"]]
    config = json.loads((out / "config.json").read_text())
    assert {k: config[k] for k in PARAMETERS} == PARAMETERS
    assert config["track_uid"] == stored.uid


def test_selected_by_environment(tmp_path: Path, monkeypatch) -> None:
    """TRACK_FORWARD=csv turns the CSV forwarder on without code changes."""
    monkeypatch.setenv("TRACK_FORWARD", "csv")
    stored = run_trial(tmp_path, None)
    assert (Path("track-csv") / stored.uid / "metrics.csv").exists()
