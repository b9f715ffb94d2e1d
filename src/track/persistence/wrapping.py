"""The base of every store that wraps another store (forwarding, multiplexing).

:class:`WrappingProtocol` passes each :class:`~track.persistence.protocol.Protocol` member to
the wrapped store ``inner``, written out once here so that readers and mypy see the interface.
A subclass overrides only what it changes: :class:`~track.forward.ForwardingProtocol` copies
accepted batches to forwarders, :class:`~track.persistence.multiplexer.ProtocolMultiplexer`
sends writes to several stores.

The per-call writes (``log_trial_metrics``, ``set_trial_status``, ..., listed in
:data:`BATCHED`) are not passed on: they stay Protocol's one-call batches through the
wrapper's own ``log_trial_batch``, so a wrapper that changes ``log_trial_batch`` sees every
write, whichever method made it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from track.persistence.artifacts import ArtifactInfo, ArtifactSource
from track.persistence.chunks import ChunkPreview, SeriesColumns
from track.persistence.protocol import MetricSummary, Protocol, TrialBatch
from track.persistence.utils import URI
from track.structure import Project, Trial, TrialGroup

__all__ = ["BATCHED", "WrappingProtocol"]

#: Protocol methods a wrapper inherits instead of passing on: each is one batch, written
#: through the wrapper's ``log_trial_batch``.
BATCHED = frozenset(
    {
        "log_trial_metrics",
        "log_trial_metadata",
        "log_trial_chronos",
        "add_trial_tags",
        "set_trial_status",
        "log_trial_start",
        "log_trial_finish",
        "log_trial_chrono_start",
        "log_trial_chrono_finish",
    }
)


class WrappingProtocol(Protocol):
    """A store that passes every Protocol member to the store it wraps, ``inner``."""

    def __init__(self, inner: Protocol) -> None:
        self.inner = inner

    # ---- side files and commits ---------------------------------------------------------

    @property
    def folder(self) -> str | None:
        """The wrapped store's folder."""
        return self.inner.folder

    @property
    def uri(self) -> URI | None:  # type: ignore[override]
        """The wrapped store's URI."""
        return self.inner.uri

    def defer_commits(self) -> None:
        """Defer the wrapped store's commits."""
        self.inner.defer_commits()

    def commit(self, **kwargs: Any) -> None:
        """Commit the wrapped store."""
        self.inner.commit(**kwargs)

    def close(self) -> None:
        """Close the wrapped store."""
        self.inner.close()

    # ---- writes -------------------------------------------------------------------------

    def log_trial_batch(self, trial: Trial, batch: TrialBatch) -> bool:
        """Apply the batch in the wrapped store."""
        return self.inner.log_trial_batch(trial, batch)

    def log_trial_arguments(self, trial: Trial, **kwargs: Any) -> None:
        """Merge parameters in the wrapped store."""
        self.inner.log_trial_arguments(trial, **kwargs)

    def new_project(self, project: Project) -> Project | None:
        """Insert the project in the wrapped store."""
        return self.inner.new_project(project)

    def new_trial_group(self, group: TrialGroup) -> TrialGroup | None:
        """Insert the group in the wrapped store."""
        return self.inner.new_trial_group(group)

    def new_trial(self, trial: Trial, auto_increment: bool = False) -> Trial | None:
        """Insert the trial in the wrapped store."""
        return self.inner.new_trial(trial, auto_increment)

    def add_project_trial(self, project: Project, trial: Trial) -> None:
        """Attach the trial to the project in the wrapped store."""
        self.inner.add_project_trial(project, trial)

    def add_group_trial(self, group: TrialGroup, trial: Trial) -> None:
        """Add the trial to the group in the wrapped store."""
        self.inner.add_group_trial(group, trial)

    def set_group_metadata(self, group: TrialGroup, **kwargs: Any) -> None:
        """Set group metadata in the wrapped store."""
        self.inner.set_group_metadata(group, **kwargs)

    def fetch_and_update_trial(
        self, query: dict[str, Any], attr: str, *args: Any, **kwargs: Any
    ) -> Trial | None:
        """Pick and update a trial in the wrapped store."""
        return self.inner.fetch_and_update_trial(query, attr, *args, **kwargs)

    def fetch_and_update_group(
        self, query: dict[str, Any], attr: str, *args: Any, **kwargs: Any
    ) -> TrialGroup | None:
        """Pick and update a group in the wrapped store."""
        return self.inner.fetch_and_update_group(query, attr, *args, **kwargs)

    def fetch_and_update_once(
        self,
        request: str,
        kind: str,
        query: dict[str, Any],
        attr: str,
        args: tuple[Any, ...] | list[Any] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Trial | TrialGroup | None:
        """Pick and update once per ``request`` in the wrapped store."""
        return self.inner.fetch_and_update_once(request, kind, query, attr, args, kwargs)

    def delete_trials(self, uids: Sequence[str]) -> int:
        """Delete the trials in the wrapped store."""
        return self.inner.delete_trials(uids)

    def delete_group(self, uid: str, trials: bool = False) -> int:
        """Delete the group in the wrapped store."""
        return self.inner.delete_group(uid, trials)

    def delete_project(self, uid: str, trials: bool = False) -> int:
        """Delete the project in the wrapped store."""
        return self.inner.delete_project(uid, trials)

    def set_trial_display(self, uid: str, name: str | None = None, note: str | None = None) -> None:
        """Set the display name and note in the wrapped store."""
        self.inner.set_trial_display(uid, name, note)

    def remove_trial_tags(self, uid: str, names: Sequence[str]) -> None:
        """Remove tags in the wrapped store."""
        self.inner.remove_trial_tags(uid, names)

    def put_artifact(
        self,
        trial: Trial,
        name: str,
        source: ArtifactSource,
        media_type: str | None = None,
    ) -> ArtifactInfo:
        """Store the artifact in the wrapped store."""
        return self.inner.put_artifact(trial, name, source, media_type)

    def collect_artifacts(self) -> tuple[int, int]:
        """Collect unreferenced contents in the wrapped store."""
        return self.inner.collect_artifacts()

    # ---- reads --------------------------------------------------------------------------

    def get_project(self, project: Project) -> Project | None:
        """Read from the wrapped store."""
        return self.inner.get_project(project)

    def get_trial_group(self, group: TrialGroup) -> TrialGroup | None:
        """Read from the wrapped store."""
        return self.inner.get_trial_group(group)

    def get_trial(self, trial: Trial) -> list[Trial]:
        """Read from the wrapped store."""
        return self.inner.get_trial(trial)

    def fetch_trials(self, query: dict[str, Any] | None, with_metrics: bool = True) -> list[Trial]:
        """Read from the wrapped store."""
        return self.inner.fetch_trials(query, with_metrics=with_metrics)

    def get_trial_metrics(
        self, trial: Trial, names: list[str] | None = None
    ) -> dict[str, list[list[Any]]]:
        """Read from the wrapped store."""
        return self.inner.get_trial_metrics(trial, names)

    def get_trial_series(
        self, trial: Trial, names: list[str] | None = None, low: Any = None, high: Any = None
    ) -> dict[str, SeriesColumns]:
        """Read from the wrapped store."""
        return self.inner.get_trial_series(trial, names, low, high)

    def get_series_previews(
        self, trial: Trial, names: list[str] | None = None
    ) -> dict[str, list[ChunkPreview]]:
        """Read from the wrapped store."""
        return self.inner.get_series_previews(trial, names)

    def fetch_summaries(
        self, query: dict[str, Any] | None
    ) -> list[tuple[Trial, dict[str, MetricSummary]]]:
        """Read from the wrapped store."""
        return self.inner.fetch_summaries(query)

    def fetch_groups(self, query: dict[str, Any] | None) -> list[TrialGroup]:
        """Read from the wrapped store."""
        return self.inner.fetch_groups(query)

    def fetch_projects(self, query: dict[str, Any] | None) -> list[Project]:
        """Read from the wrapped store."""
        return self.inner.fetch_projects(query)

    def list_artifacts(self, trial: Trial) -> list[ArtifactInfo]:
        """Read from the wrapped store."""
        return self.inner.list_artifacts(trial)

    def open_artifact(self, trial: Trial, name: str) -> Iterator[bytes]:
        """Read from the wrapped store."""
        return self.inner.open_artifact(trial, name)
