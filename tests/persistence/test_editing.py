"""Editing runs on every store kind: delete trials, groups and projects; rename, note, untag.

Each test writes through one store object and reads back through a fresh one, so what is
checked is what the store kept, not what the writing object remembers.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from track.errors import InvalidValue, TrialNotFound, WriteRefused
from track.persistence import get_protocol
from track.persistence.protocol import Protocol, TrialBatch
from track.structure import Project, Trial, TrialGroup

#: every store kind; through the server once per backing store (the security layer, which
#: changes nothing here, is covered by the server's own tests)
KINDS = [
    "ephemeral",
    "file",
    "pickled",
    "sqlite",
    "postgresql",
    "socket-plain",
    "socket-aes-sqlite",
]


@pytest.fixture(params=KINDS)
def store_uri(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    store_kinds: dict[str, Callable[[Path], AbstractContextManager[str]]],
) -> Iterator[str]:
    """A fresh, empty store of each kind in :data:`KINDS`."""
    with store_kinds[request.param](tmp_path) as uri:
        yield uri


@contextmanager
def opened(uri: str, store: Protocol | None = None) -> Iterator[Protocol]:
    """A fresh store object on ``uri`` (ephemeral: the same object, it lives in one process)."""
    if uri.startswith("ephemeral") and store is not None:
        yield store
        return
    fresh = get_protocol(uri)
    try:
        yield fresh
    finally:
        fresh.close()


class Runs:
    """Project ``p`` with group ``g``: ``a`` (in g), ``b`` (in p only), ``c`` (in neither)."""

    def __init__(self, store: Protocol) -> None:
        self.project = Project(name="p")
        self.group = TrialGroup(name="g", project_id=self.project.uid)
        store.new_project(self.project)
        store.new_trial_group(self.group)
        self.a = Trial(name="a", parameters={"x": 1}, project_id=self.project.uid)
        self.b = Trial(name="b", parameters={"x": 2}, project_id=self.project.uid)
        self.c = Trial(name="c", parameters={"x": 3}, tags={"keep": 1, "drop": 2})
        for index, trial in enumerate((self.a, self.b, self.c)):
            store.new_trial(trial)
            points = [("loss", step, float(index + step), 0.0) for step in range(5)]
            store.log_trial_batch(trial, TrialBatch(metrics=points))
        for trial in (self.a, self.b):
            store.add_project_trial(self.project, trial)
        store.add_group_trial(self.group, self.a)


def test_delete_trials_removes_exactly_the_named_trials(store_uri: str) -> None:
    """The trial, its points and its memberships go; the others and the group stay."""
    store = get_protocol(store_uri)
    runs = Runs(store)
    assert store.delete_trials([runs.a.uid, "0" * 64 + "_0"]) == 1
    assert store.delete_trials([runs.a.uid]) == 0
    with opened(store_uri, store) as fresh:
        assert fresh.get_trial(runs.a) == []
        assert fresh.get_trial_metrics(runs.a) == {}
        for index, trial in ((1, runs.b), (2, runs.c)):
            stored = fresh.get_trial(trial)[0]
            assert [p[1] for p in stored.metrics["loss"]] == [index + s for s in range(5)]
        group = fresh.get_trial_group(runs.group)
        assert group is not None and list(group.trials) == []
        project = fresh.get_project(runs.project)
        assert project is not None and list(project.trials) == [runs.b.uid]
        assert sorted(t.name for t in fresh.fetch_trials(None)) == ["b", "c"]
    store.close()


def test_groups_and_projects_holding_trials_are_refused_unless_asked(store_uri: str) -> None:
    """No trial goes that was not named: trials=True deletes them with their group/project."""
    store = get_protocol(store_uri)
    runs = Runs(store)
    with pytest.raises(WriteRefused, match="trials=True"):
        store.delete_group(runs.group.uid)
    with pytest.raises(WriteRefused, match="trials=True"):
        store.delete_project(runs.project.uid)
    with pytest.raises(TrialNotFound):
        store.delete_group("no-such-group")
    assert store.delete_group(runs.group.uid, trials=True) == 1
    with opened(store_uri, store) as fresh:
        assert fresh.fetch_groups(None) == []
        assert sorted(t.name for t in fresh.fetch_trials(None)) == ["b", "c"]
        assert [p.uid for p in fresh.fetch_projects(None)] == [runs.project.uid]
    assert store.delete_project(runs.project.uid, trials=True) == 1
    empty = Project(name="empty")
    store.new_project(empty)
    assert store.delete_project(empty.uid) == 0
    with opened(store_uri, store) as fresh:
        assert fresh.fetch_projects(None) == []
        assert [t.name for t in fresh.fetch_trials(None)] == ["c"]
        assert len(fresh.get_trial(runs.c)[0].metrics["loss"]) == 5
    store.close()


def test_display_name_note_and_tags_leave_the_identity_alone(store_uri: str) -> None:
    """A rename is metadata: uid and hash stay; "" removes a field; tags can be removed."""
    store = get_protocol(store_uri)
    runs = Runs(store)
    store.set_trial_display(runs.c.uid, name="baseline", note="lr too high?")
    store.set_trial_display(runs.c.uid, note="")
    store.remove_trial_tags(runs.c.uid, ["drop", "never-there"])
    with pytest.raises(TrialNotFound):
        store.set_trial_display("0" * 64 + "_0", name="x")
    with pytest.raises(InvalidValue):
        store.set_trial_display(runs.c.uid, name=3)  # type: ignore[arg-type]
    with opened(store_uri, store) as fresh:
        stored = fresh.get_trial(runs.c)[0]
        assert (stored.uid, stored.hash, stored.name) == (runs.c.uid, runs.c.hash, "c")
        assert stored.metadata["display_name"] == "baseline"
        assert "note" not in stored.metadata
        assert stored.tags == {"keep": 1}
        assert fresh.fetch_trials({"metadata.display_name": "baseline"})[0].uid == runs.c.uid
    store.close()


def test_sqlite_keeps_no_orphan_rows(tmp_path: Path) -> None:
    """After deletes, every chunk, series and membership row belongs to a remaining trial."""
    uri = f"sqlite:///{tmp_path / 'track.db'}"
    store = get_protocol(uri)
    runs = Runs(store)
    store.delete_trials([runs.b.uid])
    store.delete_group(runs.group.uid, trials=True)
    store.close()
    db = sqlite3.connect(tmp_path / "track.db")
    try:
        assert db.execute("SELECT SUM(count) FROM chunks").fetchone() == (5,)
        orphans = (
            "SELECT COUNT(*) FROM series WHERE trial_id NOT IN (SELECT id FROM trials)",
            "SELECT COUNT(*) FROM membership WHERE trial_id NOT IN (SELECT id FROM trials)",
            "SELECT COUNT(*) FROM chunks WHERE series_id NOT IN (SELECT id FROM series)",
        )
        for sql in orphans:
            assert db.execute(sql).fetchone() == (0,), sql
    finally:
        db.close()
