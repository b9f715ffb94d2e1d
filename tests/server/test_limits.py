"""Connection, login and memory limits: one address (or a crowd) cannot lock out a real client.

Every test runs a real ``track serve`` and talks to it over real sockets. Counts come from the
server's log and replies (which logins were checked with scrypt, which were evicted or refused),
and memory from ``/proc/<pid>/status``; nothing asserts on elapsed time.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

from rawclient import answer, closed_by_peer, connect, greet, send_login
from trackserver import PASSWORD, USER, running_server, wait_for

from track.persistence.socketed import SocketClient
from track.server import wire
from track.structure import Project

#: the defaults the tests rely on (ServerOptions)
PENDING_PER_ADDRESS, LOGINS_PER_ADDRESS, PENDING = 16, 2, 128
MiB = 1024 * 1024
#: what docs/server.md states: a burst of 16 MiB frames of empty arrays raises the server's
#: peak resident memory by less than this over its idle size
EMPTY_ARRAYS_BOUND_MIB = 320
#: ... and any frame at most this many times max_frame (the worst mix measured: ~48x)
WORST_CASE_FACTOR = 56


def store(folder: Path) -> str:
    """A file store in ``folder``."""
    return f"file://{folder / 'store.json'}"


def served(uri: str, name: str) -> None:
    """A client with valid credentials logs in, writes a project and reads it back."""
    client = SocketClient(uri)
    try:
        client.new_project(Project(name=name))
        assert [p.name for p in client.fetch_projects({"name": name})] == [name]
    finally:
        client.close()


def still_open(sockets: list[socket.socket]) -> list[socket.socket]:
    """The sockets the server has not closed (each gets a short read to find out)."""
    alive = []
    for sock in sockets:
        sock.settimeout(0.05)
        if not closed_by_peer(sock):
            alive.append(sock)
    return alive


def close_all(sockets: list[socket.socket]) -> None:
    """Close the test's own sockets."""
    for sock in sockets:
        sock.close()


# ---- finding 3: per-address limits, reserved room, pre-login deadline ----------------------


def test_idle_flood_from_one_address_leaves_room_for_a_real_login(tmp_path: Path) -> None:
    """600 idle connections from 127.0.0.1 (512 used to fill the server): a valid login from
    the same address is still served, and the flood holds no more than 16 connections."""
    with running_server(tmp_path, store(tmp_path)) as server:
        flood = [connect(server.port) for _ in range(600)]
        try:
            evicted = 600 - PENDING_PER_ADDRESS
            wait_for(lambda: server.log().count("dropped: evicted") >= evicted, 60, "evictions")
            served(server.uri(timeout="30"), "after-idle-flood")
            assert len(still_open(flood)) <= PENDING_PER_ADDRESS
        finally:
            close_all(flood)
        assert "holds more than 16 connections that have not logged in" in server.log()


def test_connections_stuck_after_the_handshake_do_not_block_a_login(tmp_path: Path) -> None:
    """An address holding its maximum of connections past the AES handshake but never logging
    in: a valid login from that address evicts the oldest of them and is served."""
    with running_server(tmp_path, store(tmp_path)) as server:
        stuck = [greet(server.port)[0] for _ in range(PENDING_PER_ADDRESS)]
        try:
            served(server.uri(timeout="30"), "after-handshake-flood")
            assert len(still_open(stuck)) <= PENDING_PER_ADDRESS - 1
        finally:
            close_all(stuck)


def test_a_crowd_of_addresses_cannot_fill_the_server(tmp_path: Path) -> None:
    """40 addresses x 16 idle connections (640, more than the 512 that used to fill the
    server): pending connections stay under their global cap and a valid login is served."""
    with running_server(tmp_path, store(tmp_path)) as server:
        crowd = [
            connect(server.port, source=f"127.0.0.{host}")
            for host in range(2, 42)
            for _ in range(PENDING_PER_ADDRESS)
        ]
        try:
            wait_for(
                lambda: server.log().count("dropped: evicted") >= len(crowd) - PENDING,
                60,
                "evictions",
            )
            served(server.uri(timeout="30"), "after-crowd")
            assert len(still_open(crowd)) <= PENDING
        finally:
            close_all(crowd)
        assert f"more than {PENDING} connections have not logged in" in server.log()


def test_a_connection_must_log_in_within_the_login_timeout(tmp_path: Path) -> None:
    """An idle connection and one stopped after the handshake are both closed at the
    pre-login deadline (--login-timeout 1), with a log line."""
    extra = ("--login-timeout", "1")
    with running_server(tmp_path, store(tmp_path), extra=extra) as server:
        idle = connect(server.port, timeout=30)
        stuck, _ = greet(server.port)
        stuck.settimeout(30)
        assert closed_by_peer(idle) and closed_by_peer(stuck)
        assert server.log().count("dropped: no login within 1 s") == 2
        served(server.uri(), "after-deadline")


# ---- finding 4: penalty before scrypt, logins per address, guess rate ----------------------


def checked_logins(log: str) -> int:
    """Logins whose password the server checked (each costs one scrypt run)."""
    return log.count("login failed for user")


def test_parallel_guesses_are_refused_before_scrypt(tmp_path: Path) -> None:
    """16 wrong passwords sent at once from one address: at most 2 are checked with scrypt
    (logins per address), every other is refused unchecked as in the penalty period."""
    with running_server(tmp_path, store(tmp_path)) as server:
        guesses = [greet(server.port) for _ in range(PENDING_PER_ADDRESS)]
        for number, (sock, channel) in enumerate(guesses):
            send_login(sock, channel, {"user": USER, "password": f"guess{number}", "session": "g"})
        replies = [answer(sock, channel) for sock, channel in guesses]
        close_all([sock for sock, _ in guesses])
        kinds = [reply.get("refused") for reply in replies]
        checked = kinds.count("credentials")
        assert 1 <= checked <= LOGINS_PER_ADDRESS, kinds
        assert kinds.count("penalty") == len(guesses) - checked, kinds
        assert all(r["retry_after"] > 0 for r in replies if r["refused"] == "penalty")

        def logged() -> tuple[int, int] | None:
            log = server.log()
            counts = (checked_logins(log), log.count("in its penalty period"))
            return counts if sum(counts) >= len(guesses) else None

        assert wait_for(logged, 10, "a log line per guess") == (checked, len(guesses) - checked)


def test_an_address_in_its_penalty_is_refused_before_the_handshake(tmp_path: Path) -> None:
    """After a failed login, the next connection from that address is refused at its hello
    (no handshake, no scrypt) and told how long to wait; a real client then waits and logs in.

    ``--login-penalty 5`` leaves ample time to reconnect inside the penalty on a busy machine.
    """
    extra = ("--login-penalty", "5")
    with running_server(tmp_path, store(tmp_path), extra=extra) as server:
        sock, channel = greet(server.port)
        send_login(sock, channel, {"user": USER, "password": "wrong", "session": "g"})
        assert answer(sock, channel)["refused"] == "credentials"
        sock.close()
        sock = connect(server.port)
        sock.sendall(wire.frame(wire.encode({"track": wire.VERSION, "layer": "AES", "pub": b"k"})))
        refusal = wire.decode(wire.recv_frame(sock, 1 << 20))
        sock.close()
        assert refusal["refused"] == "penalty" and refusal["retry_after"] > 0, refusal
        assert "too many failed logins from 127.0.0.1" in refusal["error"]
        served(server.uri(), "after-penalty")
        assert checked_logins(server.log()) == 1


def test_a_refused_frame_after_login_costs_the_next_login_a_penalty(tmp_path: Path) -> None:
    """A logged-in client whose frame is refused is dropped and its address then waits as after
    a failed login, so looping "log in, send a hostile frame" cannot keep scrypt busy."""
    extra = ("--login-penalty", "5")
    with running_server(tmp_path, store(tmp_path), extra=extra) as server:
        sock, channel = greet(server.port)
        send_login(sock, channel, {"user": USER, "password": PASSWORD, "session": "f"})
        assert answer(sock, channel) == {"ok": True}
        sock.sendall(wire.frame(channel.seal(b"\x91" * 2000 + b"\x01")))
        assert closed_by_peer(sock)
        sock = connect(server.port)
        sock.sendall(wire.frame(wire.encode({"track": wire.VERSION, "layer": "AES", "pub": b"k"})))
        refusal = wire.decode(wire.recv_frame(sock, 1 << 20))
        sock.close()
        assert refusal["refused"] == "penalty", refusal
        assert "127.0.0.1 waits 5 s before its next login" in server.log()


# ---- finding 7: memory under a burst of expanding frames ------------------------------------


def memory_kib(pid: int, field: str) -> int:
    """A ``/proc/<pid>/status`` memory field (VmRSS, VmHWM), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def empty_arrays(size: int) -> bytes:
    """A msgpack array of ``size - 5`` empty arrays: ``size`` bytes, ~72x that once decoded."""
    count = size - 5
    return b"\xdd" + count.to_bytes(4, "big") + b"\x90" * count


def burst(port: int, payload: bytes, connections: int, rounds: int) -> list[str]:
    """Send ``payload`` as a request frame from ``connections`` threads, ``rounds`` times each.

    The server is a plain-layer one without users on loopback, so the frame goes straight to
    the request decoder. Each thread logs in, sends, and waits for the server to close.
    """
    failures: list[str] = []
    frame = wire.frame(payload)

    def one() -> None:
        for _ in range(rounds):
            try:
                sock, channel = greet(port, layer=None)
                send_login(sock, channel, {"user": "x", "password": "y", "session": "burst"})
                assert answer(sock, channel) == {"ok": True}
                sock.settimeout(120)
                sock.sendall(frame)
                if not closed_by_peer(sock):
                    failures.append("the server kept a connection that sent a hostile frame")
                sock.close()
            except Exception as error:  # reported by the test, not lost in the thread
                failures.append(f"{type(error).__name__}: {error}")

    threads = [threading.Thread(target=one) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)
    return failures


def test_burst_of_16mib_empty_array_frames_stays_within_the_stated_memory_bound(
    tmp_path: Path,
) -> None:
    """8 connections x 2 frames of 16 MiB of empty arrays (1.2 GiB each if decoded): each frame
    is refused and the server's peak RSS stays within idle + the bound docs/server.md states."""
    with running_server(tmp_path, store(tmp_path), layer=None, users={}) as server:
        assert server.process is not None
        served(server.uri(user="x", password="y"), "warm-up")
        idle = memory_kib(server.process.pid, "VmRSS")
        failures = burst(server.port, empty_arrays(wire.DEFAULT_MAX_FRAME), 8, 2)
        assert failures == []
        peak = memory_kib(server.process.pid, "VmHWM")
        served(server.uri(user="x", password="y"), "after-burst")
        assert server.log().count("holds more arrays, maps and track objects") == 16
        assert (peak - idle) / 1024 < EMPTY_ARRAYS_BOUND_MIB, (idle, peak)


def test_worst_case_frames_stay_within_the_stated_bound(tmp_path: Path) -> None:
    """Frames mixing empty arrays (at the container budget) with one-byte negative integers
    (~40x each, which no count limit catches), at --max-frame 8 MiB: the peak RSS stays within
    idle + WORST_CASE_FACTOR x max_frame, the bound docs/server.md states."""
    frame_size = 8 * MiB
    extra = ("--max-frame", str(frame_size))
    with running_server(tmp_path, store(tmp_path), layer=None, users={}, extra=extra) as server:
        assert server.process is not None
        served(server.uri(user="x", password="y"), "warm-up")
        idle = memory_kib(server.process.pid, "VmRSS")
        groups = (frame_size - 5) // 8
        payload = b"\xdd" + (groups * 8).to_bytes(4, "big") + (b"\x90" + b"\xe0" * 7) * groups
        failures = burst(server.port, payload, 8, 1)
        assert failures == []
        peak = memory_kib(server.process.pid, "VmHWM")
        assert (peak - idle) * 1024 < WORST_CASE_FACTOR * frame_size, (idle, peak)
