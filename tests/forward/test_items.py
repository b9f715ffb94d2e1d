"""The forwarder base: one item that cannot be forwarded is skipped, a broken forwarder disabled."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from track import TrackClient, Trial
from track.forward import Forwarder, ItemError
from track.forward.base import MAX_CONSECUTIVE_FAILURES, Row
from track.persistence import get_protocol


class Recorder(Forwarder):
    """Keeps every metric row and media key it was given; ``fail`` decides what raises."""

    name = "recorder"

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[Any, dict[str, float]]] = []
        self.media: list[str] = []
        self.row_calls = 0

    def fail_rows(self, call: int) -> Exception | None:
        """What the ``call``-th ``log_rows`` call raises (None: it works)."""
        return None

    def log_rows(self, trial: Trial, rows: list[Row]) -> None:
        """Keep the rows, unless this call is one that fails."""
        self.row_calls += 1
        error = self.fail_rows(self.row_calls)
        if error is not None:
            raise error
        self.rows.extend((step, values) for step, _, values in rows)

    def log_media(self, trial: Trial, kind: str, key: str, entry: Any) -> None:
        """Refuse media whose key starts with "bad" (as wandb does a file that is no image)."""
        if key.startswith("bad"):
            raise ItemError(f"{key} is not an image")
        self.media.append(key)


def run(tmp_path: Path, forwarder: Forwarder, steps: int = 6) -> Trial:
    """Log ``loss`` for ``steps`` steps, one batch each, a "bad" image at steps 1 and 2."""
    uri = f"file://{tmp_path / 'store.json'}"
    client = TrackClient(uri, forward=[forwarder])
    trial = client.new_trial(name="items")
    with trial:
        for step in range(steps):
            trial.log_metrics(step=step, loss=float(step))
            if step in (1, 2):
                trial.log_metadata(images={f"bad-{step}": {"path": "x"}, "good": {"path": "y"}})
            trial.flush()
    client.close()
    return get_protocol(uri).get_trial(trial.trial)[0]


def losses(forwarder: Recorder) -> dict[Any, float]:
    """``{step: loss}`` as the forwarder received them."""
    return {step: values["loss"] for step, values in forwarder.rows if "loss" in values}


def test_item_error_is_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A refused item warns once per kind, the rest (and every later row) is forwarded."""
    caplog.set_level(logging.WARNING, logger="track.forward")
    forwarder = Recorder()
    stored = run(tmp_path, forwarder)
    assert losses(forwarder) == {s: float(s) for s in range(6)}
    assert forwarder.media == ["good"] and forwarder.enabled and stored.errors == []
    assert dict(forwarder.skipped) == {"images: ItemError": 2}
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "could not forward images 'bad-1'" in messages[0] and "carries on" in messages[0]
    assert "did not forward 2 items (2 x images: ItemError)" in messages[1]


class Flaky(Recorder):
    """Loses its connection for one call, then works again."""

    def fail_rows(self, call: int) -> Exception | None:
        """The second call fails."""
        return ConnectionError("connection reset") if call == 2 else None


def test_one_failure_is_not_broken(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A single I/O failure loses that item only, with a warning; the forwarder stays enabled."""
    caplog.set_level(logging.WARNING, logger="track.forward")
    forwarder = Flaky()
    stored = run(tmp_path, forwarder)
    assert losses(forwarder) == {s: float(s) for s in (0, 2, 3, 4, 5)}
    assert forwarder.enabled and stored.errors == [] and not forwarder.failures
    messages = [r.getMessage() for r in caplog.records]
    assert "failed on metrics (ConnectionError: connection reset)" in messages[0]
    assert "1 x metrics: ConnectionError" in messages[-1]


class Dead(Recorder):
    """Its server goes away after the first call."""

    def fail_rows(self, call: int) -> Exception | None:
        """Every call after the first fails."""
        return ConnectionError("server unreachable") if call > 1 else None


def test_repeated_failures_disable_and_record(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Failures in a row disable the forwarder, and the trial's errors say so; the store has all."""
    caplog.set_level(logging.WARNING, logger="track.forward")
    forwarder = Dead()
    stored = run(tmp_path, forwarder)
    assert losses(forwarder) == {0: 0.0} and not forwarder.enabled
    assert forwarder.row_calls == MAX_CONSECUTIVE_FAILURES + 1
    assert [p[1] for p in stored.metrics["loss"]] == [float(s) for s in range(6)]
    [error] = stored.errors
    assert "forwarder 'recorder' disabled" in error
    assert f"{MAX_CONSECUTIVE_FAILURES} failures in a row on metrics" in error
    assert "ConnectionError: server unreachable" in error
    assert sum("disabled while" in r.getMessage() for r in caplog.records) == 1
