"""The MLflow forwarder: read back through MLflow's own client and compare with track's store."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import PARAMETERS, run_trial, stepped

from optional import require

require("mlflow", reason="needs mlflow-skinny (pip install track[mlflow])")


def test_mlflow_matches_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every point, the parameters and the FINISHED status reach a local MLflow file store."""
    from mlflow.tracking import MlflowClient

    from track.forward.mlflow import MLflowForwarder

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # skinny has no SQL store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"file://{tmp_path / 'mlruns'}")
    stored = run_trial(tmp_path, [MLflowForwarder()])
    client = MlflowClient()
    [run] = client.search_runs([client.get_experiment_by_name("fwd").experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name == "run"
    assert {k: run.data.params[k] for k in PARAMETERS} == {k: str(v) for k, v in PARAMETERS.items()}
    for name in ("loss", "acc"):
        history = client.get_metric_history(run.info.run_id, name)
        assert {m.step: m.value for m in history} == stepped(stored, name)
        times = {p[0]: int(p[2] * 1000) for p in stored.metrics[name]}
        assert {m.step: m.timestamp for m in history} == times
    unstepped = client.get_metric_history(run.info.run_id, "lr_seen")
    assert [m.value for m in sorted(unstepped, key=lambda m: m.step)] == [
        p[1] for p in stored.metrics["lr_seen"]
    ]
