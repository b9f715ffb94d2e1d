"""A forwarder that raises on every call is disabled after one warning; the store keeps everything."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from helpers import run_trial, stepped

from track.forward import Forwarder
from track.forward.csv import CSVForwarder


class Exploding(Forwarder):
    """Raises on every call, like a tracker whose server is down."""

    name = "exploding"

    def start(self, trial) -> None:
        """Fail to start."""
        raise ConnectionError("server unreachable")

    def log_rows(self, trial, rows) -> None:
        """Fail to log."""
        raise ConnectionError("server unreachable")


def test_failing_forwarder(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The track store and a healthy forwarder get every point; one warning names the broken one."""
    caplog.set_level(logging.WARNING, logger="track.forward")
    broken = Exploding()
    stored = run_trial(tmp_path, [broken, CSVForwarder(tmp_path / "csv")])
    assert stepped(stored, "loss") == {s: 1.0 / (s + 1) for s in range(20)}
    warnings = [r for r in caplog.records if "exploding" in r.getMessage()]
    assert len(warnings) == 1 and not broken.enabled
    assert (tmp_path / "csv" / "metrics.csv").read_text().count("\n") == 20 + 4 + 1


def test_unknown_forwarder_warns_and_run_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A forwarder name that cannot start is reported once and left out."""
    caplog.set_level(logging.WARNING, logger="track.forward")
    stored = run_trial(tmp_path, ["nosuch"])
    assert len(stored.metrics["loss"]) == 20
    assert sum("nosuch" in r.getMessage() for r in caplog.records) == 1
