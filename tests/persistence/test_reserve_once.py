"""``fetch_and_update_once``: a reservation request applied once, however often it is sent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from track.persistence import get_protocol
from track.persistence.protocol import Protocol
from track.structure import CustomStatus, Project, Status, Trial, TrialGroup

RESERVED = CustomStatus("reserved", 1)


@pytest.fixture
def store(store_uri: str) -> Iterator[Protocol]:
    """The store behind ``store_uri``, closed afterwards."""
    protocol = get_protocol(store_uri)
    yield protocol
    protocol.close()


def pool(store: Protocol, number: int) -> list[str]:
    """Insert ``number`` trials waiting to be reserved; returns their uids."""
    uids = []
    for i in range(number):
        trial = store.new_trial(Trial(name=f"t{i}", parameters={"i": i}))
        assert trial is not None
        uids.append(trial.uid)
    return uids


def reserve(store: Protocol, request: str) -> Trial | None:
    """Reserve one waiting trial under ``request``."""
    found = store.fetch_and_update_once(
        request, "trial", {"status": "CreatedGroup"}, "set_trial_status", (RESERVED,)
    )
    assert found is None or isinstance(found, Trial)
    return found


def reserved(store: Protocol) -> list[str]:
    """Uids of the reserved trials."""
    return sorted(t.uid for t in store.fetch_trials({"status": "reserved"}))


def test_same_request_twice_reserves_one_trial(store: Protocol) -> None:
    """A repeated request answers the trial it reserved the first time and reserves no other."""
    uids = pool(store, 3)
    first = reserve(store, "request-1")
    again = reserve(store, "request-1")
    assert first is not None and again is not None
    assert again.uid == first.uid and first.uid in uids
    assert again.status.name == "reserved"
    assert reserved(store) == [first.uid]


def test_two_requests_reserve_two_trials(store: Protocol) -> None:
    """Two request ids reserve two different trials."""
    pool(store, 3)
    one, two = reserve(store, "a"), reserve(store, "b")
    assert one is not None and two is not None and one.uid != two.uid
    assert reserved(store) == sorted([one.uid, two.uid])


def test_repeat_answers_the_current_state(store: Protocol) -> None:
    """The repeated answer is the reserved trial as it is now, not as it was reserved."""
    pool(store, 1)
    first = reserve(store, "r")
    assert first is not None
    store.set_trial_status(first, Status.Completed)
    again = reserve(store, "r")
    assert again is not None and again.uid == first.uid and again.status == Status.Completed
    assert reserved(store) == []


def test_a_request_that_found_nothing_keeps_answering_none(store: Protocol) -> None:
    """A request first answered None answers None again, even once trials are waiting."""
    assert reserve(store, "early") is None
    pool(store, 2)
    assert reserve(store, "early") is None
    assert reserved(store) == []


def test_a_failed_update_is_not_recorded(store: Protocol) -> None:
    """A reservation whose update raised records nothing: the same request id reserves later."""
    pool(store, 2)
    with pytest.raises(Exception, match="loss"):
        store.fetch_and_update_once(
            "r", "trial", {"status": "CreatedGroup"}, "log_trial_metrics", (), {"loss": "high"}
        )
    assert reserved(store) == []
    first = reserve(store, "r")
    assert first is not None and reserved(store) == [first.uid]


def test_group_requests_are_applied_once(store: Protocol) -> None:
    """kind="group": a repeated request answers the same group and adds no trial twice."""
    store.new_project(Project(name="p"))
    store.new_trial_group(TrialGroup(name="g", project_id="p"))
    [uid] = pool(store, 1)
    trial = store.get_trial(Trial(name="t0", parameters={"i": 0}))[0]
    answers = [
        store.fetch_and_update_once("g1", "group", {"name": "g"}, "add_group_trial", (trial,))
        for _ in range(2)
    ]
    assert all(isinstance(a, TrialGroup) and a.trials == {uid} for a in answers)


def test_the_record_survives_reopening(shared_store_uri: str) -> None:
    """A request repeated through a new connection (another process, a restart) is answered too."""
    first_store = get_protocol(shared_store_uri)
    try:
        pool(first_store, 3)
        first = reserve(first_store, "survivor")
    finally:
        first_store.close()
    second_store = get_protocol(shared_store_uri)
    try:
        again = reserve(second_store, "survivor")
        assert first is not None and again is not None and again.uid == first.uid
        assert reserved(second_store) == [first.uid]
    finally:
        second_store.close()
