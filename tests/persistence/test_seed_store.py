"""A bring-your-own store written to the seeds' ``Protocol`` receives every write of a run.

The store below implements exactly the methods the seeds' ``Protocol`` documents, nothing else:
no ``log_trial_batch``, no ``log_trial_chronos``. Everything a ``with trial:`` run logs must
reach it through those methods.
"""

from __future__ import annotations

import os
import time
from typing import Any

from track import TrackClient
from track.forward.protocol import record_trial_error
from track.persistence.protocol import Protocol
from track.structure import Project, Status, Trial, TrialGroup

SEED_METHODS = {
    "log_trial_start",
    "log_trial_finish",
    "log_trial_chrono_start",
    "log_trial_chrono_finish",
    "log_trial_arguments",
    "log_trial_metrics",
    "log_trial_metadata",
    "add_trial_tags",
    "set_trial_status",
    "commit",
    "get_project",
    "new_project",
    "get_trial_group",
    "new_trial_group",
    "add_project_trial",
    "add_group_trial",
    "get_trial",
    "new_trial",
    "fetch_trials",
    "fetch_groups",
    "fetch_projects",
}


class SeedStore(Protocol):
    """A dictionary store implementing only the seeds' Protocol methods, seed-style."""

    def __init__(self) -> None:
        self.projects: dict[str, Project] = {}
        self.groups: dict[str, TrialGroup] = {}
        self.trials: dict[str, Trial] = {}
        self.started: dict[tuple[str, str], tuple[Any, float]] = {}

    def _trial(self, trial: Trial) -> Trial:
        return self.trials[trial.uid]

    def log_trial_start(self, trial: Trial) -> None:
        """Mark the trial running."""
        self._trial(trial).status = Status.Running

    def log_trial_finish(self, trial: Trial, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        """Mark the trial finished."""
        self._trial(trial).status = Status.Completed if exc_type is None else Status.Exception

    def log_trial_chrono_start(
        self,
        trial: Trial,
        name: str,
        aggregator: Any = None,
        start_callback: Any = None,
        end_callback: Any = None,
    ) -> None:
        """Seed style: keep the aggregator the first time, note the start time."""
        chronos = self._trial(trial).chronos
        if name not in chronos:
            chronos[name] = aggregator()
        self.started[(trial.uid, name)] = (chronos[name], time.perf_counter())

    def log_trial_chrono_finish(
        self, trial: Trial, name: str, exc_type: Any, exc_val: Any, exc_tb: Any
    ) -> None:
        """Seed style: append the elapsed time to the kept aggregator."""
        aggregator, started = self.started.pop((trial.uid, name))
        aggregator.append(time.perf_counter() - started)

    def log_trial_arguments(self, trial: Trial, **kwargs: Any) -> None:
        """Merge parameters."""
        self._trial(trial).parameters.update(kwargs)

    def log_trial_metrics(
        self, trial: Trial, step: Any = None, aggregator: Any = None, **kwargs: Any
    ) -> None:
        """Append ``(step, value)`` to each named series."""
        for name, value in kwargs.items():
            self._trial(trial).metrics.setdefault(name, []).append((step, value))

    def log_trial_metadata(self, trial: Trial, aggregator: Any = None, **kwargs: Any) -> None:
        """Set metadata keys."""
        self._trial(trial).metadata.update(kwargs)

    def add_trial_tags(self, trial: Trial, **kwargs: Any) -> None:
        """Set tags."""
        self._trial(trial).tags.update(kwargs)

    def set_trial_status(self, trial: Trial, status: Any, error: Any = None) -> None:
        """Set the status, keeping errors."""
        stored = self._trial(trial)
        stored.status = status
        if error:
            stored.errors.append(error)

    def commit(self, **kwargs: Any) -> None:
        """Nothing to make durable."""

    def get_project(self, project: Project) -> Project | None:
        """The project with this uid."""
        return self.projects.get(project.uid)

    def new_project(self, project: Project) -> Project | None:
        """Insert a project."""
        self.projects[project.uid] = project
        return project

    def get_trial_group(self, group: TrialGroup) -> TrialGroup | None:
        """The group with this uid."""
        return self.groups.get(group.uid)

    def new_trial_group(self, group: TrialGroup) -> TrialGroup | None:
        """Insert a group."""
        self.groups[group.uid] = group
        return group

    def add_project_trial(self, project: Project, trial: Trial) -> None:
        """Attach a trial to a project."""
        self.projects[project.uid].trials.append(trial.uid)

    def add_group_trial(self, group: TrialGroup, trial: Trial) -> None:
        """Attach a trial to a group."""
        self.groups[group.uid].trials.append(trial.uid)

    def get_trial(self, trial: Trial) -> list[Trial]:
        """The trial with this uid."""
        return [self.trials[trial.uid]] if trial.uid in self.trials else []

    def new_trial(self, trial: Trial, auto_increment: bool = False) -> Trial | None:
        """Insert a trial."""
        if trial.uid in self.trials:
            if not auto_increment:
                return None
            trial.revision += 1
        self.trials[trial.uid] = trial
        return trial

    def fetch_trials(self, query: Any, with_metrics: bool = True) -> list[Trial]:
        """Every trial (the test does not query)."""
        return list(self.trials.values())

    def fetch_groups(self, query: Any) -> list[TrialGroup]:
        """Every group."""
        return list(self.groups.values())

    def fetch_projects(self, query: Any) -> list[Project]:
        """Every project."""
        return list(self.projects.values())


def test_the_store_implements_only_the_seed_methods() -> None:
    """SeedStore overrides exactly the seeds' list, so the run below uses nothing else."""
    own = {name for name in vars(SeedStore) if not name.startswith("_")}
    assert own == SEED_METHODS


def test_a_seed_store_receives_every_write_of_a_run() -> None:
    """Metrics, metadata, tags, chronos, status and errors all reach a seed-only store."""
    store = SeedStore()
    client = TrackClient(store, flush_interval=0.05)
    client.set_project(name="seed")
    trial = client.new_trial(name="run", parameters={"lr": 0.1})
    with trial:
        for step in range(5):
            trial.log_metrics(step=step, loss=1.0 / (step + 1))
            with trial.chrono("batch"):
                time.sleep(0.001)
            trial.flush()
        trial.log_metadata(gpu="V100")
        trial.add_tags(hpo="grid")
    client.close()
    stored = store.trials[trial.uid]
    assert stored.metrics["loss"] == [(step, 1.0 / (step + 1)) for step in range(5)]
    assert stored.metadata["gpu"] == "V100"
    assert stored.tags["hpo"] == "grid"
    assert stored.status == Status.Completed
    summary = stored.chronos["batch"].to_json()
    assert summary["count"] == 5, summary
    assert summary["min"] >= 0.001
    assert not os.path.exists(client.pipeline.spill_path()), "a batch was spilled"


def test_a_seed_store_records_the_error_of_a_failed_run() -> None:
    """An exception inside ``with trial:`` reaches the seed store as a status with its error."""
    store = SeedStore()
    client = TrackClient(store, flush_interval=0.05)
    client.set_project(name="seed")
    trial = client.new_trial(name="fails", parameters={})
    try:
        with trial:
            trial.log_metrics(step=0, loss=1.0)
            raise RuntimeError("diverged")
    except RuntimeError:
        pass
    client.close()
    stored = store.trials[trial.uid]
    assert stored.status == Status.Exception
    assert any("diverged" in error for error in stored.errors)
    assert stored.metrics["loss"] == [(0, 1.0)]


def test_errors_without_a_status_leave_a_seed_store_trials_status() -> None:
    """A disabled forwarder's note (errors, no status) is appended; the status stays Completed."""
    store = SeedStore()
    client = TrackClient(store, flush_interval=0.05)
    client.set_project(name="seed")
    trial = client.new_trial(name="noted", parameters={})
    with trial:
        trial.log_metrics(step=0, loss=1.0)
    client.close()
    record_trial_error(store, trial.trial, "forwarder 'mlflow' was disabled")
    stored = store.trials[trial.uid]
    assert stored.status == Status.Completed
    assert stored.errors == ["track: forwarder 'mlflow' was disabled"]
