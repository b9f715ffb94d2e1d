"""Where artifact bytes live (``?artifact_root=``) and collecting the contents no trial names.

Checked on real stores: file, pickled, SQLite, PostgreSQL (the bytes looked up with a
connection of the test's own) and a ``track serve`` subprocess; concurrent puts and
collections run in separate processes.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from optional import require
from track.errors import ConfigurationError
from track.persistence import get_protocol
from track.persistence.artifacts import ABANDONED, CHUNK_SIZE
from track.persistence.protocol import Protocol
from track.persistence.utils import parse_uri
from track.structure import Trial, TrialGroup

StoreKinds = dict[str, Callable[[Path], AbstractContextManager[str]]]

#: the folder each kind keeps its bytes in by default (PostgreSQL: rows, see chunk_rows)
DEFAULT_FOLDERS: dict[str, Callable[[Path], Path]] = {
    "file": lambda tmp: tmp / "store.json.artifacts",
    "pickled": lambda tmp: tmp / "store.pkl.artifacts",
    "sqlite": lambda tmp: tmp / "store.db.artifacts",
    "socket-aes": lambda tmp: tmp / "track-server" / "store.json.artifacts",
}


def chunk_rows(uri: str, key: str | None = None) -> int:
    """Rows of ``artifact_chunks`` in the store's schema (those of ``key`` only, if given)."""
    psycopg = require("psycopg")
    from psycopg import sql

    schema = parse_uri(uri).query["schema"]
    query = sql.SQL("SELECT COUNT(*) FROM {}.artifact_chunks").format(sql.Identifier(schema))
    with psycopg.connect(uri.split("?")[0]) as conn:
        if key is None:
            return int(conn.execute(query).fetchone()[0])
        where = query + sql.SQL(" WHERE sha256 = %s")
        return int(conn.execute(where, (key,)).fetchone()[0])


def in_folder(folder: Path, sha256: str) -> bool:
    """Whether the content ``sha256`` is a file of the content folder ``folder``."""
    return (folder / sha256[:2] / sha256[2:]).is_file()


def held(kind: str, tmp_path: Path, uri: str, sha256: str) -> bool:
    """Whether the store of ``kind`` still keeps the bytes of ``sha256`` (looked up directly)."""
    if kind == "postgresql":
        return chunk_rows(uri, sha256) > 0
    return in_folder(DEFAULT_FOLDERS[kind](tmp_path), sha256)


def new_trial(store: Protocol, name: str, group: TrialGroup | None = None) -> Trial:
    """A trial stored in ``store`` (in ``group``, if given)."""
    trial = Trial(name=name, parameters={"n": name}, group_id=group.uid if group else None)
    store.new_trial(trial)
    return trial


def put(store: Protocol, trial: Trial, name: str, data: bytes) -> str:
    """Store ``data`` as ``trial``'s artifact ``name``; returns its sha256."""
    return store.put_artifact(trial, name, io.BytesIO(data)).sha256


def read(store: Protocol, trial: Trial, name: str) -> bytes:
    """The artifact's bytes, digest checked."""
    return b"".join(store.open_artifact(trial, name))


@contextmanager
def opened(uri: str) -> Iterator[Protocol]:
    """The store at ``uri``, closed afterwards."""
    store = get_protocol(uri)
    try:
        yield store
    finally:
        store.close()


# ---- collecting unreferenced contents -----------------------------------------------------


@pytest.mark.parametrize("kind", ["file", "pickled", "sqlite", "postgresql", "socket-aes"])
def test_collect_frees_a_deleted_trials_own_content_and_keeps_shared_content(
    kind: str, tmp_path: Path, store_kinds: StoreKinds
) -> None:
    """After a trial is deleted, collecting removes its own contents (and counts them), while
    the content it shared with a kept trial stays and still reads; a second collection finds
    nothing. Through the server too (the call is on its allow-list)."""
    with store_kinds[kind](tmp_path) as uri, opened(uri) as store:
        gone, kept = new_trial(store, "gone"), new_trial(store, "kept")
        shared = os.urandom(CHUNK_SIZE + 100)  # two chunks
        own = os.urandom(2 * CHUNK_SIZE + 7)
        other = os.urandom(300)
        shared_sha = put(store, gone, "shared.bin", shared)
        put(store, kept, "shared-too.bin", shared)
        own_sha = put(store, gone, "own.bin", own)
        other_sha = put(store, kept, "other.bin", other)
        assert store.collect_artifacts() == (0, 0)  # everything is named
        assert store.delete_trials([gone.uid]) == 1
        assert held(kind, tmp_path, uri, own_sha)  # deleting alone frees nothing
        assert store.collect_artifacts() == (1, len(own))
        assert not held(kind, tmp_path, uri, own_sha)
        assert held(kind, tmp_path, uri, shared_sha)
        assert held(kind, tmp_path, uri, other_sha)
        assert read(store, kept, "shared-too.bin") == shared
        assert read(store, kept, "other.bin") == other
        assert store.collect_artifacts() == (0, 0)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_collect_after_deleting_a_group_or_project_with_its_trials(
    kind: str, tmp_path: Path, store_kinds: StoreKinds
) -> None:
    """delete_group/delete_project(trials=True) leave their trials' contents to the collection,
    which removes them unless a remaining trial names them."""
    from track.structure import Project

    with store_kinds[kind](tmp_path) as uri, opened(uri) as store:
        project = Project(name="p")
        store.new_project(project)
        group = TrialGroup(name="g", project_id=project.uid)
        store.new_trial_group(group)
        member = new_trial(store, "member", group)
        outside = new_trial(store, "outside")
        only = put(store, member, "only.bin", b"only the member")
        both = put(store, member, "both.bin", b"both trials")
        put(store, outside, "both.bin", b"both trials")
        assert store.delete_group(group.uid, trials=True) == 1
        assert store.delete_project(project.uid, trials=True) == 0
        assert store.collect_artifacts() == (1, len(b"only the member"))
        assert not held(kind, tmp_path, uri, only)
        assert held(kind, tmp_path, uri, both)
        assert read(store, outside, "both.bin") == b"both trials"


RACER = """
import io, sys
from track.persistence import get_protocol
from track.structure import Trial

uri, rounds = sys.argv[1], int(sys.argv[2])
store = get_protocol(uri)
data = b"the same content, put and deleted again and again" * 100
for i in range(rounds):
    trial = Trial(name=f"race-{i}", parameters={})
    store.new_trial(trial)
    store.put_artifact(trial, "x.bin", io.BytesIO(data))
    if b"".join(store.open_artifact(trial, "x.bin")) != data:
        sys.exit(f"round {i}: the bytes read back differ")
    store.delete_trials([trial.uid])
keeper = Trial(name="keeper", parameters={})
store.new_trial(keeper)
store.put_artifact(keeper, "x.bin", io.BytesIO(data))
store.close()
print("ok")
"""


@pytest.mark.parametrize("kind", ["file", "sqlite", "postgresql"])
def test_puts_racing_collections_never_leave_an_index_entry_without_bytes(
    kind: str, tmp_path: Path, store_kinds: StoreKinds
) -> None:
    """One process puts the same content into a new trial, reads it back and deletes the trial,
    over and over, while this one collects in a loop: the content is unreferenced between
    rounds, so collections remove it while puts of it run; every put still reads back
    (no index entry is ever left without its bytes), and so does the last one, kept."""
    with store_kinds[kind](tmp_path) as uri:
        racer = subprocess.Popen(
            [sys.executable, "-c", RACER, uri, "40"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        collected = 0
        with opened(uri) as store:
            while racer.poll() is None:
                collected += store.collect_artifacts()[0]
                time.sleep(0.002)  # let the racer take the write lock between collections
            out, err = racer.communicate()
            assert racer.returncode == 0, err
            assert out.strip() == "ok"
            keeper = store.fetch_trials({"name": "keeper"})[0]
            assert read(store, keeper, "x.bin").startswith(b"the same content")
            assert store.collect_artifacts() == (0, 0)
        assert collected > 0  # the collections did remove the content between rounds


STALLED_PUT = """
import sys, time
from track.persistence import get_protocol
from track.structure import Trial

class Stalling:
    '''Two chunks of bytes, then a source that never ends (the process is killed).'''
    def __init__(self):
        self.sent = 0
    def read(self, size=-1):
        if self.sent >= 2:
            print("stalled", flush=True)
            time.sleep(600)
        self.sent += 1
        return bytes([self.sent]) * (1 << 20)

store = get_protocol(sys.argv[1])
trial = Trial(name="stalled", parameters={})
store.new_trial(trial)
store.put_artifact(trial, "never.bin", Stalling())
"""


def killed_put(uri: str) -> None:
    """Run a put in a subprocess and kill it mid-file, leaving what a crashed put leaves."""
    stalled = subprocess.Popen(
        [sys.executable, "-c", STALLED_PUT, uri],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert stalled.stdout is not None
    line = stalled.stdout.readline()
    stalled.send_signal(signal.SIGKILL)
    stalled.wait(30)
    assert line.strip() == "stalled", stalled.stderr.read() if stalled.stderr else ""


def test_an_abandoned_staged_file_is_collected_once_a_day_old(tmp_path: Path) -> None:
    """A put killed mid-file leaves a staged file in the folder: a collection keeps it while it
    could belong to a running put, and removes it (counting its bytes) once ABANDONED old."""
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    get_protocol(uri).close()
    killed_put(uri)
    folder = tmp_path / "store.db.artifacts"
    (staged,) = [p for p in folder.iterdir() if p.is_file()]
    size = staged.stat().st_size
    assert size == 2 * CHUNK_SIZE
    with opened(uri) as store:
        assert store.collect_artifacts() == (0, 0)
        assert staged.exists()
        old = time.time() - ABANDONED - 60
        os.utime(staged, (old, old))
        assert store.collect_artifacts() == (0, size)
        assert not staged.exists()


def test_abandoned_partial_rows_are_collected_once_a_day_old(
    tmp_path: Path, store_kinds: StoreKinds
) -> None:
    """PostgreSQL: a put killed mid-file leaves partial chunk rows, kept while young and
    removed once their key's start time is ABANDONED old."""
    psycopg = require("psycopg")
    from psycopg import sql

    with store_kinds["postgresql"](tmp_path) as uri:
        get_protocol(uri).close()
        killed_put(uri)
        assert chunk_rows(uri) == 2
        with opened(uri) as store:
            assert store.collect_artifacts() == (0, 0)
            assert chunk_rows(uri) == 2
            schema = parse_uri(uri).query["schema"]
            old = int(time.time() - ABANDONED - 60)
            with psycopg.connect(uri.split("?")[0]) as conn:
                table = sql.Identifier(schema, "artifact_chunks")
                conn.execute(
                    sql.SQL(
                        "UPDATE {} SET sha256 = 'partial:' || %s || ':' || split_part(sha256, ':', 3)"
                    ).format(table),
                    (str(old),),
                )
            assert store.collect_artifacts() == (0, 2 * CHUNK_SIZE)
            assert chunk_rows(uri) == 0


# ---- artifact_root --------------------------------------------------------------------------


def with_option(uri: str, option: str) -> str:
    """``uri`` with one more query option."""
    return f"{uri}{'&' if '?' in uri else '?'}{option}"


@contextmanager
def rooted_server(tmp_path: Path, root: Path) -> Iterator[str]:
    """A real ``track serve`` (AES) whose sqlite store keeps its bytes under ``root``."""
    require("msgpack", "the server's wire format")
    require("cryptography", "the server's AES layer")
    from server.trackserver import running_server

    folder = tmp_path / "track-server"
    folder.mkdir()
    with running_server(folder, f"sqlite:///{folder}/s.db?artifact_root={root}") as server:
        yield server.uri()


@pytest.mark.parametrize("kind", ["file", "pickled", "sqlite", "postgresql", "socket"])
def test_artifact_root_keeps_the_bytes_in_that_folder(
    kind: str, tmp_path: Path, store_kinds: StoreKinds
) -> None:
    """With ``?artifact_root=``, the bytes go under that folder (created when missing), not
    beside the store nor, for PostgreSQL, into ``artifact_chunks``; a store opened again on the
    same URI reads them; a collection removes a deleted trial's content from there."""
    root = tmp_path / "shared" / "blobs"
    if kind == "socket":
        context: AbstractContextManager[str] = rooted_server(tmp_path, root)
    else:
        context = store_kinds[kind](tmp_path)
    with context as base:
        uri = base if kind == "socket" else with_option(base, f"artifact_root={root}")
        data = os.urandom(CHUNK_SIZE + 3)
        with opened(uri) as store:
            trial = new_trial(store, "rooted")
            sha256 = put(store, trial, "model.pt", data)
            gone = new_trial(store, "gone")
            gone_sha = put(store, gone, "own.bin", b"gone soon")
        assert in_folder(root, sha256)
        assert not list(tmp_path.glob("*.artifacts"))
        assert not list((tmp_path / "track-server").glob("*.artifacts"))
        if kind == "postgresql":
            assert chunk_rows(uri) == 0
        with opened(uri) as store:
            assert read(store, trial, "model.pt") == data
            store.delete_trials([gone.uid])
            assert store.collect_artifacts() == (1, len(b"gone soon"))
        assert not in_folder(root, gone_sha)
        assert in_folder(root, sha256)


def test_a_relative_artifact_root_is_taken_from_the_current_directory(tmp_path: Path) -> None:
    """``artifact_root=blobs`` names ``./blobs`` of the process that opens the store."""
    (tmp_path / "work").mkdir()
    os.chdir(tmp_path / "work")
    with opened(f"sqlite:///{tmp_path / 'store.db'}?artifact_root=blobs") as store:
        sha256 = put(store, new_trial(store, "t"), "a.txt", b"relative")
    assert in_folder(tmp_path / "work" / "blobs", sha256)


def test_an_unusable_artifact_root_is_a_configuration_error(tmp_path: Path) -> None:
    """A path that is a file, an empty option or a folder that cannot be created is refused at
    open, with ConfigurationError naming the option."""
    (tmp_path / "a-file").write_text("not a folder")
    bad = [
        f"artifact_root={tmp_path / 'a-file'}",
        "artifact_root=",
        f"artifact_root={tmp_path / 'a-file' / 'below'}",
    ]
    for option in bad:
        for uri in (f"sqlite:///{tmp_path / 's.db'}", f"file://{tmp_path / 's.json'}"):
            with pytest.raises(ConfigurationError, match="artifact_root"):
                get_protocol(with_option(uri, option))


def test_a_collection_refuses_a_root_another_store_owns(tmp_path: Path) -> None:
    """Two stores pointed at one artifact_root: both may put, but collecting from the second
    would remove the first's contents (no trial of its own names them): refused, nothing goes.
    The first store still collects there."""
    root = tmp_path / "blobs"
    first_uri = f"sqlite:///{tmp_path / 'first.db'}?artifact_root={root}"
    second_uri = f"file://{tmp_path / 'second.json'}?artifact_root={root}"
    with opened(first_uri) as first, opened(second_uri) as second:
        trial = new_trial(first, "first")
        sha256 = put(first, trial, "mine.bin", b"the first store's")
        other = new_trial(second, "second")
        put(second, other, "theirs.bin", b"the second store's")
        with pytest.raises(ConfigurationError, match="another store"):
            second.collect_artifacts()
        assert in_folder(root, sha256)
        first.delete_trials([trial.uid])
        removed = first.collect_artifacts()  # the second's content is not named by the first
        assert removed == (2, len(b"the first store's") + len(b"the second store's"))


def test_track_artifacts_gc_command(tmp_path: Path) -> None:
    """``track artifacts gc --store URI`` collects and says how much it freed."""
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    with opened(uri) as store:
        trial = new_trial(store, "t")
        sha256 = put(store, trial, "a.bin", b"x" * 1234)
        store.delete_trials([trial.uid])
    done = subprocess.run(
        [sys.executable, "-m", "track.cli", "artifacts", "gc", "--store", uri],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "removed 1 unreferenced contents (1234 bytes freed)"
    assert not in_folder(tmp_path / "store.db.artifacts", sha256)


def test_collect_on_a_store_without_artifacts_says_so() -> None:
    """ephemeral: keeps no artifacts, so it has nothing to collect: ArtifactsUnsupported."""
    from track.persistence.artifacts import ArtifactsUnsupported

    with pytest.raises(ArtifactsUnsupported):
        get_protocol("ephemeral:").collect_artifacts()
