"""``track import mlflow``: runs written with MLflow's client, imported, compared point by point."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from importcheck import imported, same_points, track_import

from optional import require

require("mlflow", reason="needs mlflow-skinny (pip install track[mlflow])")

T0 = 1_700_000_000_000  # ms


def write_runs(root: Path) -> tuple[str, dict[str, dict[str, Any]]]:
    """Three MLflow runs (two with the same parameters) in a local store; what each holds."""
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    uri = f"file://{root / 'mlruns'}"
    client = MlflowClient(uri)
    expected: dict[str, dict[str, Any]] = {}
    for experiment, name, status, offset in [
        ("vision", "a", "FINISHED", 0),
        ("vision", "b", "FAILED", 1),
        ("speech", "c", "KILLED", 2),
    ]:
        exp = client.get_experiment_by_name(experiment)
        exp_id = exp.experiment_id if exp else client.create_experiment(experiment)
        run = client.create_run(exp_id, run_name=name, tags={"team": "ml", "seed": str(offset)})
        run_id = run.info.run_id
        series: dict[str, list[tuple[Any, float, float]]] = {"loss": [], "acc": []}
        metrics = []
        for step in range(150):
            ms = T0 + offset * 10_000_000 + step * 1_000 + 7
            for key, value in (("loss", 1.0 / (step + 1) + offset), ("acc", step * 0.001)):
                metrics.append(Metric(key, value, ms, step))
                series[key].append((step, value, ms / 1000))
        client.log_batch(
            run_id,
            metrics=metrics,
            params=[Param("lr", "0.01"), Param("layers", "3")],
            tags=[RunTag("stage", "tune")],
        )
        client.set_terminated(run_id, status=status)
        expected[run_id] = {
            "name": name,
            "project": experiment,
            "series": series,
            "tags": {"team": "ml", "seed": str(offset), "stage": "tune"},
            "status": {"FINISHED": "Completed", "FAILED": "Exception", "KILLED": "Interrupted"}[
                status
            ],
        }
    return uri, expected


@pytest.fixture
def mlflow_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, dict[str, Any]]:
    """A local MLflow store (skinny has no SQL store: a file store) and its expected runs."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    return write_runs(tmp_path)


def check(uri: str, expected: dict[str, dict[str, Any]], project: str | None = None) -> None:
    """Each run is one trial holding exactly what MLflow holds."""
    trials = imported(uri)
    assert trials.keys() == expected.keys()
    for run_id, run in expected.items():
        trial, metrics = trials[run_id]
        assert trial.name == run["name"]
        assert trial.project_id == (project or run["project"])
        assert trial.parameters == {"lr": "0.01", "layers": "3"}
        assert trial.tags == run["tags"]
        assert trial.status is not None and trial.status.name == run["status"]
        assert metrics.keys() == run["series"].keys()
        for name, points in run["series"].items():
            assert same_points(metrics[name], points), name


def test_import_mlflow_point_by_point(
    mlflow_runs: tuple[str, dict[str, Any]], tmp_path: Path
) -> None:
    """Every run, parameter, tag, status and point arrives; importing again adds nothing."""
    from track.importing import import_runs
    from track.importing.mlflow import read_runs
    from track.persistence import get_protocol

    source, expected = mlflow_runs
    uri = f"sqlite:///{tmp_path / 'track.db'}"
    store = get_protocol(uri)
    first = import_runs(read_runs(source), store)
    again = import_runs(read_runs(source), store)
    store.close()
    assert (first.created, first.points) == (3, 3 * 300)
    assert (again.created, again.merged, again.unchanged, again.points) == (0, 0, 3, 0)
    check(uri, expected)


def test_track_import_mlflow_cli(
    mlflow_runs: tuple[str, dict[str, Any]], fresh_postgres: Any
) -> None:
    """``track import mlflow URI --experiment --project --store`` into PostgreSQL, twice."""
    source, expected = mlflow_runs
    vision = {k: v for k, v in expected.items() if v["project"] == "vision"}
    with fresh_postgres() as uri:
        args = (source, "--experiment", "vision", "--project", "legacy", "--store", uri)
        done = track_import("mlflow", *args)
        assert done.returncode == 0, done.stderr
        assert "2 created" in done.stdout
        again = track_import("mlflow", *args)
        assert "0 created, 0 merged, 2 unchanged" in again.stdout
        check(uri, vision, project="legacy")
