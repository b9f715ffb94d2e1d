"""Stores that hold the whole state as JSON-native documents: memory, file and pickle.

The state is one dict (the layout of the ``file://`` format)::

    {"format": "track/1",
     "projects": {uid: project_doc}, "groups": {uid: group_doc}, "trials": {uid: trial_doc},
     "writers": {writer_id: [[first_seq, last_seq], ...]},
     "requests": {request_id: {"kind": "trial" | "group", "uid": uid | None}}}

``writers`` holds, per writer, the sorted ranges of batch sequence numbers already applied, so
a batch is applied exactly once even when it arrives out of order (a refused batch replayed
after later ones). Files written before ranges held the last applied seq ``N``; they are read
as ``[[0, N]]``. ``requests`` records the item each ``fetch_and_update_once`` request picked.

Every operation runs inside :meth:`DocumentStore._transaction`, and every write is
all-or-nothing: each change to the state is made through the transaction's :class:`UndoLog`,
and a transaction that raises (a refused write, a failed save) is rolled back by replaying the
log backwards, so neither the state nor a later save keeps any part of it. The log holds one
entry per key set or list grown, never a copy of the state: a flush of N points logs a few
entries, not N. A write transaction that changed nothing saves nothing. Subclasses make the
transaction durable and safe across processes (a file lock, a reload when another process
changed the file, a journal append or an atomic rewrite).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from track.errors import InvalidValue
from track.liveness import effective_status_doc
from track.persistence.artifacts import (
    ArtifactInfo,
    ArtifactNotFound,
    ArtifactSource,
    ArtifactsUnsupported,
    FolderBlobs,
    checked_name,
    guess_media_type,
    opened,
    verified,
)
from track.persistence.protocol import (
    GROUP_UPDATE_METHODS,
    TRIAL_UPDATE_METHODS,
    MetricSummary,
    Protocol,
    TrialBatch,
    TrialNotFound,
    check_update_method,
    not_empty,
    record_applied,
    summarize_points,
    with_display,
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

__all__ = [
    "DocumentStore",
    "TrialNotFound",
    "UndoLog",
    "apply_batch",
    "empty_state",
    "upgrade_state",
]

FORMAT = "track/1"
_MISSING = object()


def empty_state() -> dict[str, Any]:
    """A store with nothing in it."""
    return {
        "format": FORMAT,
        "projects": {},
        "groups": {},
        "trials": {},
        "writers": {},
        "requests": {},
    }


def upgrade_state(state: dict[str, Any]) -> dict[str, Any]:
    """Bring a state read from an older file to the current layout, in place, and return it.

    A writer's last applied seq ``N`` (the old high-water mark) becomes the range ``[[0, N]]``.
    """
    for key in ("projects", "groups", "trials", "writers", "requests"):
        if state.get(key) is None:
            state[key] = {}
    writers = state["writers"]
    for writer, applied in writers.items():
        if isinstance(applied, int):
            writers[writer] = [[0, applied]]
    return state


class UndoLog:
    """The inverse of every change a transaction made to the state, to roll it back.

    An entry is ``(mapping, key, old value)`` for a key that was set (``_MISSING`` when it was
    absent) or ``(list, old length)`` for a list that grew. Rolling back replays the entries
    backwards down to a mark, so a nested transaction can undo just its own changes.
    """

    __slots__ = ("entries",)

    def __init__(self) -> None:
        self.entries: list[tuple[Any, ...]] = []

    def set(self, mapping: dict[str, Any], key: str, value: Any) -> None:
        """``mapping[key] = value``, undoably."""
        self.entries.append((mapping, key, mapping.get(key, _MISSING)))
        mapping[key] = value

    def pop(self, mapping: dict[str, Any], key: str) -> None:
        """``del mapping[key]`` (when present), undoably."""
        if key in mapping:
            self.entries.append((mapping, key, mapping[key]))
            del mapping[key]

    def update(self, mapping: dict[str, Any], values: dict[str, Any]) -> None:
        """``mapping.update(values)``, undoably."""
        for key, value in values.items():
            self.set(mapping, key, value)

    def extend(self, items: list[Any], values: Any) -> None:
        """``items.extend(values)``, undoably."""
        self.entries.append((items, len(items)))
        items.extend(values)

    def append(self, items: list[Any], value: Any) -> None:
        """``items.append(value)``, undoably."""
        self.extend(items, (value,))

    def child(self, mapping: dict[str, Any], key: str, empty: Any) -> Any:
        """``mapping[key]``, set (undoably) to ``empty`` first when absent."""
        value = mapping.get(key)
        if value is None:
            value = empty
            self.set(mapping, key, value)
        return value

    def rollback(self, mark: int = 0) -> None:
        """Undo every change logged after ``mark`` (the number of entries at that point)."""
        entries = self.entries
        while len(entries) > mark:
            entry = entries.pop()
            if len(entry) == 2:
                del entry[0][entry[1] :]
            else:
                mapping, key, old = entry
                if old is _MISSING:
                    del mapping[key]
                else:
                    mapping[key] = old


def apply_batch(doc: dict[str, Any], batch: TrialBatch, undo: UndoLog | None = None) -> None:
    """Apply a batch to a trial document, in logging order, logging each change in ``undo``."""
    undo = UndoLog() if undo is None else undo
    metrics = undo.child(doc, "metrics", {})
    for name, points in batch.series.items():
        series = metrics.get(name)
        if series is None:
            undo.set(metrics, name, list(points))
        else:
            undo.extend(series, points)
    if batch.metadata:
        undo.update(undo.child(doc, "metadata", {}), batch.metadata)
    if batch.tags:
        undo.update(undo.child(doc, "tags", {}), batch.tags)
    if batch.chronos:
        undo.update(undo.child(doc, "chronos", {}), batch.chronos)
    if batch.status is not None:
        undo.set(doc, "status", batch.status)
    if batch.errors:
        undo.extend(undo.child(doc, "errors", []), batch.errors)


class DocumentStore(Protocol):
    """Implements the whole protocol on an in-memory state; subclasses decide persistence."""

    def __init__(self) -> None:
        self._state = empty_state()
        self._lock = threading.RLock()
        self._depth = 0
        self._undo = UndoLog()
        #: trials changed by a write other than a batch (the file store encodes them again)
        self._changed: set[str] = set()
        #: batches applied in the current transaction, as (trial uid, batch)
        self._applied: list[tuple[str, TrialBatch]] = []
        #: True while the current transaction has only applied batches (the file store
        #: journals those instead of rewriting its document)
        self._only_batches = True

    @contextmanager
    def _transaction(self, write: bool, batch: bool = False) -> Iterator[dict[str, Any]]:
        """Run one operation on the state; nested calls join the outermost transaction.

        Whatever raises inside (at any depth) is undone back to where that level began, so a
        refused or failed write leaves no trace; the outermost write transaction saves only
        when something changed. ``batch`` marks the transaction of ``log_trial_batch``.
        """
        with self._lock:
            self._depth += 1
            outermost = self._depth == 1
            undo_mark, applied_mark = len(self._undo.entries), len(self._applied)
            try:
                if outermost:
                    self._only_batches = True
                    self._begin(write)
                if write and not batch:
                    self._only_batches = False
                yield self._state
                if outermost and write and self._undo.entries:
                    self._save()
            except BaseException:
                self._undo.rollback(undo_mark)
                del self._applied[applied_mark:]
                raise
            finally:
                if outermost:
                    self._undo.entries.clear()
                    self._applied.clear()
                    self._changed.clear()
                    self._end()
                self._depth -= 1

    def _begin(self, write: bool) -> None:
        """Hook: acquire inter-process locks and reload the state if needed."""

    def _save(self) -> None:
        """Hook: persist the transaction (``_applied``, ``_changed``, ``_only_batches``)."""

    def _end(self) -> None:
        """Hook: release what :meth:`_begin` acquired."""

    # ---- lookups that refuse a missing item -----------------------------------------------

    def _trial_doc(self, state: dict[str, Any], uid: str) -> dict[str, Any]:
        doc: dict[str, Any] | None = state["trials"].get(uid)
        if doc is None:
            raise TrialNotFound(f"no trial {uid!r} in this store")
        self._changed.add(uid)
        return doc

    @staticmethod
    def _found(state: dict[str, Any], kind: str, uid: str) -> dict[str, Any]:
        doc: dict[str, Any] | None = state[f"{kind}s"].get(uid)
        if doc is None:
            raise TrialNotFound(f"no {kind} {uid!r} in this store")
        return doc

    # ---- writes ---------------------------------------------------------------------------

    def log_trial_batch(self, trial: Trial, batch: TrialBatch) -> bool:
        """Apply ``batch`` once; False (nothing changed) when its (writer, seq) was applied."""
        with self._transaction(write=True, batch=True) as state:
            doc = state["trials"].get(trial.uid)
            if doc is None:
                raise TrialNotFound(f"no trial {trial.uid!r} in this store")
            if batch.writer:
                writers = state["writers"]
                # a copy: the undo log keeps the old list to put back
                ranges = [list(applied) for applied in writers.get(batch.writer, ())]
                if not record_applied(ranges, batch.seq):
                    return False
                self._undo.set(writers, batch.writer, ranges)
            apply_batch(doc, batch, self._undo)
            self._applied.append((trial.uid, batch))
            return True

    def log_trial_arguments(self, trial: Trial, **kwargs: Any) -> None:
        """Merge parameters into the stored trial, keeping its uid."""
        parameters = jsonable_dict(kwargs)
        with self._transaction(write=True) as state:
            doc = self._trial_doc(state, trial.uid)
            self._undo.update(self._undo.child(doc, "parameters", {}), parameters)

    def set_group_metadata(self, group: TrialGroup, **kwargs: Any) -> None:
        """Set metadata keys of a stored group."""
        metadata = jsonable_dict(kwargs)
        with self._transaction(write=True) as state:
            doc = self._found(state, "group", group.uid)
            self._undo.update(self._undo.child(doc, "metadata", {}), metadata)

    # ---- editing --------------------------------------------------------------------------

    def _drop_trials(self, state: dict[str, Any], uids: Any) -> int:
        """Remove trial documents and every list naming them (projects', groups')."""
        count = 0
        for uid in dict.fromkeys(uids):
            doc = state["trials"].get(uid)
            if doc is None:
                continue
            self._undo.pop(state["trials"], uid)
            self._changed.add(uid)
            count += 1
            project = state["projects"].get(doc.get("project_id"))
            if project is not None and uid in project.get("trials", ()):
                self._undo.set(project, "trials", [t for t in project["trials"] if t != uid])
            for group_uid in {*doc.get("groups", ()), doc.get("group_id")}:
                group = state["groups"].get(group_uid)
                if group is not None and uid in group.get("trials", ()):
                    self._undo.set(group, "trials", [t for t in group["trials"] if t != uid])
        return count

    @staticmethod
    def _group_trials(state: dict[str, Any], uids: set[str]) -> list[str]:
        """The trials that are members of any of the groups ``uids``."""
        return [
            uid
            for uid, doc in state["trials"].items()
            if doc.get("group_id") in uids or uids.intersection(doc.get("groups", ()))
        ]

    def delete_trials(self, uids: Sequence[str]) -> int:
        """Delete the named trials (with their points and memberships); returns the count."""
        with self._transaction(write=True) as state:
            return self._drop_trials(state, uids)

    def delete_group(self, uid: str, trials: bool = False) -> int:
        """Delete a group (refused while it holds trials, unless ``trials=True``)."""
        with self._transaction(write=True) as state:
            doc = self._found(state, "group", uid)
            held = self._group_trials(state, {uid})
            if held and not trials:
                raise not_empty("group", uid, len(held))
            count = self._drop_trials(state, held)
            self._undo.pop(state["groups"], uid)
            project = state["projects"].get(doc.get("project_id"))
            if project is not None and uid in project.get("groups", ()):
                self._undo.set(project, "groups", [g for g in project["groups"] if g != uid])
            return count

    def delete_project(self, uid: str, trials: bool = False) -> int:
        """Delete a project and its groups (refused while they hold trials, unless ``trials``)."""
        with self._transaction(write=True) as state:
            self._found(state, "project", uid)
            groups = {g for g, doc in state["groups"].items() if doc.get("project_id") == uid}
            held = [t for t, doc in state["trials"].items() if doc.get("project_id") == uid]
            held = list(dict.fromkeys([*held, *self._group_trials(state, groups)]))
            if held and not trials:
                raise not_empty("project", uid, len(held))
            count = self._drop_trials(state, held)
            for group_uid in groups:
                self._undo.pop(state["groups"], group_uid)
            self._undo.pop(state["projects"], uid)
            return count

    def set_trial_display(self, uid: str, name: str | None = None, note: str | None = None) -> None:
        """Set ``metadata.display_name`` and ``metadata.note`` ("" removes; identity unchanged)."""
        with self._transaction(write=True) as state:
            doc = self._trial_doc(state, uid)
            self._undo.set(doc, "metadata", with_display(doc.get("metadata") or {}, name, note))

    def remove_trial_tags(self, uid: str, names: Sequence[str]) -> None:
        """Remove the named tags of a stored trial."""
        with self._transaction(write=True) as state:
            doc = self._trial_doc(state, uid)
            tags = doc.get("tags") or {}
            if any(name in tags for name in names):
                self._undo.set(doc, "tags", {k: v for k, v in tags.items() if k not in names})

    # ---- artifacts: bytes in a folder, the index in the trial document's ``artifacts`` -----

    def _artifact_blobs(self) -> FolderBlobs:
        """Hook: where this store keeps artifact bytes; a store without a file keeps none."""
        raise ArtifactsUnsupported(
            f"{type(self).__name__} has no folder for artifacts: use a file://, pickled://, "
            "sqlite:// or postgresql:// store"
        )

    def _artifact_index(self, uid: str) -> dict[str, Any]:
        with self._transaction(write=False) as state:
            doc = state["trials"].get(uid)
            if doc is None:
                raise TrialNotFound(f"no trial {uid!r} in this store")
            return dict(doc.get("artifacts") or {})

    def put_artifact(
        self,
        trial: Trial,
        name: str,
        source: ArtifactSource,
        media_type: str | None = None,
    ) -> ArtifactInfo:
        """Stage the bytes in the artifact folder, then place and index them in one transaction."""
        checked_name(name)
        blobs = self._artifact_blobs()
        self._artifact_index(trial.uid)  # refuse an unknown trial before copying anything
        with opened(source) as file:
            staged = blobs.stage(file)
        try:
            info = ArtifactInfo(
                trial.uid,
                name,
                staged.size,
                staged.sha256,
                time.time(),
                media_type or guess_media_type(name),
            )
            with self._transaction(write=True) as state:
                doc = self._trial_doc(state, trial.uid)
                blobs.place(staged)  # under the write lock, like collect_artifacts
                index = {**(doc.get("artifacts") or {}), name: info.to_doc()}
                self._undo.set(doc, "artifacts", index)
        finally:
            blobs.discard(staged)
        return info

    def collect_artifacts(self) -> tuple[int, int]:
        """Remove the contents no trial document names, under the store's write lock."""
        blobs = self._artifact_blobs()
        with self._transaction(write=True) as state:
            referenced = {
                str(entry["sha256"])
                for doc in state["trials"].values()
                for entry in (doc.get("artifacts") or {}).values()
            }
            return blobs.collect(referenced)

    def list_artifacts(self, trial: Trial) -> list[ArtifactInfo]:
        """The entries of the trial document's ``artifacts``, by name."""
        index = self._artifact_index(trial.uid)
        return [ArtifactInfo.from_doc(trial.uid, index[name]) for name in sorted(index)]

    def open_artifact(self, trial: Trial, name: str) -> Iterator[bytes]:
        """The artifact's bytes from the folder, chunk by chunk, digest checked."""
        entry = self._artifact_index(trial.uid).get(name)
        if entry is None:
            raise ArtifactNotFound(f"trial {trial.uid!r} has no artifact {name!r}")
        sha256 = str(entry["sha256"])
        what = f"artifact {name!r} of trial {trial.uid}"
        return verified(self._artifact_blobs().chunks(sha256), sha256, what)

    # ---- projects and groups --------------------------------------------------------------

    def get_project(self, project: Project) -> Project | None:
        """The stored project with this uid, or None."""
        with self._transaction(write=False) as state:
            doc = state["projects"].get(project.uid)
            return project_from_doc(doc) if doc else None

    def new_project(self, project: Project) -> Project | None:
        """Insert a project; None if one with this uid exists."""
        doc = project_to_doc(project)
        with self._transaction(write=True) as state:
            if project.uid in state["projects"]:
                return None
            self._undo.set(state["projects"], project.uid, doc)
            return project

    def get_trial_group(self, group: TrialGroup) -> TrialGroup | None:
        """The stored group with this uid, or None."""
        with self._transaction(write=False) as state:
            doc = state["groups"].get(group.uid)
            return group_from_doc(doc) if doc else None

    def new_trial_group(self, group: TrialGroup) -> TrialGroup | None:
        """Insert a group (and list it in its project); None if it exists."""
        doc = group_to_doc(group)
        with self._transaction(write=True) as state:
            if group.uid in state["groups"]:
                return None
            self._undo.set(state["groups"], group.uid, doc)
            project = state["projects"].get(group.project_id)
            if project is not None and group.uid not in project["groups"]:
                self._undo.append(project["groups"], group.uid)
            return group

    def add_project_trial(self, project: Project, trial: Trial) -> None:
        """Attach a stored trial to a stored project; TrialNotFound if either is missing."""
        with self._transaction(write=True) as state:
            project_doc = self._found(state, "project", project.uid)
            doc = self._trial_doc(state, trial.uid)
            self._undo.set(doc, "project_id", project.uid)
            if trial.uid not in project_doc["trials"]:
                self._undo.append(project_doc["trials"], trial.uid)

    def add_group_trial(self, group: TrialGroup, trial: Trial) -> None:
        """Add a stored trial to a stored group; TrialNotFound if either is missing."""
        with self._transaction(write=True) as state:
            group_doc = self._found(state, "group", group.uid)
            doc = self._trial_doc(state, trial.uid)
            if group.uid not in doc["groups"]:
                self._undo.append(doc["groups"], group.uid)
            if doc.get("group_id") is None:
                self._undo.set(doc, "group_id", group.uid)
            if trial.uid not in group_doc["trials"]:
                self._undo.append(group_doc["trials"], trial.uid)

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
            self._undo.set(trials, trial.uid, doc)
            self._changed.add(trial.uid)
            project = state["projects"].get(trial.project_id)
            if project is not None:
                self._undo.append(project["trials"], trial.uid)
            for group_uid in doc["groups"]:
                group = state["groups"].get(group_uid)
                if group is not None:
                    self._undo.append(group["trials"], trial.uid)
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

    def fetch_summaries(
        self, query: dict[str, Any] | None
    ) -> list[tuple[Trial, dict[str, MetricSummary]]]:
        """Matching trials (last points only) and their metrics' ``{name: [count, min, max]}``.

        Summarized from the documents in place: no series is copied.
        """
        found = []
        with self._transaction(write=False) as state:
            for doc in self._matching_trials(state, query):
                series = doc.get("metrics") or {}
                summaries = {name: summarize_points(points) for name, points in series.items()}
                last = {name: points[-1:] for name, points in series.items()}
                found.append((trial_from_doc({**doc, "metrics": last}), summaries))
        return found

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
            # ``attr`` passed check_update_method's allow-list above
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
            # ``attr`` passed check_update_method's allow-list above
            getattr(self, attr)(group, *args, **kwargs)
            return group_from_doc(state["groups"][group.uid])

    def fetch_and_update_once(
        self,
        request: str,
        kind: str,
        query: dict[str, Any],
        attr: str,
        args: tuple[Any, ...] | list[Any] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Trial | TrialGroup | None:
        """``fetch_and_update_trial``/``_group`` applied once per ``request``, in one transaction.

        The first call picks and updates an item and records its uid (or that nothing
        matched) under ``request`` in ``state["requests"]``; a repeated call updates nothing
        and answers the recorded item's current state (None if the first answer was None).
        """
        if kind not in ("trial", "group"):
            raise InvalidValue(f"kind must be 'trial' or 'group', not {kind!r}")
        with self._transaction(write=True) as state:
            record = state["requests"].get(request)
            if record is not None:
                return self._recorded_answer(state, request, record, kind)
            update = self.fetch_and_update_trial if kind == "trial" else self.fetch_and_update_group
            result = update(query, attr, *args, **(kwargs or {}))
            uid = None if result is None else result.uid
            self._undo.set(state["requests"], request, {"kind": kind, "uid": uid})
            return result

    @staticmethod
    def _recorded_answer(
        state: dict[str, Any], request: str, record: dict[str, Any], kind: str
    ) -> Trial | TrialGroup | None:
        if record.get("kind") != kind:
            raise InvalidValue(
                f"request {request!r} was a {record.get('kind')} request, not a {kind} one"
            )
        uid = record.get("uid")
        if uid is None:
            return None
        doc = state[f"{kind}s"].get(uid)
        if doc is None:
            return None
        return trial_from_doc(doc) if kind == "trial" else group_from_doc(doc)
