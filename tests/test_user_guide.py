"""Every example of the Track 0.0.1 user guide, run as written, checked against what is stored."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import pytest

from track import Status, TrackClient, TrialGroup
from track.persistence import STORES, get_protocol, register
from track.persistence.protocol import Protocol
from track.structure import Project, Trial
from track.versioning import compute_hash


def stored_trials(path: str = "client_test.json") -> list[dict[str, Any]]:
    """The trial documents of a ``file://`` store, read with nothing but ``json``."""
    with open(path, encoding="utf-8") as file:
        return list(json.load(file)["trials"].values())


def printed_report(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """The JSON document the last ``report()`` printed."""
    out = capsys.readouterr().out
    return json.loads(out[out.index("{") :])


def test_overview(capsys: pytest.CaptureFixture[str]) -> None:
    """The first example stores the argument, both metric forms, Completed, and reports them."""
    client = TrackClient("file://client_test.json")
    client.set_project(name="test_client")

    trial = client.new_trial()
    trial.log_arguments(batch_size=256)

    with trial:
        trial.log_metrics(step=1, epoch_loss=1)
        trial.log_metrics(accuracy=0.98)

    client.save()
    client.report()
    client.close()

    [doc] = stored_trials()
    assert doc["project_id"] == "test_client"
    assert doc["parameters"] == {"batch_size": 256}
    assert [p[:2] for p in doc["metrics"]["epoch_loss"]] == [[1, 1]]
    assert [p[:2] for p in doc["metrics"]["accuracy"]] == [[None, 0.98]]
    assert doc["status"] == {"name": "Completed", "value": 302}
    assert doc["metadata"]["end_time"] >= doc["metadata"]["start_time"]

    report = printed_report(capsys)  # client.report() is short: a digest of each metric
    assert report["parameters"] == {"batch_size": 256}
    assert report["metrics"] == {
        "epoch_loss": {"last": 1, "step": 1, "min": 1, "max": 1, "count": 1},
        "accuracy": {"last": 0.98, "min": 0.98, "max": 0.98, "count": 1},
    }
    assert report["status"] == {"name": "Completed", "value": 302}
    assert report["errors"] == []
    assert isinstance(report["chronos"]["runtime"], float)


def test_overview_with_project_group_chrono_metadata(capsys: pytest.CaptureFixture[str]) -> None:
    """The longer overview stores project, group, name, metadata, per-step losses and a timer."""
    epochs, dataset = 2, range(3)
    client = TrackClient("file://client_test.json")

    project = client.set_project(name="paper_78997")
    group = client.set_group(name="idea_4573")

    trial = client.new_trial(name="final_trial_2", description="almost graduating")
    trial.log_arguments(batch_size=256, lr=0.01, momentum=0.99)
    trial.log_metadata(gpu="V100")

    with trial:
        for e in range(epochs):
            loss = 0.0
            for batch in dataset:
                with trial.chrono("batch_time"):
                    loss += batch * 0.5

            trial.log_metrics(step=e, epoch_loss=loss)

        trial.log_metrics(accuracy=0.98)

    client.report()
    client.close()

    assert project is not None and project.uid == "paper_78997"
    assert group is not None and group.uid == compute_hash("idea_4573", "paper_78997")
    store = get_protocol("file://client_test.json")
    [stored] = store.fetch_trials({"name": "final_trial_2"})
    assert stored.description == "almost graduating"
    assert stored.project_id == "paper_78997"
    assert stored.group_id == group.uid
    assert stored.parameters == {"batch_size": 256, "lr": 0.01, "momentum": 0.99}
    assert stored.metadata["gpu"] == "V100"
    assert [p[:2] for p in stored.metrics["epoch_loss"]] == [[0, 1.5], [1, 1.5]]
    assert stored.chronos["batch_time"]["count"] == epochs * len(dataset)
    assert stored.status is Status.Completed
    assert store.get_project(Project(name="paper_78997")).trials == {stored.uid}
    assert store.get_trial_group(group).trials == {stored.uid}
    store.close()

    report = printed_report(capsys)
    assert report["name"] == "final_trial_2"
    assert report["description"] == "almost graduating"
    assert report["metrics"]["epoch_loss"] == {
        "last": 1.5,
        "step": 1,
        "min": 1.5,
        "max": 1.5,
        "count": 2,
    }
    assert report["metadata"] == {"gpu": "V100"}
    assert set(report["chronos"]["batch_time"]) >= {"avg", "min", "max", "sd", "count", "unit"}
    assert report["status"] == {"name": "Completed", "value": 302}


def test_trials_can_belong_to_multiple_groups() -> None:
    """The guide's "trials can belong to multiple groups", done from the client of the overview."""
    client = TrackClient("file://client_test.json")
    client.set_project(name="paper_78997")
    group = client.set_group(name="idea_4573")
    trial = client.new_trial(name="final_trial_2", description="almost graduating")
    trial.log_arguments(batch_size=256, lr=0.01, momentum=0.99)
    other = client.add_to_group(name="ablations")
    client.save()
    client.close()

    [doc] = stored_trials()
    assert doc["group_id"] == group.uid
    assert sorted(doc["groups"]) == sorted([group.uid, other.uid])
    with open("client_test.json", encoding="utf-8") as file:
        groups = json.load(file)["groups"]
    assert groups[group.uid]["trials"] == groups[other.uid]["trials"] == [doc["uid"]]


def test_log_metrics_with_and_without_step() -> None:
    """A step keys a value; a metric without a step is a list in logging order."""
    client = TrackClient("file://client_test.json")
    trial = client.new_trial(parameters={"a": 1})
    for e, loss in enumerate([3.0, 2.0, 1.0]):
        trial.log_metrics(step=e, epoch_loss=loss, metric2=loss * 2)
        trial.log_metrics(cost=loss + 10)
    client.save()
    client.close()

    [doc] = stored_trials()
    assert [p[:2] for p in doc["metrics"]["epoch_loss"]] == [[0, 3.0], [1, 2.0], [2, 1.0]]
    assert [p[:2] for p in doc["metrics"]["metric2"]] == [[0, 6.0], [1, 4.0], [2, 2.0]]
    assert [p[:2] for p in doc["metrics"]["cost"]] == [[None, 13.0], [None, 12.0], [None, 11.0]]


def test_time_things() -> None:
    """``with trial.chrono(name)`` records the duration of its block in seconds."""
    client = TrackClient("file://client_test.json")
    trial = client.new_trial(parameters={"a": 1})
    with trial.chrono("long_compute"):
        time.sleep(0.05)
    client.save()
    client.close()

    [doc] = stored_trials()
    timer = doc["chronos"]["long_compute"]
    assert timer["count"] == 1
    assert timer["unit"] == "s"
    assert timer["avg"] >= 0.05, "at least the block's sleep (no upper bound: load slows it)"


def test_save_arbitrary_data() -> None:
    """``log_metadata`` stores any JSON value under its key, including False."""
    client = TrackClient("file://client_test.json")
    trial = client.new_trial(parameters={"a": 1})
    trial.log_metadata(had_short_hair_when_running_this_trial=False)
    client.save()
    client.close()

    [doc] = stored_trials()
    assert doc["metadata"]["had_short_hair_when_running_this_trial"] is False


def test_experiment_report(capsys: pytest.CaptureFixture[str]) -> None:
    """``trial.report()`` prints the stored trial in the guide's layout and returns it."""
    client = TrackClient("file://client_test.json")
    trial = client.new_trial(name="r", parameters={"lr": 0.1})
    trial.add_tags(workers=8, hpo="byopt")
    trial.log_metrics(step=0, epoch_loss=2.5)
    returned = trial.report()
    client.close()

    report = printed_report(capsys)
    assert report == returned
    keys = ["revision", "name", "description", "version", "tags", "parameters", "metadata"]
    keys += ["metrics", "chronos", "errors", "status"]
    assert [k for k in report if k in keys] == keys
    assert report["tags"] == {"workers": 8, "hpo": "byopt"}
    assert report["metrics"] == {"epoch_loss": {"0": 2.5}}
    assert report["status"] == {"name": "CreatedGroup", "value": 0}


def test_local_backend() -> None:
    """``TrackClient('file://report.json')`` writes a JSON file another client can read."""
    client = TrackClient("file://report.json")
    trial = client.new_trial(parameters={"x": 1})
    with trial:
        trial.log_metrics(loss=1.0)
    client.close()

    reader = TrackClient("file://report.json")
    found = reader.set_trial(uid=trial.uid)
    assert found.trial.parameters == {"x": 1}
    assert found.trial.status is Status.Completed
    reader.close()
    assert Path("report.json").is_file()


class MyOwnBackend(Protocol):
    """A store written the seed way: per-call methods on plain dicts, no ``log_trial_batch``."""

    stores: dict[str, MyOwnBackend] = {}

    def __init__(self, uri: Any) -> None:
        self.uri = uri
        self.projects: dict[str, Project] = {}
        self.groups: dict[str, TrialGroup] = {}
        self.trials: dict[str, Trial] = {}
        self.calls: list[str] = []
        MyOwnBackend.stores[uri.location] = self

    def log_trial_metrics(
        self, trial: Trial, step: Any = None, aggregator: Any = None, **kwargs: Any
    ) -> None:
        """Append one point per metric."""
        self.calls.append("log_trial_metrics")
        for name, value in kwargs.items():
            self.trials[trial.uid].metrics.setdefault(name, []).append([step, value, None])

    def log_trial_metadata(self, trial: Trial, aggregator: Any = None, **kwargs: Any) -> None:
        """Merge metadata."""
        self.calls.append("log_trial_metadata")
        self.trials[trial.uid].metadata.update(kwargs)

    def log_trial_chronos(self, trial: Trial, **summaries: Any) -> None:
        """Merge timer summaries."""
        self.calls.append("log_trial_chronos")
        self.trials[trial.uid].chronos.update(summaries)

    def add_trial_tags(self, trial: Trial, **kwargs: Any) -> None:
        """Merge tags."""
        self.calls.append("add_trial_tags")
        self.trials[trial.uid].tags.update(kwargs)

    def set_trial_status(self, trial: Trial, status: Any, error: str | None = None) -> None:
        """Set the status, keeping errors."""
        self.calls.append("set_trial_status")
        self.trials[trial.uid].status = status
        if error:
            self.trials[trial.uid].errors.append(error)

    def get_project(self, project: Project) -> Project | None:
        """Look a project up by uid."""
        return self.projects.get(project.uid)

    def new_project(self, project: Project) -> Project | None:
        """Insert a project."""
        self.projects[project.uid] = project
        return project

    def get_trial_group(self, group: TrialGroup) -> TrialGroup | None:
        """Look a group up by uid."""
        return self.groups.get(group.uid)

    def new_trial_group(self, group: TrialGroup) -> TrialGroup | None:
        """Insert a group."""
        self.groups[group.uid] = group
        return group

    def get_trial(self, trial: Trial) -> list[Trial]:
        """Look a trial up by uid."""
        return [self.trials[trial.uid]] if trial.uid in self.trials else []

    def new_trial(self, trial: Trial, auto_increment: bool = False) -> Trial | None:
        """Insert a trial, bumping its revision when asked."""
        while trial.uid in self.trials:
            if not auto_increment:
                return None
            trial.revision += 1
        self.trials[trial.uid] = trial
        return trial


@pytest.fixture
def byob() -> Any:
    """Register ``byob://`` for one test and unregister it afterwards."""
    register("byob", MyOwnBackend)
    yield MyOwnBackend
    STORES.unregister("byob")
    MyOwnBackend.stores.clear()


def test_bring_your_own_backend(byob: type[MyOwnBackend], capsys: Any) -> None:
    """A Protocol subclass with only per-call methods works through the default batch loop."""
    client = TrackClient("byob://my-store")
    client.set_project(name="mine")
    trial = client.new_trial(parameters={"lr": 0.1})
    with trial:
        trial.log_metrics(step=0, loss=2.0)
        trial.log_metrics(step=1, loss=1.0)
        trial.add_tags(kind="byob")
    client.report()
    client.close()

    store = byob.stores["my-store"]
    [stored] = store.trials.values()
    assert stored.project_id == "mine"
    assert [p[:2] for p in stored.metrics["loss"]] == [[0, 2.0], [1, 1.0]]
    assert stored.tags == {"kind": "byob"}
    assert stored.status is Status.Completed
    assert "runtime" in stored.chronos
    assert {"log_trial_metrics", "add_trial_tags", "set_trial_status"} <= set(store.calls)
    assert printed_report(capsys)["metrics"] == {
        "loss": {"last": 1.0, "step": 1, "min": 1.0, "max": 2.0, "count": 2}
    }


def test_mnist_style_new_trial_with_arguments() -> None:
    """``client.new_trial(arguments=args)`` with a parsed Namespace stores every argument."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1.0)
    parser.add_argument("--no-cuda", action="store_true")
    args = parser.parse_args(["--lr", "0.5"])

    client = TrackClient("file:mnist_example.json")
    trial = client.new_trial(arguments=args)
    correct, total = 9812, 10000
    trial.log_metrics(error_rate=1 - (correct / total))
    client.save()
    client.close()

    [doc] = stored_trials("mnist_example.json")
    assert doc["parameters"] == {"batch_size": 64, "lr": 0.5, "no_cuda": False}
    assert doc["metrics"]["error_rate"][0][1] == pytest.approx(0.0188)


def test_byob_missing_a_method_refuses_the_whole_batch(byob: type[MyOwnBackend]) -> None:
    """A batch needing a method the store lacks applies nothing (a retry cannot duplicate)."""
    from track.persistence.protocol import TrialBatch

    class NoTags(MyOwnBackend):
        add_trial_tags = Protocol.add_trial_tags

    store = NoTags(get_protocol("ephemeral:").uri)
    trial = store.new_trial(Trial(parameters={"a": 1}))
    batch = TrialBatch(metrics=[("loss", 0, 1.0, 0.0)], tags={"t": 1})
    with pytest.raises(NotImplementedError, match="add_trial_tags"):
        store.log_trial_batch(trial, batch)
    assert store.trials[trial.uid].metrics == {}
