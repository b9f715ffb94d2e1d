"""Stores that hold the whole state as JSON-native documents: memory, file and pickle.

The state is one dict (the layout of the ``file://`` format)::

    {"format": "track/1",
     "projects": {uid: project_doc}, "groups": {uid: group_doc}, "trials": {uid: trial_doc},
     "writers": {writer_id: last_applied_seq}}

Every operation runs inside :meth:`DocumentStore._transaction`; subclasses make that
transaction durable and safe across processes (a file lock, a reload when another process
changed the file, an atomic save).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from track.liveness import effective_status_doc
from track.persistence.protocol import (
    GROUP_UPDATE_METHODS,
    TRIAL_UPDATE_METHODS,
    Protocol,
    TrialBatch,
    check_update_method,
)
from track.query import matches, parse
from track.serialization import (
    group_from_doc,
    group_to_doc,
    jsonable_dict,
    project_from_doc,
    project_to_doc,
    trial_from_doc,
    trial_to_doc,
)
from track.structure import Project, Trial, TrialGroup

__all__ = ["DocumentStore", "TrialNotFound", "apply_batch", "empty_state"]

FORMAT = "track/1"


class TrialNotFound(KeyError):
    """A write names a trial the store does not hold."""


def empty_state() -> dict[str, Any]:
    """A store with nothing in it."""
    return {"format": FORMAT, "projects": {}, "groups": {}, "trials": {}, "writers": {}}


def apply_batch(doc: dict[str, Any], batch: TrialBatch) -> None:
    """Apply a batch to a trial document, in logging order."""
    metrics = doc.setdefault("metrics", {})
    for name, points in batch.series.items():
        series = metrics.get(name)
        if series is None:
            metrics[name] = list(points)
        else:
            series.extend(points)
    if batch.metadata:
        doc.setdefault("metadata", {}).update(batch.metadata)
    if batch.tags:
        doc.setdefault("tags", {}).update(batch.tags)
    if batch.chronos:
        doc.setdefault("chronos", {}).update(batch.chronos)
    if batch.status is not None:
        doc["status"] = batch.status
    if batch.errors:
        doc.setdefault("errors", []).extend(batch.errors)


class DocumentStore(Protocol):
    """Implements the whole protocol on an in-memory state; subclasses decide persistence."""

    def __init__(self) -> None:
        self._state = empty_state()
        self._lock = threading.RLock()
        self._depth = 0
        self._changed: set[str] = set()

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[dict[str, Any]]:
        """Run one operation on the state; nested calls join the outermost transaction."""
        with self._lock:
            self._depth += 1
            try:
                if self._depth == 1:
                    self._begin(write)
                yield self._state
                if self._depth == 1 and write:
                    self._save()
            finally:
                if self._depth == 1:
                    self._end()
                    self._changed.clear()
                self._depth -= 1

    def _begin(self, write: bool) -> None:
        """Hook: acquire inter-process locks and reload the state if needed."""

    def _save(self) -> None:
        """Hook: persist the state after a write (``self._changed`` names changed trials)."""

    def _end(self) -> None:
        """Hook: release what :meth:`_begin` acquired."""

    # ---- writes ---------------------------------------------------------------------------

    def _trial_doc(self, state: dict[str, Any], uid: str) -> dict[str, Any]:
        doc = state["trials"].get(uid)
        if doc is None:
            raise TrialNotFound(f"no trial {uid!r} in this store")
        self._changed.add(uid)
        return doc

    def log_trial_batch(self, trial: Trial, batch: TrialBatch) -> None:
        """Apply ``batch`` once: a batch whose (writer, seq) was already applied is skipped."""
        with self._transaction(write=True) as state:
            if batch.writer:
                writers = state["writers"]
                if writers.get(batch.writer, -1) >= batch.seq:
                    return
                writers[batch.writer] = batch.seq
            doc = state["trials"].get(trial.uid)
            if doc is None:
                raise TrialNotFound(f"no trial {trial.uid!r} in this store")
            apply_batch(doc, batch)
            self._batch_applied(trial.uid, batch)

    def _batch_applied(self, uid: str, batch: TrialBatch) -> None:
        """Hook: a batch was applied to trial ``uid`` (the file store encodes just the new points)."""
        self._changed.add(uid)

    def log_trial_arguments(self, trial: Trial, **kwargs: Any) -> None:
        """Merge parameters into the stored trial, keeping its uid."""
        with self._transaction(write=True) as state:
            self._trial_doc(state, trial.uid)["parameters"].update(jsonable_dict(kwargs))

    def set_group_metadata(self, group: TrialGroup, **kwargs: Any) -> None:
        """Set metadata keys of a stored group."""
        with self._transaction(write=True) as state:
            state["groups"][group.uid]["metadata"].update(jsonable_dict(kwargs))

    # ---- projects and groups --------------------------------------------------------------

    def get_project(self, project: Project) -> Project | None:
        """The stored project with this uid, or None."""
        with self._transaction(write=False) as state:
            doc = state["projects"].get(project.uid)
            return project_from_doc(doc) if doc else None

    def new_project(self, project: Project) -> Project | None:
        """Insert a project; None if one with this uid exists."""
        with self._transaction(write=True) as state:
            if project.uid in state["projects"]:
                return None
            state["projects"][project.uid] = project_to_doc(project)
            return project

    def get_trial_group(self, group: TrialGroup) -> TrialGroup | None:
        """The stored group with this uid, or None."""
        with self._transaction(write=False) as state:
            doc = state["groups"].get(group.uid)
            return group_from_doc(doc) if doc else None

    def new_trial_group(self, group: TrialGroup) -> TrialGroup | None:
        """Insert a group (and list it in its project); None if it exists."""
        with self._transaction(write=True) as state:
            if group.uid in state["groups"]:
                return None
            state["groups"][group.uid] = group_to_doc(group)
            project = state["projects"].get(group.project_id)
            if project is not None and group.uid not in project["groups"]:
                project["groups"].append(group.uid)
            return group

    def add_project_trial(self, project: Project, trial: Trial) -> None:
        """Attach a stored trial to a stored project."""
        with self._transaction(write=True) as state:
            doc = self._trial_doc(state, trial.uid)
            doc["project_id"] = project.uid
            trials = state["projects"][project.uid]["trials"]
            if trial.uid not in trials:
                trials.append(trial.uid)

    def add_group_trial(self, group: TrialGroup, trial: Trial) -> None:
        """Add a stored trial to a stored group."""
        with self._transaction(write=True) as state:
            doc = self._trial_doc(state, trial.uid)
            if group.uid not in doc["groups"]:
                doc["groups"].append(group.uid)
            if doc.get("group_id") is None:
                doc["group_id"] = group.uid
            trials = state["groups"][group.uid]["trials"]
            if trial.uid not in trials:
                trials.append(trial.uid)

    # ---- trials ---------------------------------------------------------------------------

    def get_trial(self, trial: Trial) -> list[Trial]:
        """The stored trial with this uid, as a one-element list (empty if absent)."""
        with self._transaction(write=False) as state:
            doc = state["trials"].get(trial.uid)
            return [trial_from_doc(effective_status_doc(doc))] if doc else []

    def new_trial(self, trial: Trial, auto_increment: bool = False) -> Trial | None:
        """Insert a trial, bumping its revision past existing ones when ``auto_increment``."""
        trial._hash = trial.hash
        with self._transaction(write=True) as state:
            trials = state["trials"]
            if trial.uid in trials:
                if not auto_increment:
                    return None
                revisions = [d["revision"] for d in trials.values() if d["hash"] == trial.hash]
                trial.revision = max(revisions) + 1
            doc = trial_to_doc(trial)
            trials[trial.uid] = doc
            self._changed.add(trial.uid)
            project = state["projects"].get(trial.project_id)
            if project is not None:
                project["trials"].append(trial.uid)
            for group_uid in doc["groups"]:
                group = state["groups"].get(group_uid)
                if group is not None:
                    group["trials"].append(trial.uid)
            return trial

    def _matching_trials(self, state: dict[str, Any], query: Any) -> Iterator[dict[str, Any]]:
        conditions = parse(query)
        for doc in state["trials"].values():
            visible = effective_status_doc(doc)
            if matches(visible, conditions):
                yield visible

    def fetch_trials(self, query: dict[str, Any] | None, with_metrics: bool = True) -> list[Trial]:
        """Trials matching ``query`` (stale running trials read as Interrupted)."""
        with self._transaction(write=False) as state:
            trials = [trial_from_doc(doc) for doc in self._matching_trials(state, query)]
        if not with_metrics:
            for trial in trials:
                trial.metrics = {k: v[-1:] for k, v in trial.metrics.items()}
        return trials

    def fetch_groups(self, query: dict[str, Any] | None) -> list[TrialGroup]:
        """Groups matching ``query``."""
        conditions = parse(query)
        with self._transaction(write=False) as state:
            docs = state["groups"].values()
            return [group_from_doc(d) for d in docs if matches(d, conditions)]

    def fetch_projects(self, query: dict[str, Any] | None) -> list[Project]:
        """Projects matching ``query``."""
        conditions = parse(query)
        with self._transaction(write=False) as state:
            docs = state["projects"].values()
            return [project_from_doc(d) for d in docs if matches(d, conditions)]

    def fetch_and_update_trial(
        self, query: dict[str, Any], attr: str, *args: Any, **kwargs: Any
    ) -> Trial | None:
        """Pick the first matching trial and apply ``attr`` to it, in one write transaction."""
        check_update_method(attr, TRIAL_UPDATE_METHODS)
        with self._transaction(write=True) as state:
            doc = next(self._matching_trials(state, query), None)
            if doc is None:
                return None
            trial = trial_from_doc(doc)
            getattr(self, attr)(trial, *args, **kwargs)
            return trial_from_doc(state["trials"][trial.uid])

    def fetch_and_update_group(
        self, query: dict[str, Any], attr: str, *args: Any, **kwargs: Any
    ) -> TrialGroup | None:
        """Pick the first matching group and apply ``attr`` to it, in one write transaction."""
        check_update_method(attr, GROUP_UPDATE_METHODS)
        conditions = parse(query)
        with self._transaction(write=True) as state:
            doc = next((d for d in state["groups"].values() if matches(d, conditions)), None)
            if doc is None:
                return None
            group = group_from_doc(doc)
            getattr(self, attr)(group, *args, **kwargs)
            return group_from_doc(state["groups"][group.uid])
