"""The seeds' lock helpers are the file store's own lock, and make a custom store process-safe."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from track.persistence import get_protocol
from track.persistence.local import (
    ConcurrentWrite,
    FileProtocol,
    MultiLock,
    ThreadLock,
    lock_guard,
    make_lock,
)
from track.structure import Project, Trial

HERE = Path(__file__).resolve().parent
WORKER = str(HERE / "seed_store_worker.py")
PROBE = (
    "import fcntl, sys\n"
    "f = open(sys.argv[1], 'a+b')\n"
    "mode = fcntl.LOCK_EX if sys.argv[2] == 'write' else fcntl.LOCK_SH\n"
    "try:\n"
    "    fcntl.flock(f, mode | fcntl.LOCK_NB)\n"
    "    print('free')\n"
    "except BlockingIOError:\n"
    "    print('held')\n"
)


def probe(path: Path, mode: str) -> str:
    """What another process finds when it tries the file store's lock on ``path`` (no waiting)."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, f"{path}.lock", mode],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip()


def run_worker(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the seeds'-style custom store worker to completion."""
    return subprocess.run(
        [sys.executable, WORKER, *args], capture_output=True, text=True, check=True, timeout=300
    )


def new_store(path: Path) -> Trial:
    """A file store at ``path`` with project ``p`` and one trial of it."""
    store = FileProtocol(f"file://{path}")
    store.new_project(Project(name="p"))
    trial = store.new_trial(Trial(name="t", project_id="p"))
    store.close()
    assert trial is not None
    return trial


def test_multilock_is_the_file_stores_lock_for_other_processes(tmp_path: Path) -> None:
    """Held to write, other processes can take neither lock; held to read, they can read."""
    path = tmp_path / "store.json"
    lock = MultiLock(path)
    assert probe(path, "write") == "free"
    with lock.write():
        assert (probe(path, "write"), probe(path, "read")) == ("held", "held")
    with lock.read():
        assert (probe(path, "write"), probe(path, "read")) == ("held", "free")
    assert probe(path, "write") == "free"


def test_a_file_store_in_another_process_waits_for_the_lock(tmp_path: Path) -> None:
    """track's file store in another process writes only once the MultiLock is released."""
    path = tmp_path / "store.json"
    new_store(path)
    code = (
        "import sys\nfrom track.persistence.local import FileProtocol\n"
        "from track.structure import Project\n"
        "store = FileProtocol('file://' + sys.argv[1])\nprint('ready', flush=True)\n"
        "store.new_project(Project(name='late'))\nstore.close()\nprint('written', flush=True)\n"
    )
    with MultiLock(path).write():
        child = subprocess.Popen(
            [sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        readable, _, _ = select.select([child.stdout], [], [], 1.0)
        assert readable == [], "the child wrote while the lock was held"
        assert "late" not in path.read_text()
    assert child.stdout.readline().strip() == "written"
    assert child.wait(timeout=60) == 0
    assert "late" in path.read_text()


def test_multilock_is_one_reentrant_lock_per_file(tmp_path: Path) -> None:
    """Constructing it again gives the same lock; a read inside a write nests; no upgrades."""
    path = tmp_path / "store.json"
    lock = MultiLock(path)
    assert MultiLock(str(path)) is lock
    assert MultiLock(FileProtocol(f"file://{path}")) is lock
    with lock.write(), lock.read(), lock.write():
        assert lock.owned
    assert not lock.owned
    with lock.read(), pytest.raises(RuntimeError, match="cannot upgrade"):
        lock.acquire(exclusive=True)
    with pytest.raises(RuntimeError, match="does not hold"):
        lock.release()


def test_multilock_excludes_writers_between_threads(tmp_path: Path) -> None:
    """A thread's write waits for another thread's read to end."""
    lock = MultiLock(tmp_path / "store.json")
    events: list[str] = []
    reading, writer_started = threading.Event(), threading.Event()

    def writer() -> None:
        writer_started.set()
        with lock.write():
            events.append("write")

    with lock.read():
        thread = threading.Thread(target=writer)
        thread.start()
        writer_started.wait(10)
        reading.wait(0.2)  # give the writer the chance to get in: it must not
        events.append("read ends")
    thread.join(10)
    assert events == ["read ends", "write"]


def test_make_lock_is_the_multilock_when_eager_else_a_thread_lock(tmp_path: Path) -> None:
    """eager (other processes use the file) gives the file lock; otherwise a lock of threads."""
    path = tmp_path / "store.json"
    assert make_lock(path, eager=True) is MultiLock(path)
    lock = make_lock(path, eager=False)
    assert isinstance(lock, ThreadLock)
    with lock.write():
        assert lock.owned and probe(path, "write") == "free"


def test_lock_write_makes_a_custom_store_safe_for_several_processes(tmp_path: Path) -> None:
    """Three processes each add 1 forty times through @lock_write: no increment is lost."""
    path = tmp_path / "store.json"
    new_store(path)
    workers = [
        subprocess.Popen(
            [sys.executable, WORKER, "increment", str(path), "40"],
            stdin=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.close()
    assert [w.wait(timeout=300) for w in workers] == [0, 0, 0]
    store = get_protocol(f"file://{path}")
    assert store.get_project(Project(name="p")).metadata["count"] == 120
    store.close()


def test_lock_atomic_write_refuses_to_overwrite_another_processs_write(tmp_path: Path) -> None:
    """An atomic write on stale data raises ConcurrentWrite and reloads; the retry succeeds."""
    sys.path.insert(0, str(HERE))
    try:
        from seed_store_worker import CounterStore
    finally:
        sys.path.remove(str(HERE))
    path = tmp_path / "store.json"
    trial = new_store(path)
    store = CounterStore(str(path))
    run_worker("touch", str(path), trial.uid)
    with pytest.raises(ConcurrentWrite, match=trial.uid):
        store.note_atomically(trial.uid, "mine", 1)
    assert store.storage.objects[trial.uid].metadata == {"other": 1}
    store.note_atomically(trial.uid, "mine", 1)
    run_worker("touch", str(path), trial.uid)
    store.note(trial.uid, "later", 2)  # @lock_write reloads first: no conflict
    files = FileProtocol(f"file://{path}")
    assert files.get_trial(trial)[0].metadata == {"other": 1, "mine": 1, "later": 2}
    files.close()
    store.storage.close()


def test_lock_guard_refuses_a_read_only_atomic_guard() -> None:
    """An atomic guard writes, so asking for a read-only one is an error."""
    with pytest.raises(ValueError, match="write guard"):
        lock_guard(readonly=True, atomic=True)


def test_lock_file_remover_releases_the_lock_at_sigterm(tmp_path: Path) -> None:
    """At SIGTERM the process's lock is released at once (it lives on); the file stays."""
    path = tmp_path / "store.json"
    child = subprocess.Popen(
        [sys.executable, WORKER, "hold", str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdin is not None
    try:
        assert child.stdout.readline().strip() == "held"
        assert probe(path, "write") == "held"
        os.kill(child.pid, signal.SIGTERM)
        assert child.stdout.readline().strip() == "term"
        assert probe(path, "write") == "free"
        assert child.poll() is None and os.path.exists(f"{path}.lock")
    finally:
        child.stdin.close()
        child.wait(timeout=60)
