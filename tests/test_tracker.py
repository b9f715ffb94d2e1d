"""The ezpz-style API: setup_tracker, Tracker, NullTracker, register_backend."""

from __future__ import annotations

import base64
import csv
from pathlib import Path
from typing import Any

import pytest

from track.persistence import get_protocol
from track.tracker import NullTracker, Tracker, TrackerBackend, register_backend, setup_tracker

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def test_track_and_csv(tmp_path: Path) -> None:
    """log/log_table/log_image/log_artifacts land in the track store and in the CSV output."""
    uri = f"file://{tmp_path / 'store.json'}"
    image = tmp_path / "plot.png"
    image.write_bytes(PNG)
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    tracker = setup_tracker(
        "ez", backends="track,csv", config={"lr": 0.1}, outdir=tmp_path / "out", uri=uri
    )
    for step in range(3):
        tracker.log({"loss": 1.0 - step / 10}, step=step)
    tracker.log_config({"epochs": 3})
    tracker.log_table("preds", ["x", "y"], [[1, 2], [3, 4]])
    tracker.log_image("plot", image, caption="one pixel")
    tracker.log_artifacts({"notes": str(notes)})
    trial = tracker.get_backend("track").trial.trial
    tracker.finish()
    [stored] = get_protocol(uri).get_trial(trial)
    assert [p[1] for p in stored.metrics["loss"]] == [1.0, 0.9, 0.8]
    assert stored.parameters == {"lr": 0.1} and stored.metadata["config"] == {"epochs": 3}
    assert stored.metadata["tables"]["preds"] == {"columns": ["x", "y"], "data": [[1, 2], [3, 4]]}
    assert base64.b64decode(stored.metadata["images"]["plot"]["base64"]) == PNG
    assert stored.metadata["artifacts"]["notes"]["size"] == 5
    assert stored.metadata["files"][str(notes)]["content"] == "hello"
    rows = list(csv.DictReader((tmp_path / "out" / "metrics.csv").open(newline="")))
    assert [float(r["loss"]) for r in rows] == [1.0, 0.9, 0.8]
    assert (tmp_path / "out" / "preds.csv").read_text().splitlines() == ["x,y", "1,2", "3,4"]


def test_null_tracker_off_rank_zero() -> None:
    """A non-zero rank and backends="none" get a NullTracker whose calls do nothing."""
    assert isinstance(setup_tracker(backends="track", rank=1), NullTracker)
    tracker = setup_tracker(backends="none")
    assert isinstance(tracker, NullTracker)
    tracker.log({"loss": 1.0})
    tracker.finish()
    assert tracker.get_backend("track") is None


class Recording(TrackerBackend):
    """A user backend that keeps what it receives, and breaks on log_table."""

    name = "recording"

    def __init__(
        self, project_name: Any, config: Any, outdir: Any, rank: Any, **kwargs: Any
    ) -> None:
        self.logged: list[tuple[dict[str, Any], Any]] = []

    def log(self, metrics: dict[str, Any], step: int | None = None, commit: bool = True) -> None:
        """Keep the call."""
        self.logged.append((metrics, step))

    def log_config(self, config: dict[str, Any]) -> None:
        """Ignore."""

    def finish(self) -> None:
        """Ignore."""

    def log_table(self, key: str, columns: list[str], data: list[list[Any]]) -> None:
        """Break."""
        raise RuntimeError("no tables here")


def test_registered_backend_and_failure(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A registered backend receives calls; one that raises is warned about once and dropped."""
    register_backend("recording", Recording)
    tracker = setup_tracker("ez", backends="track,recording", uri=f"file://{tmp_path / 's.json'}")
    backend = tracker.get_backend("recording")
    tracker.log({"a": 1.0}, step=0)
    tracker.log_table("t", ["c"], [[1]])
    tracker.log_table("t", ["c"], [[2]])
    tracker.log({"a": 2.0}, step=1)
    tracker.finish()
    assert isinstance(tracker, Tracker)
    assert backend.logged == [({"a": 1.0}, 0)]
    assert sum("recording" in r.getMessage() for r in caplog.records) == 1
