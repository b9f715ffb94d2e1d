"""ezpz.tracker compatibility (seed 004): public backends, config, run names, environment, CSV layout.

Every run goes to real trackers and is read back with their own readers: wandb offline run
files (``forward/wandb_reader.py``), MLflow through ``MlflowClient`` on a file store in the
test's folder, or on MLflow's REST API over that store (``forward/mlflow_rest.py``) where an
http(s) URI is the point.
"""

from __future__ import annotations

import base64
import csv
import json
import logging
import warnings
from pathlib import Path
from typing import Any

import pytest

from optional import require

require("wandb", reason="needs wandb (pip install track[wandb])")
require("mlflow", reason="needs mlflow-skinny (pip install track[mlflow])")
require("torch")

import torch  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

from forward.mlflow_rest import mlflow_endpoint  # noqa: E402
from forward.wandb_reader import config as wandb_config  # noqa: E402
from forward.wandb_reader import history, run_file, run_record, summary  # noqa: E402
from server.trackserver import make_tls  # noqa: E402
from track.forward.base import MAX_CONSECUTIVE_FAILURES  # noqa: E402
from track.persistence import get_protocol  # noqa: E402
from track.structure import Trial  # noqa: E402
from track.tracker import (  # noqa: E402
    CSVBackend,
    MLflowBackend,
    NullTracker,
    Tracker,
    TrackerBackend,
    WandbBackend,
    register_backend,
    setup_tracker,
)

ENVIRONMENT = (
    "EZPZ_TRACKER_BACKENDS",
    "EZPZ_TRACKERS",
    "WB_PROJECT",
    "WANDB_PROJECT",
    "WB_PROJECT_NAME",
    "MLFLOW_EXPERIMENT_NAME",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_INSECURE_TLS",
    "RANK",
)


@pytest.fixture(autouse=True)
def _local_trackers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """wandb offline, MLflow in a file store of the test's folder, no ezpz variable leaking in."""
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # skinny has no SQL store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"file://{tmp_path / 'mlruns'}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")


def wandb_file(folder: Path = Path()) -> Path:
    """The one offline wandb run file under ``folder``, complete."""
    return run_file(folder)


def mlflow_run(experiment: str) -> Any:
    """The one MLflow run of ``experiment``, read with MLflow's client."""
    client = MlflowClient()
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no MLflow experiment {experiment!r}"
    [run] = client.search_runs([found.experiment_id])
    return run


def stored_trial(uri: str, trial: Trial) -> Trial:
    """``trial`` as the track store at ``uri`` has it."""
    store = get_protocol(uri)
    try:
        [found] = store.get_trial(trial)
    finally:
        store.close()
    return found


def csv_table(folder: Path) -> list[list[str]]:
    """``metrics.csv`` of ``folder``, header first."""
    with (folder / "metrics.csv").open(newline="") as file:
        return list(csv.reader(file))


def test_backends_compose_directly(capsys: pytest.CaptureFixture[str]) -> None:
    """Tracker([WandbBackend, MLflowBackend, CSVBackend]) as documented: every run gets every call."""
    config = {"lr": 0.1, "opt": {"name": "adam"}}
    wandb_backend = WandbBackend(project_name="ez", config=config, outdir=".", rank=0, name="r-1")
    mlflow_backend = MLflowBackend(
        project_name="ez",
        config=config,
        rank=0,
        run_name="r-1",
        tags={"team": "vision"},
        description="first try",
    )
    tracker = Tracker([wandb_backend, mlflow_backend, CSVBackend("logs")])
    assert tracker.wandb_run is wandb_backend.run and tracker.wandb_run.name == "r-1"
    run_id = tracker.mlflow_run.info.run_id
    for step in range(3):
        tracker.log({"loss": 1.0 / (step + 1)}, step=step)
    tracker.log_config({"epochs": 3, "data": {"batch": 32}})
    tracker.log_table("preds", ["x", "y"], [[1, 2]])
    tracker.finish()

    losses = {s: 1.0 / (s + 1) for s in range(3)}
    run_file = wandb_file()
    assert {r["track/step"]: r["loss"] for r in history(run_file) if "loss" in r} == losses
    assert run_record(run_file)["name"] == "r-1"
    assert wandb_config(run_file) == {**config, "epochs": 3, "data": {"batch": 32}}
    run = mlflow_run("ez")
    assert (run.info.run_id, run.info.run_name, run.info.status) == (run_id, "r-1", "FINISHED")
    assert run.data.tags["team"] == "vision"
    assert run.data.tags["mlflow.note.content"] == "first try"
    assert run.data.params == {
        "config.lr": "0.1",
        "config.opt.name": "adam",
        "epochs": "3",
        "data.batch": "32",
    }
    points = MlflowClient().get_metric_history(run_id, "loss")
    assert {m.step: m.value for m in points} == losses
    assert [a.path for a in MlflowClient().list_artifacts(run_id, "tables")] == ["tables/preds.csv"]
    assert csv_table(Path("logs")) == [
        ["step", "loss"],
        ["0", "1.0"],
        ["1", "0.5"],
        ["2", "0.3333333333333333"],
    ]
    assert json.loads(Path("logs/config.json").read_text()) == {"epochs": 3, "data": {"batch": 32}}
    assert Path("logs/preds.csv").read_text().splitlines() == ["x,y", "1,2"]
    printed = capsys.readouterr().err
    assert "wandb run 'r-1'" in printed and f"mlflow run 'r-1' ({run_id})" in printed


def test_setup_tracker_names_and_configures_every_run(tmp_path: Path) -> None:
    """run_name names the trial and each run; log_config reaches wandb's config and MLflow's params;
    other keywords reach wandb.init."""
    uri = f"sqlite:///{tmp_path / 'track.db'}"
    tracker = setup_tracker(
        project_name="ez",
        backends="track,wandb,mlflow,csv",
        config={"lr": 0.1},
        outdir="out",
        uri=uri,
        run_name="exp-1",
        group="sweep",
        job_type="train",
        notes="first try",
    )
    trial = tracker.get_backend("track").trial.trial
    assert tracker.wandb_run.name == "exp-1" and tracker.mlflow_run.info.run_name == "exp-1"
    tracker.log({"loss": 0.5}, step=0)
    tracker.log_config({"epochs": 3, "opt": {"beta": 0.9}})
    tracker.finish()

    stored = stored_trial(uri, trial)
    assert stored.name == "exp-1" and stored.parameters == {"lr": 0.1}
    assert stored.metadata["config"] == {"epochs": 3, "opt": {"beta": 0.9}}
    run_file = wandb_file(Path("out"))
    assert run_record(run_file) == {
        "name": "exp-1",
        "project": "ez",
        "group": "sweep",
        "job_type": "train",
        "tags": [],
        "notes": "first try",
    }
    assert wandb_config(run_file) == {"lr": 0.1, "epochs": 3, "opt": {"beta": 0.9}}
    run = mlflow_run("ez")
    assert run.info.run_name == "exp-1"
    assert run.data.params == {"config.lr": "0.1", "epochs": "3", "opt.beta": "0.9"}
    assert json.loads(Path("out/config.json").read_text()) == {
        "lr": 0.1,
        "epochs": 3,
        "opt": {"beta": 0.9},
    }
    assert csv_table(Path("out")) == [["step", "loss"], ["0", "0.5"]]


def test_unused_keywords_are_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Keywords meant for wandb.init with no wandb backend are named in a warning, not dropped quietly."""
    caplog.set_level(logging.WARNING, logger="track.tracker")
    tracker = setup_tracker(
        "ez", backends="track", uri=f"file://{tmp_path / 's.json'}", entity="me"
    )
    tracker.finish()
    [message] = [r.getMessage() for r in caplog.records if r.name.startswith("track")]
    assert "'entity'" in message and "wandb" in message


def test_backend_list_from_ezpz_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """EZPZ_TRACKER_BACKENDS picks the backends when the call and TRACK_TRACKER_BACKENDS do not;
    TRACK_FORWARD adds forwarders; "none" turns tracking off."""
    uri = f"file://{tmp_path / 's.json'}"
    monkeypatch.setenv("EZPZ_TRACKER_BACKENDS", "track,csv")
    tracker = setup_tracker("ez", outdir="out", uri=uri)
    assert tracker.get_backend("csv") is not None
    tracker.log({"loss": 1.0}, step=0)
    tracker.finish()
    assert csv_table(Path("out")) == [["step", "loss"], ["0", "1.0"]]
    monkeypatch.setenv("TRACK_TRACKER_BACKENDS", "track")
    tracker = setup_tracker("ez", outdir="out", uri=uri)
    assert tracker.get_backend("csv") is None and tracker.get_backend("track") is not None
    tracker.finish()
    monkeypatch.setenv("TRACK_FORWARD", "csv")  # as for every TrackClient, it adds forwarders
    tracker = setup_tracker("ez", outdir="out", uri=uri)
    assert tracker.get_backend("csv") is not None
    tracker.finish()
    monkeypatch.delenv("TRACK_TRACKER_BACKENDS")
    monkeypatch.setenv("EZPZ_TRACKER_BACKENDS", "none")
    assert isinstance(setup_tracker("ez", uri=uri), NullTracker)


PROJECT_VARIABLES = ["WB_PROJECT", "WANDB_PROJECT", "WB_PROJECT_NAME"]


@pytest.mark.parametrize("first", range(len(PROJECT_VARIABLES)))
def test_project_from_wandb_variables(
    first: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without project_name, WB_PROJECT, then WANDB_PROJECT, then WB_PROJECT_NAME names the
    track project, the wandb project and the MLflow experiment."""
    for name in PROJECT_VARIABLES[first:]:
        monkeypatch.setenv(name, f"from-{name.lower()}")
    expected = f"from-{PROJECT_VARIABLES[first].lower()}"
    uri = f"file://{tmp_path / 's.json'}"
    tracker = setup_tracker(backends="track,wandb,mlflow", outdir="out", uri=uri)
    trial = tracker.get_backend("track").trial.trial
    tracker.finish()
    assert stored_trial(uri, trial).project_id == expected
    assert run_record(wandb_file(Path("out")))["project"] == expected
    assert mlflow_run(expected).info.status == "FINISHED"


def test_mlflow_experiment_variable_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """MLFLOW_EXPERIMENT_NAME beats project_name for MLflow only (dots become hyphens, as in ezpz)."""
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "team.runs")
    uri = f"file://{tmp_path / 's.json'}"
    tracker = setup_tracker("ez", backends="track,mlflow", uri=uri)
    trial = tracker.get_backend("track").trial.trial
    tracker.finish()
    MLflowBackend(project_name="ez").finish()
    assert stored_trial(uri, trial).project_id == "ez"
    client = MlflowClient()
    experiment = client.get_experiment_by_name("team-runs").experiment_id
    assert len(client.search_runs([experiment])) == 2
    assert client.get_experiment_by_name("ez") is None


def test_mlflow_token_and_run_url(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On an http tracking URI, every request carries MLFLOW_TRACKING_TOKEN, and run_url is
    printed and exposed."""
    with mlflow_endpoint(tmp_path) as endpoint:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", endpoint.uri)
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "s3cret")
        backend = MLflowBackend(project_name="ez", run_name="web")
        tracker = Tracker([backend])
        tracker.log({"loss": 0.5}, step=0)
        info = tracker.mlflow_run.info
        tracker.finish()
    url = f"{endpoint.uri}/#/experiments/{info.experiment_id}/runs/{info.run_id}"
    assert backend.run_url == url and url in capsys.readouterr().err
    assert {(r.path, r.headers.get("Authorization")) for r in endpoint.requests} >= {
        ("/api/2.0/mlflow/runs/create", "Bearer s3cret"),
        ("/api/2.0/mlflow/runs/log-batch", "Bearer s3cret"),
    }
    assert {r.headers.get("Authorization") for r in endpoint.requests} == {"Bearer s3cret"}
    [run] = endpoint.store.search_runs([info.experiment_id], "", 1)
    assert run.data.metrics == {"loss": 0.5} and run.info.status == "FINISHED"


def test_mlflow_insecure_tls(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A self-signed https server: refused (with a warning) unless MLFLOW_TRACKING_INSECURE_TLS,
    which makes it work without urllib3's per-request warnings."""
    caplog.set_level(logging.WARNING)
    cert, key = make_tls(tmp_path)
    with mlflow_endpoint(tmp_path, cert, key) as endpoint:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", endpoint.uri)
        refused = MLflowBackend(project_name="ez")
        assert refused.run is None and Tracker([refused]).mlflow_run is None
        assert any("could not start" in r.getMessage() for r in caplog.records)
        caplog.clear()
        monkeypatch.setenv("MLFLOW_TRACKING_INSECURE_TLS", "true")
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("default")
            backend = MLflowBackend(project_name="ez")
            backend.log({"loss": 0.5}, step=0)
            info = backend.run.info
            backend.finish()
        assert backend.run_url is not None and backend.run_url.startswith("https://")
        [run] = endpoint.store.search_runs([info.experiment_id], "", 1)
    assert run.info.run_id == info.run_id and run.data.metrics == {"loss": 0.5}
    assert not [w for w in seen if "InsecureRequestWarning" in type(w.message).__name__]
    assert sum("MLFLOW_TRACKING_INSECURE_TLS" in r.getMessage() for r in caplog.records) == 1


def test_csv_layout_and_extras(tmp_path: Path) -> None:
    """metrics.csv is ``step`` plus the metrics and config.json the config; ``extras`` adds time and
    track's fields; values that are not numbers go to summary.json."""
    uri = f"file://{tmp_path / 's.json'}"
    plain = setup_tracker("ez", backends="track,csv", config={"lr": 0.1}, outdir="plain", uri=uri)
    plain.log({"loss": 0.5, "phase": "train"}, step=0)
    plain.finish()
    assert csv_table(Path("plain")) == [["step", "loss"], ["0", "0.5"]]
    assert json.loads(Path("plain/config.json").read_text()) == {"lr": 0.1}
    assert json.loads(Path("plain/summary.json").read_text()) == {"phase": "train"}

    full = setup_tracker(
        "ez",
        backends="track,csv",
        config={"lr": 0.1},
        outdir="full",
        uri=uri,
        run_name="r",
        csv_options={"extras": True},
    )
    trial = full.get_backend("track").trial.trial
    full.log({"loss": 0.5}, step=0)
    full.finish()
    [header, row] = csv_table(Path("full"))
    assert header == ["step", "time", "loss"] and row[0] == "0" and row[2] == "0.5"
    stored = stored_trial(uri, trial)
    assert float(row[1]) == stored.metrics["loss"][0][2]
    document = json.loads(Path("full/config.json").read_text())
    assert (document["track_uid"], document["name"], document["lr"]) == (trial.uid, "r", 0.1)


def test_values_that_are_not_numbers_reach_each_direct_backend(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A string among the metrics: every loss is logged, the string kept as wandb summary,
    MLflow tag and CSV summary.json (last value wins), one warning per backend."""
    caplog.set_level(logging.WARNING, logger="track")
    tracker = Tracker(
        [WandbBackend(project_name="ez"), MLflowBackend(project_name="ez"), CSVBackend("logs")]
    )
    tracker.log({"loss": 0.5, "phase": "train"}, step=0)
    tracker.log({"loss": 0.4, "phase": "eval"}, step=1)
    tracker.finish()
    assert [r["loss"] for r in history(wandb_file()) if "loss" in r] == [0.5, 0.4]
    assert summary(wandb_file())["phase"] == "eval"
    run = mlflow_run("ez")
    assert run.data.tags["summary.phase"] == "eval" and run.data.metrics == {"loss": 0.4}
    assert csv_table(Path("logs")) == [["step", "loss"], ["0", "0.5"], ["1", "0.4"]]
    assert json.loads(Path("logs/summary.json").read_text()) == {"phase": "eval"}
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("track")]
    assert len(messages) == 3 and all("'phase'" in m for m in messages)


def test_off_rank_zero_direct_backends_do_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Backends built for rank 1 (given or detected) start no run and write no file."""
    monkeypatch.setenv("RANK", "1")
    tracker = Tracker(
        [WandbBackend(project_name="ez"), MLflowBackend(project_name="ez"), CSVBackend("logs", 1)]
    )
    tracker.log({"loss": 0.5}, step=0)
    tracker.log_config({"lr": 0.1})
    tracker.finish()
    assert tracker.wandb_run is None and tracker.mlflow_run is None
    assert tracker.get_backend("csv") is None
    assert not Path("wandb").exists() and not Path("logs").exists()
    assert not (tmp_path / "mlruns").exists()


def test_direct_backend_broken_is_disabled(caplog: pytest.LogCaptureFixture) -> None:
    """A CSVBackend whose folder becomes a file is disabled after repeated failures, with a warning;
    one that cannot start is reported and left out; the other backends get every value."""
    caplog.set_level(logging.WARNING, logger="track")
    Path("blocker").write_text("")
    unstartable = CSVBackend("blocker/logs")
    assert sum("could not start" in r.getMessage() for r in caplog.records) == 1
    broken = CSVBackend("broken")
    healthy = CSVBackend("healthy")
    tracker = Tracker([unstartable, broken, healthy])
    assert tracker.get_backend("csv") is None or tracker.get_backend("csv") is healthy
    tracker.log({"loss": 1.0}, step=0)
    Path("broken/metrics.csv").unlink()
    Path("broken/config.json").unlink()
    Path("broken").rmdir()
    Path("broken").write_text("a file where the folder was\n")
    for step in range(1, MAX_CONSECUTIVE_FAILURES + 3):
        tracker.log({"loss": 1.0 - step / 10}, step=step)
    tracker.finish()
    assert len(csv_table(Path("healthy"))) == 1 + MAX_CONSECUTIVE_FAILURES + 3
    assert sum("backend 'csv' disabled" in r.getMessage() for r in caplog.records) == 1


def test_mlflow_params_keep_their_first_value(caplog: pytest.LogCaptureFixture) -> None:
    """log_config changing a logged MLflow param is warned about (MLflow params are immutable);
    the new keys of the same call are logged and the backend carries on."""
    caplog.set_level(logging.WARNING, logger="track")
    tracker = Tracker([MLflowBackend(project_name="ez")])
    tracker.log_config({"lr": 0.1})
    tracker.log_config({"lr": 0.2, "wd": 0.01})
    tracker.log({"loss": 0.5}, step=0)
    tracker.finish()
    run = mlflow_run("ez")
    assert run.data.params == {"lr": "0.1", "wd": "0.01"} and run.data.metrics == {"loss": 0.5}
    [skipped, count] = [r.getMessage() for r in caplog.records if r.name.startswith("track")]
    assert "'lr'" in skipped and "cannot change" in skipped and "did not forward 1" in count


def test_watch_logs_through_the_tracker_run() -> None:
    """watch(model) on the wandb backend: wandb's torch hooks log histograms into its run."""
    tracker = setup_tracker("ez", backends="wandb", outdir="out")
    model = torch.nn.Linear(4, 1)
    tracker.watch(model, log="all", log_freq=1)
    for step in range(2):
        model(torch.ones(8, 4)).pow(2).mean().backward()
        tracker.log({"loss": float(step)}, step=step)
    tracker.finish()
    keys = {key for row in history(wandb_file(Path("out"))) for key in row}
    for kind in ("parameters", "gradients"):  # wandb numbers each model it watches (graph_<n>)
        assert any(k.startswith(f"{kind}/") and k.endswith("weight/_type") for k in keys)


def test_mlflow_groups_distributed_aggregates() -> None:
    """A metric logged with its aggregates (loss/mean, ...) goes to MLflow as loss/local, as in
    ezpz (MLflow's file store cannot even hold both ``loss`` and ``loss/mean``)."""
    tracker = Tracker([MLflowBackend(project_name="ez")])
    tracker.log({"loss": 1.0, "loss/mean": 0.9, "loss/max": 1.2, "acc": 0.5}, step=0)
    tracker.finish()
    assert mlflow_run("ez").data.metrics == {
        "loss/local": 1.0,
        "loss/mean": 0.9,
        "loss/max": 1.2,
        "acc": 0.5,
    }


class KeywordBackend(TrackerBackend):
    """A user backend whose constructor takes keywords only, as ezpz's setup_tracker passes them."""

    name = "keywords"

    def __init__(self, *, project_name: Any, config: Any, outdir: Any, rank: Any, **extra: Any):
        self.given = {"project_name": project_name, "config": config, "rank": rank, **extra}

    def log(self, metrics: dict[str, Any], step: int | None = None, commit: bool = True) -> None:
        """Ignore."""

    def log_config(self, config: dict[str, Any]) -> None:
        """Ignore."""

    def finish(self) -> None:
        """Ignore."""


def test_registered_backend_built_with_keywords(tmp_path: Path) -> None:
    """register_backend: setup_tracker builds the class with ezpz's keywords plus the extra ones."""
    register_backend("keywords", KeywordBackend)
    tracker = setup_tracker(
        "ez", backends="track,keywords", config={"lr": 0.1}, uri="ephemeral:", entity="me"
    )
    backend = tracker.get_backend("keywords")
    tracker.finish()
    assert backend.given == {
        "project_name": "ez",
        "config": {"lr": 0.1},
        "rank": 0,
        "entity": "me",
    }


PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def test_mlflow_images_and_artifacts(caplog: pytest.LogCaptureFixture) -> None:
    """log_image and log_artifacts reach MLflow's artifacts; a path that does not exist is
    named in a warning instead of being skipped quietly."""
    caplog.set_level(logging.WARNING, logger="track")
    Path("plot.png").write_bytes(PNG)
    Path("notes.txt").write_text("hello")
    tracker = Tracker([MLflowBackend(project_name="ez")])
    run_id = tracker.mlflow_run.info.run_id
    tracker.log_image("plot", "plot.png", caption="one pixel")
    tracker.log_artifacts({"notes": "notes.txt", "gone": "missing.txt"})
    tracker.finish()
    client = MlflowClient()
    assert [a.path for a in client.list_artifacts(run_id, "images")] == ["images/plot.png"]
    assert [a.path for a in client.list_artifacts(run_id, "notes")] == ["notes/notes.txt"]
    [message] = [r.getMessage() for r in caplog.records if r.name.startswith("track")]
    assert "'gone'" in message and "missing.txt" in message
