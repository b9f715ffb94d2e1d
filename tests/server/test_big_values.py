"""Values the wire must carry, or refuse out loud, through a real ``track serve``.

Ints beyond msgpack's 64 bits (a uuid's 128, a hash) travel both ways, in parameters and in
metadata, and read back equal from the client and from the store (points keep to int64, which
logging enforces). A stored value the wire cannot
carry at all (an int past its bound) makes the call raise at once, naming why, on a connection
that goes on serving: before, the server dropped the connection, which the client took for a
server down and retried for a minute.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from trackserver import ServerProcess, running_server

from optional import require
from track.persistence.protocol import TrialBatch
from track.persistence.socketed import SocketClient
from track.persistence.sql import SQLProtocol
from track.server.client import RPCCallFailure
from track.structure import Project, Trial


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A plain-layer server in front of a SQLite store."""
    require("msgpack", "the server's wire format")
    folder = tmp_path_factory.mktemp("big-values")
    with running_server(folder, f"sqlite:///{folder / 'store.db'}", layer=None) as found:
        yield found


def store_path(server: ServerProcess) -> Path:
    return server.folder / "store.db"


def test_ints_beyond_64_bits_cross_the_server_both_ways(server: ServerProcess) -> None:
    """A 128-bit uuid parameter and a 256-bit hash in metadata come back equal, as ints, from
    the client and from the store; points at the int64 edges too."""
    seed = uuid.UUID("6f1c2d3e-4b5a-4978-8c6d-5e4f3a2b1c0d").int
    digest = 2**255 + 12345
    edges = [(-(2**63), 2**63 - 1, 1.0), (2**63 - 1, -(2**63), 2.0)]
    client = SocketClient(server.uri())
    try:
        client.new_project(Project(name="big"))
        trial = client.new_trial(Trial(name="big", project_id="big", parameters={"seed": seed}))
        assert trial is not None
        batch = TrialBatch(
            writer="w", seq=1, metrics=[("edge", *p) for p in edges], metadata={"digest": digest}
        )
        assert client.log_trial_batch(trial, batch)
        (found,) = client.fetch_trials({"uid": trial.uid})
        assert found.parameters == {"seed": seed} and found.metadata["digest"] == digest
        assert client.get_trial_metrics(trial, ["edge"])["edge"] == [list(p) for p in edges]
    finally:
        client.close()
    store = SQLProtocol(f"sqlite:///{store_path(server)}")
    try:
        (stored,) = store.fetch_trials({"uid": trial.uid})
        assert stored.parameters == {"seed": seed} and stored.metadata["digest"] == digest
    finally:
        store.close()


def test_a_result_the_wire_cannot_carry_is_an_error_on_a_live_connection(
    server: ServerProcess,
) -> None:
    """A stored 9,000-bit int (the wire carries 8,191) fails the read that returns it, with a
    message saying so and a line in the server's log; the next call on the same client works."""
    store = SQLProtocol(f"sqlite:///{store_path(server)}")
    try:
        huge = store.new_trial(Trial(name="huge", parameters={"n": 2**9000}))
        assert huge is not None
    finally:
        store.close()
    client = SocketClient(server.uri())
    try:
        with pytest.raises(RPCCallFailure, match=r"cannot send this result.*9001 bits"):
            client.fetch_trials({"uid": huge.uid})
        assert client.fetch_trials({"uid": "no-such-trial"}) == []
    finally:
        client.close()
    assert "cannot be sent" in server.log()


def test_every_store_keeps_big_ints_in_parameters_and_metadata(store_uri: str) -> None:
    """The user guide's promise, on every store kind (the socket ones through a server)."""
    from track.persistence import get_protocol

    seed, digest = uuid.UUID(int=2**127 + 99).int, -(2**255) - 7
    store = get_protocol(store_uri)
    try:
        trial = store.new_trial(Trial(name="big", parameters={"seed": seed}))
        assert trial is not None
        batch = TrialBatch(writer="w", seq=1, metadata={"digest": digest})
        assert store.log_trial_batch(trial, batch)
        (found,) = store.fetch_trials({"uid": trial.uid})
        assert found.parameters == {"seed": seed} and found.metadata["digest"] == digest
    finally:
        store.close()
