"""The seeds' serializers: every kind round-trips, and ``from_json`` needs no ``dtype``."""

from __future__ import annotations

import datetime
import uuid

import pytest

from track.aggregators.aggregator import StatAggregator
from track.chrono import ChronoContext
from track.serialization import (
    SerializerAspect,
    SerializerChronoContext,
    SerializerDatetime,
    SerializerProject,
    SerializerStatStream,
    SerializerStatus,
    SerializerTrial,
    SerializerTrialGroup,
    SerializerUUID,
    from_json,
    group_to_doc,
    project_to_doc,
    to_json,
    trial_to_doc,
)
from track.structure import CustomStatus, Project, Status, Trial, TrialGroup
from track.utils.stat import StatStream


def a_trial() -> Trial:
    """A trial with every field set."""
    return Trial(
        name="final",
        description="almost graduating",
        version="a8c3",
        project_id="paper",
        group_id="g1",
        groups={"g1", "g2"},
        tags={"hpo": "byopt", "workers": 8},
        parameters={"lr": 0.1, "layers": [64, 64]},
        metadata={"gpu": "V100", "heartbeat": 1.0},
        metrics={"loss": [[0, 2.5, 1.0], [1, 1.5, 2.0]], "acc": [[None, 0.9, 3.0]]},
        chronos={"batch": {"avg": 0.5, "count": 3}},
        status=Status.Completed,
        errors=["oops"],
    )


def same_trial(a: Trial, b: Trial) -> bool:
    """Field-by-field equality (a Trial compares by uid only)."""
    return trial_to_doc(a) == trial_to_doc(b)


def test_to_json_from_json_round_trips_a_trial_without_dtype() -> None:
    """from_json(to_json(trial)) gives the same trial, told nothing about its kind."""
    trial = a_trial()
    again = from_json(to_json(trial))
    assert isinstance(again, Trial) and same_trial(again, trial)


def test_to_json_from_json_round_trips_a_group_and_a_project_without_dtype() -> None:
    """The same holds for a group and for a project."""
    group = TrialGroup(name="idea", project_id="paper", trials={"a_0", "b_0"}, metadata={"k": 1})
    project = Project(name="paper", description="d", groups={"g"}, trials={"a_0"})
    group_again, project_again = from_json(to_json(group)), from_json(to_json(project))
    assert isinstance(group_again, TrialGroup) and group_to_doc(group_again) == group_to_doc(group)
    assert isinstance(project_again, Project)
    assert project_to_doc(project_again) == project_to_doc(project)


def test_from_json_reads_a_store_document_by_its_keys() -> None:
    """A stored document (no dtype) is recognised: a trial by its hash, a group by its project."""
    trial = a_trial()
    assert isinstance(from_json(trial_to_doc(trial)), Trial)
    assert isinstance(from_json(group_to_doc(TrialGroup(name="g", project_id="p"))), TrialGroup)
    assert isinstance(from_json(project_to_doc(Project(name="p"))), Project)


def test_from_json_refuses_a_document_of_no_known_kind() -> None:
    """A document that is none of the three raises, naming the kinds it could be."""
    with pytest.raises(ValueError, match="expected one of"):
        from_json({"name": "what am I"})


@pytest.mark.parametrize(
    ("serializer", "value"),
    [
        (SerializerTrial(), a_trial()),
        (SerializerTrialGroup(), TrialGroup(name="idea", project_id="p", trials={"x_0"})),
        (SerializerProject(), Project(name="paper", trials={"x_0"})),
    ],
)
def test_structure_serializers_round_trip(serializer: SerializerAspect, value: object) -> None:
    """Each structure serializer's from_json(to_json(x)) rebuilds x."""
    doc = serializer.to_json(value)
    assert doc["dtype"] in ("trial", "group", "project")
    again = serializer.from_json(doc)
    assert type(again) is type(value) and to_json(again) == to_json(value)


def test_trial_serializer_short_form_leaves_out_identity_and_bookkeeping() -> None:
    """The short form has the report's fields, without the ignore_short keys or heartbeat."""
    short = SerializerTrial().to_json(a_trial(), short=True)
    assert not set(short) & SerializerTrial.ignore_short
    assert short["metadata"] == {"gpu": "V100"}
    assert short["parameters"] == {"lr": 0.1, "layers": [64, 64]}
    assert short["status"] == {"name": "Completed", "value": 302}


def test_group_serializer_maybe_unflatten_turns_a_list_into_a_set() -> None:
    """maybe_unflatten reads a written set (a list) back as a set and leaves the rest alone."""
    assert SerializerTrialGroup.maybe_unflatten(["a", "b"]) == {"a", "b"}
    assert SerializerTrialGroup.maybe_unflatten("a") == "a"


@pytest.mark.parametrize("value", [Status.Interrupted, CustomStatus("reserved", 110)])
def test_status_serializer_round_trips(value: Status | CustomStatus) -> None:
    """A built-in and a custom status survive the round trip."""
    serializer = SerializerStatus()
    assert serializer.from_json(serializer.to_json(value)) == value


def test_stat_stream_serializer_round_trips_the_state_and_keeps_accumulating() -> None:
    """The rebuilt stream has the same statistics and updates like the original."""
    stream = StatStream(drop_first_obs=2)
    for value in [9.0, 8.0, 1.0, 2.0, 4.0]:
        stream.update(value)
    serializer = SerializerStatStream()
    again = serializer.from_json(serializer.to_json(stream))
    stream.update(7.0)
    again.update(7.0)
    assert again.to_dict() == stream.to_dict()
    assert serializer.to_json(stream, short=True) == stream.to_json()


def test_stat_stream_serializer_refuses_a_summary() -> None:
    """A short summary cannot rebuild a stream, and saying so beats guessing the state."""
    with pytest.raises(ValueError, match="cannot be read back"):
        SerializerStatStream().from_json(StatStream().to_json(), short=True)


def test_chrono_serializer_writes_the_timer_summary_and_reads_it_back() -> None:
    """A timer serializes to its aggregator's summary; read back, it reports the same."""
    timer = ChronoContext(StatAggregator(skip_obs=0))
    for _ in range(3):
        with timer:
            pass
    serializer = SerializerChronoContext()
    summary = serializer.to_json(timer)
    assert summary["count"] == 3
    again = serializer.from_json(summary)
    assert serializer.to_json(again)["count"] == 3
    listed = serializer.from_json([0.5, 0.25])
    assert serializer.to_json(listed) == [0.5, 0.25]


def test_datetime_and_uuid_serializers_round_trip() -> None:
    """Datetimes (with their time zone) and UUIDs come back equal."""
    moment = datetime.datetime(2020, 1, 10, 12, 30, 5, 123, tzinfo=datetime.timezone.utc)
    ident = uuid.uuid4()
    dates, uuids = SerializerDatetime(), SerializerUUID()
    assert dates.from_json(dates.to_json(moment)) == moment
    assert uuids.from_json(uuids.to_json(ident)) == ident
    assert SerializerAspect().to_json(ident) == str(ident)
