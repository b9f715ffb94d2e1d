"""The ezpz-style API: setup_tracker, Tracker, NullTracker, register_backend."""

from __future__ import annotations

import base64
import csv
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from track.forward.base import MAX_CONSECUTIVE_FAILURES
from track.persistence import get_protocol
from track.structure import Status, Trial
from track.tracker import (
    SUMMARY_MAX_CHARS,
    NullTracker,
    Tracker,
    TrackerBackend,
    register_backend,
    setup_tracker,
)

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


def stored(tracker: Tracker, uri: str) -> Trial:
    """The tracker's trial as its store keeps it (after ``finish``)."""
    backend = tracker._backend_map["track"]
    trial = backend.trial.trial
    if uri.startswith("ephemeral"):
        store = backend.client.protocol
        return getattr(store, "store", store).get_trial(trial)[0]
    return get_protocol(uri).get_trial(trial)[0]


def csv_rows(folder: Path) -> list[dict[str, str]]:
    """The rows of ``metrics.csv`` in ``folder``."""
    with (folder / "metrics.csv").open(newline="") as file:
        return list(csv.DictReader(file))


def test_string_value_keeps_the_run(store_uri: str, caplog: pytest.LogCaptureFixture) -> None:
    """One string among the metrics: every loss is stored and in the CSV, the string in summary."""
    caplog.set_level(logging.WARNING)
    tracker = setup_tracker(project_name="p", backends="track,csv", outdir="out", uri=store_uri)
    tracker.log({"loss": 0.9}, step=0)
    tracker.log({"loss": 0.8, "phase": "train"}, step=1)
    tracker.log({"loss": 0.7}, step=2)
    tracker.log({"loss": 0.6}, step=3)
    active = [tracker.get_backend(name) is not None for name in ("track", "csv")]
    tracker.finish()
    trial = stored(tracker, store_uri)
    assert [(p[0], p[1]) for p in trial.metrics["loss"]] == [(0, 0.9), (1, 0.8), (2, 0.7), (3, 0.6)]
    assert "phase" not in trial.metrics and trial.metadata["summary"] == {"phase": "train"}
    assert trial.status is Status.Completed and trial.errors == [] and active == [True, True]
    rows = csv_rows(Path("out"))
    assert [(r["step"], float(r["loss"])) for r in rows] == [
        ("0", 0.9),
        ("1", 0.8),
        ("2", 0.7),
        ("3", 0.6),
    ]
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "'phase'" in warnings[0] and "summary.phase" in warnings[0]


def test_metrics_named_like_log_metrics_arguments_are_logged(tmp_path: Path) -> None:
    """``step``, ``reduce`` and ``aggregator`` are metric names like any other in ``log``."""
    uri = f"file://{tmp_path / 'store.json'}"
    tracker = setup_tracker(project_name="p", backends="track", uri=uri)
    tracker.log({"step": 3.0, "reduce": 0.5, "aggregator": 2.0, "loss": 0.1}, step=7)
    tracker.finish()
    trial = stored(tracker, uri)
    assert {name: [(p[0], p[1]) for p in points] for name, points in trial.metrics.items()} == {
        "step": [(7, 3.0)],
        "reduce": [(7, 0.5)],
        "aggregator": [(7, 2.0)],
        "loss": [(7, 0.1)],
    }
    assert trial.status is Status.Completed and trial.errors == []


class Opaque:
    """A value that is neither a number nor JSON."""


def test_value_kinds(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """numpy/torch scalars are metrics; strings last-value-win in summary; the rest refused by key."""
    caplog.set_level(logging.WARNING, logger="track.tracker")
    uri = f"sqlite:///{tmp_path / 's.db'}"
    tracker = setup_tracker("p", backends="track", uri=uri)
    for step in range(3):
        tracker.log(
            {
                "np": np.float32(step),
                "t": torch.tensor(step * 2.0),
                "ok": True,
                "phase": ["train", "eval", "test"][step],
                "obj": Opaque(),
                "big": list(range(SUMMARY_MAX_CHARS)),
                "pair": (step, "x"),
            },
            step=step,
        )
    tracker.finish()
    trial = stored(tracker, uri)
    assert {n: [p[1] for p in trial.metrics[n]] for n in ("np", "t", "ok")} == {
        "np": [0.0, 1.0, 2.0],
        "t": [0.0, 2.0, 4.0],
        "ok": [1, 1, 1],
    }
    assert trial.metadata["summary"] == {"phase": "test", "pair": [2, "x"]}
    assert not {"phase", "obj", "big", "pair"} & set(trial.metrics)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 4
    for key in ("phase", "obj", "big", "pair"):
        assert sum(f"value {key!r}" in m for m in messages) == 1


class Recording(TrackerBackend):
    """A user backend that keeps what it receives; ``fail`` maps a method to what it raises."""

    name = "recording"
    fail: dict[str, Exception] = {}

    def __init__(
        self, project_name: Any, config: Any, outdir: Any, rank: Any, **kwargs: Any
    ) -> None:
        self.logged: list[tuple[dict[str, Any], Any]] = []
        self.tables = 0
        self.finished = False

    def log(self, metrics: dict[str, Any], step: int | None = None, commit: bool = True) -> None:
        """Keep the call, or raise for a string value like a numbers-only tracker would."""
        if any(isinstance(v, str) for v in metrics.values()):
            raise TypeError("only numbers")
        self.logged.append((metrics, step))

    def log_config(self, config: dict[str, Any]) -> None:
        """Ignore."""

    def finish(self) -> None:
        """Remember."""
        self.finished = True

    def log_table(self, key: str, columns: list[str], data: list[list[Any]]) -> None:
        """Count, or raise what ``fail`` says."""
        self.tables += 1
        if "log_table" in self.fail:
            raise self.fail["log_table"]


def test_backend_value_error_keeps_backend(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A backend refusing a value is warned about once and keeps receiving the later calls."""
    caplog.set_level(logging.WARNING, logger="track.tracker")
    register_backend("recording", Recording)
    Recording.fail = {}
    uri = f"file://{tmp_path / 's.json'}"
    tracker = setup_tracker("ez", backends="track,recording", uri=uri)
    backend = tracker.get_backend("recording")
    for step in range(5):
        tracker.log({"a": float(step), "tag": "x"} if step % 2 else {"a": float(step)}, step=step)
    tracker.finish()
    assert backend.logged == [({"a": 0.0}, 0), ({"a": 2.0}, 2), ({"a": 4.0}, 4)]
    assert backend.finished and stored(tracker, uri).errors == []
    assert sum("'recording'" in r.getMessage() for r in caplog.records) == 1


def test_backend_disabled_after_repeated_failures(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A backend failing N calls in a row is disabled, warned about, and named in the trial's errors."""
    caplog.set_level(logging.WARNING, logger="track.tracker")
    register_backend("recording", Recording)
    down = {"log_table": ConnectionError("server down")}
    Recording.fail = down
    uri = f"file://{tmp_path / 's.json'}"
    tracker = setup_tracker("ez", backends="track,recording", uri=uri)
    backend = tracker.get_backend("recording")
    tracker.log({"a": 1.0}, step=0)
    for _ in range(MAX_CONSECUTIVE_FAILURES - 1):
        tracker.log_table("t", ["c"], [[1]])
    Recording.fail = {}
    tracker.log_table("t", ["c"], [[2]])  # a success resets the count
    Recording.fail = down
    for _ in range(MAX_CONSECUTIVE_FAILURES + 2):
        tracker.log_table("t", ["c"], [[3]])
    tracker.log({"a": 2.0}, step=1)
    tracker.finish()
    assert backend.tables == 2 * MAX_CONSECUTIVE_FAILURES
    assert backend.logged == [({"a": 1.0}, 0)] and backend.finished
    assert tracker.get_backend("recording") is None
    trial = stored(tracker, uri)
    assert [p[1] for p in trial.metrics["a"]] == [1.0, 2.0] and trial.status is Status.Completed
    [error] = trial.errors
    assert "'recording' disabled" in error and "ConnectionError: server down" in error
    messages = [r.getMessage() for r in caplog.records if "'recording'" in r.getMessage()]
    assert len(messages) == 2 and "failure 1 of" in messages[0]
    assert (
        f"disabled after {MAX_CONSECUTIVE_FAILURES} failures in a row in log_table" in messages[1]
    )


def test_csv_forwarder_io_failure_is_recorded(
    store_uri: str, caplog: pytest.LogCaptureFixture
) -> None:
    """CSV output that becomes unwritable: the forwarder is disabled, the trial's errors say so."""
    caplog.set_level(logging.WARNING, logger="track.forward")
    out = Path("out")
    tracker = setup_tracker("p", backends="track,csv", outdir=out, uri=store_uri)
    logger = tracker.get_backend("track").trial
    tracker.log({"loss": 1.0}, step=0)
    logger.flush()
    shutil.rmtree(out)
    out.write_text("a regular file where the output folder was\n")
    for step in range(1, 6):
        tracker.log({"loss": 1.0 - step / 10}, step=step)
        logger.flush()
    tracker.finish()
    assert tracker.get_backend("csv") is None
    trial = stored(tracker, store_uri)
    assert [p[0] for p in trial.metrics["loss"]] == [0, 1, 2, 3, 4, 5]
    assert trial.status is Status.Completed
    [error] = trial.errors
    assert "forwarder 'csv' disabled" in error and "NotADirectoryError" in error
    assert sum("disabled while" in r.getMessage() for r in caplog.records) == 1


def test_csv_forwarder_that_cannot_start_is_recorded(tmp_path: Path) -> None:
    """A CSV folder under a regular file: the forwarder never starts and the trial's errors say so."""
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    uri = f"file://{tmp_path / 's.json'}"
    tracker = setup_tracker("p", backends="track,csv", outdir=blocker / "out", uri=uri)
    tracker.log({"loss": 1.0}, step=0)
    assert tracker.get_backend("csv") is None
    tracker.finish()
    trial = stored(tracker, uri)
    assert [p[1] for p in trial.metrics["loss"]] == [1.0]
    [error] = trial.errors
    assert "forwarder 'csv' disabled" in error and "could not start" in error
