"""The wire codec: typed extensions round-trip; nothing else is rebuilt."""

from __future__ import annotations

import msgpack
import pytest

from track.persistence.protocol import TrialBatch
from track.server.wire import FrameError, TrialRef, decode, encode, frame
from track.structure import Project, Status, Trial, TrialGroup


def test_track_objects_round_trip() -> None:
    """Trials, groups, projects, batches and statuses come back as themselves."""
    trial = Trial(name="t", parameters={"lr": 0.1}, metrics={"loss": [[0, 1.0, 2.0]]})
    batch = TrialBatch(writer="w", seq=3, metrics=[("loss", 1, 0.5, 9.0)], status=None)
    back = decode(encode([trial, TrialGroup(name="g"), Project(name="p"), batch, Status.Running]))
    assert back[0].uid == trial.uid and back[0].metrics == trial.metrics
    assert back[1].name == "g" and back[2].name == "p"
    assert back[3] == batch and back[4] is Status.Running
    ref = decode(encode(TrialRef(_hash="abc", revision=2)))
    assert isinstance(ref, TrialRef) and ref.uid == "abc_2"


def test_user_dicts_cannot_pose_as_objects() -> None:
    """A plain map stays a map, whatever keys it has."""
    assert decode(encode({"uid": "x", "hash": "y", "$t": "trial"})) == {
        "uid": "x",
        "hash": "y",
        "$t": "trial",
    }


def test_unknown_extension_and_garbage_are_frame_errors() -> None:
    """Unknown extension codes and undecodable bytes raise FrameError."""
    with pytest.raises(FrameError, match="unknown extension type 42"):
        decode(msgpack.packb(msgpack.ExtType(42, msgpack.packb({}))))
    with pytest.raises(FrameError, match="undecodable"):
        decode(b"\xc1\xc1")


def test_unstorable_values_are_refused_when_encoding() -> None:
    """A value with no document form raises an error naming its type."""
    with pytest.raises(TypeError, match="object"):
        encode({"x": object()})


def test_frame_prefixes_the_length() -> None:
    """A frame is a 4-byte big-endian length and the payload."""
    assert frame(b"abc") == b"\x00\x00\x00\x03abc"


BIG = [2**64, -(2**63) - 1, 2**128 - 1, -(2**200), 2**8183]


def test_ints_beyond_64_bits_round_trip_wherever_they_are() -> None:
    """At the top, in maps and lists, in a trial's parameters and in a batch's points."""
    trial = Trial(name="t", parameters={"uuid": 2**127 + 5, "list": BIG})
    batch = TrialBatch(writer="w", seq=1, metrics=[("hash", 2**70, 2**300, 1.0)])
    back = decode(encode([*BIG, {"nested": BIG}, trial, batch, 2**64 - 1, -(2**63)]))
    assert back[: len(BIG)] == BIG and back[len(BIG)] == {"nested": BIG}
    assert back[-4].parameters == trial.parameters and back[-3] == batch
    assert back[-2:] == [2**64 - 1, -(2**63)]
    assert all(type(n) is int for n in back[: len(BIG)])


def test_big_ints_are_bounded_both_ways() -> None:
    """Encoding an int past the bound names its size; a frame declaring one is refused, and so
    is an empty one."""
    with pytest.raises(ValueError, match="8192 bits cannot be sent"):
        encode(2**8191)
    for payload in (b"\x01" * 1025, b""):
        with pytest.raises(FrameError, match="big int"):
            decode(msgpack.packb(msgpack.ExtType(8, payload)))
        with pytest.raises(FrameError, match="big int"):
            decode(msgpack.packb(msgpack.ExtType(1, msgpack.packb(msgpack.ExtType(8, payload)))))
