"""The report layout and value conversions of track.serialization."""

from __future__ import annotations

from pathlib import Path

import pytest

from track.client import TrackClient
from track.serialization import UnserializableValue, jsonable, metric_value, report_doc
from track.structure import Status, Trial


def test_short_report_trims_series_and_package_list() -> None:
    """report(short=True) keeps the last 10 points and counts the installed packages."""
    trial = Trial(
        parameters={"lr": 0.1},
        metadata={"environment": {"python": {"version": "3"}, "packages": {"a": "1", "b": "2"}}},
        metrics={"loss": [[step, 1.0 / (step + 1), 0.0] for step in range(30)]},
        status=Status.Completed,
    )
    short = report_doc(trial, short=True)
    assert list(short["metrics"]["loss"]) == [str(step) for step in range(20, 30)]
    assert short["metadata"]["environment"]["packages"].startswith("2 installed")
    assert short["metadata"]["environment"]["python"] == {"version": "3"}
    full = report_doc(trial)
    assert len(full["metrics"]["loss"]) == 30
    assert full["metadata"]["environment"]["packages"] == {"a": "1", "b": "2"}
    assert full["status"] == {"name": "Completed", "value": 302}


def test_unstorable_values_name_their_key() -> None:
    """A value no store can hold raises an error that names the key it was logged under."""
    with pytest.raises(UnserializableValue, match="'loss'"):
        metric_value("loss", "high")
    with pytest.raises(UnserializableValue, match="opt"):
        jsonable("opt", {"fn": object()})


def test_a_string_step_holding_nul_is_refused_with_the_step_named(tmp_path: Path) -> None:
    """PostgreSQL text cannot hold NUL: such a step is refused at the log call on every store,
    rather than failing the flush on one."""
    from track.serialization import step_value

    assert step_value("epoch-1") == "epoch-1"
    with pytest.raises(UnserializableValue, match="NUL"):
        step_value("a\x00b")
    client = TrackClient(f"sqlite:///{tmp_path / 'track.db'}")
    trial = client.new_trial(name="nul")
    with pytest.raises(UnserializableValue, match="NUL"):
        trial.log_metrics(step="a\x00b", loss=1.0)
    trial.log_metrics(step="ok", loss=1.0)
    client.close()


def test_ints_beyond_int64_are_refused_at_the_log_call_on_every_store(store_uri: str) -> None:
    """SQL stores keep steps and values as 64-bit numbers: an int past either end, plain or
    numpy, is refused at the call, naming its key, on every store alike; the int64 edges are
    kept, and what else was logged is saved (the flush is never blocked by such a point)."""
    import numpy as np

    from track.serialization import step_value

    edges = [-(2**63), 2**63 - 1]
    for number in edges:
        assert metric_value("m", number) == number and step_value(number) == number
    for number in (2**63, -(2**63) - 1, 2**300, np.uint64(2**63)):
        with pytest.raises(UnserializableValue, match=r"'hash'.*outside int64"):
            metric_value("hash", number)
        with pytest.raises(UnserializableValue, match=r"step.*outside int64"):
            step_value(number)
    client = TrackClient(store_uri)
    trial = client.new_trial(name="big")
    trial.log_metrics(step=edges[0], loss=edges[1])
    with pytest.raises(UnserializableValue, match="'hash'"):
        trial.log_metrics(step=1, loss=5, hash=2**100)
    with pytest.raises(UnserializableValue, match="step"):
        trial.log_metrics(step=2**64, loss=6)
    trial.log_metrics(step=2, loss=7)
    client.save()
    (stored,) = client.protocol.fetch_trials({"uid": trial.uid})
    points = client.protocol.get_trial_metrics(stored)
    assert [point[:2] for point in points["loss"]] == [edges, [2, 7]] and list(points) == ["loss"]
    client.close()
