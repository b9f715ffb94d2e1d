"""Hostile and broken clients are refused or dropped with a log line; the server keeps serving."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rawclient import FlippingProxy, closed_by_peer, connect, login
from trackserver import ServerProcess, running_server, wait_for

from track.persistence.socketed import AuthenticationFailed, SocketClient
from track.server import wire
from track.structure import Project


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One AES server with a user, a 1 MiB frame limit and a 1 s read timeout."""
    folder = tmp_path_factory.mktemp("hostile")
    extra = ("--max-frame", str(1 << 20), "--read-timeout", "1")
    with running_server(folder, f"file://{folder / 'store.json'}", extra=extra) as process:
        yield process


def still_serves(server: ServerProcess) -> None:
    """A well-behaved client can still log in and call the store."""
    client = SocketClient(server.uri())
    client.new_project(Project(name=f"p{time.monotonic_ns()}"))
    client.close()


def logged(server: ServerProcess, text: str) -> None:
    """Wait until the server log mentions ``text``."""
    wait_for(lambda: text in server.log(), 10, f"{text!r} in the server log")


def test_tampered_ciphertext_is_dropped_and_the_client_recovers(server: ServerProcess) -> None:
    """A flipped byte fails authentication; the client reconnects, resends, and succeeds."""
    proxy = FlippingProxy(server.port, flip_chunk=3)
    try:
        client = SocketClient(server.uri().replace(str(server.port), str(proxy.port)))
        assert client.new_project(Project(name="tampered")) is not None
        assert proxy.flipped
        logged(server, "failed authentication (tampered, replayed or reordered)")
        client.close()
    finally:
        proxy.close()


def test_replayed_frame_is_dropped(server: ServerProcess) -> None:
    """Sending a captured request frame a second time closes the connection."""
    sock, channel = login(server.port)
    request = {"id": 1, "call": "fetch_projects", "args": [None], "kwargs": {}}
    captured = wire.frame(channel.seal(wire.encode(request)))
    sock.sendall(captured)
    assert wire.decode(channel.open(wire.recv_frame(sock, 1 << 24)))["id"] == 1
    sock.sendall(captured)
    assert closed_by_peer(sock)
    logged(server, "frame 1 failed authentication")
    still_serves(server)


def test_oversized_frame_is_dropped_without_reading_it(server: ServerProcess) -> None:
    """A frame announcing more than max_frame bytes closes the connection at once."""
    sock, _ = login(server.port)
    sock.sendall((1 << 30).to_bytes(4, "big"))
    assert closed_by_peer(sock)
    logged(server, "exceeds the maximum of 1048576")
    still_serves(server)


def test_garbage_bytes_are_dropped(server: ServerProcess) -> None:
    """Random bytes instead of a hello close the connection with a log line."""
    sock = connect(server.port)
    sock.sendall(b"\x00\x00\x00\x10" + os.urandom(16))
    assert closed_by_peer(sock)
    logged(server, "undecodable payload")
    still_serves(server)


def test_slow_client_is_dropped_while_others_are_served(server: ServerProcess) -> None:
    """A client that never finishes its frame is dropped after the read timeout."""
    sock, _ = login(server.port)
    sock.sendall((100).to_bytes(4, "big") + b"partial")
    still_serves(server)
    sock.settimeout(10)
    assert closed_by_peer(sock)
    logged(server, "dropped: read timed out")


def test_calls_outside_the_protocol_are_refused(server: ServerProcess) -> None:
    """A request naming a non-Protocol method gets an error reply and the connection stays."""
    sock, channel = login(server.port)
    for rid, call in enumerate(("__init__", "_transaction", "close"), 1):
        request = {"id": rid, "call": call, "args": [], "kwargs": {}}
        sock.sendall(wire.frame(channel.seal(wire.encode(request))))
        reply = wire.decode(channel.open(wire.recv_frame(sock, 1 << 24)))
        assert "not a callable method" in reply["error"]["message"]
    sock.close()


def test_repeated_login_failures_are_slowed_down(tmp_path: Path) -> None:
    """Each failed login puts its address in a doubling penalty (0.25 s, 0.5 s, 1 s ...); a
    client arriving during it waits and retries, so each password is checked exactly once."""
    with running_server(tmp_path, f"file://{tmp_path / 's.json'}") as server:
        for _ in range(3):
            with pytest.raises(AuthenticationFailed):
                SocketClient(server.uri(password="wrong"))
        logged(server, "127.0.0.1 waits 1 s before its next login is checked")
        log = server.log()
        assert log.count("login failed for user 'user'") == 3
        assert "waits 0.25 s" in log and "waits 0.5 s" in log


def rss_kib(pid: int) -> int:
    """Resident memory of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_memory_stays_bounded_under_abuse(server: ServerProcess) -> None:
    """Hundreds of oversized, garbage and half-sent frames leave the server's memory flat."""
    assert server.process is not None
    before = rss_kib(server.process.pid)
    for _ in range(100):
        for payload in (
            (1 << 31).to_bytes(4, "big"),
            os.urandom(64),
            (1 << 19).to_bytes(4, "big") + os.urandom(1 << 18),
        ):
            sock = connect(server.port)
            sock.sendall(payload)
            sock.close()
    still_serves(server)
    assert rss_kib(server.process.pid) - before < 30 * 1024
