"""The MLflow forwarder names the run's experiment, not the run, in ``describe()``."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import run_trial

from optional import require

require("mlflow", reason="needs mlflow-skinny (pip install track[mlflow])")


def test_describe_names_the_experiment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The trial "run" of project "fwd" lands in experiment "fwd", and describe() says so."""
    from track.forward.mlflow import MLflowForwarder

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # skinny has no SQL store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"file://{tmp_path / 'mlruns'}")
    forwarder = MLflowForwarder()
    run_trial(tmp_path, [forwarder])
    assert forwarder.run_name == "run" and forwarder.experiment_name == "fwd"
    assert f"mlflow run 'run' ({forwarder.run_id}) of experiment 'fwd' in " in str(
        forwarder.describe()
    )
