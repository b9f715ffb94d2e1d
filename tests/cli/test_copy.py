"""``track copy SRC DST`` run as a real command: copy, merge a resumed run, dry run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from track.persistence import get_protocol
from track.persistence.protocol import TrialBatch
from track.structure import Trial


def copy(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m track.cli copy ARGS``."""
    return subprocess.run(
        [sys.executable, "-m", "track.cli", "copy", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def logged_run(uri: str) -> str:
    """Log a 10-step run into ``uri`` through the store interface; returns the trial's uid."""
    store = get_protocol(uri)
    trial = Trial(name="cli", parameters={"lr": 0.1})
    store.new_trial(trial)
    points = [("loss", step, 1.0 / (step + 1), 100.0 + step) for step in range(10)]
    store.log_trial_batch(
        trial, TrialBatch(metrics=points, status={"name": "Running", "value": 101})
    )
    store.close()
    return trial.uid


def test_track_copy_command(tmp_path: Path) -> None:
    """The command copies a file store into SQLite and prints what it copied."""
    source = f"file://{tmp_path / 'track.json'}"
    logged_run(source)
    destination = f"sqlite:///{tmp_path / 'track.db'}"
    result = copy(source, destination)
    assert result.returncode == 0, result.stderr
    assert "trials: 1 created (10 points), 0 merged (+0 points), 0 unchanged" in result.stdout
    store = get_protocol(destination)
    copied = store.fetch_trials({"name": "cli"})[0]
    assert [p[0] for p in copied.metrics["loss"]] == list(range(10))
    store.close()


def test_copy_merges_a_resumed_run_and_dry_run_moves_nothing(tmp_path: Path) -> None:
    """Resumed in SRC, a run's new points are listed by --dry-run, then merged by a copy."""
    source = f"file://{tmp_path / 'offline.json'}"
    destination = f"sqlite:///{tmp_path / 'central.db'}"
    uid = logged_run(source)
    assert copy(source, destination).returncode == 0
    src = get_protocol(source)
    trial = src.fetch_trials({"uid": uid})[0]
    points = [("loss", step, 0.01, 1000.0 + step) for step in range(10, 15)]
    src.log_trial_batch(trial, TrialBatch(metrics=points, tags={"resumed": True}))
    src.close()
    before = (tmp_path / "central.db").read_bytes()

    dry = copy("--dry-run", source, destination)
    assert dry.returncode == 0, dry.stderr
    assert f"would merge into trial {uid}: +5 points; tags resumed" in dry.stdout
    assert "dry run, nothing written" in dry.stdout and "1 to merge (+5 points)" in dry.stdout
    assert (tmp_path / "central.db").read_bytes() == before

    merged = copy("-v", source, destination)
    assert merged.returncode == 0, merged.stderr
    assert f"merge into trial {uid}: +5 points" in merged.stdout
    assert "1 merged (+5 points), 0 unchanged" in merged.stdout
    store = get_protocol(destination)
    copied = store.fetch_trials({"uid": uid})[0]
    assert [p[0] for p in copied.metrics["loss"]] == list(range(15))
    assert copied.tags["resumed"] is True
    store.close()

    again = copy(source, destination)
    assert "0 merged (+0 points), 1 unchanged" in again.stdout


def test_dry_run_into_a_missing_store_creates_nothing(tmp_path: Path) -> None:
    """A dry run into a store that does not exist says it would create it, and does not."""
    source = f"file://{tmp_path / 'offline.json'}"
    logged_run(source)
    (tmp_path / "empty").mkdir()
    result = copy("--dry-run", source, f"sqlite:///{tmp_path / 'empty' / 'central.db'}")
    assert result.returncode == 0, result.stderr
    assert "does not exist yet" in result.stdout and "1 to create (10 points)" in result.stdout
    assert os.listdir(tmp_path / "empty") == []


def test_copy_from_a_missing_source_creates_nothing(tmp_path: Path) -> None:
    """A source that does not exist is an error (exit 2); neither store is created."""
    result = copy(f"sqlite:///{tmp_path / 'nothere.db'}", f"sqlite:///{tmp_path / 'dst.db'}")
    assert result.returncode == 2
    assert "no store at" in result.stderr and "Traceback" not in result.stderr
    assert os.listdir(tmp_path) == []


def test_track_copy_bad_uri(tmp_path: Path) -> None:
    """An unknown scheme is reported in one line with exit code 2."""
    result = copy("nope://x", f"sqlite:///{tmp_path / 'a.db'}")
    assert result.returncode == 2 and "unknown store scheme 'nope'" in result.stderr
