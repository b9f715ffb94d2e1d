"""The written store interface: ``folder``, ``defer_commits`` and the wrapping base.

Track reads a store through Protocol members only. These tests check what each store kind
answers, and that every wrapping store (WrappingProtocol, ForwardingProtocol,
ProtocolMultiplexer) hands every Protocol member on, so that a member added to Protocol
cannot be forgotten in a wrapper.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from optional import require
from track.forward import ForwardingProtocol
from track.persistence import get_protocol
from track.persistence.local import FileProtocol
from track.persistence.multiplexer import ProtocolMultiplexer
from track.persistence.protocol import Protocol, TrialBatch
from track.persistence.utils import URI
from track.persistence.wrapping import WrappingProtocol
from track.structure import Project, Status, Trial, TrialGroup


def protocol_members() -> set[str]:
    """Every public member of Protocol: what a store is read and written through."""
    return {name for name in dir(Protocol) if not name.startswith("_")}


# ---- folder --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri", ["file://{}/store.json", "pickled://{}/store.pkl", "sqlite:///{}/s.db"]
)
def test_a_store_in_a_file_answers_its_folder(tmp_path: Path, uri: str) -> None:
    """file://, pickled:// and sqlite:// answer their file's folder (not the working one)."""
    folder = tmp_path / "stores"
    folder.mkdir()
    store = get_protocol(uri.format(folder))
    try:
        assert store.folder == str(folder)
    finally:
        store.close()


def test_ephemeral_has_no_folder() -> None:
    """ephemeral: answers None; callers then use the working directory."""
    assert get_protocol("ephemeral:").folder is None


def test_a_servers_client_has_no_folder(tmp_path: Path) -> None:
    """A server's client answers None: the server's file is not on this machine."""
    require("msgpack", "the server's wire format")
    from server.trackserver import running_server

    with running_server(tmp_path, f"file://{tmp_path / 'served.json'}", layer=None) as server:
        client = get_protocol(server.uri())
        try:
            # the server's file is on the server's machine, not a folder of this process
            assert client.folder is None
        finally:
            client.close()


def test_postgresql_has_no_folder(fresh_postgres: Callable[..., Any]) -> None:
    """A database server's store answers None."""
    with fresh_postgres() as uri:
        store = get_protocol(uri)
        try:
            assert store.folder is None
        finally:
            store.close()


def test_wrapping_stores_answer_the_wrapped_stores_folder(tmp_path: Path) -> None:
    """A forwarding store, a multiplexer (its first backend) and the base answer the inner one."""
    (tmp_path / "db").mkdir()
    sqlite = get_protocol(f"sqlite:///{tmp_path / 'db' / 'track.db'}")
    other = get_protocol(f"file://{tmp_path / 'other' / 'store.json'}")
    assert ForwardingProtocol(sqlite, []).folder == str(tmp_path / "db")
    assert ProtocolMultiplexer(sqlite, other).folder == str(tmp_path / "db")
    assert ProtocolMultiplexer(other, sqlite).folder == str(tmp_path / "other")
    assert WrappingProtocol(get_protocol("ephemeral:")).folder is None
    sqlite.close()
    other.close()


# ---- defer_commits -------------------------------------------------------------------------


def seen_by_another_reader(uri: str, trial: Trial, metric: str) -> bool:
    """Whether a fresh store object on ``uri`` reads ``metric`` of ``trial``."""
    reader = get_protocol(uri)
    try:
        return metric in reader.get_trial_metrics(trial)
    finally:
        reader.close()


def stored_trial(store: Protocol) -> Trial:
    """A new trial in ``store``."""
    trial = Trial(name="t", parameters={"a": 1})
    store.new_trial(trial)
    return trial


@pytest.mark.parametrize("wrapped", [False, True], ids=["file", "forwarding-file"])
def test_defer_commits_keeps_a_file_stores_writes_until_commit(
    tmp_path: Path, wrapped: bool
) -> None:
    """A file store writes each batch at once; after defer_commits() only at commit().

    Wrapped in a forwarding store too: the wrapper hands the call on to the file store.
    """
    uri = f"file://{tmp_path / 'store.json'}"
    file_store = get_protocol(uri)
    store = ForwardingProtocol(file_store, []) if wrapped else file_store
    trial = stored_trial(store)
    store.log_trial_batch(trial, TrialBatch(metrics=[("before", 0, 1.0, 0.0)]))
    assert seen_by_another_reader(uri, trial, "before") is True
    store.defer_commits()
    store.log_trial_batch(trial, TrialBatch(metrics=[("loss", 0, 0.5, 0.0)]))
    assert seen_by_another_reader(uri, trial, "loss") is False
    store.commit()
    assert seen_by_another_reader(uri, trial, "loss") is True
    store.close()


def test_defer_commits_changes_nothing_for_a_transactional_store(tmp_path: Path) -> None:
    """SQL commits every write as its own transaction: deferring is a no-op."""
    uri = f"sqlite:///{tmp_path / 'track.db'}"
    store = get_protocol(uri)
    store.defer_commits()
    trial = stored_trial(store)
    store.log_trial_batch(trial, TrialBatch(metrics=[("loss", 0, 0.5, 0.0)]))
    assert seen_by_another_reader(uri, trial, "loss") is True
    store.close()


# ---- wrapping stores hand on every member -------------------------------------------------


class Recording(FileProtocol):
    """A real file store that records the Protocol members called on it from outside."""

    def __init__(self, uri: str) -> None:
        self.calls: list[str] = []
        self.depth = 0
        super().__init__(uri)

    @property
    def folder(self) -> str:
        """The file's folder, recorded."""
        self.calls.append("folder")
        self.depth += 1
        try:
            return super().folder
        finally:
            self.depth -= 1

    @property  # type: ignore[override]
    def uri(self) -> URI | None:
        """The store's URI, recorded when read from outside."""
        if self.depth == 0:
            self.calls.append("uri")
        return self._uri

    @uri.setter
    def uri(self, value: URI | None) -> None:
        self._uri = value


def _recorded(name: str) -> Callable[..., Any]:
    method = getattr(FileProtocol, name)

    def call(self: Recording, *args: Any, **kwargs: Any) -> Any:
        if self.depth == 0:  # the store's calls to itself are not the wrapper's
            self.calls.append(name)
        self.depth += 1
        try:
            return method(self, *args, **kwargs)
        finally:
            self.depth -= 1

    return call


for _name in protocol_members() - {"folder", "uri"}:
    setattr(Recording, _name, _recorded(_name))


class World:
    """The project, group and trial the calls below act on, created through the wrapper."""

    def __init__(self, store: Protocol) -> None:
        self.project = Project(name="p")
        self.group = TrialGroup(name="g", project_id="p")
        self.trial = Trial(name="t", parameters={"a": 1}, project_id="p")
        store.new_project(self.project)
        store.new_trial_group(self.group)
        store.new_trial(self.trial)


#: one call of every Protocol member, in an order that works (close last)
CALLS: dict[str, Callable[[Protocol, World], Any]] = {
    "folder": lambda s, w: s.folder,
    "uri": lambda s, w: s.uri,
    "log_trial_batch": lambda s, w: s.log_trial_batch(w.trial, TrialBatch(metadata={"m": 1})),
    "log_trial_metrics": lambda s, w: s.log_trial_metrics(w.trial, step=1, loss=0.5),
    "log_trial_metadata": lambda s, w: s.log_trial_metadata(w.trial, m=2),
    "log_trial_chronos": lambda s, w: s.log_trial_chronos(w.trial, run={"avg": 1.0}),
    "add_trial_tags": lambda s, w: s.add_trial_tags(w.trial, tag=1),
    "set_trial_status": lambda s, w: s.set_trial_status(w.trial, Status.Suspended),
    "log_trial_start": lambda s, w: s.log_trial_start(w.trial),
    "log_trial_chrono_start": lambda s, w: s.log_trial_chrono_start(w.trial, "step"),
    "log_trial_chrono_finish": lambda s, w: s.log_trial_chrono_finish(w.trial, "step"),
    "log_trial_finish": lambda s, w: s.log_trial_finish(w.trial),
    "log_trial_arguments": lambda s, w: s.log_trial_arguments(w.trial, b=2),
    "get_project": lambda s, w: s.get_project(w.project),
    "new_project": lambda s, w: s.new_project(Project(name="p2")),
    "get_trial_group": lambda s, w: s.get_trial_group(w.group),
    "new_trial_group": lambda s, w: s.new_trial_group(TrialGroup(name="g2", project_id="p")),
    "add_project_trial": lambda s, w: s.add_project_trial(w.project, w.trial),
    "add_group_trial": lambda s, w: s.add_group_trial(w.group, w.trial),
    "set_group_metadata": lambda s, w: s.set_group_metadata(w.group, size=3),
    "get_trial": lambda s, w: s.get_trial(w.trial),
    "new_trial": lambda s, w: s.new_trial(Trial(name="t2", parameters={"a": 2})),
    "fetch_trials": lambda s, w: s.fetch_trials({"name": "t"}),
    "fetch_summaries": lambda s, w: s.fetch_summaries({"name": "t"}),
    "get_trial_metrics": lambda s, w: s.get_trial_metrics(w.trial),
    "get_trial_series": lambda s, w: s.get_trial_series(w.trial, ["loss"], low=0, high=5),
    "get_series_previews": lambda s, w: s.get_series_previews(w.trial, ["loss"]),
    "fetch_groups": lambda s, w: s.fetch_groups({"name": "g"}),
    "fetch_projects": lambda s, w: s.fetch_projects({"name": "p"}),
    "fetch_and_update_trial": lambda s, w: s.fetch_and_update_trial(
        {"name": "t"}, "add_trial_tags", picked=1
    ),
    "fetch_and_update_group": lambda s, w: s.fetch_and_update_group(
        {"name": "g"}, "set_group_metadata", picked=1
    ),
    "fetch_and_update_once": lambda s, w: s.fetch_and_update_once(
        "request-1", "trial", {"name": "t"}, "add_trial_tags", (), {"once": 1}
    ),
    "set_trial_display": lambda s, w: s.set_trial_display(w.trial.uid, name="n", note="x"),
    "remove_trial_tags": lambda s, w: s.remove_trial_tags(w.trial.uid, ["tag"]),
    "delete_trials": lambda s, w: s.delete_trials([Trial(name="t2", parameters={"a": 2}).uid]),
    "delete_group": lambda s, w: s.delete_group(TrialGroup(name="g2", project_id="p").uid),
    "delete_project": lambda s, w: s.delete_project(Project(name="p2").uid),
    "put_artifact": lambda s, w: s.put_artifact(w.trial, "a.txt", io.BytesIO(b"artifact")),
    "list_artifacts": lambda s, w: s.list_artifacts(w.trial),
    "open_artifact": lambda s, w: b"".join(s.open_artifact(w.trial, "a.txt")),
    "collect_artifacts": lambda s, w: s.collect_artifacts(),
    "defer_commits": lambda s, w: s.defer_commits(),
    "commit": lambda s, w: s.commit(),
    "close": lambda s, w: s.close(),
}

#: what a call on the wrapper reaches the wrapped store as, when not the same member: the
#: per-call writes are one-call batches through the wrapper's log_trial_batch (a timer's start
#: writes nothing; its finish writes the summary)
REACHES_AS = {
    **dict.fromkeys(
        (
            "log_trial_metrics",
            "log_trial_metadata",
            "log_trial_chronos",
            "add_trial_tags",
            "set_trial_status",
            "log_trial_start",
            "log_trial_chrono_finish",
            "log_trial_finish",
        ),
        ("log_trial_batch",),
    ),
    "log_trial_chrono_start": (),
}

#: members a multiplexer answers from its first backend alone
READS = {
    "folder",
    "uri",
    "get_project",
    "get_trial_group",
    "get_trial",
    "fetch_trials",
    "fetch_summaries",
    "get_trial_metrics",
    "get_trial_series",
    "get_series_previews",
    "fetch_groups",
    "fetch_projects",
    "list_artifacts",
    "open_artifact",
}

WRAPPERS: dict[str, Callable[[Recording, Recording], Protocol]] = {
    "wrapping": lambda first, second: WrappingProtocol(first),
    "forwarding": lambda first, second: ForwardingProtocol(first, []),
    "multiplexer": lambda first, second: ProtocolMultiplexer(first, second),
}


def test_the_calls_below_cover_every_protocol_member() -> None:
    """A member added to Protocol must be added here (and to READS if the multiplexer reads)."""
    assert set(CALLS) == protocol_members()


@pytest.mark.parametrize("kind", list(WRAPPERS))
def test_every_protocol_member_reaches_the_wrapped_store(tmp_path: Path, kind: str) -> None:
    """Each member called on the wrapper reaches the wrapped store as itself (or as a batch).

    A multiplexer's writes reach both backends; its reads only the first.
    """
    first = Recording(f"file://{tmp_path / 'first' / 'store.json'}")
    second = Recording(f"file://{tmp_path / 'second' / 'store.json'}")
    wrapper = WRAPPERS[kind](first, second)
    world = World(wrapper)
    fans_out = kind == "multiplexer"
    for name, call in CALLS.items():
        first.calls.clear()
        second.calls.clear()
        call(wrapper, world)
        reached = REACHES_AS.get(name, (name,))
        assert first.calls == list(reached), name
        if fans_out and name not in READS:
            assert set(reached) <= set(second.calls), name
        else:
            assert second.calls == [], name
    if not fans_out:
        second.close()
