"""``track import wandb``: offline runs written with wandb, imported, compared point by point."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from importcheck import imported, same_points, track_import

from optional import require

require("wandb", reason="needs wandb (pip install track[wandb])")

T0 = 1_700_000_000.0


@pytest.fixture
def wandb_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, Any]]:
    """Two offline runs under tmp_path/wandb (one failed, one in a group); what each holds."""
    import wandb

    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DISABLE_GIT", "true")
    expected = {}
    for offset, (name, code) in enumerate([("first", 0), ("second", 1)]):
        run = wandb.init(
            project="vision",
            name=name,
            group="sweep" if code else None,
            tags=["baseline", name],
            config={"lr": 0.01, "layers": 3},
            dir=tmp_path,
            mode="offline",
        )
        series: dict[str, list[tuple[Any, float, float]]] = {"loss": [], "val/acc": []}
        for step in range(100):
            when = T0 + offset * 10_000 + step * 0.5
            row: dict[str, Any] = {"loss": 1.0 / (step + 1) + offset, "_timestamp": when}
            series["loss"].append((step, row["loss"], when))
            if step % 4 == 0:
                row["val"] = {"acc": step / 100}
                series["val/acc"].append((step, step / 100, when))
            run.log({**row, "phase": "train"}, step=step)
        run.config.update({"epochs": 10})
        expected[f"vision/{run.id}"] = {
            "name": name,
            "group": "sweep" if code else None,
            "series": series,
            "status": "Exception" if code else "Completed",
        }
        run.finish(exit_code=code)
    wandb.teardown()  # the service process writes the runs' last blocks
    return expected


def check(uri: str, expected: dict[str, dict[str, Any]], project: str) -> None:
    """Each run is one trial holding exactly what the run logged."""
    from track.structure import TrialGroup

    trials = imported(uri)
    assert trials.keys() == expected.keys()
    for key, run in expected.items():
        trial, metrics = trials[key]
        assert trial.name == run["name"] and trial.project_id == project
        if run["group"]:
            assert trial.group_id == TrialGroup(name=run["group"], project_id=project).uid
        assert trial.parameters == {"lr": 0.01, "layers": 3, "epochs": 10}
        assert trial.tags == {"baseline": None, run["name"]: None}
        assert trial.status is not None and trial.status.name == run["status"]
        assert metrics.keys() == run["series"].keys()
        for name, points in run["series"].items():
            assert same_points(metrics[name], points), name


def test_import_wandb_point_by_point(wandb_runs: dict[str, Any], tmp_path: Path) -> None:
    """Every run under wandb/, its config, tags, group, status and points; again adds nothing."""
    from track.importing import import_runs
    from track.importing.wandb import read_runs
    from track.persistence import get_protocol

    uri = f"sqlite:///{tmp_path / 'track.db'}"
    store = get_protocol(uri)
    first = import_runs(read_runs(str(tmp_path / "wandb")), store)
    again = import_runs(read_runs(str(tmp_path / "wandb")), store)
    store.close()
    assert (first.created, first.points) == (2, 2 * 125)
    assert (again.created, again.merged, again.unchanged, again.points) == (0, 0, 2, 0)
    check(uri, wandb_runs, project="vision")


def test_track_import_wandb_cli(wandb_runs: dict[str, Any], tmp_path: Path) -> None:
    """``track import wandb OFFLINE_RUN_DIR`` imports that one run into a file store."""
    first = {k: v for k, v in wandb_runs.items() if v["name"] == "first"}
    [run_id] = [key.split("/")[1] for key in first]
    [folder] = (tmp_path / "wandb").glob(f"offline-run-*-{run_id}")
    uri = f"file://{tmp_path / 'track.json'}"
    done = track_import("wandb", str(folder), "--store", uri, "--project", "moved")
    assert done.returncode == 0, done.stderr
    check(uri, first, project="moved")
