"""Artifacts through a real ``track serve`` (AES, users, sqlite behind it): chunked and resumable."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import socket
import subprocess
import sys
import textwrap
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import BinaryIO

import pytest

from optional import require
from track.persistence.artifacts import CHUNK_SIZE, CorruptArtifact
from track.structure import Trial

MIB = 1 << 20


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """One AES server with a user, forwarding to a sqlite store, for the whole module."""
    require("msgpack", "the server's wire format")
    require("cryptography", "the server's AES layer")
    from server.trackserver import running_server

    folder = tmp_path_factory.mktemp("artifact-server")
    with running_server(folder, f"sqlite:///{folder}/s.db", layer="AES") as started:
        yield started


def _client(server: object, **query: str):
    from track.server.client import SocketClient

    return SocketClient(server.uri(**query))  # type: ignore[attr-defined]


def _random_file(path: Path, mib: int) -> str:
    digest = hashlib.sha256()
    with open(path, "wb") as file:
        for _ in range(mib):
            chunk = os.urandom(MIB)
            digest.update(chunk)
            file.write(chunk)
    return digest.hexdigest()


def _new_trial(client: object, name: str) -> Trial:
    trial = Trial(name=name, parameters={"x": 1})
    client.new_trial(trial)  # type: ignore[attr-defined]
    return trial


def test_large_file_round_trips_with_bounded_memory(server: object, tmp_path: Path) -> None:
    """50 MiB go up and come back byte for byte; the client never holds more than a few chunks."""
    source = tmp_path / "big.bin"
    sha256 = _random_file(source, 50)
    client = _client(server)
    trial = _new_trial(client, "big")
    tracemalloc.start()
    try:
        info = client.put_artifact(trial, "model.bin", str(source))
        _, put_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        back = hashlib.sha256()
        size = 0
        for chunk in client.open_artifact(trial, "model.bin"):
            back.update(chunk)
            size += len(chunk)
        _, get_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (info.size, info.sha256, info.media_type) == (
        50 * MIB,
        sha256,
        "application/octet-stream",
    )
    assert (size, back.hexdigest()) == (50 * MIB, sha256)
    assert put_peak < 8 * CHUNK_SIZE and get_peak < 8 * CHUNK_SIZE, (put_peak, get_peak)
    assert [a.name for a in client.list_artifacts(trial)] == ["model.bin"]
    with pytest.raises(KeyError):  # ArtifactNotFound, at once
        client.open_artifact(trial, "missing.bin")
    client.close()


KILLED_UPLOAD = textwrap.dedent(
    """
    import os, signal, sys
    from track.server.client import SocketClient
    from track.structure import Trial

    class Dying:
        '''A file that kills its process (SIGKILL) when the 6th chunk is asked for.'''
        def __init__(self, path):
            self.file, self.reads = open(path, "rb"), 0
        def read(self, size=-1):
            self.reads += 1
            if self.reads == 6:
                os.kill(os.getpid(), signal.SIGKILL)
            return self.file.read(size)
        def seekable(self):
            return False
        def tell(self):
            return 0

    uri, path, upload = sys.argv[1:]
    client = SocketClient(uri)
    trial = Trial(name="resumed", parameters={"x": 1})
    client.put_artifact(trial, "resumed.bin", Dying(path), upload_id=upload)
    """
)


def test_upload_killed_mid_way_resumes_with_the_same_upload_id(
    server: object, tmp_path: Path
) -> None:
    """A process killed mid-upload leaves its chunks; a second put sends only the rest."""
    source = tmp_path / "resumed.bin"
    sha256 = _random_file(source, 9)
    client = _client(server)
    trial = _new_trial(client, "resumed")
    upload = "resume-" + os.urandom(8).hex()
    uri = server.uri()  # type: ignore[attr-defined]
    done = subprocess.run([sys.executable, "-c", KILLED_UPLOAD, uri, str(source), upload])
    assert done.returncode == -9
    held = client.upload_held(upload)
    assert 3 * MIB <= held < 9 * MIB  # the chunks sent before the kill are on the server
    info = client.put_artifact(trial, "resumed.bin", str(source), upload_id=upload)
    assert (info.size, info.sha256) == (9 * MIB, sha256)
    assert client.upload_held(upload) == 0  # stored, then the upload removed
    back = b"".join(client.open_artifact(trial, "resumed.bin"))
    assert hashlib.sha256(back).hexdigest() == sha256
    client.close()


class CountingProxy:
    """Forwards connections on 127.0.0.1 to a server, counting the bytes each client connection
    sends (``sent``, one entry per connection, in order). With ``cut_at``, the first connection
    is cut after that many bytes, inside whatever frame is passing: ``on_cut()`` runs once its
    bytes up to there reached the server, then both ends are closed."""

    def __init__(
        self, port: int, cut_at: int | None = None, on_cut: Callable[[], None] | None = None
    ) -> None:
        self.target, self.cut_at, self.on_cut = port, cut_at, on_cut
        self.sent: list[int] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.target))
            except OSError:  # the server is restarting: the client tries again
                client.close()
                continue
            self.sent.append(0)
            upstream = (client, server, len(self.sent) - 1)
            threading.Thread(target=self._pump, args=upstream, daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, None), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, index: int | None) -> None:
        try:
            while data := source.recv(65536):
                if index is not None:
                    if index == 0 and self.cut_at is not None:
                        data = data[: self.cut_at - self.sent[0]]
                    self.sent[index] += len(data)
                sink.sendall(data)
                if index == 0 and self.sent[0] == self.cut_at:
                    if self.on_cut is not None:
                        self.on_cut()
                    return
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()

    def close(self) -> None:
        """Stop accepting (open connections end when their client closes)."""
        self.listener.close()


class FaultAt(io.FileIO):
    """A file that calls ``fault()`` once, when its ``at``-th read is asked for."""

    def __init__(self, path: Path, at: int, fault: Callable[[], None]) -> None:
        super().__init__(path, "rb")
        self.at, self.fault, self.reads = at, fault, 0

    def read(self, size: int = -1) -> bytes:
        """The next bytes, after the fault when this is the ``at``-th read."""
        self.reads += 1
        if self.reads == self.at:
            self.fault()
        return super().read(size)


@pytest.mark.parametrize("fault", ["connection cut mid-chunk", "server restarted"])
def test_a_reconnect_mid_upload_resumes_within_the_same_call(
    fault: str, server: object, tmp_path: Path
) -> None:
    """One put_artifact of 9 chunks loses its connection part-way (cut inside the 6th chunk's
    frame, or the server killed and restarted before the 5th chunk is sent): the same call
    reconnects and completes, the stored bytes match, and after the fault the client sent only
    what the server did not hold (its resume offset, asked at the fault by another client)."""
    from server.trackserver import ServerProcess, running_server
    from track.server.client import SocketClient

    source = tmp_path / "resumed.bin"
    sha256 = _random_file(source, 9)
    upload = "reconnect-" + os.urandom(8).hex()
    held: list[int] = []
    with ExitStack() as stack:
        target: ServerProcess = server  # type: ignore[assignment]
        if fault == "server restarted":
            folder = tmp_path / "restarted"
            folder.mkdir()
            store = f"sqlite:///{folder}/s.db"
            target = stack.enter_context(running_server(folder, store, layer="AES"))
        observer = SocketClient(target.uri())  # straight to the server, not through the proxy
        stack.callback(observer.close)

        def note_held() -> None:
            held.append(observer.upload_held(upload))

        def restart() -> None:
            target.kill()
            target.start()  # on the same port, with the same key
            note_held()

        file: BinaryIO
        if fault == "server restarted":
            proxy = CountingProxy(target.port)
            # the 6th read is the 6th chunk, read ahead once chunks 1-4 were acknowledged
            file = stack.enter_context(FaultAt(source, 6, restart))  # type: ignore[arg-type]
        else:
            proxy = CountingProxy(target.port, cut_at=5 * MIB + MIB // 2, on_cut=note_held)
            file = stack.enter_context(open(source, "rb"))
        stack.callback(proxy.close)
        client = SocketClient(target.uri().replace(f":{target.port}?", f":{proxy.port}?"))
        stack.callback(client.close)
        trial = _new_trial(client, "reconnect")
        info = client.put_artifact(trial, "resumed.bin", file, upload_id=upload)
        back = hashlib.sha256()
        for chunk in client.open_artifact(trial, "resumed.bin"):
            back.update(chunk)
        assert client.upload_held(upload) == 0  # stored, then the upload removed
    assert (info.size, info.sha256, back.hexdigest()) == (9 * MIB, sha256, sha256)
    expected = 4 * MIB if fault == "server restarted" else 5 * MIB
    assert held == [expected]  # what the server kept across the fault: the resume offset
    assert len(proxy.sent) >= 2  # the client reconnected within the call
    after = sum(proxy.sent[1:])  # everything the client sent once reconnected
    framing = 64 * 1024  # handshake, login, request headers, AES tags: far less than a chunk
    assert 9 * MIB - expected <= after < 9 * MIB - expected + framing, (after, proxy.sent)


def test_wrong_digest_is_refused(server: object) -> None:
    """A last chunk whose sha256 does not match the bytes held stores nothing."""
    from track.server import wire

    client = _client(server)
    trial = _new_trial(client, "digest")
    ref = wire.TrialRef(_hash=trial.hash, revision=trial.revision)
    final = {"trial": ref, "name": "a.txt", "sha256": "0" * 64, "size": 5, "media_type": None}
    with pytest.raises(CorruptArtifact, match="refused"):
        client._call("artifact_upload_chunk", "digest-upload", 0, b"hello", final)
    assert client.list_artifacts(trial) == []
    assert client.upload_held("digest-upload") == 0
    client.close()


def test_unauthenticated_client_is_refused(server: object) -> None:
    """Artifacts ride the same login as every call: a wrong password gets nothing."""
    from track.server.client import AuthenticationFailed

    with pytest.raises(AuthenticationFailed):
        _client_with_password(server, "wrong")


def _client_with_password(server: object, password: str) -> object:
    from track.server.client import SocketClient

    return SocketClient(server.uri(password=password))  # type: ignore[attr-defined]


def test_an_upload_untouched_for_an_hour_is_removed_when_an_upload_starts(
    server: object, tmp_path: Path
) -> None:
    """The server's upload folder keeps no abandoned upload: one untouched for more than
    ABANDONED seconds goes when the next upload starts; a recent one stays."""
    import time
    import uuid

    from track.server.transfers import ABANDONED, default_upload_dir

    folder = Path(default_upload_dir())
    old = folder / f"test-{uuid.uuid4().hex}.part"
    recent = folder / f"test-{uuid.uuid4().hex}.part"
    for path in (old, recent):
        path.write_bytes(b"left by a client that went away")
    past = time.time() - ABANDONED - 60
    os.utime(old, (past, past))
    client = _client(server)
    try:
        trial = _new_trial(client, "sweep")
        source = tmp_path / "small.bin"
        source.write_bytes(b"x" * 10)
        client.put_artifact(trial, "small.bin", str(source))
        assert not old.exists()
        assert recent.exists()
    finally:
        client.close()
        recent.unlink(missing_ok=True)
