"""Random and mutated frames thrown at a running server never crash it."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rawclient import connect, login
from trackserver import ServerProcess, running_server

from track.persistence.socketed import SocketClient
from track.server import wire
from track.structure import Project

VALID = wire.encode({"id": 1, "call": "fetch_projects", "args": [None], "kwargs": {}})
values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.text()
    | st.binary(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A plain-layer server without users (loopback only), so fuzz reaches the request decoder."""
    folder = tmp_path_factory.mktemp("fuzz")
    extra = ("--read-timeout", "0.5")
    store = f"file://{folder / 'store.json'}"
    with running_server(folder, store, layer=None, users={}, extra=extra) as process:
        yield process


def mutate(data: bytes, position: int, byte: int, cut: int) -> bytes:
    """``data`` with one byte replaced and the tail cut."""
    position %= len(data)
    return (data[:position] + bytes([byte]) + data[position + 1 :])[: max(cut, 1)]


def exchange(port: int, raw: bytes, after_login: bool) -> None:
    """Send ``raw`` (before or after logging in) and read whatever comes back."""
    sock = login(port, layer=None)[0] if after_login else connect(port)
    sock.settimeout(2)
    try:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(65536):
            pass
    except OSError:
        pass
    finally:
        sock.close()


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    payload=st.one_of(
        st.binary(max_size=200),
        values.map(wire.encode),
        st.tuples(st.integers(0, 10**6), st.integers(0, 255), st.integers(1, 200)).map(
            lambda m: mutate(VALID, *m)
        ),
    ),
    framed=st.booleans(),
    after_login=st.booleans(),
)
def test_random_and_mutated_frames_never_crash_the_server(
    server: ServerProcess, payload: bytes, framed: bool, after_login: bool
) -> None:
    """Whatever arrives, the server process stays up."""
    exchange(server.port, wire.frame(payload) if framed else payload, after_login)
    assert server.process is not None and server.process.poll() is None


def nested_ext(depth: int) -> bytes:
    """``depth`` extension types, each holding the next (what crashed msgpack's C decoder)."""
    import msgpack

    payload = msgpack.packb({"name": "x"})
    for _ in range(depth):
        payload = msgpack.packb(msgpack.ExtType(wire.TRIAL, payload))
    return payload


HOSTILE = {
    "nested-ext": nested_ext(400),
    "deep-arrays": b"\x91" * 100_000 + b"\x01",
    "deep-maps": b"\x81\xa1k" * 50_000 + b"\x01",
    "huge-array-header": b"\xdd\xff\xff\xff\xff",
    "huge-map-header": b"\xdf\xff\xff\xff\xff",
}


@pytest.mark.parametrize("after_login", [False, True], ids=["pre-login", "post-login"])
@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_nesting_and_counts_never_crash_the_server(
    server: ServerProcess, name: str, after_login: bool
) -> None:
    """Nested extension types, deep arrays or maps and huge counts: the server stays up."""
    exchange(server.port, wire.frame(HOSTILE[name]), after_login)
    assert server.process is not None and server.process.poll() is None
    client = SocketClient(server.uri(user="anyone", password="x"))
    assert client.fetch_projects({"name": "nobody"}) == []
    client.close()


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_payloads_are_refused_by_the_decoder(name: str) -> None:
    """The decoder raises FrameError (in a child process, so a crash would show as one)."""
    import subprocess
    import sys

    script = (
        "import sys\nfrom track.server import wire\n"
        "try:\n    wire.decode(sys.stdin.buffer.read())\n"
        "except wire.FrameError:\n    print('refused')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], input=HOSTILE[name], capture_output=True, timeout=60
    )
    assert (done.returncode, done.stdout.strip()) == (0, b"refused"), done.stderr


def test_server_serves_after_the_fuzzing(server: ServerProcess) -> None:
    """After the fuzz run a normal client still works, and no handler died with a traceback."""
    assert "Traceback" not in server.log()
    client = SocketClient(server.uri(user="anyone", password="x"))
    client.new_project(Project(name="after-fuzz"))
    assert [p.name for p in client.fetch_projects({"name": "after-fuzz"})] == ["after-fuzz"]


HOSTILE_SERVER_CHILD = """
import sys
from track.persistence.socketed import SocketClient
try:
    SocketClient(f"socket://127.0.0.1:{sys.argv[1]}?security_layer=none&timeout=2").close()
except Exception as error:
    print(type(error).__name__)
"""


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_server_reply_never_crashes_the_client(name: str) -> None:
    """A 'server' answering the hello with a hostile frame gets a clean error from the client."""
    import subprocess
    import sys
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.settimeout(30)

    def answer() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.sendall(wire.frame(HOSTILE[name]))

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        done = subprocess.run(
            [sys.executable, "-c", HOSTILE_SERVER_CHILD, str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        listener.close()
    assert done.returncode == 0, f"the client crashed ({done.returncode}): {done.stderr[-500:]}"
    assert done.stdout.strip() in ("ServerUnreachable", "ServerRefused", "FrameError"), done.stdout
