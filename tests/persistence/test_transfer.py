"""copy_store: a copy loses nothing, and a copy into a store holding the trials merges them.

The merge is checked on pairs of real stores (file, SQLite, PostgreSQL, a ``track serve``
subprocess): a trial is copied, resumed in the source, copied again (the destination then holds
exactly the source's points, tags, status and errors), and copied a third time (nothing changes).
"""

from __future__ import annotations

import itertools
import json
import logging
import math
from pathlib import Path
from typing import Any

import pytest

from track.persistence import get_protocol
from track.persistence.protocol import Protocol, TrialBatch
from track.persistence.transfer import copy_store, missing_points
from track.serialization import group_to_doc, project_to_doc, trial_to_doc
from track.structure import Project, Status, Trial, TrialGroup

ODD = "'); DROP TABLE trials; -- λ"


def fill(store: Protocol) -> None:
    """Two projects, groups, trials with every kind of content and step."""
    for project_name in ("p1", ODD):
        project = Project(
            name=project_name, description="d", metadata={"owner": ODD}, tags={"team": ODD}
        )
        store.new_project(project)
        g1 = TrialGroup(
            name="g1", project_id=project.uid, metadata={"k": [1, 2]}, tags={"team": ODD}
        )
        g2 = TrialGroup(name="g2", project_id=project.uid)
        store.new_trial_group(g1)
        store.new_trial_group(g2)
        for i in range(3):
            trial = Trial(
                name=f"t{i}",
                parameters={"i": i, "p": project_name, "odd": ODD, "nested": {"x": [1.5, None]}},
                project_id=project.uid,
                group_id=g1.uid,
                tags={"hpo": ODD},
            )
            store.new_trial(trial)
            store.add_group_trial(g2, trial)
            points = [("loss", s, 1.0 / (s + 1), 100.0 + s) for s in range(20)]
            points += [("acc", None, 0.5, 1.0), ("lr", 0.5, 1e-3, 2.0), (ODD, "e1", 7, 3.0)]
            points += [("nan", 1, math.inf, 4.0)]
            batch = TrialBatch(
                metrics=points,
                metadata={"gpu": "V100", "inf": -math.inf},
                chronos={"batch": {"avg": 0.1, "count": 3}},
                status={"name": "Completed", "value": 302},
                errors=["first", ODD],
            )
            store.log_trial_batch(trial, batch)
        store.set_trial_status(Trial(name="t2", parameters=trial.parameters), Status.Broken)


def snapshot(store: Protocol) -> dict[str, Any]:
    """Everything a store holds, as comparable documents (every metric point included)."""
    trials = {}
    for trial in store.fetch_trials(None, with_metrics=False):
        trial.metrics = store.get_trial_metrics(trial)
        doc = trial_to_doc(trial)
        doc["groups"] = sorted(doc["groups"])
        trials[trial.uid] = doc
    return {
        "projects": sorted((project_to_doc(p) for p in store.fetch_projects(None)), key=repr),
        "groups": sorted((group_to_doc(g) for g in store.fetch_groups(None)), key=repr),
        "trials": trials,
    }


def test_copy_round_trip_loses_nothing(tmp_path: Path, fresh_postgres) -> None:
    """A store copied file -> sqlite -> postgresql -> file is identical at every stage."""
    first = f"file://{tmp_path / 'first.json'}"
    store = get_protocol(first)
    fill(store)
    expected = snapshot(store)
    store.close()
    assert len(expected["trials"]) == 6
    with fresh_postgres() as postgres:
        chain = [
            first,
            f"sqlite:///{tmp_path / 'copy.db'}",
            postgres,
            f"file://{tmp_path / 'last.json'}",
        ]
        for source, destination in itertools.pairwise(chain):
            report = copy_store(source, destination)
            assert (report.projects, report.groups, report.created) == (2, 4, 6)
            copied = get_protocol(destination)
            assert snapshot(copied) == expected, destination
            copied.close()


def text(snap: dict[str, Any]) -> str:
    """A snapshot as JSON text, so that a NaN point equals a NaN point."""
    return json.dumps(snap, sort_keys=True, default=sorted)


def as_source(held: dict[str, Any], source: dict[str, Any]) -> dict[str, Any]:
    """DST's snapshot with each trial's metadata cut to SRC's keys.

    A store may add metadata of its own when a trial is created (a server client records a
    ``creation_request`` id); everything else must be exactly SRC's.
    """
    trials = {}
    for uid, doc in held["trials"].items():
        keys = source["trials"].get(uid, {}).get("metadata", {})
        trials[uid] = {**doc, "metadata": {k: v for k, v in doc["metadata"].items() if k in keys}}
    return {**held, "trials": trials}


def dump(uri: str) -> str:
    """A full dump of the store at ``uri``, as text."""
    return text(snapshot_of(uri))


def test_copy_again_changes_nothing(tmp_path: Path) -> None:
    """Copying into a store that already holds every trial leaves it as it was."""
    source = get_protocol("ephemeral:")
    fill(source)
    destination = get_protocol(f"sqlite:///{tmp_path / 'twice.db'}")
    assert copy_store(source, destination).created == 6
    before = snapshot(destination)
    again = copy_store(source, destination)
    assert (again.created, again.merged, again.unchanged, again.changes) == (0, 0, 6, [])
    assert snapshot(destination) == before == snapshot(source)


def test_missing_points_is_a_multiset_difference() -> None:
    """Repeated identical points count, NaN matches NaN and 1 matches 1.0; SRC order is kept."""
    nan = float("nan")
    src = [[0, 1.0, 5.0], [0, 1.0, 5.0], [1, nan, 6.0], [2, 3, 7.0], [0, 1.0, 5.0]]
    dst = [[0, 1, 5.0], [1, float("nan"), 6.0], [9, 9.0, 9.0]]
    assert missing_points(src, dst) == [(0, 1.0, 5.0), (2, 3, 7.0), (0, 1.0, 5.0)]
    assert missing_points(dst, dst) == []


TRIAL = Trial(name="resumable", parameters={"lr": 0.1}, project_id="lab")
OTHER = Trial(name="untouched", parameters={"lr": 0.2}, project_id="lab")
G1 = TrialGroup(name="g1", project_id="lab", metadata={"sweep": 1})
G2 = TrialGroup(name="g2", project_id="lab")


def first_run(store: Protocol) -> None:
    """A run as an offline cluster logs it: points (one logged twice, one NaN), Running."""
    store.new_project(Project(name="lab", metadata={"site": "cluster"}))
    store.new_trial_group(G1)
    store.new_trial_group(G2)
    for trial in (TRIAL, OTHER):
        store.new_trial(Trial(**{**trial.__dict__, "group_id": G1.uid}))
    points = [("loss", s, 1.0 / (s + 1), 100.0 + s) for s in range(5)]
    points += [("loss", 4, 0.2, 104.0), ("acc", None, math.nan, 1.0)]
    batch = TrialBatch(
        metrics=points,
        metadata={"start_time": 100.0, "host": "node1"},
        tags={"who": "me"},
        chronos={"step": {"avg": 0.1, "count": 5}},
        status={"name": "Running", "value": 101},
        errors=["warning: slow"],
    )
    store.log_trial_batch(TRIAL, batch)
    store.log_trial_batch(OTHER, TrialBatch(metrics=[("loss", 0, 1.0, 1.0)]))


def resume(store: Protocol, steps: range) -> None:
    """The run resumed offline: more points (one identical to an old one), a tag, an error."""
    points = [("loss", s, 1.0 / (s + 1), 100.0 + s) for s in steps]
    points += [("loss", 4, 0.2, 104.0), ("lr", steps.start, 0.01, 200.0)]
    batch = TrialBatch(
        metrics=points,
        metadata={"end_time": 300.0, "host": "node2"},
        tags={"resumed": True},
        chronos={"step": {"avg": 0.2, "count": 9}},
        status={"name": "Completed", "value": 302},
        errors=["warning: slow", "RuntimeError: boom"],
    )
    store.log_trial_batch(TRIAL, batch)
    store.add_group_trial(G2, TRIAL)


#: (source kind, destination kind) pairs of STORE_KINDS the merge is checked on
PAIRS = [
    ("file", "sqlite"),
    ("sqlite", "postgresql"),
    ("file", "socket-plain"),
    ("postgresql", "file"),
    ("socket-aes-sqlite", "pickled"),
    ("ephemeral", "socket-tls-sqlite"),
]


@pytest.fixture
def store_kinds(request: pytest.FixtureRequest) -> dict[str, Any]:
    """``STORE_KINDS`` of tests/conftest.py (another conftest.py shadows ``import conftest``)."""
    for plugin in request.config.pluginmanager.get_plugins():
        kinds = getattr(plugin, "STORE_KINDS", None)
        if kinds is not None:
            return kinds
    raise LookupError("tests/conftest.py is not loaded")


@pytest.mark.parametrize(("src_kind", "dst_kind"), PAIRS, ids=["->".join(p) for p in PAIRS])
def test_resumed_trial_is_merged(
    tmp_path: Path, store_kinds: dict[str, Any], src_kind: str, dst_kind: str
) -> None:
    """Copy, resume in SRC, copy: DST gets exactly SRC's new data; a third copy changes nothing."""
    (tmp_path / "src").mkdir()
    (tmp_path / "dst").mkdir()
    with (
        store_kinds[src_kind](tmp_path / "src") as src_uri,
        store_kinds[dst_kind](tmp_path / "dst") as dst_uri,
    ):
        src = get_protocol(src_uri)
        try:
            first_run(src)
            report = copy_store(src, dst_uri)
            assert (report.created, report.merged, report.created_points) == (2, 0, 8)
            resume(src, range(5, 12))
            source = snapshot(src)
            expected = text(source)

            dry = copy_store(src, dst_uri, dry_run=True)
            assert (dry.created, dry.merged, dry.merged_points, dry.unchanged) == (0, 1, 9, 1)
            assert f"would merge into trial {TRIAL.uid}: +9 points" in dry.changes[0]
            assert dump(dst_uri) != expected

            merged = copy_store(src, dst_uri)
            assert (merged.created, merged.merged, merged.merged_points) == (0, 1, 9)
            assert merged.unchanged == 1 and merged.warnings == []
            assert "status Running -> Completed" in merged.changes[0]
            held = snapshot_of(dst_uri)
            assert text(as_source(held, source)) == expected
            trial = held["trials"][TRIAL.uid]
            assert [p[0] for p in trial["metrics"]["loss"]] == [*range(5), 4, *range(5, 12), 4]
            assert trial["errors"] == ["warning: slow", "warning: slow", "RuntimeError: boom"]
            assert trial["tags"] == {"who": "me", "resumed": True}
            assert trial["status"] == {"name": "Completed", "value": 302}
            assert trial["groups"] == sorted([G1.uid, G2.uid])

            before = dump(dst_uri)
            third = copy_store(src, dst_uri)
            assert (third.created, third.merged, third.unchanged, third.changes) == (0, 0, 2, [])
            assert dump(dst_uri) == before
        finally:
            src.close()


def snapshot_of(uri: str) -> dict[str, Any]:
    """:func:`snapshot` of the store at ``uri``, opened for the occasion."""
    store = get_protocol(uri)
    try:
        return snapshot(store)
    finally:
        store.close()


def test_large_series_go_in_bounded_batches(tmp_path: Path) -> None:
    """A trial with more points than a batch holds is created and merged in several batches."""
    src = get_protocol("ephemeral:")
    first_run(src)
    destination = get_protocol(f"sqlite:///{tmp_path / 'small.db'}")
    assert copy_store(src, destination, batch_points=3).created_points == 8
    assert text(snapshot(destination)) == text(snapshot(src))
    resume(src, range(5, 12))
    assert copy_store(src, destination, batch_points=2).merged_points == 9
    assert text(snapshot(destination)) == text(snapshot(src))
    assert copy_store(src, destination, batch_points=2).unchanged == 2


def test_merge_keeps_what_only_dst_has(tmp_path: Path) -> None:
    """Points, keys and errors only DST holds stay; differing values and status take SRC's."""
    src = get_protocol("ephemeral:")
    first_run(src)
    dst = get_protocol(f"file://{tmp_path / 'central.json'}")
    copy_store(src, dst)
    dst.log_trial_batch(
        TRIAL,
        TrialBatch(
            metrics=[("loss", 99, 9.0, 999.0)],
            metadata={"host": "central", "note": "kept"},
            status={"name": "Broken", "value": 203},
            errors=["central only"],
        ),
    )
    dst.set_group_metadata(G1, sweep=2, owner="central")
    report = copy_store(src, dst)
    assert (report.merged, report.merged_points, report.updated_groups) == (1, 0, 1)
    trial = dst.fetch_trials({"uid": TRIAL.uid})[0]
    assert trial.metrics["loss"][-1] == [99, 9.0, 999.0] and len(trial.metrics["loss"]) == 7
    assert trial.metadata["host"] == "node1" and trial.metadata["note"] == "kept"
    assert trial.status == Status.Running
    assert trial.errors == ["warning: slow", "central only"]
    assert dst.get_trial_group(G1).metadata == {"sweep": 1, "owner": "central"}
    assert copy_store(src, dst).unchanged == 2


def test_differences_the_interface_cannot_write_are_warned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A project whose metadata differs in DST is reported (log and report), never silently."""
    src = get_protocol("ephemeral:")
    first_run(src)
    dst = get_protocol(f"sqlite:///{tmp_path / 'other.db'}")
    dst.new_project(Project(name="lab", metadata={"site": "central"}))
    with caplog.at_level(logging.WARNING, logger="track.persistence.transfer"):
        report = copy_store(src, dst)
    assert report.created == 2
    assert len(report.warnings) == 1 and "project lab: metadata site differ" in report.warnings[0]
    assert report.warnings[0] in caplog.text
    assert dst.get_project(Project(name="lab")).metadata == {"site": "central"}


def test_batches_carry_a_writer_unique_to_the_run() -> None:
    """Each copy writes with its own writer id and increasing seqs, so resends apply once."""
    seen: list[tuple[str, int]] = []

    class Recording(type(get_protocol("ephemeral:"))):
        def log_trial_batch(self, trial: Trial, batch: TrialBatch) -> Any:
            seen.append((batch.writer, batch.seq))
            return super().log_trial_batch(trial, batch)

    src = get_protocol("ephemeral:")
    first_run(src)
    dst = Recording()
    copy_store(src, dst)
    resume(src, range(5, 7))
    copy_store(src, dst, batch_points=2)
    resume(src, range(7, 8))
    copy_store(src, dst)
    writers = [w for w, _ in seen]
    assert len(set(writers)) == 2 and all(w.startswith("track-copy-") for w in writers)
    first = [s for w, s in seen if w == writers[0]]
    assert first == [1, 2]
