"""A series too long to read for a chart is drawn from the chunk summaries its store keeps."""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from optional import require

require("starlette")
with warnings.catch_warnings():  # starlette 1.x nudges towards httpx2; httpx is what dev installs
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

import track.dashboard.app  # noqa: E402
from track.dashboard.app import create_app  # noqa: E402
from track.persistence import get_protocol  # noqa: E402
from track.persistence.protocol import Protocol, TrialBatch  # noqa: E402
from track.structure import Trial  # noqa: E402

#: the threshold is 1,000,000 points; the tests lower it (what they check is the branch, and
#: 300,000 points are already 37 chunks, each giving its min, max and last value)
PREVIEW_FROM = 250_000
LONG = 300_000
SPIKE, DIP = 277_777, 123_456  # steps of the one highest and the one lowest value


def wave(step: int) -> float:
    """A slow wave with one spike and one dip, which any honest chart of it must show."""
    if step == SPIKE:
        return 50.0
    if step == DIP:
        return -50.0
    return math.sin(step / 10_000)


def fill(protocol: Protocol, trial: Trial, name: str, count: int) -> None:
    """Write ``count`` points of ``wave`` in flush-sized batches."""
    for seq, first in enumerate(range(0, count, 100_000), 1):
        metrics = [
            (name, s, wave(s), 1000.0 + s) for s in range(first, min(count, first + 100_000))
        ]
        protocol.log_trial_batch(trial, TrialBatch(writer="w", seq=seq, metrics=metrics))


@pytest.fixture(autouse=True)
def lower_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(track.dashboard.app, "PREVIEW_FROM", PREVIEW_FROM)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Protocol]:
    protocol = get_protocol(f"sqlite:///{tmp_path / 'track.db'}")
    yield protocol
    protocol.close()


def test_a_long_series_is_drawn_from_its_chunk_summaries(store: Protocol) -> None:
    """Above PREVIEW_FROM points the chart comes from the summaries: up to three points a chunk
    (its min, max and last value), the spike and the dip kept at their steps and times, and ``total`` the whole series (the next
    live request asks only for what follows); a short series of the same trial is read whole."""
    trial = store.new_trial(Trial(name="long", parameters={"n": LONG}))
    fill(store, trial, "loss", LONG)
    store.log_trial_batch(trial, TrialBatch(metrics=[("acc", s, s / 10, 2.0) for s in range(10)]))
    url = f"/api/trials/{trial.uid}/metrics"
    with TestClient(create_app(store), base_url="http://127.0.0.1") as http:
        body = http.get(url).json()
        loss = body["loss"]
        assert loss["preview"] is True and loss["total"] == LONG and loss["from"] == 0
        assert 37 <= len(loss["value"]) <= 3 * 37
        drawn = dict(zip(loss["step"], loss["value"], strict=True))
        assert drawn[SPIKE] == 50.0 and drawn[DIP] == -50.0
        assert loss["time"][loss["value"].index(50.0)] == 1000.0 + SPIKE
        assert loss["step"] == sorted(loss["step"]) and 0 <= loss["step"][0] < LONG
        assert all(-1.0 <= v <= 1.0 for v in loss["value"] if abs(v) != 50.0)
        assert "preview" not in body["acc"] and body["acc"]["step"] == list(range(10))

        store.log_trial_batch(trial, TrialBatch(metrics=[("loss", LONG, 0.5, 9.0)]))
        since = {"since": json.dumps({"loss": LONG, "acc": 10})}
        new = http.get(url, params=since).json()
        assert new == {
            "loss": {
                "step": [LONG],
                "time": [9.0],
                "value": [0.5],
                "from": LONG,
                "total": LONG + 1,
                "dropped": 0,
            },
        }, "only the new point travels, read whole"


def test_a_store_without_chunks_sends_the_long_series_downsampled_from_its_points(
    tmp_path: Path,
) -> None:
    """A file store keeps no chunk summaries: the same request reads the points instead."""
    protocol = get_protocol(f"file://{tmp_path / 'track.json'}")
    trial = protocol.new_trial(Trial(name="long", parameters={"n": LONG}))
    fill(protocol, trial, "loss", LONG)
    assert protocol.get_series_previews(trial, ["loss"]) == {}
    with TestClient(create_app(protocol), base_url="http://127.0.0.1") as http:
        loss = http.get(f"/api/trials/{trial.uid}/metrics").json()["loss"]
    protocol.close()
    assert "preview" not in loss and loss["total"] == LONG and len(loss["value"]) <= 2002
    assert 50.0 in loss["value"] and -50.0 in loss["value"]
