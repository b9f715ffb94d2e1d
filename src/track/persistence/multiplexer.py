"""Fan every write out to several stores at once (e.g. a local file and a remote server)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from track.persistence.artifacts import ArtifactInfo, ArtifactSource
from track.persistence.protocol import Protocol, TrialBatch
from track.persistence.wrapping import WrappingProtocol
from track.structure import Project, Trial, TrialGroup

__all__ = ["ProtocolMultiplexer"]


class ProtocolMultiplexer(WrappingProtocol):
    """Writes go to every backend; reads (and ``folder``) are answered by the first one.

    The first backend is the wrapped store (``inner``): reads are :class:`WrappingProtocol`'s.
    Every write is overridden here to reach every backend, the first one deciding what is
    returned (a new trial's revision, the trial a reservation picked).
    """

    def __init__(self, *backends: Protocol) -> None:
        if not backends:
            raise ValueError("ProtocolMultiplexer needs at least one backend")
        super().__init__(backends[0])
        self.backends = backends

    # ---- side files and commits ---------------------------------------------------------

    def defer_commits(self) -> None:
        """Defer the commits of every backend."""
        for backend in self.backends:
            backend.defer_commits()

    def commit(self, **kwargs: Any) -> None:
        """Commit every backend."""
        for backend in self.backends:
            backend.commit(**kwargs)

    def close(self) -> None:
        """Close every backend."""
        for backend in self.backends:
            backend.close()

    # ---- writes -------------------------------------------------------------------------

    def log_trial_batch(self, trial: Trial, batch: TrialBatch) -> bool:
        """Apply the batch to every backend; the first backend's answer is returned."""
        answers = [backend.log_trial_batch(trial, batch) for backend in self.backends]
        return answers[0] is not False

    def log_trial_arguments(self, trial: Trial, **kwargs: Any) -> None:
        """Merge parameters in every backend."""
        for backend in self.backends:
            backend.log_trial_arguments(trial, **kwargs)

    def new_project(self, project: Project) -> Project | None:
        """Insert the project in every backend."""
        answers = [backend.new_project(project) for backend in self.backends]
        return answers[0]

    def new_trial_group(self, group: TrialGroup) -> TrialGroup | None:
        """Insert the group in every backend."""
        answers = [backend.new_trial_group(group) for backend in self.backends]
        return answers[0]

    def new_trial(self, trial: Trial, auto_increment: bool = False) -> Trial | None:
        """Insert the trial in every backend (the first decides the revision)."""
        first = self.inner.new_trial(trial, auto_increment)
        for backend in self.backends[1:]:
            if first is not None and not backend.get_trial(first):
                backend.new_trial(first, auto_increment=False)
        return first

    def add_project_trial(self, project: Project, trial: Trial) -> None:
        """Attach the trial to the project in every backend."""
        for backend in self.backends:
            backend.add_project_trial(project, trial)

    def add_group_trial(self, group: TrialGroup, trial: Trial) -> None:
        """Add the trial to the group in every backend."""
        for backend in self.backends:
            backend.add_group_trial(group, trial)

    def set_group_metadata(self, group: TrialGroup, **kwargs: Any) -> None:
        """Set group metadata in every backend."""
        for backend in self.backends:
            backend.set_group_metadata(group, **kwargs)

    def delete_trials(self, uids: Sequence[str]) -> int:
        """Delete the trials in every backend; the first backend's count is returned."""
        counts = [backend.delete_trials(uids) for backend in self.backends]
        return counts[0]

    def delete_group(self, uid: str, trials: bool = False) -> int:
        """Delete the group in every backend; the first backend's count is returned."""
        counts = [backend.delete_group(uid, trials) for backend in self.backends]
        return counts[0]

    def delete_project(self, uid: str, trials: bool = False) -> int:
        """Delete the project in every backend; the first backend's count is returned."""
        counts = [backend.delete_project(uid, trials) for backend in self.backends]
        return counts[0]

    def set_trial_display(self, uid: str, name: str | None = None, note: str | None = None) -> None:
        """Set the display name and note in every backend."""
        for backend in self.backends:
            backend.set_trial_display(uid, name, note)

    def remove_trial_tags(self, uid: str, names: Sequence[str]) -> None:
        """Remove the tags in every backend."""
        for backend in self.backends:
            backend.remove_trial_tags(uid, names)

    def put_artifact(
        self,
        trial: Trial,
        name: str,
        source: ArtifactSource,
        media_type: str | None = None,
    ) -> ArtifactInfo:
        """Store the artifact in every backend; the first backend's entry is returned.

        An open file is read once per backend, from where it stood: it must be seekable.
        """
        rewind = None if isinstance(source, (str, os.PathLike)) else source
        start = 0 if rewind is None else rewind.tell()
        answers = []
        for backend in self.backends:
            if rewind is not None:
                rewind.seek(start)
            answers.append(backend.put_artifact(trial, name, source, media_type))
        return answers[0]

    def collect_artifacts(self) -> tuple[int, int]:
        """Collect in every backend; the contents and bytes removed from all of them."""
        collected = [backend.collect_artifacts() for backend in self.backends]
        return sum(c for c, _ in collected), sum(b for _, b in collected)

    def fetch_and_update_trial(
        self, query: dict[str, Any], attr: str, *args: Any, **kwargs: Any
    ) -> Trial | None:
        """Pick and update in the first backend, then replay the update on the others."""
        trial = self.inner.fetch_and_update_trial(query, attr, *args, **kwargs)
        if trial is not None:
            for backend in self.backends[1:]:
                backend.fetch_and_update_trial({"uid": trial.uid}, attr, *args, **kwargs)
        return trial

    def fetch_and_update_group(
        self, query: dict[str, Any], attr: str, *args: Any, **kwargs: Any
    ) -> TrialGroup | None:
        """Pick and update in the first backend, then replay the update on the others."""
        group = self.inner.fetch_and_update_group(query, attr, *args, **kwargs)
        if group is not None:
            for backend in self.backends[1:]:
                backend.fetch_and_update_group({"uid": group.uid}, attr, *args, **kwargs)
        return group

    def fetch_and_update_once(
        self,
        request: str,
        kind: str,
        query: dict[str, Any],
        attr: str,
        args: tuple[Any, ...] | list[Any] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Trial | TrialGroup | None:
        """Pick and update once per ``request`` in the first backend, then in the others.

        Each backend records ``request``, so a repeated request is answered with the item
        picked the first time, and replays nothing twice.
        """
        picked = self.inner.fetch_and_update_once(request, kind, query, attr, args, kwargs)
        if picked is not None:
            for backend in self.backends[1:]:
                backend.fetch_and_update_once(
                    request, kind, {"uid": picked.uid}, attr, args, kwargs
                )
        return picked
