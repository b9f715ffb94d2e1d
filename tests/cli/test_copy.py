"""``track copy SRC DST`` run as a real command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from track import TrackClient
from track.persistence import get_protocol


def test_track_copy_command(tmp_path: Path) -> None:
    """The command copies a file store into SQLite and prints what it copied."""
    source = f"file://{tmp_path / 'track.json'}"
    client = TrackClient(source, flush_interval=0.05)
    trial = client.new_trial(name="cli", parameters={"lr": 0.1})
    with trial:
        for step in range(10):
            trial.log_metrics(step=step, loss=1.0 / (step + 1))
    client.close()
    destination = f"sqlite:///{tmp_path / 'track.db'}"
    result = subprocess.run(
        [sys.executable, "-m", "track.cli", "copy", source, destination],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "1 trials (10 metric points)" in result.stdout
    store = get_protocol(destination)
    copied = store.fetch_trials({"name": "cli"})[0]
    assert [p[0] for p in copied.metrics["loss"]] == list(range(10))
    store.close()


def test_track_copy_bad_uri(tmp_path: Path) -> None:
    """An unknown scheme is reported in one line with exit code 2."""
    result = subprocess.run(
        [sys.executable, "-m", "track.cli", "copy", "nope://x", f"sqlite:///{tmp_path / 'a.db'}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "unknown store scheme 'nope'" in result.stderr
