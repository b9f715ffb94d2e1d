"""``get_trial_series`` through ``track serve``: series travel as packed chunks (wire type SERIES).

Through a real server (plain and AES) in front of a SQLite store, the columns a client reads
equal the store's own, whatever the steps, values and step range. A raw client sending
hostile SERIES extensions (bad magic, a huge count, a zlib bomb, a truncated chunk, a document
that is not a list of chunks) is dropped with a log line and the server keeps serving.
"""

from __future__ import annotations

import math
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rawclient import answer, closed_by_peer, greet, send_login
from trackserver import PASSWORD, USER, ServerProcess, running_server, wait_for

from optional import require
from track.persistence.chunks import CHUNK_POINTS, SeriesColumns, encode_chunk
from track.persistence.protocol import TrialBatch
from track.persistence.socketed import SocketClient
from track.persistence.sql import SQLProtocol
from track.server import wire
from track.structure import Project, Trial

NAN, INF = float("nan"), float("inf")


@pytest.fixture(scope="module", params=["AES", None], ids=["aes", "plain"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A server of each security layer in front of a SQLite store."""
    require("msgpack", "the server's wire format")
    if request.param == "AES":
        require("cryptography", "the server's AES layer")
    folder = tmp_path_factory.mktemp("series-wire")
    with running_server(folder, f"sqlite:///{folder / 'store.db'}", layer=request.param) as found:
        yield found


def store_path(server: ServerProcess) -> Path:
    return server.folder / "store.db"


def same(found: SeriesColumns, expected: SeriesColumns) -> bool:
    """Equal points, of the same types, NaN equal to NaN."""

    def one(a: Any, b: Any) -> bool:
        if isinstance(b, float) and math.isnan(b):
            return isinstance(a, float) and math.isnan(a)
        return type(a) is type(b) and a == b

    found_points, expected_points = found.points(), expected.points()
    return len(found_points) == len(expected_points) and all(
        all(map(one, f, e)) for f, e in zip(found_points, expected_points, strict=True)
    )


def test_series_through_the_server_equal_the_store_s(server: ServerProcess) -> None:
    """Long and short series of every step kind, NaN and infinities, int and float values, all
    or some names, with and without a step range: the client reads what the store reads."""
    count = CHUNK_POINTS + 500
    metrics: list[tuple[str, Any, Any, float]] = [
        ("loss", i, [NAN, INF, -INF][i % 3] if i % 1000 == 1 else i / 8, 1e9 + i)
        for i in range(count)
    ]
    metrics += [("acc", i / 2, i * 3, 1e9 + i) for i in range(40)]
    metrics += [("phase", [None, f"p{i}", i, i + 0.5][i % 4], -i, 1e9 + i) for i in range(20)]
    client = SocketClient(server.uri())
    try:
        client.new_project(Project(name="wire"))
        trial = client.new_trial(Trial(name="series", project_id="wire", parameters={"a": 1}))
        assert trial is not None
        for seq, start in enumerate(range(0, len(metrics), 3000), 1):
            batch = TrialBatch(writer="w", seq=seq, metrics=metrics[start : start + 3000])
            assert client.log_trial_batch(trial, batch)
        store = SQLProtocol(f"sqlite:///{store_path(server)}")
        try:
            for names, low, high in [
                (None, None, None),
                (["loss"], None, None),
                (["acc", "phase"], 3, None),
                (None, 100, 8500),
                (["loss", "missing"], None, -1),
                ([], None, None),
            ]:
                found = client.get_trial_series(trial, names, low, high)
                expected = store.get_trial_series(trial, names, low, high)
                assert set(found) == set(expected)
                for name, columns in expected.items():
                    assert same(found[name], columns), (name, names, low, high)
            assert len(client.get_trial_series(trial, ["loss"])["loss"]) == count
            points = client.get_trial_metrics(trial, ["phase"])["phase"]
            assert points == store.get_trial_metrics(trial, ["phase"])["phase"]
        finally:
            store.close()
    finally:
        client.close()


# ---- hostile SERIES extensions ---------------------------------------------------------------


def header(count: int, magic: bytes = b"TC\x01") -> bytes:
    return struct.pack("<3sI", magic, count)


def column(kind: bytes, codec: bytes, payload: bytes) -> bytes:
    return struct.pack("<ccI", kind, codec, len(payload)) + payload


NONE = column(b"n", b"-", b"")
GOOD = encode_chunk([1, 2, 3], [0.5, 1.5, 2.5], [1.0, 2.0, 3.0])[0]
BOMB = column(b"q", b"z", zlib.compress(b"\x00" * (16 << 20), 9))


def series_ext(doc: Any) -> Any:
    """A SERIES extension holding ``doc`` (normally a list of chunk blobs)."""
    import msgpack

    return msgpack.ExtType(wire.SERIES, msgpack.packb(doc, use_bin_type=True))


HOSTILE = {
    "bad magic": series_ext([b"XX\x01" + GOOD[3:]]),
    "huge count": series_ext([header(2**31) + NONE * 3]),
    "zlib bomb": series_ext([header(4) + NONE + BOMB + NONE]),
    "truncated": series_ext([GOOD, GOOD[:-9]]),
    "not a list": series_ext({"chunks": [GOOD]}),
    "not chunks": series_ext([1, "two", None]),
}


def request_frame(channel: Any, argument: Any) -> bytes:
    """A request frame whose argument is a raw msgpack value (extension types included)."""
    import msgpack

    request = {"id": 1, "call": "get_trial_metrics", "args": [argument], "kwargs": {}}
    return wire.frame(channel.seal(msgpack.packb(request, use_bin_type=True)))


def still_serves(server: ServerProcess) -> None:
    """A well-behaved client can still log in and read series."""
    client = SocketClient(server.uri())
    try:
        client.new_project(Project(name="still"))
        unique = {"at": time.monotonic_ns()}
        trial = client.new_trial(Trial(name="still", project_id="still", parameters=unique))
        assert trial is not None
        batch = TrialBatch(writer=str(unique), seq=1, metrics=[("x", 0, 1.5, 0.0)])
        assert client.log_trial_batch(trial, batch)
        assert client.get_trial_series(trial)["x"].points() == [[0, 1.5, 0.0]]
    finally:
        client.close()


@pytest.mark.parametrize("server", ["AES"], indirect=True)  # the layer only seals the frame
@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_series_is_refused_and_the_server_keeps_serving(
    server: ServerProcess, case: str
) -> None:
    """The connection is dropped with a log line naming a bad frame; others are served."""
    source = f"127.0.0.{20 + list(HOSTILE).index(case)}"  # its own address: its own penalty
    sock, channel = greet(server.port, server.layer, source=source)
    send_login(sock, channel, {"user": USER, "password": PASSWORD, "session": "raw"})
    assert answer(sock, channel) == {"ok": True}
    sock.sendall(request_frame(channel, HOSTILE[case]))
    assert closed_by_peer(sock)
    sock.close()

    def dropped() -> bool:
        return any(f"{source}:" in line and "dropped" in line for line in server.log().splitlines())

    wait_for(dropped, 10, f"a 'dropped' line for {source}")
    still_serves(server)


@pytest.mark.parametrize("server", ["AES"], indirect=True)
def test_a_small_frame_cannot_expand_into_millions_of_points(server: ServerProcess) -> None:
    """A few KiB of chunks that each declare CHUNK_POINTS points (a run of one step, values and
    times left None) must be refused, not unpacked into lists of ~740,000 points: only the
    server's replies carry series."""
    run = column(b"r", b"-", struct.pack("<qq", 0, 0))
    tiny = header(CHUNK_POINTS) + run + NONE + NONE
    source = "127.0.0.40"
    sock, channel = greet(server.port, server.layer, source=source)
    send_login(sock, channel, {"user": USER, "password": PASSWORD, "session": "raw"})
    assert answer(sock, channel) == {"ok": True}
    sock.sendall(request_frame(channel, series_ext([tiny] * 90)))
    sock.settimeout(1)
    try:
        assert closed_by_peer(sock)
    finally:
        sock.close()
        still_serves(server)
