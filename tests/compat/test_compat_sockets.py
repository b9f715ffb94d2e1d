"""Socket helpers on today's wire format, and EncryptedSocket on track's authenticated channel."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from server.trackserver import PASSWORD, USER, running_server
from track.persistence.socketed import (
    ServerSignalHandler,
    read,
    recv,
    send,
    to_bytes,
    to_obj,
    write,
)
from track.server import crypto, wire
from track.structure import Project, Status, Trial
from track.utils import listen_socket, open_socket
from track.utils.encrypted import EncryptedSocket, wrap_socket

MESSAGES: list[Any] = [
    {"call": "new_trial", "args": [1, 2.5, "x", None, True], "kwargs": {"k": [1, {"n": b"\x00"}]}},
    Trial(name="t", parameters={"lr": 0.1}, status=Status.Completed),
    Project(name="p"),
    "λ ✓",
]


def same(a: Any, b: Any) -> bool:
    """Equality that compares track objects by their documents."""
    return to_bytes(a) == to_bytes(b)


def test_to_bytes_and_to_obj_are_the_servers_msgpack_and_refuse_garbage() -> None:
    """to_bytes is the wire's encoding (no pickle); to_obj reads it back, refuses bad bytes."""
    for message in MESSAGES:
        assert to_bytes(message) == wire.encode(message)
        assert same(to_obj(to_bytes(message)), message)
    with pytest.raises(wire.FrameError):
        to_obj(b"\xc1")  # a byte msgpack never uses
    with pytest.raises(wire.FrameError, match="unknown extension"):
        to_obj(b"\xd4\x63\x00")  # an extension type track does not define


def test_send_and_recv_carry_messages_over_a_socket_pair() -> None:
    """Each message sent arrives whole and in order, as one length-prefixed frame."""
    left, right = socket.socketpair()
    with left, right:
        for message in MESSAGES:
            send(left, message)
        assert all(same(recv(right, timeout=10), m) for m in MESSAGES)
        send(left, {"a": 1})
        header = right.recv(4)
        assert struct.unpack(">I", header)[0] == len(to_bytes({"a": 1}))


def test_recv_refuses_an_oversized_frame_and_reports_a_closed_peer() -> None:
    """A frame announcing more than the maximum is refused; a closed peer is an error."""
    left, right = socket.socketpair()
    with left, right:
        left.sendall(struct.pack(">I", wire.DEFAULT_MAX_FRAME + 1))
        with pytest.raises(wire.FrameError, match="exceeds"):
            recv(right, timeout=10)
    left, right = socket.socketpair()
    with right:
        left.close()
        with pytest.raises(ConnectionError):
            recv(right, timeout=10)


def test_recv_timeout_applies_to_the_call_only() -> None:
    """A timeout given to recv raises when nothing comes, and the socket's own is restored."""
    left, right = socket.socketpair()
    with left, right:
        with pytest.raises(TimeoutError):
            recv(right, timeout=0.05)
        assert right.gettimeout() is None


def test_read_and_write_carry_messages_over_asyncio_streams() -> None:
    """write() frames a message on a StreamWriter, read() takes it from a StreamReader."""

    async def exchange() -> list[Any]:
        received: list[Any] = []

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            for _ in MESSAGES:
                received.append(await read(reader, timeout=10))
            write(writer, {"done": len(received)})
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for message in MESSAGES:
            write(writer, message)
        await writer.drain()
        received.append(await read(reader, timeout=10))
        writer.close()
        server.close()
        await server.wait_closed()
        return received

    received = asyncio.run(exchange())
    assert all(same(a, b) for a, b in zip(received, [*MESSAGES, {"done": 4}], strict=True))


def test_send_and_recv_speak_to_a_real_track_server(tmp_path: Path) -> None:
    """A plain `track serve` takes the helpers' frames: hello, login and a call all succeed."""
    with running_server(tmp_path, f"file://{tmp_path / 's.json'}", layer=None) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            send(sock, {"track": wire.VERSION, "layer": None})
            assert recv(sock)["track"] == wire.VERSION
            send(sock, {"user": USER, "password": PASSWORD, "session": "compat"})
            assert recv(sock) == {"ok": True}
            call = {"id": 1, "call": "new_project", "args": [Project(name="p")], "kwargs": {}}
            send(sock, call)
            reply = recv(sock)
        assert reply["id"] == 1 and reply["result"].name == "p"


@pytest.fixture
def encrypted_pair() -> Iterator[tuple[EncryptedSocket, EncryptedSocket]]:
    """A client and a server EncryptedSocket over a real socket pair, handshake done."""
    left, right = socket.socketpair()
    server = wrap_socket(right, server_side=True)
    client = wrap_socket(left, server_key=server.fingerprint)
    thread = threading.Thread(target=server.do_handshake)
    thread.start()
    client.do_handshake()
    thread.join(30)
    yield client, server
    client.close()
    server.close()


def test_encrypted_sockets_carry_bytes_both_ways(
    encrypted_pair: tuple[EncryptedSocket, EncryptedSocket],
) -> None:
    """Bytes cross both ways intact, a 3 MiB message in several frames, and makefile works."""
    client, server = encrypted_pair
    big = os.urandom(3 * 1024 * 1024 + 5)
    sender = threading.Thread(target=client.sendall, args=(big,))
    sender.start()
    received = bytearray()
    while len(received) < len(big):
        received += server.recv(1 << 16)
    sender.join(30)
    assert bytes(received) == big
    server.sendall(b"pong\n")
    assert client.makefile("rb").readline() == b"pong\n"
    assert client.peer_fingerprint == server.fingerprint


def test_socketed_helpers_work_over_encrypted_sockets(
    encrypted_pair: tuple[EncryptedSocket, EncryptedSocket],
) -> None:
    """send/recv frame messages inside the encrypted stream."""
    client, server = encrypted_pair
    for message in MESSAGES:
        send(client, message)
    assert all(same(recv(server, timeout=10), m) for m in MESSAGES)
    client.close()
    assert server.recv(10) == b""  # end of stream


def test_encrypted_socket_encrypts_and_detects_tampering() -> None:
    """The wire carries no plaintext, and a flipped ciphertext bit makes recv raise."""
    client_end, relay_client = socket.socketpair()
    relay_server, server_end = socket.socketpair()
    carried = bytearray()
    tamper = threading.Event()

    def relay(source: socket.socket, target: socket.socket, record: bool) -> None:
        while data := source.recv(1 << 16):
            if record:
                carried.extend(data)
                if tamper.is_set():
                    data = data[:-1] + bytes([data[-1] ^ 1])
            target.sendall(data)
        target.shutdown(socket.SHUT_WR)

    threads = [
        threading.Thread(target=relay, args=(relay_client, relay_server, True)),
        threading.Thread(target=relay, args=(relay_server, relay_client, False)),
    ]
    for thread in threads:
        thread.start()
    server = wrap_socket(server_end, server_side=True)
    client = wrap_socket(client_end, server_key=server.fingerprint)
    handshake = threading.Thread(target=server.do_handshake)
    handshake.start()
    client.do_handshake()
    handshake.join(30)
    secret = b"the secret learning rate is 0.1" * 4
    client.sendall(secret)
    assert server.recv(len(secret)) == secret
    assert secret[:20] not in bytes(carried)
    tamper.set()
    client.sendall(secret)
    with pytest.raises(wire.FrameError, match="failed authentication"):
        server.recv(len(secret))
    client.close()
    server.close()
    for thread in threads:
        thread.join(30)  # each relay ends at its source's end of stream
    relay_client.close()
    relay_server.close()


def test_a_wrong_pinned_server_key_is_refused() -> None:
    """A client pinning another key refuses the server before any data is sent."""
    left, right = socket.socketpair()
    server = wrap_socket(right, server_side=True)
    client = wrap_socket(left, server_key="0" * 64)
    thread = threading.Thread(target=server.do_handshake)
    thread.start()
    with pytest.raises(crypto.HandshakeError, match="does not match the pinned"):
        client.do_handshake()
    client.close()
    thread.join(30)
    assert server.recv(1) == b""  # the client closed without sending a byte of data
    server.close()


def test_calls_that_would_bypass_the_layer_are_refused(
    encrypted_pair: tuple[EncryptedSocket, EncryptedSocket],
) -> None:
    """dup, sendto, recvfrom and flags raise instead of moving clear bytes."""
    client, _ = encrypted_pair
    for call in (client.dup, lambda: client.sendto(b"x", ("127.0.0.1", 1)), client.recvfrom):
        with pytest.raises(NotImplementedError, match="bypass"):
            call()
    with pytest.raises(ValueError, match="flags"):
        client.send(b"x", socket.MSG_OOB)


def test_open_and_listen_socket_with_aes_talk_through_accept(tmp_path: Path) -> None:
    """listen_socket(AES).accept() and open_socket(AES) exchange encrypted data over TCP."""
    listener = listen_socket("127.0.0.1", 0, backend="AES", identity=str(tmp_path / "key.pem"))
    assert isinstance(listener, EncryptedSocket)
    port = listener.getsockname()[1]
    accepted: list[Any] = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()))
    thread.start()
    client = open_socket("127.0.0.1", port, backend="AES", server_key=listener.fingerprint)
    thread.join(30)
    conn, _ = accepted[0]
    client.sendall(b"hello")
    assert conn.recv(5) == b"hello"
    plain = listen_socket("127.0.0.1", 0)
    assert type(plain) is socket.socket
    with pytest.raises(ValueError, match="AES"):
        open_socket("127.0.0.1", port, backend="DES")
    for sock in (client, conn, listener, plain):
        sock.close()


def test_an_encrypted_client_talks_to_a_real_aes_track_server(tmp_path: Path) -> None:
    """open_socket(AES) logs in to `track serve --security-layer AES`, one message per frame."""
    with running_server(tmp_path, f"file://{tmp_path / 's.json'}", layer="AES") as server:
        pinned = crypto.identity_fingerprint(crypto.load_identity(str(server.key_file)))
        sock = open_socket("127.0.0.1", server.port, backend="AES", server_key=pinned)
        assert isinstance(sock, EncryptedSocket)
        with sock:
            sock.sendall(to_bytes({"user": USER, "password": PASSWORD, "session": "compat"}))
            assert to_obj(sock.recv(sock.readsize())) == {"ok": True}
            sock.sendall(to_bytes({"id": 1, "call": "get_project", "args": [Project(name="p")]}))
            assert to_obj(sock.recv(sock.readsize())) == {"id": 1, "result": None}


SIGNAL_CHILD = """
import select
import sys
from track.persistence.socketed import ServerSignalHandler
from track.utils import listen_socket

class Server:
    def __init__(self):
        self.sock = listen_socket("127.0.0.1", 0)
    def close(self):
        self.sock.close()
        print("closed", flush=True)

server = Server()
ServerSignalHandler(server)
print("ready", flush=True)
# Wait in 10 ms slices: a signal taken just before one long blocking read would only run its
# Python handler after that read returns.
while not select.select([sys.stdin], [], [], 0.01)[0]:
    pass
"""


def test_server_signal_handler_closes_the_server_then_exits_143(tmp_path: Path) -> None:
    """At SIGTERM the handler closes the server once, then the default action exits (143)."""
    child = subprocess.Popen(
        [sys.executable, "-c", SIGNAL_CHILD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    os.kill(child.pid, signal.SIGTERM)
    assert child.wait(timeout=60) == 143
    assert child.stdout.read().split() == ["closed"]


def test_server_signal_handler_closes_at_exit_once() -> None:
    """The atexit hook closes the server, and a second call does nothing more."""
    closed: list[int] = []

    class Server:
        def close(self) -> None:
            closed.append(1)

    handler = ServerSignalHandler(Server())
    handler.restore()
    handler.atexit()
    handler.atexit()
    assert closed == [1]
