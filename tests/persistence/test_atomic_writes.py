"""Every store write is all-or-nothing: a write that raises leaves no trace, now or later.

"No trace" is checked on a full dump (projects, groups, trials) right after the refused write,
after a following unrelated write (which, on a file store, saves the state again), and, for
stores another process can open, read back by a fresh protocol. The disk-failure tests make a
real write fail (a file-size limit, ``RLIMIT_FSIZE``) in a child process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from track.persistence import get_protocol
from track.persistence.protocol import Protocol, TrialBatch, TrialNotFound
from track.serialization import group_to_doc, project_to_doc, trial_to_doc
from track.structure import Project, Trial, TrialGroup

UNRELATED = "unrelated"
#: store kinds (of tests/conftest.py) whose protocol object applies batches itself
IN_PROCESS_KINDS = ["ephemeral", "file", "pickled", "sqlite", "postgresql"]


def dump(store: Protocol) -> dict[str, Any]:
    """Everything the store holds, as plain documents in a stable order."""
    return {
        "projects": sorted((project_to_doc(p) for p in store.fetch_projects(None)), key=_uid),
        "groups": sorted((group_to_doc(g) for g in store.fetch_groups(None)), key=_uid),
        "trials": sorted((trial_to_doc(t) for t in store.fetch_trials(None)), key=_uid),
    }


def _uid(doc: dict[str, Any]) -> str:
    return str(doc["uid"])


def without_unrelated(state: dict[str, Any]) -> dict[str, Any]:
    """A dump without the project the unrelated write adds."""
    projects = [p for p in state["projects"] if p["name"] != UNRELATED]
    return {**state, "projects": projects}


@pytest.fixture
def store(store_uri: str) -> Iterator[Protocol]:
    """The store behind ``store_uri``, closed afterwards."""
    protocol = get_protocol(store_uri)
    yield protocol
    protocol.close()


def store_kinds(request: pytest.FixtureRequest) -> dict[str, Any]:
    """``STORE_KINDS`` of tests/conftest.py (another conftest.py shadows ``import conftest``)."""
    for plugin in request.config.pluginmanager.get_plugins():
        kinds = getattr(plugin, "STORE_KINDS", None)
        if kinds is not None:
            return kinds
    raise LookupError("tests/conftest.py is not loaded")


def seeded(store: Protocol) -> tuple[Project, TrialGroup, Trial]:
    """A project, a group and a trial in both, with a few points."""
    project = Project(name="p")
    store.new_project(project)
    group = TrialGroup(name="g", project_id=project.uid)
    store.new_trial_group(group)
    trial = Trial(name="t", parameters={"x": 1}, project_id=project.uid, group_id=group.uid)
    stored = store.new_trial(trial)
    assert stored is not None
    store.log_trial_batch(trial, TrialBatch(writer="w", seq=1, metrics=[("a", 0, 0.5, 1.0)]))
    return project, group, trial


def assert_no_trace(store_uri: str, store: Protocol, before: dict[str, Any]) -> None:
    """The store still holds ``before``, also after an unrelated write and when reopened."""
    assert dump(store) == before
    store.new_project(Project(name=UNRELATED))
    after = dump(store)
    assert without_unrelated(after) == before
    if store_uri != "ephemeral:":
        reopened = get_protocol(store_uri)
        try:
            assert dump(reopened) == after
        finally:
            reopened.close()


def test_trial_added_to_a_missing_project_leaves_no_trace(store_uri: str, store: Protocol) -> None:
    """add_project_trial naming a missing project raises TrialNotFound and changes nothing."""
    _, _, trial = seeded(store)
    before = dump(store)
    with pytest.raises(TrialNotFound):
        store.add_project_trial(Project(name="missing"), trial)
    assert_no_trace(store_uri, store, before)


def test_trial_added_to_a_missing_group_leaves_no_trace(store_uri: str, store: Protocol) -> None:
    """add_group_trial naming a missing group raises TrialNotFound and changes nothing."""
    project, _, trial = seeded(store)
    before = dump(store)
    with pytest.raises(TrialNotFound):
        store.add_group_trial(TrialGroup(name="missing", project_id=project.uid), trial)
    assert_no_trace(store_uri, store, before)


def test_missing_trial_added_to_a_group_leaves_no_trace(store_uri: str, store: Protocol) -> None:
    """add_group_trial naming a missing trial raises TrialNotFound and changes nothing."""
    _, group, _ = seeded(store)
    before = dump(store)
    with pytest.raises(TrialNotFound):
        store.add_group_trial(group, Trial(name="ghost", parameters={"x": 2}))
    assert_no_trace(store_uri, store, before)


def test_group_metadata_of_a_missing_group_leaves_no_trace(store_uri: str, store: Protocol) -> None:
    """set_group_metadata on a missing group raises TrialNotFound and changes nothing."""
    project, _, _ = seeded(store)
    before = dump(store)
    with pytest.raises(TrialNotFound):
        store.set_group_metadata(TrialGroup(name="missing", project_id=project.uid), k=1)
    assert_no_trace(store_uri, store, before)


def test_batch_for_a_missing_trial_leaves_no_trace(store_uri: str, store: Protocol) -> None:
    """A refused batch records neither points nor its (writer, seq): the same seq applies later."""
    _, _, trial = seeded(store)
    before = dump(store)
    ghost = Trial(name="ghost", parameters={"x": 2})
    refused = TrialBatch(writer="w", seq=2, metrics=[("a", 1, 1.5, 2.0)], tags={"k": "v"})
    with pytest.raises(TrialNotFound):
        store.log_trial_batch(ghost, refused)
    assert_no_trace(store_uri, store, before)
    assert store.log_trial_batch(trial, refused) is True
    stored = store.get_trial(trial)[0]
    assert [p[0] for p in stored.metrics["a"]] == [0, 1]
    assert stored.tags == {"k": "v"}


@pytest.mark.parametrize("kind", IN_PROCESS_KINDS)
def test_batch_failing_half_way_is_undone(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str
) -> None:
    """A batch that fails after its points were applied (metadata not a mapping) is undone whole.

    Run on the stores that apply a batch in this process: a server client cannot even send
    such a batch (the server drops the connection on it).
    """
    with store_kinds(request)[kind](tmp_path) as store_uri:
        store = get_protocol(store_uri)
        try:
            check_half_way_failure(store_uri, store)
        finally:
            store.close()


def check_half_way_failure(store_uri: str, store: Protocol) -> None:
    """The body of test_batch_failing_half_way_is_undone."""
    _, _, trial = seeded(store)
    before = dump(store)
    broken = TrialBatch(writer="w", seq=2, metrics=[("a", 1, 1.5, 2.0)])
    broken.metadata = [1]  # type: ignore[assignment]
    with pytest.raises((TypeError, ValueError, AttributeError)):
        store.log_trial_batch(trial, broken)
    assert_no_trace(store_uri, store, before)
    fixed = TrialBatch(writer="w", seq=2, metrics=[("a", 1, 1.5, 2.0)], metadata={"m": 1})
    assert store.log_trial_batch(trial, fixed) is True
    assert [p[0] for p in store.get_trial(trial)[0].metrics["a"]] == [0, 1]


DISK_FULL = """
import json, os, resource, signal, sys
from track.persistence import get_protocol
from track.persistence.protocol import TrialBatch
from track.serialization import trial_to_doc
from track.structure import Trial

uri, path = sys.argv[1], sys.argv[2]
store = get_protocol(uri)
trial = Trial(name="t", parameters={"x": 1})
store.new_trial(trial)
store.log_trial_batch(trial, TrialBatch(writer="w", seq=1, metrics=[("a", 0, 0.5, 1.0)]))

def state():
    return [trial_to_doc(t) for t in store.fetch_trials(None)]

before = state()
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, hard))
big = TrialBatch(
    writer="w", seq=2, metrics=[("a", i, float(i), 2.0) for i in range(1, 30_000)]
)
try:
    store.log_trial_batch(trial, big)
    refused = None
except OSError as error:
    refused = error.errno
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
unchanged = state() == before
store.log_trial_batch(trial, TrialBatch(writer="w", seq=3, metrics=[("b", 0, 1.0, 3.0)]))
print(json.dumps({"refused": refused, "unchanged": unchanged, "after": state()}))
"""


@pytest.mark.parametrize("scheme", ["file", "pickled"])
def test_a_save_failing_on_disk_leaves_no_trace(tmp_path: Path, scheme: str) -> None:
    """A flush whose disk write fails (file too large) is undone; later writes do not save it."""
    path = tmp_path / "store.data"
    uri = f"{scheme}://{path}"
    child = subprocess.run(
        [sys.executable, "-c", DISK_FULL, uri, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 0, child.stderr
    report = json.loads(child.stdout)
    assert report["refused"] is not None, "the write did not fail: the limit is too high"
    assert report["unchanged"], "the failed write changed the state in memory"
    [doc] = report["after"]
    assert [p[0] for p in doc["metrics"]["a"]] == [0]
    assert [p[0] for p in doc["metrics"]["b"]] == [0]
    reader = get_protocol(uri)
    try:
        assert [trial_to_doc(t) for t in reader.fetch_trials(None)] == report["after"]
        [trial] = reader.fetch_trials(None)
        retried = TrialBatch(writer="w", seq=2, metrics=[("a", 1, 1.0, 2.0)])
        assert reader.log_trial_batch(trial, retried) is True, "seq 2 was recorded as applied"
    finally:
        reader.close()
