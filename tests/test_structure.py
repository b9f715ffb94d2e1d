"""Statuses and the identity of projects, groups and trials."""

from __future__ import annotations

import pytest

from track import TrackClient
from track.structure import CustomStatus, Project, Status, Trial, TrialGroup, status
from track.versioning import compute_hash

EXPECTED_STATUS = {
    "CreatedGroup": 0,
    "RunningGroup": 100,
    "Running": 101,
    "ErrorGroup": 200,
    "Interrupted": 201,
    "Exception": 202,
    "Broken": 203,
    "FinishedGroup": 300,
    "Suspended": 301,
    "Completed": 302,
}


def test_status_values_are_the_seed_values() -> None:
    """Every built-in status has exactly the seed's name and value, and nothing more."""
    assert {s.name: s.value for s in Status} == EXPECTED_STATUS


def test_custom_status_equals_its_name() -> None:
    """A custom status compares equal to its name and to an identical custom status."""
    reserved = CustomStatus("reserved", 1)
    assert reserved == "reserved"
    assert reserved != "running"
    assert reserved == CustomStatus("reserved", 1)
    assert reserved != CustomStatus("reserved", 2)
    assert hash(reserved) == hash(CustomStatus("reserved", 1))


def test_status_lookup_by_name_or_value() -> None:
    """``status()`` resolves names in any case and values; unknown names need a value."""
    assert status("completed") is Status.Completed
    assert status(value=201) is Status.Interrupted
    assert status("reserved", 1) == CustomStatus("reserved", 1)
    with pytest.raises(ValueError, match="reserved"):
        status("reserved")
    with pytest.raises(ValueError, match="999"):
        status(value=999)


def test_project_uid_is_its_name() -> None:
    """A project's uid is its name."""
    assert Project(name="paper_78997").uid == "paper_78997"


def test_group_uid_hashes_name_and_project() -> None:
    """A group's uid hashes (name, project): the same name in two projects is two groups."""
    group = TrialGroup(name="idea", project_id="p1")
    assert group.uid == compute_hash("idea", "p1")
    assert group.uid != TrialGroup(name="idea", project_id="p2").uid


def test_trial_uid_is_hash_and_revision() -> None:
    """A trial's uid is ``{hash}_{revision}``; its hash ignores the revision."""
    trial = Trial(name="t", version="v", parameters={"lr": 0.1}, revision=3)
    assert trial.hash == compute_hash(name="t", version="v", parameters={"lr": 0.1})
    assert trial.uid == f"{trial.hash}_3"
    assert Trial(name="t", version="v", parameters={"lr": 0.1}).hash == trial.hash


def test_trial_hash_depends_on_parameters_name_and_version() -> None:
    """Changing a parameter, the name or the version changes the hash."""
    base = Trial(name="t", version="v", parameters={"lr": 0.1})
    assert Trial(name="t", version="v", parameters={"lr": 0.2}).hash != base.hash
    assert Trial(name="u", version="v", parameters={"lr": 0.1}).hash != base.hash
    assert Trial(name="t", version="w", parameters={"lr": 0.1}).hash != base.hash


def test_same_parameters_get_the_next_revision() -> None:
    """A new trial with the parameters of an existing one is stored under the next revision."""
    client = TrackClient("ephemeral:")
    first = client.new_trial(parameters={"lr": 0.1}, version="v")
    second = client.new_trial(force=True, parameters={"lr": 0.1}, version="v")
    third = client.new_trial(force=True, parameters={"lr": 0.1}, version="v")
    assert first.trial.hash == second.trial.hash == third.trial.hash
    assert [first.trial.revision, second.trial.revision, third.trial.revision] == [0, 1, 2]
    assert third.uid == f"{first.trial.hash}_2"
    stored = client.protocol.fetch_trials({"hash": first.trial.hash})
    assert sorted(t.revision for t in stored) == [0, 1, 2]
    client.close()


def test_tags_given_as_a_list_of_labels() -> None:
    """``Trial(tags=[...])``, as the reference's examples write it, holds each label with no value."""
    trial = Trial(name="t", tags=["baseline", "fp16"])
    assert trial.tags == {"baseline": None, "fp16": None}
    assert Trial(tags=("a",)).tags == {"a": None}
    assert Trial(tags={"hpo": "grid"}).tags == {"hpo": "grid"}
    assert Trial(tags=None).tags == {}


@pytest.mark.parametrize(
    ("tags", "message"),
    [("baseline", "a dict or a list of labels"), ([1], "label 1"), (3, "a dict or a list")],
)
def test_tags_that_are_neither_dict_nor_labels_are_refused(tags: object, message: str) -> None:
    """A bare string (one label? its letters?) or a non-text label raises, naming the problem."""
    with pytest.raises(TypeError, match=message):
        Trial(tags=tags)
