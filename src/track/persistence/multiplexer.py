"""Fan every call out to several stores at once (e.g. a local file and a remote server)."""

from __future__ import annotations

from typing import Any

from track.persistence.protocol import Protocol, TrialBatch
from track.structure import Project, Trial, TrialGroup

__all__ = ["ProtocolMultiplexer"]


class ProtocolMultiplexer(Protocol):
    """Writes go to every backend; reads are answered by the first one."""

    def __init__(self, *backends: Protocol) -> None:
        if not backends:
            raise ValueError("ProtocolMultiplexer needs at least one backend")
        self.backends = backends

    def _all(self, name: str, *args: Any, **kwargs: Any) -> Any:
        results = [getattr(backend, name)(*args, **kwargs) for backend in self.backends]
        return results[0]

    def log_trial_batch(self, trial: Trial, batch: TrialBatch) -> bool:
        """Apply the batch to every backend; the first backend's answer is returned."""
        return bool(self._all("log_trial_batch", trial, batch) is not False)

    def log_trial_arguments(self, trial: Trial, **kwargs: Any) -> None:
        """Merge parameters in every backend."""
        self._all("log_trial_arguments", trial, **kwargs)

    def new_project(self, project: Project) -> Project | None:
        """Insert the project in every backend."""
        return self._all("new_project", project)

    def new_trial_group(self, group: TrialGroup) -> TrialGroup | None:
        """Insert the group in every backend."""
        return self._all("new_trial_group", group)

    def new_trial(self, trial: Trial, auto_increment: bool = False) -> Trial | None:
        """Insert the trial in every backend (the first decides the revision)."""
        first = self.backends[0].new_trial(trial, auto_increment)
        for backend in self.backends[1:]:
            if first is not None and not backend.get_trial(first):
                backend.new_trial(first, auto_increment=False)
        return first

    def add_project_trial(self, project: Project, trial: Trial) -> None:
        """Attach the trial to the project in every backend."""
        self._all("add_project_trial", project, trial)

    def add_group_trial(self, group: TrialGroup, trial: Trial) -> None:
        """Add the trial to the group in every backend."""
        self._all("add_group_trial", group, trial)

    def set_group_metadata(self, group: TrialGroup, **kwargs: Any) -> None:
        """Set group metadata in every backend."""
        self._all("set_group_metadata", group, **kwargs)

    def fetch_and_update_trial(
        self, query: dict[str, Any], attr: str, *args: Any, **kwargs: Any
    ) -> Trial | None:
        """Pick and update in the first backend, then replay the update on the others."""
        trial = self.backends[0].fetch_and_update_trial(query, attr, *args, **kwargs)
        if trial is not None:
            for backend in self.backends[1:]:
                backend.fetch_and_update_trial({"uid": trial.uid}, attr, *args, **kwargs)
        return trial

    def fetch_and_update_group(
        self, query: dict[str, Any], attr: str, *args: Any, **kwargs: Any
    ) -> TrialGroup | None:
        """Pick and update in the first backend, then replay the update on the others."""
        group = self.backends[0].fetch_and_update_group(query, attr, *args, **kwargs)
        if group is not None:
            for backend in self.backends[1:]:
                backend.fetch_and_update_group({"uid": group.uid}, attr, *args, **kwargs)
        return group

    def commit(self, **kwargs: Any) -> None:
        """Commit every backend."""
        self._all("commit", **kwargs)

    def close(self) -> None:
        """Close every backend."""
        self._all("close")

    def get_project(self, project: Project) -> Project | None:
        """Read from the first backend."""
        return self.backends[0].get_project(project)

    def get_trial_group(self, group: TrialGroup) -> TrialGroup | None:
        """Read from the first backend."""
        return self.backends[0].get_trial_group(group)

    def get_trial(self, trial: Trial) -> list[Trial]:
        """Read from the first backend."""
        return self.backends[0].get_trial(trial)

    def fetch_trials(self, query: dict[str, Any] | None, with_metrics: bool = True) -> list[Trial]:
        """Read from the first backend."""
        return self.backends[0].fetch_trials(query, with_metrics=with_metrics)

    def get_trial_metrics(
        self, trial: Trial, names: list[str] | None = None
    ) -> dict[str, list[list[Any]]]:
        """Read from the first backend."""
        return self.backends[0].get_trial_metrics(trial, names)

    def fetch_groups(self, query: dict[str, Any] | None) -> list[TrialGroup]:
        """Read from the first backend."""
        return self.backends[0].fetch_groups(query)

    def fetch_projects(self, query: dict[str, Any] | None) -> list[Project]:
        """Read from the first backend."""
        return self.backends[0].fetch_projects(query)
