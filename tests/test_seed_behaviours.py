"""Track 0.0.1 behaviours on every store kind: the seeds' field names, tags, projects, groups."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from track import TrackClient
from track.persistence import get_protocol
from track.persistence.sql.dialects import make_dialect
from track.persistence.sql.schema import SCHEMA_VERSION, migration_statements
from track.persistence.utils import parse_uri
from track.structure import Project, TagConflict, Trial, TrialGroup


def test_queries_accept_the_structures_field_names(store_uri: str) -> None:
    """``_uid``/``_hash`` find projects, groups and trials on every store, updates included."""
    store = get_protocol(store_uri)
    try:
        project = Project(name="p")
        store.new_project(project)
        group = TrialGroup(name="g", project_id=project.uid)
        store.new_trial_group(group)
        store.new_trial_group(TrialGroup(name="other", project_id=project.uid))
        trial = store.new_trial(Trial(name="t", parameters={"a": 1}, project_id=project.uid))
        store.new_trial(Trial(name="u", parameters={"a": 2}, project_id=project.uid))

        assert [p.uid for p in store.fetch_projects({"_uid": project.uid})] == [project.uid]
        assert [g.uid for g in store.fetch_groups({"_uid": group.uid})] == [group.uid]
        assert [t.uid for t in store.fetch_trials({"_uid": trial.uid})] == [trial.uid]
        assert [t.uid for t in store.fetch_trials({"_hash": trial.hash})] == [trial.uid]

        updated = store.fetch_and_update_group(
            {"_uid": group.uid}, "set_group_metadata", idea="first"
        )
        assert updated is not None and updated.uid == group.uid
        assert store.get_trial_group(group).metadata == {"idea": "first"}
        found = store.fetch_and_update_trial({"_hash": trial.hash}, "add_trial_tags", kind="seed")
        assert found is not None and found.uid == trial.uid
        assert store.get_trial(trial)[0].tags == {"kind": "seed"}
    finally:
        store.close()


def test_trial_tags_as_a_list_on_every_store(store_uri: str) -> None:
    """A trial built with ``tags=[...]`` is stored, read back and queried by its labels."""
    client = TrackClient(store_uri)
    client.set_project(name="labels")
    trial = client.new_trial(name="t", tags=["baseline", "fp16"], parameters={"lr": 0.1})
    trial.add_tags("reviewed", seed=3)
    client.save()

    store = client.protocol
    [stored] = store.fetch_trials({"tags.baseline": {"$exists": True}})
    assert stored.uid == trial.uid
    assert stored.tags == {"baseline": None, "fp16": None, "reviewed": None, "seed": 3}
    assert [t.uid for t in store.fetch_trials({"tags.reviewed": None})] == [trial.uid]
    client.close()


def test_project_tags_are_inherited_and_cannot_be_overridden(store_uri: str) -> None:
    """Groups and trials of a tagged project carry its tags; another value raises TagConflict."""
    client = TrackClient(store_uri)
    project = client.set_project(name="tagged", tags={"team": "vision", "paper": 78997})
    group = client.set_group(name="idea", tags=["sweep"])
    trial = client.new_trial(name="t", tags=["baseline"], parameters={"lr": 0.1})
    trial.add_tags(team="vision", seed=1)  # repeating a project tag's own value is fine
    with pytest.raises(TagConflict, match="team='vision'"):
        trial.add_tags(team="nlp")
    with pytest.raises(TagConflict, match="paper"):
        client.new_trial(force=True, tags={"paper": 1}, parameters={"lr": 0.2})
    with pytest.raises(TagConflict, match=r"group 'other'.*team"):
        client.set_group(name="other", tags={"team": "nlp"}, force=True)
    client.save()

    inherited = {"team": "vision", "paper": 78997}
    store = client.protocol
    assert project is not None and store.get_project(project).tags == inherited
    assert group is not None and store.get_trial_group(group).tags == {"sweep": None, **inherited}
    [stored] = store.fetch_trials({"name": "t"})
    assert stored.tags == {"baseline": None, "seed": 1, **inherited}
    assert [p.uid for p in store.fetch_projects({"tags.team": "vision"})] == ["tagged"]
    assert [g.uid for g in store.fetch_groups({"tags.paper": 78997})] == [group.uid]
    assert store.fetch_groups({"tags.team": "nlp"}) == []
    client.close()

    if store_uri != "ephemeral:":  # another process: the stored project's tags still apply
        again = TrackClient(store_uri)
        again.set_project(name="tagged")
        later = again.new_trial(name="later", parameters={"lr": 0.3})
        with pytest.raises(TagConflict):
            later.add_tags(paper=0)
        again.save()
        [stored] = again.protocol.fetch_trials({"name": "later"})
        assert stored.tags == inherited
        again.close()


def test_a_trial_joins_several_groups_from_the_client(store_uri: str) -> None:
    """``client.add_to_group`` / ``trial.add_to_group`` put the trial in more groups."""
    client = TrackClient(store_uri)
    client.set_project(name="groups", tags={"team": "vision"})
    first = client.set_group(name="first")
    trial = client.new_trial(name="t", parameters={"lr": 0.1})
    second = client.add_to_group(name="second")
    third = TrialGroup(name="third", project_id="groups", tags={"team": "vision"})
    client.protocol.new_trial_group(third)
    trial.add_to_group(third)
    client.save()

    assert client.group is first  # the current group did not change
    assert second.tags == {"team": "vision"}
    store = client.protocol
    [stored] = store.get_trial(trial.trial)
    assert stored.group_id == first.uid
    assert stored.groups == {first.uid, second.uid, third.uid}
    for group in (first, second, third):
        assert [t.uid for t in store.fetch_trials({"group_id": group.uid})] == [trial.uid]
        assert store.get_trial_group(group).trials == {trial.uid}
    client.close()


def test_a_version_2_sqlite_database_gains_project_and_group_tags(tmp_path: Path) -> None:
    """Migration 3 adds the tag columns: old projects and groups read with no tags, new ones keep
    theirs, and a client inherits them."""
    path = tmp_path / "v2.db"
    dialect = make_dialect(parse_uri(f"sqlite:///{path}"))
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for version in (1, 2):
            for statement in migration_statements(dialect, version):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
        conn.execute("INSERT INTO projects (uid, name, metadata) VALUES ('old', 'old', '{}')")
        conn.execute(
            "INSERT INTO trial_group (uid, name, metadata, project_id)"
            " VALUES ('g', 'g', '{}', 'old')"
        )

    store = get_protocol(f"sqlite:///{path}")
    assert store.get_project(Project(name="old")).tags == {}
    assert store.fetch_groups({"_uid": "g"})[0].tags == {}
    store.new_project(Project(name="new", tags=["fresh"]))
    assert store.get_project(Project(name="new")).tags == {"fresh": None}
    store.close()
    with sqlite3.connect(path) as conn:
        version = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
        assert version == SCHEMA_VERSION  # migrated all the way, through the tags of version 3
