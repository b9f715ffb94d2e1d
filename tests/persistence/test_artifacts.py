"""Artifacts: content-addressed files, streamed in chunks, on file, pickled, sqlite and PostgreSQL
stores (and 200 MiB through the server too)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from optional import require
from track.persistence import get_protocol
from track.persistence.artifacts import (
    CHUNK_SIZE,
    ArtifactNotFound,
    ArtifactsUnsupported,
    CorruptArtifact,
)
from track.persistence.protocol import Protocol, TrialNotFound
from track.structure import Trial

KINDS = ["file", "pickled", "sqlite", "postgresql"]


@pytest.fixture(params=KINDS)
def store(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    store_kinds: dict[str, Callable[[Path], AbstractContextManager[str]]],
) -> Iterator[Protocol]:
    """A fresh store of each kind that keeps artifacts, closed afterwards."""
    with store_kinds[request.param](tmp_path) as uri:
        opened = get_protocol(uri)
        try:
            yield opened
        finally:
            opened.close()


def new_trial(store: Protocol, name: str = "t") -> Trial:
    """A trial stored in ``store``."""
    trial = Trial(name=name, parameters={"a": 1})
    store.new_trial(trial)
    return trial


def stored_contents(store: Protocol) -> int:
    """How many distinct contents the store keeps (files in its folder, or chunked digests)."""
    path = getattr(store, "path", None)
    if path is not None:
        root = Path(path + ".artifacts")
        return sum(1 for p in root.rglob("*") if p.is_file())
    run: Callable[..., Any] = store._run  # type: ignore[attr-defined]
    row = run(lambda cur: cur.one("SELECT COUNT(DISTINCT sha256) FROM artifact_chunks"))
    return int(row[0])


def corrupt(store: Protocol, sha256: str) -> None:
    """Flip one stored byte of the content ``sha256``, behind the store's back."""
    path = getattr(store, "path", None)
    if path is not None:
        blob = Path(path + ".artifacts") / sha256[:2] / sha256[2:]
        data = bytearray(blob.read_bytes())
        data[-1] ^= 0xFF
        blob.write_bytes(bytes(data))
        return
    run: Callable[..., Any] = store._run  # type: ignore[attr-defined]
    run(
        lambda cur: cur.run(
            "UPDATE artifact_chunks SET data = ? WHERE sha256 = ? AND chunk = 0", b"x", sha256
        )
    )


def test_artifacts_round_trip_byte_for_byte(store: Protocol, tmp_path: Path) -> None:
    """A file of several chunks and an empty one come back as stored, with their index entries."""
    trial = new_trial(store)
    data = os.urandom(2 * CHUNK_SIZE + 12345)
    source = tmp_path / "model.ckpt"
    source.write_bytes(data)
    info = store.put_artifact(trial, "model.ckpt", str(source))
    empty = store.put_artifact(trial, "empty.json", io.BytesIO(b""))
    assert (info.size, info.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert (empty.size, empty.media_type) == (0, "application/json")
    assert store.list_artifacts(trial) == [empty, info]
    assert b"".join(store.open_artifact(trial, "model.ckpt")) == data
    assert b"".join(store.open_artifact(trial, "empty.json")) == b""
    reopened = get_protocol(store.uri)  # type: ignore[arg-type]
    try:
        assert reopened.list_artifacts(trial) == [empty, info]
    finally:
        reopened.close()
    with pytest.raises(ArtifactNotFound):
        store.open_artifact(trial, "missing")


def test_the_same_content_is_stored_once(store: Protocol) -> None:
    """Two trials logging the same bytes under other names share one stored content."""
    first, second = new_trial(store, "a"), new_trial(store, "b")
    data = os.urandom(CHUNK_SIZE + 1)
    one = store.put_artifact(first, "weights.bin", io.BytesIO(data))
    two = store.put_artifact(second, "copy.bin", io.BytesIO(data))
    store.put_artifact(first, "weights.bin", io.BytesIO(data))  # logged again: replaced
    assert one.sha256 == two.sha256
    assert stored_contents(store) == 1
    assert [a.name for a in store.list_artifacts(first)] == ["weights.bin"]
    assert b"".join(store.open_artifact(second, "copy.bin")) == data


def test_a_corrupted_artifact_fails_loudly(store: Protocol) -> None:
    """Reading bytes that no longer match the recorded sha256 raises CorruptArtifact."""
    trial = new_trial(store)
    info = store.put_artifact(trial, "plot.png", io.BytesIO(os.urandom(1000)))
    corrupt(store, info.sha256)
    with pytest.raises(CorruptArtifact, match=info.sha256):
        b"".join(store.open_artifact(trial, "plot.png"))


def test_deleting_a_trial_keeps_content_another_trial_shares(store: Protocol) -> None:
    """A deleted trial's index goes; the bytes it shared with another trial stay readable."""
    gone, kept = new_trial(store, "gone"), new_trial(store, "kept")
    data = os.urandom(5000)
    store.put_artifact(gone, "w.bin", io.BytesIO(data))
    store.put_artifact(kept, "w.bin", io.BytesIO(data))
    assert store.delete_trials([gone.uid]) == 1
    with pytest.raises(TrialNotFound):
        store.list_artifacts(gone)
    assert b"".join(store.open_artifact(kept, "w.bin")) == data


def test_a_store_without_a_folder_refuses_artifacts() -> None:
    """ephemeral: keeps no files: put_artifact says so (a TrackError and NotImplementedError)."""
    store = get_protocol("ephemeral:")
    trial = new_trial(store)
    with pytest.raises(ArtifactsUnsupported, match="no folder"):
        store.put_artifact(trial, "x", io.BytesIO(b"x"))


MEASURE = """
import hashlib, json, resource, sys
from pathlib import Path
from track.persistence import get_protocol
from track.structure import Trial

uri, source, server = sys.argv[1], sys.argv[2], int(sys.argv[3])  # the server's pid, or 0

def peak_kib(pid):
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0])

store = get_protocol(uri)
trial = Trial(name="big", parameters={})
store.new_trial(trial)
if server:  # logged in: forget the server's peak so far (its scrypt check of the password)
    Path(f"/proc/{server}/clear_refs").write_text("5")
    server_before = peak_kib(server)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
info = store.put_artifact(trial, "big.bin", source)
back, size = hashlib.sha256(), 0
for chunk in store.open_artifact(trial, "big.bin"):
    back.update(chunk)
    size += len(chunk)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
server_growth = peak_kib(server) - server_before if server else 0
store.close()
print(json.dumps({
    "growth_kib": after - before, "server_growth_kib": server_growth, "sha256": info.sha256,
    "size": info.size, "read_sha256": back.hexdigest(), "read_size": size,
}))
"""

BIG_MIB = 200
#: every kind that keeps artifacts, and the server (AES, sqlite behind it) in its own process
BIG_KINDS = [*KINDS, "socket-aes-sqlite"]


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A file of BIG_MIB MiB of seeded random bytes, written 1 MiB at a time, and its sha256."""
    path = tmp_path_factory.mktemp("big") / "big.bin"
    generator, digest = random.Random(17), hashlib.sha256()
    with open(path, "wb") as file:
        for _ in range(BIG_MIB):
            piece = generator.randbytes(CHUNK_SIZE)
            digest.update(piece)
            file.write(piece)
    yield path, digest.hexdigest()
    path.unlink()


@contextmanager
def served(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A real AES ``track serve`` subprocess with a sqlite store: its URI and its pid."""
    require("msgpack", "the server's wire format")
    require("cryptography", "the server's AES layer")
    from server.trackserver import running_server

    folder = tmp_path / "track-server"
    folder.mkdir()
    with running_server(folder, f"sqlite:///{folder}/s.db", layer="AES") as server:
        assert server.process is not None
        yield server.uri(), server.process.pid


@pytest.mark.slow
@pytest.mark.parametrize("kind", BIG_KINDS)
def test_a_200_mib_artifact_round_trips_in_bounded_memory(
    kind: str,
    big_file: tuple[Path, str],
    tmp_path: Path,
    store_kinds: dict[str, Callable[[Path], AbstractContextManager[str]]],
) -> None:
    """200 MiB of random bytes are put and read back byte for byte (sha256 and size) on each
    kind, by a process whose peak RSS grows far less than the file; so does the server's."""
    source, sha256 = big_file
    folder = tmp_path / "stores"
    folder.mkdir()
    try:
        with ExitStack() as stack:
            server = 0
            if kind.startswith("socket"):
                uri, server = stack.enter_context(served(folder))
            else:
                uri = stack.enter_context(store_kinds[kind](folder))
            done = subprocess.run(
                [sys.executable, "-c", MEASURE, uri, str(source), str(server)],
                capture_output=True,
                text=True,
            )
    finally:
        shutil.rmtree(folder)  # the stored copy: 200 MiB of disk
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout)
    size = BIG_MIB * CHUNK_SIZE
    assert (measured["size"], measured["sha256"]) == (size, sha256)
    assert (measured["read_size"], measured["read_sha256"]) == (size, sha256)
    # 200 MiB held whole would grow a process's peak by >= 200 MiB
    assert measured["growth_kib"] < 32 * 1024, measured
    assert measured["server_growth_kib"] < 32 * 1024, measured


def test_a_client_trial_logs_a_file_and_a_folder_of_them(tmp_path: Path) -> None:
    """trial.log_artifact / log_artifacts / artifacts: names relative to the folder with ``/``,
    what was logged before them already stored, the bytes read back unchanged."""
    from track import TrackClient

    run = tmp_path / "run"
    (run / "plots").mkdir(parents=True)
    (run / "config.json").write_text('{"lr": 0.1}')
    (run / "plots" / "loss.png").write_bytes(os.urandom(3000))
    uri = f"sqlite:///{tmp_path / 'track.db'}"
    client = TrackClient(uri)
    client.set_project(name="art")
    trial = client.new_trial(parameters={"lr": 0.1})
    trial.log_metric_dict({"loss": 1.0}, 0)
    single = trial.log_artifact(str(run / "config.json"), name="best.json")
    stored = trial.log_artifacts(str(run))
    names = [info.name for info in trial.artifacts]
    client.close()
    assert single.size == len('{"lr": 0.1}')
    assert [info.name for info in stored] == ["config.json", "plots/loss.png"]
    assert names == ["best.json", "config.json", "plots/loss.png"]
    store = get_protocol(uri)
    try:
        (held,) = store.fetch_trials({})
        assert held.metrics["loss"][0][1] == 1.0
        image = b"".join(store.open_artifact(held, "plots/loss.png"))
        assert image == (run / "plots" / "loss.png").read_bytes()
    finally:
        store.close()
