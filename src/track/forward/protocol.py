"""A store wrapper that hands every accepted batch to forwarders (wandb, MLflow, CSV, ...).

:class:`ForwardingProtocol` delegates every Protocol method to the wrapped track store. After
the store's ``log_trial_batch`` succeeded it gives the same batch to each live forwarder in a
guarded call: this runs on the write pipeline's flusher thread, never in the training loop. A
forwarder that raises is reported once (a ``track.forward`` warning) and disabled; the store
and the other forwarders carry on, like sacred's observers.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from track.forward.base import Forwarder
from track.persistence.protocol import Protocol, TrialBatch
from track.structure import Project, Trial, TrialGroup

__all__ = ["ForwardingProtocol", "safe_call"]

log = logging.getLogger("track.forward")


def safe_call(forwarder: Forwarder, action: str, call: Callable[[], Any]) -> None:
    """Run ``call``; on error warn once naming ``forwarder`` and disable it."""
    if not forwarder.enabled:
        return
    try:
        call()
    except Exception as error:  # a forwarder must never break the run
        forwarder.enabled = False
        log.warning(
            "track: forwarder %r failed to %s (%s: %s); it is disabled, the track store and "
            "the other forwarders carry on",
            forwarder.name,
            action,
            type(error).__name__,
            error,
        )
        with contextlib.suppress(Exception):
            forwarder.close()


class ForwardingProtocol(Protocol):
    """The wrapped store, plus a copy of every accepted batch to each live forwarder."""

    def __init__(self, store: Protocol, forwarders: Sequence[Forwarder]) -> None:
        self.store = store
        self.forwarders = list(forwarders)
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        # Store-specific attributes (``path``, ...) read through; Protocol methods are below.
        if name in ("store", "forwarders", "_lock"):
            raise AttributeError(name)
        return getattr(self.store, name)

    def log_trial_batch(self, trial: Trial, batch: TrialBatch) -> None:
        """Apply the batch to the store, then forward it to every live forwarder."""
        self.store.log_trial_batch(trial, batch)
        with self._lock:
            for forwarder in self.forwarders:
                safe_call(forwarder, "log", lambda f=forwarder: f.handle(trial, batch))

    def close(self) -> None:
        """End every forwarder's current trial, close the forwarders, then the store."""
        with self._lock:
            for forwarder in self.forwarders:
                safe_call(forwarder, "finish", forwarder.finish_current)
                safe_call(forwarder, "close", forwarder.close)
        self.store.close()

    def commit(self, **kwargs: Any) -> None:
        """Commit the store."""
        self.store.commit(**kwargs)

    def log_trial_arguments(self, trial: Trial, **kwargs: Any) -> None:
        """Merge parameters in the store."""
        self.store.log_trial_arguments(trial, **kwargs)

    def get_project(self, project: Project) -> Project | None:
        """Read from the store."""
        return self.store.get_project(project)

    def new_project(self, project: Project) -> Project | None:
        """Insert into the store."""
        return self.store.new_project(project)

    def get_trial_group(self, group: TrialGroup) -> TrialGroup | None:
        """Read from the store."""
        return self.store.get_trial_group(group)

    def new_trial_group(self, group: TrialGroup) -> TrialGroup | None:
        """Insert into the store."""
        return self.store.new_trial_group(group)

    def add_project_trial(self, project: Project, trial: Trial) -> None:
        """Attach in the store."""
        self.store.add_project_trial(project, trial)

    def add_group_trial(self, group: TrialGroup, trial: Trial) -> None:
        """Attach in the store."""
        self.store.add_group_trial(group, trial)

    def set_group_metadata(self, group: TrialGroup, **kwargs: Any) -> None:
        """Write to the store."""
        self.store.set_group_metadata(group, **kwargs)

    def get_trial(self, trial: Trial) -> list[Trial]:
        """Read from the store."""
        return self.store.get_trial(trial)

    def new_trial(self, trial: Trial, auto_increment: bool = False) -> Trial | None:
        """Insert into the store."""
        return self.store.new_trial(trial, auto_increment)

    def fetch_trials(self, query: dict[str, Any] | None, with_metrics: bool = True) -> list[Trial]:
        """Read from the store."""
        return self.store.fetch_trials(query, with_metrics=with_metrics)

    def get_trial_metrics(
        self, trial: Trial, names: list[str] | None = None
    ) -> dict[str, list[list[Any]]]:
        """Read from the store."""
        return self.store.get_trial_metrics(trial, names)

    def fetch_groups(self, query: dict[str, Any] | None) -> list[TrialGroup]:
        """Read from the store."""
        return self.store.fetch_groups(query)

    def fetch_projects(self, query: dict[str, Any] | None) -> list[Project]:
        """Read from the store."""
        return self.store.fetch_projects(query)

    def fetch_and_update_trial(
        self, query: dict[str, Any], attr: str, *args: Any, **kwargs: Any
    ) -> Trial | None:
        """Update in the store (not forwarded: it is a scheduling primitive)."""
        return self.store.fetch_and_update_trial(query, attr, *args, **kwargs)

    def fetch_and_update_group(
        self, query: dict[str, Any], attr: str, *args: Any, **kwargs: Any
    ) -> TrialGroup | None:
        """Update in the store (not forwarded: it is a scheduling primitive)."""
        return self.store.fetch_and_update_group(query, attr, *args, **kwargs)
