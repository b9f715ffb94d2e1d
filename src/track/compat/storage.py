"""The seeds' ``LocalStorage``: the file store's content as objects, and its loader.

:func:`load_database` reads a ``file://`` store the way :class:`~track.persistence.local.
FileProtocol` does (the document and the newest batches of its journal, under its lock) and
lays it out as the seeds did: ``objects`` (uid -> :class:`~track.structure.Project`,
:class:`~track.structure.TrialGroup` or :class:`~track.structure.Trial`), the uid sets
``projects``, ``groups`` and ``trials``, and the name indexes ``project_names``,
``group_names`` and ``trial_names``.

:meth:`LocalStorage.commit` writes back the objects that changed, or are new, in one write of
the store (atomic, as every file-store write is). It is optimistic: if another process wrote
to the store after this view was loaded, it refuses with
:class:`~track.persistence.local.ConcurrentWrite` instead of overwriting that write. Under the
lock decorators of :mod:`track.persistence.local` (``@lock_write``) the view is reloaded first,
so the commit cannot conflict. Nothing is ever deleted from the store: :meth:`LocalStorage.
remove` forgets an object in this view only.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from track.compat.locks import ConcurrentWrite, MultiLock
from track.compat.types import Document, Uid
from track.persistence.local import FileProtocol
from track.persistence.utils import URI, parse_uri
from track.serialization import (
    group_from_doc,
    group_to_doc,
    project_from_doc,
    project_to_doc,
    trial_from_doc,
    trial_to_doc,
)
from track.structure import Project, Trial, TrialGroup

__all__ = ["LocalStorage", "load_database"]

_KINDS = {Project: "projects", TrialGroup: "groups", Trial: "trials"}
Structure = Project | TrialGroup | Trial
_FROM_DOC: dict[str, Callable[[Document], Structure]] = {
    "projects": project_from_doc,
    "groups": group_from_doc,
    "trials": trial_from_doc,
}


def _kind(obj: Any) -> str:
    for cls, kind in _KINDS.items():
        if isinstance(obj, cls):
            return kind
    raise TypeError(f"LocalStorage holds projects, groups and trials, not {type(obj).__name__}")


def _to_doc(obj: Any) -> Document:
    kind = _kind(obj)
    if kind == "projects":
        return project_to_doc(obj)
    if kind == "groups":
        return group_to_doc(obj)
    return trial_to_doc(obj)


def _tag(doc: Document) -> str:
    """A version tag: the hash of the document's canonical JSON."""
    text = json.dumps(doc, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _stored_tag(kind: str, doc: Document | None) -> str | None:
    """The version tag of a stored document, as :meth:`LocalStorage.get_current_version_tag`
    computes it for the object the document builds (None when there is no document)."""
    return None if doc is None else _tag(_to_doc(_FROM_DOC[kind](doc)))


class _ViewStore(FileProtocol):
    """The file store, locking through the process's :class:`MultiLock` of its file.

    The lock decorators hold that same lock around a method that reloads and commits the
    view, so the store's own transactions join the held lock instead of waiting on a second
    ``flock`` of this process.
    """

    def __init__(self, path: str) -> None:
        super().__init__(URI(scheme="file", raw=f"file://{path}", location=path))
        self.multilock = MultiLock(self.path)

    def _begin(self, write: bool) -> None:
        self.multilock.acquire(exclusive=write)
        try:
            self._refresh()
        except BaseException:
            self._forget()
            self.multilock.release()
            raise

    def _end(self) -> None:
        self.multilock.release()

    def snapshot(self) -> dict[str, Any]:
        """A copy of the whole state (journal included), read under the lock."""
        with self._transaction(write=False) as state:
            return copy.deepcopy(state)

    def replace(self, docs: dict[str, dict[Uid, tuple[Document, str | None]]]) -> None:
        """Write whole documents in one transaction, each if the stored one still has the
        version tag given with it (None: none is stored); else :class:`ConcurrentWrite`."""
        with self._transaction(write=True) as state:
            stale = sorted(
                uid
                for kind, items in docs.items()
                for uid, (_, previous) in items.items()
                if _stored_tag(kind, state[kind].get(uid)) != previous
            )
            if stale:
                raise ConcurrentWrite(
                    f"{self.path}: {', '.join(stale)} changed in the store after this "
                    "LocalStorage loaded them (another process wrote); reload() and apply "
                    "the change again"
                )
            for kind, items in docs.items():
                for uid, (doc, _) in items.items():
                    self._undo.set(state[kind], uid, doc)
                    if kind == "trials":
                        self._changed.add(uid)


def _path(name: str) -> str:
    """The absolute path of the file store a path or a ``file:`` URI names."""
    if name.startswith("file:"):
        name = parse_uri(name).location
    return os.path.abspath(name)


@dataclass
class LocalStorage:
    """A file store's projects, groups and trials as objects, with their name indexes."""

    target_file: str | None = None
    _objects: dict[Uid, Any] = field(default_factory=dict)
    _projects: set[Uid] = field(default_factory=set)
    _groups: set[Uid] = field(default_factory=set)
    _trials: set[Uid] = field(default_factory=set)
    _project_names: dict[str, Uid] = field(default_factory=dict)
    _group_names: dict[str, Uid] = field(default_factory=dict)
    _trial_names: dict[str, Uid] = field(default_factory=dict)
    _old_rev_tags: dict[Uid, str] = field(default_factory=dict)
    _store: _ViewStore | None = field(default=None, repr=False, compare=False)

    # ---- the seeds' attributes ------------------------------------------------------------

    @property
    def objects(self) -> dict[Uid, Any]:
        """uid -> project, group or trial."""
        return self._objects

    @property
    def projects(self) -> set[Uid]:
        """The uids of the projects."""
        return self._projects

    @property
    def groups(self) -> set[Uid]:
        """The uids of the groups."""
        return self._groups

    @property
    def trials(self) -> set[Uid]:
        """The uids of the trials."""
        return self._trials

    @property
    def project_names(self) -> dict[str, Uid]:
        """Project name -> uid."""
        return self._project_names

    @property
    def group_names(self) -> dict[str, Uid]:
        """Group name -> uid."""
        return self._group_names

    @property
    def trial_names(self) -> dict[str, Uid]:
        """Trial name -> uid (of the trial of that name added to the view last)."""
        return self._trial_names

    def _index(self, kind: str) -> tuple[set[Uid], dict[str, Uid]]:
        """The uid set and the name index of a kind ("projects", "groups" or "trials")."""
        if kind == "projects":
            return self._projects, self._project_names
        if kind == "groups":
            return self._groups, self._group_names
        return self._trials, self._trial_names

    # ---- the store ------------------------------------------------------------------------

    def _open(self, filename: str | None) -> _ViewStore:
        if filename is not None and (
            self.target_file is None or _path(filename) != _path(self.target_file)
        ):
            self.close()
            self.target_file = filename
        if self._store is None:
            if self.target_file is None:
                raise ValueError("this LocalStorage has no target_file to read or write")
            self._store = _ViewStore(_path(self.target_file))
        return self._store

    def close(self) -> None:
        """Release the store's file (the lock file's descriptor)."""
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> LocalStorage:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # ---- the view -------------------------------------------------------------------------

    def add(self, obj: Structure) -> None:
        """Put a new object in the view (or replace the one of its uid); :meth:`commit` writes it."""
        uids, names = self._index(_kind(obj))
        self._objects[obj.uid] = obj
        uids.add(obj.uid)
        if obj.name is not None:
            names[obj.name] = obj.uid

    def remove(self, obj: Structure) -> None:
        """Forget ``obj`` in this view (never in the store: track deletes no stored run)."""
        uids, names = self._index(_kind(obj))
        self._objects.pop(obj.uid, None)
        uids.discard(obj.uid)
        if obj.name is not None and names.get(obj.name) == obj.uid:
            del names[obj.name]
        self._old_rev_tags.pop(obj.uid, None)

    def reload(self, filename: str | None = None) -> None:
        """Reload the view from the store (``filename``, or ``target_file``); drop local edits."""
        state = self._open(filename).snapshot()
        for collection in (self._objects, self._projects, self._groups, self._trials):
            collection.clear()
        for names in (self._project_names, self._group_names, self._trial_names):
            names.clear()
        self._old_rev_tags.clear()
        self._load(state)

    def smart_reload(self, filename: str | None = None) -> None:
        """Update the view with the store's data, keeping each loaded object's identity.

        Objects read before are updated in place (edits not committed yet are replaced);
        objects added to the view and never committed are kept.
        """
        self._load(self._open(filename).snapshot())

    def _load(self, state: dict[str, Any]) -> None:
        for kind, build in _FROM_DOC.items():
            for uid, doc in state[kind].items():
                fresh = build(doc)
                current = self._objects.get(uid)
                if current is not None and type(current) is type(fresh):
                    for item in dataclasses.fields(fresh):
                        setattr(current, item.name, getattr(fresh, item.name))
                    fresh = current
                self.add(fresh)
                self._old_rev_tags[uid] = self.get_current_version_tag(fresh)

    def get_current_version_tag(self, obj: Structure) -> str:
        """The version tag of ``obj`` as it is now (a hash of its document)."""
        return _tag(_to_doc(obj))

    def get_previous_version_tag(self, obj: Structure) -> str | None:
        """The version tag ``obj`` had when last loaded or committed (None: never stored)."""
        return self._old_rev_tags.get(obj.uid)

    def commit(self, file_name_override: str | None = None, **kwargs: Any) -> None:
        """Write the objects that are new or changed since loaded, in one write of the store.

        Each is written only if the store still holds the version this view loaded; if
        another process changed one of them meanwhile, nothing is written, the view is
        reloaded and :class:`~track.persistence.local.ConcurrentWrite` is raised.
        ``file_name_override`` writes every object of the view into that file store instead.
        """
        if kwargs:
            raise TypeError(f"LocalStorage.commit takes no {', '.join(sorted(kwargs))} argument")
        if file_name_override is not None:
            with LocalStorage(target_file=file_name_override) as target:
                target.reload()
                for obj in self._objects.values():
                    target.add(obj)
                target.commit()
            return
        store = self._open(None)
        docs: dict[str, dict[Uid, tuple[Document, str | None]]] = {kind: {} for kind in _FROM_DOC}
        for uid, obj in self._objects.items():
            doc = _to_doc(obj)
            previous = self._old_rev_tags.get(uid)
            if _tag(doc) != previous:
                docs[_kind(obj)][uid] = (doc, previous)
        if not any(docs.values()):
            return
        try:
            store.replace(docs)
        finally:
            self.smart_reload()


def load_database(json_name: str) -> LocalStorage:
    """The :class:`LocalStorage` of the file store ``json_name`` (a path or ``file://`` URI)."""
    storage = LocalStorage(target_file=json_name)
    storage.reload()
    return storage
