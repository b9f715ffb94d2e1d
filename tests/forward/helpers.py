"""A small training run through a TrackClient with forwarders, shared by the forwarder tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from track import TrackClient, Trial
from track.persistence import get_protocol

PARAMETERS = {"lr": 0.01, "batch": 32}


def run_trial(tmp_path: Path, forward: list[Any], steps: int = 20) -> Trial:
    """Log ``loss`` and ``acc`` for ``steps`` steps plus an unstepped series; the stored trial."""
    uri = f"file://{tmp_path / 'store.json'}"
    client = TrackClient(uri, forward=forward, flush_interval=0.05)
    client.set_project(name="fwd")
    trial = client.new_trial(name="run", parameters=dict(PARAMETERS))
    with trial:
        for step in range(steps):
            trial.log_metrics(step=step, loss=1.0 / (step + 1), acc=step * 0.05)
            if step % 5 == 0:
                trial.log_metrics(lr_seen=0.01 * (step + 1))
    client.close()
    return get_protocol(uri).get_trial(trial.trial)[0]


def stepped(trial: Trial, name: str) -> dict[int, float]:
    """``{step: value}`` of one stepped metric as track stored it."""
    return {p[0]: p[1] for p in trial.metrics[name]}
