"""Comet in offline mode: the forwarder and the comet:// store, read back from the archive."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from helpers import PARAMETERS, run_trial, stepped

from optional import require

require("comet_ml", reason="needs comet_ml (pip install track[comet])")


def archive_messages(folder: Path) -> list[dict[str, Any]]:
    """The messages of the one offline archive in ``folder``."""
    [archive] = folder.glob("*.zip")
    with zipfile.ZipFile(archive) as zipped:
        lines = zipped.read("messages.json").decode().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def metrics_of(messages: list[dict[str, Any]], name: str) -> list[tuple[Any, float]]:
    """``(step, value)`` of every logged point of metric ``name``."""
    return [
        (m["payload"]["metric"]["step"], m["payload"]["metric"]["metricValue"])
        for m in messages
        if m["type"] == "metric_msg" and m["payload"]["metric"]["metricName"] == name
    ]


def test_comet_forwarder_matches_store(tmp_path: Path) -> None:
    """Every point and parameter is in the offline archive, as track stored it."""
    from track.forward.comet import CometForwarder

    out = tmp_path / "comet"
    stored = run_trial(tmp_path, [CometForwarder("ws", "proj", offline_directory=str(out))])
    messages = archive_messages(out)
    for name in ("loss", "acc"):
        assert dict(metrics_of(messages, name)) == stepped(stored, name)
    assert [v for _, v in metrics_of(messages, "lr_seen")] == [
        p[1] for p in stored.metrics["lr_seen"]
    ]
    params = {
        m["payload"]["param"]["paramName"]: m["payload"]["param"]["paramValue"]
        for m in messages
        if m["type"] == "parameter_msg" and m["payload"]["param"]["source"] == "manual"
    }
    assert params == PARAMETERS


def test_comet_store_uri(tmp_path: Path) -> None:
    """make_comet_ml('comet://ws/proj?offline_directory=...') stores in memory and archives to Comet."""
    from track import TrackClient
    from track.persistence import make_comet_ml

    out = tmp_path / "archive"
    store = make_comet_ml(f"comet://ws/proj?offline_directory={out}")
    client = TrackClient(store)
    trial = client.new_trial(name="c", parameters={"x": 1})
    with trial:
        for step in range(5):
            trial.log_metrics(step=step, loss=float(step))
    kept = store.get_trial(trial.trial)[0]
    client.close()
    assert dict(metrics_of(archive_messages(out), "loss")) == stepped(kept, "loss")


def test_the_seed_path_names_the_moved_classes() -> None:
    """``track.persistence.cometml`` (Track 0.0.1's path) gives the classes of track.forward.comet."""
    from track.forward import comet
    from track.persistence import cometml

    assert cometml.CometProtocol is comet.CometProtocol
    assert cometml.CometForwarder is comet.CometForwarder
